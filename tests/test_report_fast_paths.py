"""The fast report builder agrees with the straightforward reference on every body.

``ingest.report`` takes clean values (a trimmed str within its limit, an int in range,
a real boolean) without calling the general parsers, reuses the dedup payload as its
NUL scan, formats the order key by hand and skips scrub rules by cheap pre-checks.
Each of those could drift from the general path, so thousands of generated bodies —
realistic ones and ones full of edge cases — must give the same Report (every field,
with value types) or the same ReportError (code, message, field) as
``tests/utils/report_reference.py``.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest import report as fast
from ingest.errors import ReportError
from ingest.scrub import scrub_error_text
from tests.utils import report_reference as reference
from tests.utils.client_payloads import host_event

RECEIVED = (
    datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC),
    datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 3, 14, 15, 9, 26, 7),  # naive, as a store may hand it back
)

# The captured homeassistant install's first event, as the current client sends it.
REALISTIC: dict[str, Any] = host_event(
    "0a1b2c3d-0001-4abc-adef-000000000001", "installing", nsapp="homeassistant"
)
EXTRA_KEYS = (
    "ctid",
    "app",
    "app_name",
    "version",
    "app_version",
    "duration",
    "failed_command",
    "failed_line",
    "payload_version",
    "kernel_version",
    "disableip6",
    "timestamp",
    "unknown_key",
    "x-forwarded-for",
)
ERROR_TEXTS = (
    "exit_code=100 | APT: Package manager error | at line 57: apt-get install -y libfoo",
    "connect to 192.168.1.10:8006 failed (1.2.3.4.5 kept)",
    "curl: (6) Could not resolve host https://nas.local/api and https://github.com/x",
    "mail admin@example.org about /home/alice/.ssh and /Users/bob/x, not /root",
    "link fe80::1ff:fe23:4567:890a up, mac 00:1A:2b:3c:4D:5e, and ::1 and 12:30:45",
    "mac 00-1a-2b-3c-4d-5e and a-b-c-d-e-f and 1:2:3:4:5",
    "ssh user@10.0.0.1 and http://user:pw@[::1]:80/ and pkg@1.2.3",
    "Unknown error",
    "Package manager error (APT)",
    "  padded text \t",
    "nul\x00inside",
    "x" * 300,
)
TIMESTAMPS = (
    "2026-03-14T15:00:00Z",
    "2026-03-14T15:00:00",
    "2026-03-14 15:00:00+02:00",
    "2019-12-31T23:59:59Z",
    "2099-01-01T00:00:00Z",
    1773500000,
    1773500000.5,
    1773500000123,
    "1773500000",
    "1773500000123",
    "1773500000.25",
    "yesterday",
    True,
    -1,
    "",
)


def _odd_value(rng: random.Random, key: str) -> object:
    """A value of the wrong kind, at a limit, padded, NUL-laden or otherwise odd."""
    limit = reference.TEXT_LIMITS.get(key, (128, False))[0]
    choices: list[Callable[[], object]] = [
        lambda: None,
        lambda: "",
        lambda: "   ",
        lambda: "\u00a0x\u2003",
        lambda: " Padded Value ",
        lambda: "UPPER",
        lambda: "a" * limit,
        lambda: "a" * (limit + 1),
        lambda: " " + "a" * limit + " ",
        lambda: "nul\x00here",
        lambda: "\x00",
        lambda: "tab\there",
        lambda: "8",
        lambda: "08",
        lambda: " 8 ",
        lambda: "8G",
        lambda: "512M",
        lambda: "2g",
        lambda: "1.5T",
        lambda: "8 GiB",
        lambda: "8X",
        lambda: "-1",
        lambda: "1e3",
        lambda: "8.5",
        lambda: "٣",  # a non-ASCII decimal digit
        lambda: "²",
        lambda: "99999999999",
        lambda: "1" * 400,
        lambda: 0,
        lambda: 1,
        lambda: 2,
        lambda: 255,
        lambda: 256,
        lambda: -5,
        lambda: 100,
        lambda: 10**12,
        lambda: 8.4,
        lambda: 8.5,
        lambda: 1e300,
        lambda: float("inf"),
        lambda: True,
        lambda: False,
        lambda: "yes",
        lambda: "off",
        lambda: [1, 2],
        lambda: {"a": 1},
        lambda: rng.choice(ERROR_TEXTS),
        lambda: rng.choice(TIMESTAMPS),
    ]
    return rng.choice(choices)()


def _body(rng: random.Random) -> dict[str, Any]:
    body = dict(REALISTIC)
    body["status"] = rng.choice(
        ["installing", "configuring", "success", "failed", "done", "sucess", "aborted"]
    )
    if rng.random() < 0.3:
        body["error"] = rng.choice(ERROR_TEXTS)
    for key in rng.sample(EXTRA_KEYS, rng.randint(0, 4)):
        body[key] = _odd_value(rng, key) if rng.random() < 0.5 else "value"
    if "timestamp" in body and rng.random() < 0.7:
        body["timestamp"] = rng.choice(TIMESTAMPS)
    for key in rng.sample(sorted(body), rng.choice([0, 0, 1, 1, 2, 4])):
        if rng.random() < 0.3:
            del body[key]
        else:
            body[key] = _odd_value(rng, key)
    if rng.random() < 0.1:
        items = list(body.items())
        rng.shuffle(items)
        body = dict(items)
    return body


def _outcome(build: Callable[..., fast.Report], *args: Any) -> object:
    """Everything observable of one build: the Report's fields with value types, or the
    error's class and its code, message and field."""
    try:
        report = build(*args)
    except ReportError as error:
        return ("ReportError", error.code, error.message, error.field)
    except Exception as error:  # e.g. orjson refusing a value: must fail the same way
        return (type(error).__name__, str(error))
    return (
        report.source,
        report.kind,
        report.run_id,
        report.random_id,
        report.execution_id,
        report.status_raw,
        report.status,
        report.received_at,
        report.client_time,
        report.event_time,
        [(key, type(value), value) for key, value in report.raw.items()],
        sorted((key, type(value).__name__, repr(value)) for key, value in report.values.items()),
        report.dedup_key,
        report.order_key,
    )


