"""Every client generation's event sequences as scenario tables, with the runs they make.

A ``Scenario`` is the POSTs exactly as a bash client sends them (raw bytes, in order,
built with ``tests.utils.client_payloads``) and every field of every run they must
produce (``tests.utils.expected_runs``). Each builder takes the base time that client
timestamps are relative to and makes fresh ids, so scenarios can be replayed together.
``captured_traffic`` wraps the captured real requests the same way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tests.utils.client_payloads import (
    PLATFORM_METADATA,
    Fields,
    Raw,
    Value,
    container_ping,
    epoch,
    host_event,
    iso_offset,
    iso_utc,
    payload_v2,
    render,
    seed_install,
    seed_update,
    upload_install,
    upload_status,
)
from tests.utils.expected_runs import (
    HOST_METADATA_FIELDS,
    UPLOAD_METADATA_FIELDS,
    ExpectedRun,
    OneOf,
    run_fields,
)

# --- scenario tables -------------------------------------------------------------------


@dataclass(frozen=True)
class Unnamed:
    """A run the server names (an /update without any id): its id comes from the receipt."""

    label: str


RunRef = str | Unnamed


@dataclass(frozen=True)
class Post:
    path: str
    body: bytes
    run: RunRef
    status: str  # the event's status as the run's events list shows it
    label: str
    timestamp: datetime | None = None  # what the body's "timestamp" field says, if any
    duplicate: bool = False  # an exact repeat: acknowledged, not stored again


@dataclass(frozen=True)
class Scenario:
    posts: tuple[Post, ...]
    runs: dict[RunRef, ExpectedRun]


Stamp = Callable[[datetime], Value]


def post(
    path: str,
    run: RunRef,
    fields: Fields,
    *,
    label: str | None = None,
    at: datetime | None = None,
    stamp: Stamp = epoch,
    shown_status: str | None = None,
) -> Post:
    """One POST of ``fields`` rendered as bash renders them, with ``timestamp`` if ``at``."""
    if at is not None:
        fields = fields | {"timestamp": stamp(at)}
    status = shown_status or str(fields["status"])
    body = render(fields)
    return Post(path, body, run, status, label or status, timestamp=at)


def repeat(original: Post, label: str) -> Post:
    """The same bytes again (a curl retry): must be acknowledged as a duplicate."""
    return replace(original, label=label, duplicate=True)


def base_time() -> datetime:
    """A whole second an hour ago: client timestamps are relative to it."""
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def sec(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def new_id() -> str:
    return str(uuid.uuid4())


# --- 1.1 current client ----------------------------------------------------------------


def successful_lxc_install(base: datetime) -> Scenario:
    rid = new_id()
    app = "homeassistant"
    ping_2 = post(
        "/telemetry", rid, container_ping(rid, nsapp=app), label="ping 2", at=base + sec(25)
    )
    posts = (
        post("/telemetry", rid, host_event(rid, "installing", nsapp=app), at=base),
        post(
            "/telemetry",
            rid,
            host_event(rid, "validation", nsapp=app),
            at=base + sec(5),
            stamp=iso_utc,
        ),
        post("/telemetry", rid, host_event(rid, "configuring", nsapp=app), at=base + sec(10)),
        post("/telemetry", rid, container_ping(rid, nsapp=app), label="ping 1", at=base + sec(20)),
        ping_2,
        post("/telemetry", rid, container_ping(rid, nsapp=app), label="ping 3", at=base + sec(30)),
        repeat(ping_2, "ping 2 again"),
        post(
            "/telemetry",
            rid,
            host_event(rid, "success", nsapp=app, exit_code=0, install_duration=95),
        ),
    )
    expected = run_fields(
        executionId=rid,
        sessionId=rid,
        kind="INSTALL",
        app=app,
        status="success",
        outcome="SUCCESS",
        exitCode=0,
        durationSeconds=95,
        eventCount=7,
        **HOST_METADATA_FIELDS,
    )
    return Scenario(posts, {rid: ExpectedRun(expected, finished_by="success")})


APT_TRACE = (
    "exit_code=100 | APT: Package manager error (broken packages / dependency problems)"
    " | at line 57: apt-get install -y foo\n---\n"
    "Err:1 http://deb.debian.org/debian bookworm/main amd64 foo\n"
    "  Could not connect to 192.168.1.23:3142 (192.168.1.23). - connect (111)\n"
    "E: Unable to locate package foo\n"
    "cp: cannot stat '/home/alice/x': No such file or directory"
)
APT_TRACE_SCRUBBED = APT_TRACE.replace("192.168.1.23", "x.x.x.x").replace(
    "/home/alice/", "/home/<user>/"
)


def failed_lxc_install_with_trace(base: datetime) -> Scenario:
    """A payload v2 client: the failure also names the failed command and line."""
    rid = new_id()
    app = "immich"
    v2 = payload_v2(app_version="v1.132.3")
    failure_site: Fields = {"failed_command": "apt-get install -y foo", "failed_line": 57}
    posts = (
        post("/telemetry", rid, host_event(rid, "installing", nsapp=app) | v2, at=base),
        post("/telemetry", rid, host_event(rid, "configuring", nsapp=app) | v2, at=base + sec(9)),
        post(
            "/telemetry",
            rid,
            host_event(
                rid,
                "failed",
                nsapp=app,
                exit_code=100,
                error=APT_TRACE,
                error_category="dependency",
                install_duration=312,
            )
            | v2
            | failure_site,
        ),
    )
    expected = run_fields(
        executionId=rid,
        sessionId=rid,
        kind="INSTALL",
        app=app,
        status="failed",
        outcome="FAILED",
        exitCode=100,
        errorCategory="dependency",
        error=APT_TRACE_SCRUBBED,
        failedCommand="apt-get install -y foo",
        failedLine=57,
        durationSeconds=312,
        eventCount=3,
        **HOST_METADATA_FIELDS
        | {
            "gpuPassthrough": "no",
            "payloadVersion": 2,
            "kernelVersion": "6.8.12-4-pve",
            "appVersion": "v1.132.3",
        },
    )
    return Scenario(posts, {rid: ExpectedRun(expected, finished_by="failed")})


CTRL_C_TRACE = "exit_code=130 | Terminated by Ctrl+C (SIGINT) | at line 12: read -r choice"
SIGTERM_TRACE = "exit_code=143 | Terminated (SIGTERM) | at line 88: sleep 5"


def aborted_installs(base: datetime) -> Scenario:
    """Ctrl+C reported as ``failed`` 130, and SIGTERM reported as ``aborted`` 143."""
    ctrl_c, sigterm = new_id(), new_id()
    app = "nginxproxymanager"

    def abort(rid: str, status: str, code: int, trace: str) -> Post:
        fields = host_event(
            rid,
            status,
            nsapp=app,
            exit_code=code,
            error=trace,
            error_category="user_aborted",
            install_duration=40,
        )
        return post("/telemetry", rid, fields)

    posts = (
        post("/telemetry", ctrl_c, host_event(ctrl_c, "installing", nsapp=app), at=base),
        post("/telemetry", sigterm, host_event(sigterm, "installing", nsapp=app), at=base),
        abort(ctrl_c, "failed", 130, CTRL_C_TRACE),
        abort(sigterm, "aborted", 143, SIGTERM_TRACE),
    )

    def expected(rid: str, status: str, code: int, trace: str) -> ExpectedRun:
        fields = run_fields(
            executionId=rid,
            sessionId=rid,
            kind="INSTALL",
            app=app,
            status=status,
            outcome="ABORTED",
            exitCode=code,
            errorCategory="user_aborted",
            error=trace,
            durationSeconds=40,
            eventCount=2,
            **HOST_METADATA_FIELDS,
        )
        return ExpectedRun(fields, finished_by=status)

    return Scenario(
        posts,
        {
            ctrl_c: expected(ctrl_c, "failed", 130, CTRL_C_TRACE),
            sigterm: expected(sigterm, "aborted", 143, SIGTERM_TRACE),
        },
    )


def retry_with_new_execution_id(base: datetime) -> Scenario:
    """The recovery menu's retry: same session (random_id), a new execution_id."""
    session, retry = new_id(), new_id()
    app = "paperless-ngx"
    trace = "exit_code=1 | General error | at line 80: make install"
    posts = (
        post("/telemetry", session, host_event(session, "installing", nsapp=app), at=base),
        post(
            "/telemetry",
            session,
            host_event(
                session,
                "failed",
                nsapp=app,
                exit_code=1,
                error=trace,
                error_category="shell",
                install_duration=50,
            ),
            at=base + sec(50),
        ),
        post(
            "/telemetry",
            retry,
            host_event(session, "installing", nsapp=app, execution_id=retry),
            label="retry installing",
            at=base + sec(70),
        ),
        post(
            "/telemetry",
            retry,
            host_event(session, "success", nsapp=app, execution_id=retry, install_duration=200),
            label="retry success",
        ),
    )
    common = {"sessionId": session, "kind": "INSTALL", "app": app, **HOST_METADATA_FIELDS}
    first = run_fields(
        executionId=session,
        status="failed",
        outcome="FAILED",
        exitCode=1,
        errorCategory="shell",
        error=trace,
        durationSeconds=50,
        eventCount=2,
        **common,
    )
    second = run_fields(
        executionId=retry,
        status="success",
        outcome="SUCCESS",
        exitCode=0,
        durationSeconds=200,
        eventCount=2,
        **common,
    )
    return Scenario(
        posts,
        {
            session: ExpectedRun(first, finished_by="failed"),
            retry: ExpectedRun(second, finished_by="retry success"),
        },
    )


