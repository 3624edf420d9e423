"""GET /stats and the previous service's GET /data/* reads, end to end on both stores.

Each test posts install runs through the REST shim (current and previous client), then
checks an endpoint's whole answer against numbers and records computed here in plain
Python from the posted runs (tests/utils/legacy_reads_data.py). Records carry the old
keys (docs/semantics.md, "Previous client"); lists are newest first and bounded; bad
query parameters are 400 in the shim's error shape, naming the parameter.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.exit_codes import lookup_exit_code
from server import create_app
from tests.utils.client_payloads import render, seed_update, upload_install, upload_status
from tests.utils.legacy_reads_data import (
    Install,
    expected_error,
    expected_outcome,
    install,
    post_installs,
    raw_status,
    records,
)

OUTCOME_KEYS = {
    "SUCCESS": "success",
    "FAILED": "failed",
    "ABORTED": "aborted",
    "UNKNOWN": "unknown",
    "UNFINISHED": "unfinished",
    "IN_PROGRESS": "in_progress",
}
APT_ERROR = "exit_code=100 | APT error | at line 12: apt-get install -y docker-ce"
STORAGE_TEXT = "Custom: Not enough storage space"  # the previous client's text for 214


# --- helpers -----------------------------------------------------------------------------


async def get_json(client: Any, url: str) -> Any:
    response = await client.get(url)
    assert response.status == 200, (url, await response.text())
    assert response.content_type == "application/json"
    return await response.json()


async def post_body(client: Any, path: str, fields: Any) -> None:
    response = await client.post(
        path, data=render(fields), headers={"Content-Type": "application/json"}
    )
    assert response.status in (200, 201, 202), await response.text()


async def post_update(client: Any, **fields: Any) -> None:
    """An application-update run: a kind the legacy reads must leave out."""
    await post_body(client, "/update", seed_update(101, "docker", "2.0", **fields))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rate(success: int, failed: int) -> float | None:
    return None if success + failed == 0 else success / (success + failed)


def expected_summary(specs: list[Install], now: datetime) -> dict[str, Any]:
    counts = Counter(OUTCOME_KEYS[expected_outcome(spec, now)] for spec in specs)
    summary: dict[str, Any] = {"runs": len(specs)}
    summary |= {key: counts[key] for key in OUTCOME_KEYS.values()}
    summary["success_rate"] = rate(counts["success"], counts["failed"])
    return summary


def expected_top_apps(specs: list[Install], now: datetime, top: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for app in sorted({spec.app for spec in specs}):
        outcomes = Counter(expected_outcome(spec, now) for spec in specs if spec.app == app)
        success, failed = outcomes["SUCCESS"], outcomes["FAILED"]
        runs = sum(outcomes.values())
        rows.append(
            {
                "app": app,
                "runs": runs,
                "success": success,
                "failed": failed,
                "success_rate": rate(success, failed),
            }
        )
    return sorted(rows, key=lambda row: -row["runs"])[:top]


def expected_top_errors(specs: list[Install], now: datetime, top: int) -> list[dict[str, Any]]:
    """FAILED runs per exit code, most first, ties by the code's text ("none" if unknown)."""
    codes = Counter(spec.exit_code for spec in specs if expected_outcome(spec, now) == "FAILED")
    ranked = sorted(codes.items(), key=lambda item: (-item[1], str(item[0] or "none")))
    return [_error_row(code, count) for code, count in ranked[:top]]


def _error_row(code: int | None, count: int) -> dict[str, Any]:
    if code is None:
        return {"exit_code": None, "description": None, "category": None, "count": count}
    entry = lookup_exit_code(code)
    return {
        "exit_code": code,
        "description": " / ".join(entry.descriptions),
        "category": entry.category,
        "count": count,
    }


async def assert_bad_parameter(client: Any, url: str, field: str, code: str) -> None:
    response = await client.get(url)
    assert response.status == 400, (url, await response.text())
    assert response.content_type == "application/json"
    body = await response.json()
    assert body == {"error": {"code": code, "message": body["error"]["message"], "field": field}}
    assert field in body["error"]["message"], url


# --- GET /stats --------------------------------------------------------------------------