def _assert_same(body: dict[str, Any], source: str, received_at: datetime) -> None:
    args = (source, body, received_at, "assigned-run")
    assert _outcome(fast.build_report, *args) == _outcome(reference.build_report, *args), body


def test_reference_spells_out_every_field() -> None:
    keys = set(reference.TEXT_LIMITS) | set(reference.INT_RULES) | set(reference.BOOL_KEYS)
    assert keys == set(fast.FIELDS)


@pytest.mark.parametrize("seed", range(4))
def test_generated_bodies_build_as_the_reference_does(seed: int) -> None:
    rng = random.Random(seed)
    sources = sorted(fast.SOURCES)
    for _ in range(1500):
        _assert_same(_body(rng), rng.choice(sources), rng.choice(RECEIVED))


@pytest.mark.parametrize("key", [*sorted(fast.FIELDS), "random_id", "status", "error"])
def test_every_odd_value_of_every_field_builds_as_the_reference_does(key: str) -> None:
    rng = random.Random(key)
    for _ in range(300):
        body = dict(REALISTIC)
        body[key] = _odd_value(rng, key)
        _assert_same(body, rng.choice(("telemetry", "update", "upload/updatestatus")), RECEIVED[0])


def test_client_times_and_old_years_give_the_reference_order_key() -> None:
    for stamp in TIMESTAMPS:
        _assert_same({**REALISTIC, "timestamp": stamp}, "telemetry", RECEIVED[0])
    for year in (1, 999, 1000, 2020, 9999):
        _assert_same(REALISTIC, "telemetry", datetime(year, 1, 2, 3, 4, 5, 6))


def test_the_bench_bodies_build_as_the_reference_does() -> None:
    """The three reports of a run as bench/wrk/telemetry.lua sends them."""
    failed = {
        **REALISTIC,
        "status": "failed",
        "exit_code": 100,
        "error": ERROR_TEXTS[0],
        "error_category": "dependency",
        "install_duration": 95,
    }
    for body in (
        {**REALISTIC, "status": "configuring"},
        failed,
        {**REALISTIC, "status": "success"},
    ):
        _assert_same(body, "telemetry", RECEIVED[0])


@pytest.mark.parametrize("text", ERROR_TEXTS)
def test_scrub_pre_checks_change_nothing(text: str) -> None:
    for variant in (text, text * 3, f"{text} {text.upper()}", text.replace(" ", "")):
        assert scrub_error_text(variant) == reference.scrub_error_text(variant)


# Pieces of addresses, versions, separators and masks, glued at random.
# Pieces of addresses, versions, separators and masks, glued at random.
SCRUB_FRAGMENTS = (
    *("1", "10", "255", "256", ".", ":", "::", "-", "@", "/", " ", "\n", "a", "fe80", "0A"),
    *("1.2.3.4", "8.4.1", "12:30:45", "x.x.x.x", "<host>", "/home/", "/Users/", "alice"),
    *("00:1a:2b:3c:4d:5e", "00-1a-2b-3c-4d-5e", "::ffff:10.0.0.1", "[::1]", "::1", "fe80::1"),
    *("user@mail.example.org", "pkg@1.2.3", "http://", "https://nas.lan", "github.com"),
)


def test_scrub_pre_checks_change_nothing_on_generated_text() -> None:
    rng = random.Random(7)
    for _ in range(4000):
        text = "".join(rng.choices(SCRUB_FRAGMENTS, k=rng.randint(1, 14)))
        assert scrub_error_text(text) == reference.scrub_error_text(text), text


def test_stored_raw_keeps_body_order_and_drops_unknown_keys() -> None:
    body = {"zeta": 1, **REALISTIC, "unknown_key": "x"}
    report = fast.build_report("telemetry", body, RECEIVED[0])
    assert list(report.raw) == list(REALISTIC)


def test_future_client_time_is_clamped_to_receipt() -> None:
    later = (RECEIVED[0] + timedelta(days=1)).isoformat()
    report = fast.build_report("telemetry", {**REALISTIC, "timestamp": later}, RECEIVED[0])
    assert report.event_time == RECEIVED[0]
    assert report.order_key.startswith("2026-03-14T15:09:26.535897|0|")


def test_a_report_pickles_with_every_field() -> None:
    """Reports cross to the writer process pickled field by field (Report.__reduce__):
    a field it left out would arrive as its default."""
    built = fast.build_report(
        "telemetry", REALISTIC | {"timestamp": "2026-03-14T15:00:00Z"}, RECEIVED[0]
    )
    assert len(built.__reduce__()[1]) == len(dataclasses.fields(fast.Report))
    again = pickle.loads(pickle.dumps(built))
    assert [getattr(again, f.name) for f in dataclasses.fields(fast.Report)] == [
        getattr(built, f.name) for f in dataclasses.fields(fast.Report)
    ]