def vm_install(base: datetime) -> Scenario:
    rid = new_id()
    app = "debian-vm"
    vm: Fields = {"type": "vm", "ct_type": 2, "disk_size": 32, "core_count": 4, "ram_size": 4096}
    posts = (
        post("/telemetry", rid, host_event(rid, "installing", nsapp=app) | vm, at=base),
        post(
            "/telemetry",
            rid,
            host_event(rid, "success", nsapp=app, install_duration=130) | vm,
        ),
    )
    expected = run_fields(
        executionId=rid,
        sessionId=rid,
        kind="INSTALL",
        app=app,
        status="success",
        outcome="SUCCESS",
        exitCode=0,
        durationSeconds=130,
        eventCount=2,
        **HOST_METADATA_FIELDS
        | {"type": "vm", "ctType": 2, "diskGb": 32, "cores": 4, "ramMb": 4096},
    )
    return Scenario(posts, {rid: ExpectedRun(expected, finished_by="success")})


def addon_run(base: datetime) -> Scenario:
    """An addon/tool run sends one terminal event and nothing else."""
    rid = new_id()
    fields = host_event(
        rid,
        "success",
        nsapp="netdata",
        metadata=("exit_code", "install_duration", "pve_version", *PLATFORM_METADATA),
        type="addon",
        install_duration=12,
    )
    expected = run_fields(
        executionId=rid,
        sessionId=rid,
        kind="INSTALL",
        app="netdata",
        type="addon",
        status="success",
        outcome="SUCCESS",
        exitCode=0,
        durationSeconds=12,
        pveVersion="8.4.1",
        arch="amd64",
        platform="pve",
        repoSource="ProxmoxVE",
        repoSlug="community-scripts/ProxmoxVE",
        eventCount=1,
    )
    return Scenario((post("/telemetry", rid, fields),), {rid: ExpectedRun(expected, "success")})