def stats_dataset(now: datetime) -> list[Install]:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    return [
        install("docker", ago(1), "success", exit_code=0),
        install("docker", ago(2), "success", exit_code=0),
        install("docker", ago(3), "failed", exit_code=100, error=APT_ERROR),
        install("docker", ago(5), "done", old_client=True),
        install("homeassistant", ago(4), "failed", exit_code=100, error=APT_ERROR),
        install(
            "homeassistant", ago(6), "failed", exit_code=214, error=STORAGE_TEXT, old_client=True
        ),
        install("homeassistant", ago(8), "failed", exit_code=130, error="exit_code=130 | SIGINT"),
        install("jellyfin", ago(10), "failed", error="Unknown error", old_client=True),
        install("jellyfin", ago(12), "unknown", exit_code=0),
        install("jellyfin", ago(1 / 24), None),  # in progress: silent for an hour
        install("pihole", ago(2), None),  # unfinished: silent for two days
        install("pihole", ago(29), "success", exit_code=0),
        install("pihole", ago(31), "failed", exit_code=100, error=APT_ERROR),
        install("nginx", ago(45), "success", exit_code=0),
        install("nginx", ago(6.5), "success", exit_code=0),
    ]


async def test_stats_counts_install_runs_of_the_last_30_days(client):
    now = datetime.now(UTC)
    specs = stats_dataset(now)
    await post_installs(client, specs)
    await post_update(client, status="success")

    stats = await get_json(client, "/stats")

    generated = parse_time(stats["generated_at"])
    assert now <= generated <= datetime.now(UTC)
    assert parse_time(stats["window"]["until"]) == generated
    assert parse_time(stats["window"]["since"]) == generated - timedelta(days=30)
    inside = [spec for spec in specs if spec.started >= now - timedelta(days=30)]
    assert len(inside) == 13
    assert stats["summary"] == expected_summary(inside, now)
    assert stats["top_apps"] == expected_top_apps(inside, now, 20)
    assert stats["top_errors"] == expected_top_errors(inside, now, 10)
    assert set(stats) == {"generated_at", "window", "summary", "top_apps", "top_errors"}


async def test_stats_are_the_same_read_from_rollups_or_from_runs(client, aiohttp_client, settings):
    now = datetime.now(UTC)
    await post_installs(client, stats_dataset(now))
    runs_only = await aiohttp_client(
        create_app(settings.model_copy(update={"analytics_use_rollups": False}))
    )

    for url in ("/stats", "/stats?days=7", "/data/summary"):
        from_rollups = await get_json(client, url)
        from_runs = await get_json(runs_only, url)
        for answer in (from_rollups, from_runs):
            answer.pop("generated_at", None)
            answer.pop("window", None)
        assert from_rollups == from_runs, url


async def test_stats_days_narrows_the_window(client):
    now = datetime.now(UTC)
    specs = stats_dataset(now)
    await post_installs(client, specs)

    stats = await get_json(client, "/stats?days=7")

    inside = [spec for spec in specs if spec.started >= now - timedelta(days=7)]
    assert parse_time(stats["window"]["since"]) == parse_time(stats["window"]["until"]) - timedelta(
        days=7
    )
    assert stats["summary"] == expected_summary(inside, now)
    assert stats["top_apps"] == expected_top_apps(inside, now, 20)
    assert stats["top_errors"] == expected_top_errors(inside, now, 10)


async def test_stats_counts_updates_only_when_asked(client):
    now = datetime.now(UTC)
    await post_installs(client, [install("docker", now - timedelta(days=1), "success")])
    await post_update(client, status="success")
    await post_update(client, status="failed", exit_code=100)

    updates = await get_json(client, "/stats?kind=update")
    both = await get_json(client, "/stats?kind=all")

    assert updates["summary"] == {
        "runs": 2,
        "success": 1,
        "failed": 1,
        "aborted": 0,
        "unknown": 0,
        "unfinished": 0,
        "in_progress": 0,
        "success_rate": 0.5,
    }
    assert updates["top_apps"] == [
        {"app": "docker", "runs": 2, "success": 1, "failed": 1, "success_rate": 0.5}
    ]
    assert [row["exit_code"] for row in updates["top_errors"]] == [100]
    assert both["summary"]["runs"] == 3
    assert both["top_apps"][0]["runs"] == 3


async def test_stats_keeps_the_top_20_apps_and_the_top_10_exit_codes(client):
    now = datetime.now(UTC)
    codes = [1, 2, 6, 7, 22, 28, 35, 100, 101, 126, 127, 214]
    specs = [
        install(
            f"app{index:02d}",
            now - timedelta(hours=4 + index),
            "failed",
            exit_code=codes[index % len(codes)],
            error=f"exit_code={codes[index % len(codes)]} | failed",
        )
        for index in range(22)
    ]
    await post_installs(client, specs)

    stats = await get_json(client, "/stats")

    assert len(stats["top_apps"]) == 20
    assert stats["top_apps"] == expected_top_apps(specs, now, 20)
    assert len(stats["top_errors"]) == 10
    assert stats["top_errors"] == expected_top_errors(specs, now, 10)
    assert stats["summary"]["failed"] == 22


