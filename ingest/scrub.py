"""Privacy scrubbing of free-form error text before it is stored.

Policy: error traces are kept for debugging, but anything that could identify
a user's network, machine or person is masked first, and the original is never
stored or logged.

- IPv4 addresses become ``x.x.x.x`` (also inside URLs; ports are kept).
  An IPv4 address is four dot-separated numbers 0-255 that are not part of a
  longer dotted number sequence, so ``8.4.1`` and ``1.2.3.4.5`` stay, while a
  four-part version such as ``1.2.3.4`` cannot be told apart and is masked.
- IPv6 addresses (full, compressed, IPv4-embedded) become ``<ipv6>``; ``::``
  alone and clock times such as ``12:30:45`` are left alone.
- MAC addresses (``:`` or ``-`` separated) become ``<mac>``.
- E-mail addresses become ``<email>`` (``pkg@1.2.3`` version specs stay).
- The host of every ``scheme://`` URL becomes ``<host>`` and any user-info
  before it ``<user>``, except well-known public hosts that help debugging
  (GitHub, Debian/Ubuntu/Alpine mirrors, npm, PyPI, Docker, community-scripts.org
  and proxmox.com with their subdomains). Ports and paths are kept.
- Home directories ``/home/NAME`` and ``/Users/NAME`` become
  ``/home/<user>`` and ``/Users/<user>``; ``/root`` is kept.
- Bare host names outside URLs (``Could not resolve host: nas``) are not
  recognised and stay as they are.

Scrubbing is idempotent (rules are re-applied until the text stops changing)
and each pass is linear: every pattern is anchored by look-behinds and uses
possessive quantifiers, so 120 KB traces cannot trigger catastrophic
backtracking.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

__all__ = ["scrub_error_text"]

IPV4_MASK: Final = "x.x.x.x"
IPV6_MASK: Final = "<ipv6>"
MAC_MASK: Final = "<mac>"
EMAIL_MASK: Final = "<email>"
HOST_MASK: Final = "<host>"
USER_MASK: Final = "<user>"

# Public hosts whose names carry no personal information and make traces useful.
_ALLOWED_HOSTS: Final[frozenset[str]] = frozenset(
    {
        "github.com",
        "raw.githubusercontent.com",
        "deb.debian.org",
        "security.debian.org",
        "archive.ubuntu.com",
        "dl-cdn.alpinelinux.org",
        "registry.npmjs.org",
        "pypi.org",
        "files.pythonhosted.org",
        "download.docker.com",
        "community-scripts.org",
        "proxmox.com",
    }
)
_ALLOWED_DOMAIN_SUFFIXES: Final[tuple[str, ...]] = (".community-scripts.org", ".proxmox.com")

_OCTET: Final = r"(?:25[0-5]|2[0-4]\d|[01]?\d?\d)"
# Not preceded by a digit or "digit.", not followed by a digit or ".digit":
# that is what keeps longer dotted sequences (versions, OIDs) intact.
_IPV4_RE: Final = re.compile(rf"(?<!\d)(?<!\d\.)(?:{_OCTET}\.){{3}}{_OCTET}(?!\d|\.\d)")

_HEX2: Final = r"[0-9A-Fa-f]{2}"
_MAC_RE: Final = re.compile(
    rf"(?<!\w)(?<![0-9A-Fa-f][:-]){_HEX2}([:-]){_HEX2}(?:\1{_HEX2}){{4}}(?!\w|[:-][0-9A-Fa-f])"
)

# Candidate IPv6 tokens: a bounded run of hex digits, colons and dots (for the
# IPv4-embedded form) whose first colon comes within the first five characters.
# The standard library validates each candidate, which rejects times and
# other colon-separated numbers far more reliably than a regex could.
_IPV6_CANDIDATE_RE: Final = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{2,45}(?![\w:.])"
)

_EMAIL_RE: Final = re.compile(r"(?<![\w.+-])[\w.+-]++@(?:[\w-]++\.)+[A-Za-z][\w-]*+")

# scheme://[userinfo@]host ; the host is a bracketed literal, an earlier mask
# or a run of host-name characters.
_URL_RE: Final = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*+://)"
    r"(?P<userinfo>[^\s/@?#]*+@)?"
    r"(?P<host><host>|\[[^\]\s/]*+\]|[\w.%-]++)"
)

_HOME_RE: Final = re.compile(r"(?P<prefix>/(?:home|Users)/)[^/\s'\"`:;,()\[\]{}<>|&=*?$]++")


def _is_allowed_host(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name in _ALLOWED_HOSTS or name.endswith(_ALLOWED_DOMAIN_SUFFIXES)


def _mask_url(match: re.Match[str]) -> str:
    scheme = match["scheme"]
    userinfo = f"{USER_MASK}@" if match["userinfo"] is not None else ""
    host = match["host"]
    # IP literals (and earlier masks) are handled by the address rules, which
    # keep the fact that it was an IP; everything else is a host name.
    keep = (
        host in (HOST_MASK, IPV4_MASK)
        or host.startswith("[")
        or _IPV4_RE.fullmatch(host) is not None
        or _is_allowed_host(host)
    )
    if not keep:
        trailing = host[len(host.rstrip(".")) :]
        host = HOST_MASK + trailing
    return f"{scheme}{userinfo}{host}"


def _mask_home(match: re.Match[str]) -> str:
    return match["prefix"] + USER_MASK


def _mask_ipv6(match: re.Match[str]) -> str:
    token = match[0]
    candidate = token.rstrip(".")
    if candidate.count(":") < 2:
        return token  # "57:" in "at line 57: ..." (every address has two colons)
    if not any(ch not in ":." for ch in candidate):
        return token  # "::" and friends are shell/C++ syntax, not addresses
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return token
    return IPV6_MASK + token[len(candidate) :]


_MAX_PASSES: Final = 8


def _scrub_once(text: str) -> str:
    # Home paths first and URLs next: their masks end in ">" and may expose an
    # address that was glued to a user or host name; later rules see it in the
    # same pass. MAC runs before IPv6 (a MAC fits the IPv6 candidate syntax) and
    # IPv4 before e-mail, so that ``user@10.0.0.1`` becomes ``<email>``.
    # The pre-checks skip a whole regex scan for the common trace that cannot contain
    # that kind of data: each tests something every match needs (a MAC has five equal
    # separators, an IPv6 address two colons, an IPv4 address three dots, an e-mail
    # domain a dot), so skipping never changes the result.
    if "/home/" in text or "/Users/" in text:
        text = _HOME_RE.sub(_mask_home, text)
    if "://" in text:
        text = _URL_RE.sub(_mask_url, text)
    colons = text.count(":")
    if colons >= 5 or text.count("-") >= 5:
        text = _MAC_RE.sub(MAC_MASK, text)
        colons = text.count(":")
    if colons >= 2:
        text = _IPV6_CANDIDATE_RE.sub(_mask_ipv6, text)
    if text.count(".") >= 3:
        text = _IPV4_RE.sub(IPV4_MASK, text)
    if "@" in text and "." in text:
        text = _EMAIL_RE.sub(EMAIL_MASK, text)
    return text


def scrub_error_text(text: str) -> str:
    """Mask personal data in ``text`` according to the module policy.

    A mask can give a neighbouring token a new boundary (``name::1`` becomes
    ``<user>::1``, and ``::1`` now stands alone), so one pass is not always
    idempotent. The rules are therefore re-applied until nothing changes; masks
    only ever replace raw text, so this settles after two or three passes (the
    cap is a safety net), and text with nothing to mask costs a single pass.
    """
    for _ in range(_MAX_PASSES):
        scrubbed = _scrub_once(text)
        if scrubbed == text:
            break
        text = scrubbed
    return text