def event_times(base: datetime) -> Scenario:
    """Epoch and ISO 8601 timestamps are event times; a future one is clamped to receipt."""
    rid = new_id()
    app = "jellyfin"
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    posts = (
        post("/telemetry", rid, host_event(rid, "installing", nsapp=app), at=base, stamp=epoch),
        post(
            "/telemetry",
            rid,
            host_event(rid, "validation", nsapp=app),
            at=base + sec(5),
            stamp=iso_offset(2),
        ),
        post(
            "/telemetry",
            rid,
            host_event(rid, "configuring", nsapp=app),
            at=base + sec(10),
            stamp=iso_utc,
        ),
        post(
            "/telemetry",
            rid,
            container_ping(rid, nsapp=app),
            label="future ping",
            at=future,
            stamp=iso_utc,
        ),
        post(
            "/telemetry",
            rid,
            host_event(rid, "success", nsapp=app, install_duration=90),
            at=base + sec(90),
        ),
    )
    expected = run_fields(
        executionId=rid,
        sessionId=rid,
        kind="INSTALL",
        app=app,
        status="success",
        outcome="SUCCESS",
        exitCode=0,
        durationSeconds=90,
        eventCount=5,
        **HOST_METADATA_FIELDS,
    )
    return Scenario(posts, {rid: ExpectedRun(expected, finished_by="success")})