async def test_stats_of_an_empty_store_has_no_rate(client):
    stats = await get_json(client, "/stats")

    assert stats["summary"] == expected_summary([], datetime.now(UTC))
    assert stats["summary"]["success_rate"] is None
    assert stats["top_apps"] == stats["top_errors"] == []


# --- GET /data/* -------------------------------------------------------------------------


def records_dataset(now: datetime) -> list[Install]:
    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    return [
        install("docker", ago(30), "success", exit_code=0, os_type="debian", os_version="12"),
        install("docker", ago(29), "done", old_client=True, os_type="debian", os_version="13"),
        install("docker", ago(28), "sucess", exit_code=0, os_type="alpine", os_version="3.22"),
        install("jellyfin", ago(27), "failed", exit_code=100, error=APT_ERROR),
        install(
            "jellyfin",
            ago(26),
            "failed",
            error=STORAGE_TEXT,
            old_client=True,
            os_type="ubuntu",
            os_version="24.04",
        ),
        install("pihole", ago(25), None, os_type="debian", os_version="12"),
        install("pihole", ago(24), "unknown", exit_code=0, os_type="debian", os_version="12"),
        install("vaultwarden", ago(23), "aborted", exit_code=130, error="exit_code=130 | SIGINT"),
    ]


async def test_data_json_lists_install_records_newest_first_with_the_old_keys(client):
    specs = records_dataset(datetime.now(UTC))
    await post_installs(client, specs)
    await post_update(client, status="failed", exit_code=1, error="update broke")

    found = await get_json(client, "/data/json")

    assert found == records(specs)
    assert list(found[0]) == [
        "id",
        "ct_type",
        "disk_size",
        "core_count",
        "ram_size",
        "os_type",
        "os_version",
        "disableip6",
        "nsapp",
        "method",
        "created_at",
        "pve_version",
        "status",
        "random_id",
        "type",
        "error",
    ]
    assert await get_json(client, "/data/json?limit=3") == records(specs)[:3]


async def test_data_paginated_pages_through_records_newest_first(client):
    specs = records_dataset(datetime.now(UTC))
    await post_installs(client, specs)
    expected = records(specs)

    assert await get_json(client, "/data/paginated") == expected  # default limit 10
    assert await get_json(client, "/data/paginated?page=1&limit=3") == expected[0:3]
    assert await get_json(client, "/data/paginated?page=2&limit=3") == expected[3:6]
    assert await get_json(client, "/data/paginated?page=3&limit=3") == expected[6:8]
    assert await get_json(client, "/data/paginated?page=4&limit=3") == []


async def test_data_summary_counts_runs_by_raw_status_and_app(client):
    specs = records_dataset(datetime.now(UTC))
    await post_installs(client, specs)
    await post_update(client, status="success")

    summary = await get_json(client, "/data/summary")

    assert summary == {
        "total_entries": len(specs),
        "status_count": dict(Counter(raw_status(spec) for spec in specs)),
        "nsapp_count": dict(Counter(spec.app for spec in specs)),
    }
    assert summary["status_count"]["done"] == summary["status_count"]["sucess"] == 1


async def test_data_nsapp_lists_one_apps_records(client):
    specs = records_dataset(datetime.now(UTC))
    await post_installs(client, specs)
    docker = [spec for spec in specs if spec.app == "docker"]

    assert await get_json(client, "/data/nsapp?nsapp=docker") == records(docker)
    assert await get_json(client, "/data/nsapp?nsapp=Docker") == records(docker)
    assert await get_json(client, "/data/nsapp?nsapp=docker&limit=2") == records(docker)[:2]
    assert await get_json(client, "/data/nsapp?nsapp=nextcloud") == []


async def test_data_status_matches_the_raw_status(client):
    specs = records_dataset(datetime.now(UTC))
    await post_installs(client, specs)

    for status in ("done", "success", "sucess", "failed", "installing", "unknown", "aborted"):
        matching = [spec for spec in specs if raw_status(spec) == status]
        assert matching, status
        assert await get_json(client, f"/data/status?status={status}") == records(matching)
    assert await get_json(client, "/data/status?status=configuring") == []


