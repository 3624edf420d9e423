"""Behaviour of the privacy scrubber for stored error text."""

from __future__ import annotations

import time

import pytest

from ingest.scrub import scrub_error_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("connect to 192.168.1.10 failed", "connect to x.x.x.x failed"),
        ("10.0.0.1:8006", "x.x.x.x:8006"),
        ("https://10.0.0.1:8006/api2/json", "https://x.x.x.x:8006/api2/json"),
        ("gw=10.0.0.1/24,", "gw=x.x.x.x/24,"),
        ("0.0.0.0 and 255.255.255.255.", "x.x.x.x and x.x.x.x."),
        ("ip:172.16.0.5 dns 1.1.1.1", "ip:x.x.x.x dns x.x.x.x"),
    ],
)
def test_ipv4_addresses_are_fully_masked(raw: str, expected: str) -> None:
    assert scrub_error_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "pve-manager/8.4.1 running kernel 6.8.12-4-pve",
        "debian 12, alpine 3.22, ubuntu 24.04",
        "oid 1.2.3.4.5 and 10.0.0.1.2",
        "256.1.1.1 is not an address",
        "version 1.2.3",
    ],
)
def test_versions_and_longer_dotted_numbers_are_kept(raw: str) -> None:
    assert scrub_error_text(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("inet6 fe80::be24:11ff:fe12:3456/64 scope link", "inet6 <ipv6>/64 scope link"),
        ("via 2001:db8::8a2e:370:7334.", "via <ipv6>."),
        ("full 2001:0db8:0000:0000:0000:ff00:0042:8329", "full <ipv6>"),
        ("lo ::1 and fe80::1", "lo <ipv6> and <ipv6>"),
        ("mapped ::ffff:192.168.1.1 here", "mapped <ipv6> here"),
        ("http://[fe80::1]:8006/", "http://[<ipv6>]:8006/"),
    ],
)
def test_ipv6_addresses_are_masked(raw: str, expected: str) -> None:
    assert scrub_error_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "started at 12:30:45, done 12:31:02.500",
        "2024-01-15T12:30:45Z",
        'case "$x" in a) ;; esac; echo ::; std::string; Foo::Bar',
        "Get:1 http://deb.debian.org/debian bookworm InRelease",
        "sha256:0123456789abcdef0123456789abcdef",
        "ratio 1:2:3",
    ],
)
def test_times_and_colon_syntax_are_kept(raw: str) -> None:
    assert scrub_error_text(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hwaddr=BC:24:11:AA:BB:CC,bridge=vmbr0", "hwaddr=<mac>,bridge=vmbr0"),
        ("mac aa:bb:cc:dd:ee:ff", "mac <mac>"),
        ("mac AA-BB-CC-DD-EE-FF.", "mac <mac>."),
    ],
)
def test_mac_addresses_are_masked(raw: str, expected: str) -> None:
    assert scrub_error_text(raw) == expected


def test_mixed_separators_are_not_a_mac() -> None:
    assert scrub_error_text("aa:bb-cc:dd-ee:ff") == "aa:bb-cc:dd-ee:ff"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("contact alice.smith+pve@example.co.uk now", "contact <email> now"),
        ("root@pve1.home.lan: permission denied", "<email>: permission denied"),
        ("ssh admin@10.0.0.1", "ssh <email>"),
    ],
)
def test_email_addresses_are_masked(raw: str, expected: str) -> None:
    assert scrub_error_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "npm error notarget No matching version found for foo@1.2.3",
        "installing @types/node@20.1.0",
        "postgres@localhost",
    ],
)
def test_package_specs_are_not_emails(raw: str) -> None:
    assert scrub_error_text(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://pve1.home.lan:8006/api", "https://<host>:8006/api"),
        ("curl http://nas/share/file", "curl http://<host>/share/file"),
        ("see https://pve.lan.", "see https://<host>."),
        ("https://user:secret@git.example.org/r.git", "https://<user>@<host>/r.git"),
        ("postgres://app:pw@db.internal:5432/app", "postgres://<user>@<host>:5432/app"),
        ("https://github.com.evil.lan/x", "https://<host>/x"),
        ("https://notproxmox.com/", "https://<host>/"),
    ],
)
def test_url_hosts_are_masked(raw: str, expected: str) -> None:
    assert scrub_error_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]",
        "Hit:2 http://security.debian.org/debian-security bookworm-security InRelease",
        "https://github.com/community-scripts/ProxmoxVE/discussions/8126",
        "https://raw.githubusercontent.com/community-scripts/ProxmoxVE/main/misc/build.func",
        "http://archive.ubuntu.com/ubuntu noble InRelease",
        "https://dl-cdn.alpinelinux.org/alpine/v3.22/main",
        "https://registry.npmjs.org/pnpm",
        "https://pypi.org/simple/ https://files.pythonhosted.org/packages/x.whl",
        "https://download.docker.com/linux/debian/gpg",
        "https://community-scripts.org https://telemetry.community-scripts.org/telemetry",
        "http://download.proxmox.com/images https://enterprise.proxmox.com/debian",
        "https://GitHub.com/owner/repo",
    ],
)
def test_allowed_public_hosts_are_kept(raw: str) -> None:
    assert scrub_error_text(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/home/alice/x", "/home/<user>/x"),
        ("open('/Users/bob')", "open('/Users/<user>')"),
        ("PATH=/home/carol/bin:/usr/bin", "PATH=/home/<user>/bin:/usr/bin"),
        ("file:///home/dave/.ssh/id_ed25519", "file:///home/<user>/.ssh/id_ed25519"),
    ],
)
def test_home_directories_hide_the_user_name(raw: str, expected: str) -> None:
    assert scrub_error_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["/root/.bashrc", "/home", "/opt/homeassistant/config", "cd /home/$USER"],
)
def test_other_paths_are_kept(raw: str) -> None:
    assert scrub_error_text(raw) == raw