# --- 1.2 previous client ---------------------------------------------------------------


def old_client_done(base: datetime) -> Scenario:
    rid = new_id()
    posts = (
        post("/upload", rid, upload_install(rid, nsapp="docker")),
        post("/upload/updatestatus", rid, upload_status(rid, "done", "Unknown error")),
    )
    expected = run_fields(
        sessionId=rid,
        kind="INSTALL",
        app="docker",
        status="done",
        outcome="SUCCESS",
        eventCount=2,
        **UPLOAD_METADATA_FIELDS,
    )
    return Scenario(posts, {rid: ExpectedRun(expected, finished_by="done")})


def old_client_failures(base: datetime) -> Scenario:
    """No exit code on the wire: it is read back from the client's own explanation text."""
    oom, ctrl_c = new_id(), new_id()
    oom_text = "Killed (SIGKILL / Out of memory?)"
    ctrl_c_text = "Terminated by Ctrl+C (SIGINT)"
    posts = (
        post("/upload", oom, upload_install(oom, nsapp="ollama")),
        post("/upload", ctrl_c, upload_install(ctrl_c, nsapp="ollama")),
        post("/upload/updatestatus", oom, upload_status(oom, "failed", oom_text)),
        post("/upload/updatestatus", ctrl_c, upload_status(ctrl_c, "failed", ctrl_c_text)),
    )

    def expected(rid: str, outcome: str, code: int, category: str, text: str) -> ExpectedRun:
        fields = run_fields(
            sessionId=rid,
            kind="INSTALL",
            app="ollama",
            status="failed",
            outcome=outcome,
            exitCode=code,
            exitCodeInferred=True,
            errorCategory=category,
            error=text,
            eventCount=2,
            **UPLOAD_METADATA_FIELDS,
        )
        return ExpectedRun(fields, finished_by="failed")

    return Scenario(
        posts,
        {
            oom: expected(oom, "FAILED", 137, "resource", oom_text),
            ctrl_c: expected(ctrl_c, "ABORTED", 130, "user_aborted", ctrl_c_text),
        },
    )


# A heredoc pastes log lines as they are: raw line breaks inside the string.
MULTILINE_ERROR = "apt-get failed:\nE: Unable to locate package foo"


def old_client_broken_json(base: datetime) -> Scenario:
    """Empty and ``8G``-style spliced numbers, and a raw newline inside a string value."""
    empty, units, newline, multiline = new_id(), new_id(), new_id(), new_id()
    posts = (
        post("/upload", empty, upload_install(empty, nsapp="docker", disk_size=Raw(""))),
        post(
            "/upload",
            units,
            upload_install(units, nsapp="docker", disk_size=Raw("8G"), ram_size="2G"),
        ),
        post(
            "/upload",
            newline,
            upload_install(newline, nsapp="docker", disk_size="8G", pve_version=Raw('"8.4.1\n"')),
        ),
        post("/upload/updatestatus", empty, upload_status(empty, "done", "Unknown error")),
        post("/upload/updatestatus", units, upload_status(units, "done", "Unknown error")),
        post(
            "/upload/updatestatus",
            newline,
            upload_status(newline, "failed", Raw('"Command not found\n"')),
        ),
        post("/upload", multiline, upload_install(multiline, nsapp="docker")),
        post(
            "/upload/updatestatus",
            multiline,
            upload_status(multiline, "failed", Raw(f'"{MULTILINE_ERROR}"')),
        ),
    )
    done = {
        "kind": "INSTALL",
        "app": "docker",
        "status": "done",
        "outcome": "SUCCESS",
        "eventCount": 2,
    }
    return Scenario(
        posts,
        {
            empty: ExpectedRun(
                run_fields(sessionId=empty, **done, **UPLOAD_METADATA_FIELDS | {"diskGb": None}),
                finished_by="done",
            ),
            units: ExpectedRun(
                run_fields(sessionId=units, **done, **UPLOAD_METADATA_FIELDS), finished_by="done"
            ),
            newline: ExpectedRun(
                run_fields(
                    sessionId=newline,
                    kind="INSTALL",
                    app="docker",
                    status="failed",
                    outcome="FAILED",
                    exitCode=127,
                    exitCodeInferred=True,
                    errorCategory="dependency",
                    error="Command not found",
                    eventCount=2,
                    **UPLOAD_METADATA_FIELDS,
                ),
                finished_by="failed",
            ),
            multiline: ExpectedRun(
                run_fields(
                    sessionId=multiline,
                    kind="INSTALL",
                    app="docker",
                    status="failed",
                    outcome="FAILED",
                    error=MULTILINE_ERROR,
                    eventCount=2,
                    **UPLOAD_METADATA_FIELDS,
                ),
                finished_by="failed",
            ),
        },
    )