async def test_data_os_matches_os_type_and_optional_version(client):
    specs = records_dataset(datetime.now(UTC))
    await post_installs(client, specs)
    debian = [spec for spec in specs if spec.os_type == "debian"]
    debian_12 = [spec for spec in debian if spec.os_version == "12"]
    assert len(debian) > len(debian_12) > 1

    assert await get_json(client, "/data/os?os_type=debian") == records(debian)
    assert await get_json(client, "/data/os?os_type=DEBIAN") == records(debian)
    assert await get_json(client, "/data/os?os_type=debian&os_version=12") == records(debian_12)
    assert await get_json(client, "/data/os?os_type=debian&os_version=11") == []


async def test_data_date_is_utc_days_with_an_inclusive_end(client):
    def at(text: str) -> Install:
        return install("docker", datetime.fromisoformat(text), "success", exit_code=0)

    day_before = at("2025-03-09T23:59:59+00:00")
    first = at("2025-03-10T00:00:00+00:00")
    middle = at("2025-03-11T12:00:00+00:00")
    last = at("2025-03-12T23:59:59+00:00")
    day_after = at("2025-03-13T00:00:00+00:00")
    # 01:30 on the 10th in UTC+02:00 is still the 9th in UTC.
    local_tenth = at("2025-03-10T01:30:00+02:00")
    await post_installs(client, [day_before, first, middle, last, day_after, local_tenth])

    def url(start: str, end: str, extra: str = "") -> str:
        return f"/data/date?start_date={start}&end_date={end}{extra}"

    assert await get_json(client, url("2025-03-10", "2025-03-12")) == records([first, middle, last])
    assert await get_json(client, url("2025-03-10", "2025-03-10")) == records([first])
    assert await get_json(client, url("2025-03-09", "2025-03-09")) == records(
        [day_before, local_tenth]
    )
    assert await get_json(client, url("2025-03-10", "2025-03-12", "&limit=2")) == records(
        [middle, last]
    )
    assert await get_json(client, url("2024-01-01", "2024-12-31")) == []


def errors_dataset(now: datetime) -> list[Install]:
    long_a = "x" * 300 + " first tail"
    long_b = "x" * 300 + " second tail"
    errors = [APT_ERROR] * 3 + ["b: service failed"] * 2 + ["a: service failed"] * 2
    errors += [long_a, long_b, STORAGE_TEXT]
    specs = [
        install("docker", now - timedelta(hours=5 + index), "failed", exit_code=1, error=error)
        for index, error in enumerate(errors)
    ]
    specs[-1] = install(
        "docker", now - timedelta(hours=40), "failed", error=STORAGE_TEXT, old_client=True
    )
    specs.append(install("docker", now - timedelta(hours=50), "success", exit_code=0))
    specs.append(install("docker", now - timedelta(hours=51), None))
    return specs


async def test_data_errors_counts_runs_per_whole_error_text(client):
    specs = errors_dataset(datetime.now(UTC))
    await post_installs(client, specs)
    await post_update(client, status="failed", exit_code=1, error=APT_ERROR)

    found = await get_json(client, "/data/errors")

    texts = Counter(expected_error(spec) for spec in specs if expected_error(spec) is not None)
    ranked = sorted(texts.items(), key=lambda item: (-item[1], item[0]))
    assert found == {
        "error_counts": [{"error": str(text)[:300], "count": count} for text, count in ranked]
    }
    assert found["error_counts"][0] == {"error": APT_ERROR, "count": 3}
    assert [entry["error"] for entry in found["error_counts"][1:3]] == [
        "a: service failed",
        "b: service failed",
    ]
    # Texts that share their first 300 characters are still two entries.
    assert [entry["error"] for entry in found["error_counts"]].count("x" * 300) == 2