def test_a_realistic_trace_is_scrubbed_and_keeps_its_shape() -> None:
    raw = (
        "exit_code=100 | APT: package error | at line 42: apt-get install -y foo\n"
        "---\n"
        "Get:1 http://deb.debian.org/debian bookworm InRelease\n"
        "Err:2 http://mirror.home.lan/debian bookworm/main amd64 foo 1.2.3\n"
        "  Could not connect to 192.168.1.5:3142 (fe80::1%eth0)\n"
        "hint: mail admin@home.lan or see /home/alice/install.log\n"
    )
    expected = (
        "exit_code=100 | APT: package error | at line 42: apt-get install -y foo\n"
        "---\n"
        "Get:1 http://deb.debian.org/debian bookworm InRelease\n"
        "Err:2 http://<host>/debian bookworm/main amd64 foo 1.2.3\n"
        "  Could not connect to x.x.x.x:3142 (<ipv6>%eth0)\n"
        "hint: mail <email> or see /home/<user>/install.log\n"
    )
    assert scrub_error_text(raw) == expected


def test_empty_text_stays_empty() -> None:
    assert scrub_error_text("") == ""


@pytest.mark.parametrize(
    "raw",
    [
        "connect to 192.168.1.10:8006 failed",
        "https://alice:pw@10.0.0.1:8006/api and https://pve.lan./x",
        "alice@10.0.0.1 and bob@example.com.",
        "/home/abc::8 and /Users/x1.2.3.4",
        "a@b.c::1 fe80::1:aa:bb:cc:dd:ee:ff",
        "aa:bb:cc:dd:ee:ff::1 and <td>10.0.0.1</td>",
        "http://fe80::1/ http://[::1]:80 http://x.x.x.x.x/",
        "Get:1 http://deb.debian.org/debian bookworm InRelease",
    ],
)
def test_scrubbing_is_idempotent(raw: str) -> None:
    once = scrub_error_text(raw)
    assert scrub_error_text(once) == once


def _adversarial_inputs(size: int) -> dict[str, str]:
    return {
        "digits and dots": "1." * (size // 2),
        "dotted quads": "1.1.1.1." * (size // 8),
        "digits": "9" * size,
        "colons": ":" * size,
        "hex and colons": "a:" * (size // 2),
        "mac-like run": "aa-" * (size // 3),
        "at signs": "@" * size,
        "local parts": "a." * (size // 2) + "@",
        "domains": "x@" + "1." * (size // 2),
        "schemes": "a://" * (size // 4),
        "long host": "http://" + "a" * size,
        "home prefixes": "/home/" * (size // 6),
    }


@pytest.mark.parametrize("name", sorted(_adversarial_inputs(0)))
def test_large_adversarial_input_finishes_quickly(name: str) -> None:
    text = _adversarial_inputs(150_000)[name]
    started = time.perf_counter()
    once = scrub_error_text(text)
    elapsed = time.perf_counter() - started
    # Linear scans take well under a second; catastrophic backtracking on
    # 150 KB would take minutes, so the generous bound only catches that.
    assert elapsed < 10.0, f"{name}: {elapsed:.2f}s"
    assert scrub_error_text(once) == once