def old_client_unit_core_count(base: datetime) -> Scenario:
    """``"core_count": 2G`` is spliced like ``8G``: the install must not be lost for it."""
    rid = new_id()
    posts = (
        post("/upload", rid, upload_install(rid, nsapp="docker", core_count=Raw("2G"))),
        post("/upload/updatestatus", rid, upload_status(rid, "done", "Unknown error")),
    )
    expected = run_fields(
        sessionId=rid,
        kind="INSTALL",
        app="docker",
        status="done",
        outcome="SUCCESS",
        eventCount=2,
        # A core count has no unit: dropping the value or reading the number are both fine.
        **UPLOAD_METADATA_FIELDS | {"cores": OneOf(None, 2)},
    )
    return Scenario(posts, {rid: ExpectedRun(expected, finished_by="done")})


# --- 1.3 the brief's API ---------------------------------------------------------------


def seed_api(base: datetime) -> Scenario:
    """/install, /update with an id (same random_id: still two runs), /update without one."""
    rid = new_id()
    first_anonymous, second_anonymous = Unnamed("anonymous 1"), Unnamed("anonymous 2")
    anonymous_update = seed_update(106, "vaultwarden", "1.34.1", status="success")
    posts = (
        post(
            "/install", rid, seed_install(105, "installing", "jellyfin", random_id=rid, type="lxc")
        ),
        post("/install", rid, seed_install(105, "success", "jellyfin", random_id=rid)),
        post(
            "/update",
            f"update:{rid}",
            seed_update(
                105,
                "jellyfin",
                "10.10.7",
                status="success",
                exit_code=0,
                duration=42,
                random_id=rid,
            ),
            label="update",
        ),
        post("/update", first_anonymous, anonymous_update, label="anonymous 1"),
        post("/update", second_anonymous, anonymous_update, label="anonymous 2"),
    )
    anonymous = run_fields(
        kind="UPDATE",
        app="vaultwarden",
        appVersion="1.34.1",
        ctid=106,
        status="success",
        outcome="SUCCESS",
        eventCount=1,
    )
    return Scenario(
        posts,
        {
            rid: ExpectedRun(
                run_fields(
                    sessionId=rid,
                    kind="INSTALL",
                    app="jellyfin",
                    type="lxc",
                    ctid=105,
                    status="success",
                    outcome="SUCCESS",
                    eventCount=2,
                ),
                finished_by="success",
            ),
            f"update:{rid}": ExpectedRun(
                run_fields(
                    sessionId=rid,
                    kind="UPDATE",
                    app="jellyfin",
                    appVersion="10.10.7",
                    ctid=105,
                    status="success",
                    outcome="SUCCESS",
                    exitCode=0,
                    durationSeconds=42,
                    eventCount=1,
                ),
                finished_by="update",
            ),
            first_anonymous: ExpectedRun(anonymous, finished_by="anonymous 1"),
            second_anonymous: ExpectedRun(anonymous, finished_by="anonymous 2"),
        },
    )