async def test_bad_query_parameters_are_400_naming_the_parameter(client):
    cases = [
        ("/stats?days=0", "days", "invalid_parameter"),
        ("/stats?days=367", "days", "invalid_parameter"),
        ("/stats?days=week", "days", "invalid_parameter"),
        ("/stats?kind=everything", "kind", "invalid_parameter"),
        ("/data/json?limit=1001", "limit", "invalid_parameter"),
        ("/data/json?limit=0", "limit", "invalid_parameter"),
        ("/data/json?limit=ten", "limit", "invalid_parameter"),
        ("/data/paginated?page=0", "page", "invalid_parameter"),
        ("/data/paginated?page=-1", "page", "invalid_parameter"),
        ("/data/paginated?page=1.5", "page", "invalid_parameter"),
        ("/data/paginated?page=1000001", "page", "invalid_parameter"),
        ("/data/paginated?page=2&limit=1001", "limit", "invalid_parameter"),
        ("/data/nsapp", "nsapp", "missing_parameter"),
        ("/data/nsapp?nsapp=", "nsapp", "missing_parameter"),
        ("/data/nsapp?nsapp=docker&limit=5000", "limit", "invalid_parameter"),
        ("/data/nsapp?nsapp=" + "a" * 201, "nsapp", "invalid_parameter"),
        ("/data/status", "status", "missing_parameter"),
        ("/data/os?os_version=12", "os_type", "missing_parameter"),
        ("/data/date?end_date=2025-03-10", "start_date", "missing_parameter"),
        ("/data/date?start_date=2025-03-10", "end_date", "missing_parameter"),
        ("/data/date?start_date=2025-13-01&end_date=2025-12-31", "start_date", "invalid_parameter"),
        ("/data/date?start_date=2025-02-29&end_date=2025-03-01", "start_date", "invalid_parameter"),
        ("/data/date?start_date=20250301&end_date=2025-03-02", "start_date", "invalid_parameter"),
        ("/data/date?start_date=2025-03-01&end_date=tomorrow", "end_date", "invalid_parameter"),
        ("/data/date?start_date=2025-03-02&end_date=2025-03-01", "start_date", "invalid_parameter"),
        (
            "/data/date?start_date=2025-03-01&end_date=2025-03-02&limit=1001",
            "limit",
            "invalid_parameter",
        ),
    ]
    for url, field, code in cases:
        await assert_bad_parameter(client, url, field, code)


async def test_every_list_is_bounded_to_1000_records(client):
    now = datetime.now(UTC)
    specs = [install("docker", now - timedelta(minutes=10 + index), None) for index in range(900)]
    specs += [
        install(
            "docker",
            now - timedelta(minutes=1000 + index),
            "failed",
            exit_code=1,
            error=f"error {index:03d}",
        )
        for index in range(101)
    ]
    await post_installs(client, specs)
    expected = records(specs)
    day = f"{now - timedelta(days=3):%Y-%m-%d}"
    today = f"{now:%Y-%m-%d}"

    assert await get_json(client, "/data/json") == expected[:1000]
    assert await get_json(client, "/data/paginated?page=1&limit=1000") == expected[:1000]
    assert await get_json(client, "/data/paginated?page=2&limit=1000") == expected[1000:]
    assert await get_json(client, "/data/nsapp?nsapp=docker") == expected[:1000]
    assert await get_json(client, "/data/os?os_type=debian") == expected[:1000]
    assert (
        await get_json(client, f"/data/date?start_date={day}&end_date={today}") == (expected[:1000])
    )
    assert len(await get_json(client, "/data/status?status=installing")) == 900
    errors = (await get_json(client, "/data/errors"))["error_counts"]
    assert errors == [{"error": f"error {index:03d}", "count": 1} for index in range(100)]
    summary = await get_json(client, "/data/summary")
    assert summary["total_entries"] == 1001
    assert summary["status_count"] == {"installing": 900, "failed": 101}


# --- previous client round trip ----------------------------------------------------------


async def test_previous_client_install_reads_back_as_its_old_record(client):
    """/upload then /upload/updatestatus "done", byte for byte as that client sends them."""
    before = datetime.now(UTC)
    await post_body(client, "/upload", upload_install("old-client-run", nsapp="docker"))
    await post_body(
        client, "/upload/updatestatus", upload_status("old-client-run", "done", "Unknown error")
    )
    await post_body(client, "/upload", upload_install("old-client-fail", nsapp="docker"))
    await post_body(
        client, "/upload/updatestatus", upload_status("old-client-fail", "failed", STORAGE_TEXT)
    )
    after = datetime.now(UTC)

    done = await get_json(client, "/data/status?status=done")
    summary = await get_json(client, "/data/summary")
    failed = await get_json(client, "/data/status?status=failed")

    assert len(done) == 1
    record = done[0]
    assert before <= parse_time(record.pop("created_at")) <= after
    assert record == {
        "id": "old-client-run",
        "ct_type": 1,
        "disk_size": 8,
        "core_count": 2,
        "ram_size": 2048,
        "os_type": "debian",
        "os_version": "12",
        "disableip6": None,
        "nsapp": "docker",
        "method": "default",
        "pve_version": "8.4.1",
        "status": "done",
        "random_id": "old-client-run",
        "type": "lxc",
        "error": None,
    }
    assert [(entry["id"], entry["error"]) for entry in failed] == [
        ("old-client-fail", STORAGE_TEXT)
    ]
    assert summary == {
        "total_entries": 2,
        "status_count": {"done": 1, "failed": 1},
        "nsapp_count": {"docker": 2},
    }
    stats = await get_json(client, "/stats")
    assert stats["summary"]["success"] == stats["summary"]["failed"] == 1
    assert stats["top_errors"] == [_error_row(214, 1)]