def update_by_exit_code_only(base: datetime) -> Scenario:
    """An update report with an exit code and no status is a finished update."""
    ok, broken = new_id(), new_id()
    posts = (
        post(
            "/update",
            f"update:{ok}",
            seed_update(110, "gitea", "1.24.0", exit_code=0, random_id=ok),
            shown_status="success",
        ),
        post(
            "/update",
            f"update:{broken}",
            seed_update(111, "gitea", "1.24.0", exit_code=1, random_id=broken),
            shown_status="failed",
        ),
    )

    def expected(rid: str, ctid: int, status: str, outcome: str, code: int) -> ExpectedRun:
        fields = run_fields(
            sessionId=rid,
            kind="UPDATE",
            app="gitea",
            appVersion="1.24.0",
            ctid=ctid,
            status=status,
            outcome=outcome,
            exitCode=code,
            errorCategory="shell" if code else None,
            eventCount=1,
        )
        return ExpectedRun(fields, finished_by=status)

    return Scenario(
        posts,
        {
            f"update:{ok}": expected(ok, 110, "success", "SUCCESS", 0),
            f"update:{broken}": expected(broken, 111, "failed", "FAILED", 1),
        },
    )


ALL_SCENARIOS: tuple[Callable[[datetime], Scenario], ...] = (
    successful_lxc_install,
    failed_lxc_install_with_trace,
    aborted_installs,
    retry_with_new_execution_id,
    vm_install,
    addon_run,
    event_times,
    old_client_done,
    old_client_failures,
    old_client_broken_json,
    seed_api,
    update_by_exit_code_only,
)


# --- 1.4 captured real traffic ---------------------------------------------------------


def captured_traffic(requests: Iterable[Mapping[str, str]]) -> Scenario:
    """The captured requests (tests/fixtures/clients) replayed as sent, and their four runs."""
    posts: list[Post] = []
    for request in requests:
        sent = json.loads(request["body"])
        run = sent.get("execution_id") or sent["random_id"]
        posts.append(
            Post(request["path"], request["body"].encode(), run, sent["status"], sent["status"])
        )
    ha, immich = "0d6c3c2e-6f1a-4bb4-9f57-3f0c2f0e9a01", "5b1e7c90-2d4f-4c1e-8b8a-8f3d2a6c7e02"
    docker, ncp = "9a7f2b14-8c3d-4e5f-a6b7-c8d9e0f1a203", "c4d5e6f7-0819-4a2b-bc3d-4e5f6a7b8c04"
    current = {"kind": "INSTALL", "durationSeconds": 1, **HOST_METADATA_FIELDS}
    previous = {"kind": "INSTALL", "eventCount": 2, **UPLOAD_METADATA_FIELDS}
    return Scenario(
        tuple(posts),
        {
            ha: ExpectedRun(
                run_fields(
                    executionId=ha,
                    sessionId=ha,
                    app="homeassistant",
                    status="success",
                    outcome="SUCCESS",
                    exitCode=0,
                    eventCount=4,
                    **current,
                ),
                finished_by="success",
            ),
            immich: ExpectedRun(
                run_fields(
                    executionId=immich,
                    sessionId=immich,
                    app="immich",
                    status="failed",
                    outcome="FAILED",
                    exitCode=100,
                    errorCategory="dependency",
                    error="exit_code=100 | APT: Package manager error (broken packages /"
                    " dependency problems) | at line 57: apt-get install -y libvips-dev",
                    eventCount=3,
                    **current,
                ),
                finished_by="failed",
            ),
            docker: ExpectedRun(
                run_fields(
                    sessionId=docker, app="docker", status="done", outcome="SUCCESS", **previous
                ),
                finished_by="done",
            ),
            ncp: ExpectedRun(
                run_fields(
                    sessionId=ncp,
                    app="nextcloudpi",
                    status="failed",
                    outcome="FAILED",
                    exitCode=127,
                    exitCodeInferred=True,
                    errorCategory="dependency",
                    error="Command not found",
                    **previous,
                ),
                finished_by="failed",
            ),
        },
    )
