"""Lenient scalar coercion: size units, booleans, text from non-text, and timestamps.

Expected sizes are worked out by hand (1 GiB = 1024 MiB, 1 TiB = 1024 GiB, 1 MiB =
1024 KiB; the K/M/G/T spellings with and without B/iB all mean the binary unit), and
expected times by adding seconds to the Unix epoch, not through ingest.coerce.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.coerce import (
    as_bool,
    as_int,
    as_text,
    as_timestamp,
    int_parser,
    is_empty,
    parse_bool,
    text_parser,
)
from ingest.errors import ReportError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BIG = 10**12


def spellings(letter: str) -> list[str]:
    """K, KB, KiB (and M, G, T) in lower, upper and the usual mixed case."""
    forms = [letter, letter + "b", letter + "ib"]
    return [
        *forms,
        *(form.upper() for form in forms),
        letter.upper() + "B",
        letter.upper() + "iB",
    ]


def error_of(call, *args) -> tuple[str, str, str | None]:
    with pytest.raises(ReportError) as caught:
        call(*args)
    return caught.value.code, caught.value.message, caught.value.field


@pytest.mark.parametrize(
    ("letter", "number", "mib"),
    [("k", 1000 * 1024, 1000), ("m", 3, 3), ("g", 3, 3 * 1024), ("t", 3, 3 * 1024 * 1024)],
)
def test_every_spelling_of_each_unit_in_mib(letter: str, number: int, mib: int) -> None:
    for unit in spellings(letter):
        assert as_int("ram_size", f"{number}{unit}", 0, BIG, "m") == mib, unit
        assert as_int("ram_size", f" {number} {unit} ", 0, BIG, "m") == mib, unit


@pytest.mark.parametrize(
    ("letter", "number", "gib"),
    [("k", 1000 * 1024 * 1024, 1000), ("m", 3072, 3), ("g", 3, 3), ("t", 3, 3 * 1024)],
)
def test_every_spelling_of_each_unit_in_gib(letter: str, number: int, gib: int) -> None:
    for unit in spellings(letter):
        assert as_int("disk_size", f"{number}{unit}", 0, BIG, "g") == gib, unit


def test_fractional_sizes_are_converted_then_rounded() -> None:
    assert as_int("ram_size", "1.5G", 0, BIG, "m") == 1536
    assert as_int("disk_size", "0.5T", 0, BIG, "g") == 512
    assert as_int("disk_size", "1536M", 0, BIG, "g") == 2  # 1.5 GiB rounds half to even
    assert as_int("disk_size", "2560M", 0, BIG, "g") == 2  # 2.5 GiB too
    assert as_int("ram_size", "1536K", 0, BIG, "m") == 2  # 1.5 MiB
    assert as_int("ram_size", "8", 0, BIG, "m") == 8  # no unit: already the base


def test_a_count_drops_a_stray_size_letter() -> None:
    assert as_int("core_count", "2G", 0, 4096, "count") == 2
    assert as_int("core_count", "4 kib", 0, 4096, "count") == 4


@pytest.mark.parametrize(("value", "base"), [("8X", "m"), ("8P", "g"), ("8PB", "count")])
def test_an_unknown_unit_is_refused(value: str, base: str) -> None:
    unit = value[1:].lower()
    assert error_of(as_int, "ram_size", value, 0, BIG, base) == (
        "invalid_number",
        f"ram_size has an unknown unit {unit!r}",
        "ram_size",
    )


def test_a_unit_on_a_plain_integer_field_is_refused() -> None:
    assert error_of(as_int, "ctid", "8G", 100, 999, None) == (
        "invalid_number", "ctid has an unknown unit 'g'", "ctid",
    )  # fmt: skip


@pytest.mark.parametrize("value", ["abc", "8 8", "1e3", "--1", ".5", "8.", "0x10"])
def test_text_that_is_no_number_is_refused(value: str) -> None:
    assert error_of(as_int, "cores", value, 0, BIG, None) == (
        "invalid_number", f"cores must be a number, got {value!r}", "cores",
    )  # fmt: skip


def test_integers_from_each_kind_of_value() -> None:
    assert as_int("cores", 8, 0, 10) == 8
    assert as_int("cores", 8.5, 0, 10) == 8  # half to even
    assert as_int("cores", 9.5, 0, 10) == 10
    assert as_int("cores", "-3", -5, 10) == -3
    assert as_int("cores", " 7 ", 0, 10) == 7
    assert as_int("cores", None, 0, 10) is None
    assert as_int("cores", "  ", 0, 10) is None


def test_the_range_is_inclusive_at_both_ends() -> None:
    assert as_int("ct_type", 0, 0, 2) == 0
    assert as_int("ct_type", 2, 0, 2) == 2
    assert error_of(as_int, "ct_type", 3, 0, 2) == (
        "out_of_range", "ct_type must be between 0 and 2, got 3", "ct_type",
    )  # fmt: skip
    assert error_of(as_int, "ct_type", -1, 0, 2)[0] == "out_of_range"
    long = "9" * 50
    assert error_of(as_int, "ct_type", long, 0, 2)[1] == (
        f"ct_type must be between 0 and 2, got '{'9' * 39}…"
    )


def test_booleans_infinities_and_other_types_are_no_integers() -> None:
    assert error_of(as_int, "cores", True, 0, 10) == (
        "invalid_type", "cores must be a number, got a boolean", "cores",
    )  # fmt: skip
    assert error_of(as_int, "cores", [8], 0, 10) == (
        "invalid_type", "cores must be a number", "cores",
    )  # fmt: skip
    for value in (float("inf"), float("-inf"), float("nan")):
        assert error_of(as_int, "cores", value, 0, 10) == (
            "invalid_number", "cores must be a finite number", "cores",
        )  # fmt: skip


def test_int_parser_takes_clean_values_inline_and_others_through_as_int() -> None:
    parse = int_parser(0, 255, "m")
    assert parse("exit_code", 255) == 255
    assert parse("exit_code", 0) == 0
    assert parse("exit_code", "0042") == 42
    assert parse("exit_code", "255") == 255
    assert parse("exit_code", "1K") == 0  # 1/1024 MiB
    assert parse("exit_code", " 12 ") == 12
    assert parse("exit_code", None) is None
    # Over 4300 digits int() itself refuses: the inline path must leave such text to
    # as_int, whose float is infinite.
    assert error_of(parse, "exit_code", "1" * 5000) == (
        "invalid_number", "exit_code must be a finite number", "exit_code",
    )  # fmt: skip
    for bad in (256, -1, "256", "12345678901", "1G", True):
        with pytest.raises(ReportError):
            parse("exit_code", bad)


# -- booleans ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        (" YES ", True),
        ("1", True),
        ("y", True),
        ("On", True),
        ("false", False),
        ("No", False),
        ("0", False),
        ("N", False),
        ("off", False),
        (None, None),
        ("", None),
        ("  ", None),
    ],
)
def test_booleans(value: object, expected: bool | None) -> None:
    assert as_bool("has_arm", value) is expected
    assert parse_bool("has_arm", value) is expected


@pytest.mark.parametrize("value", [2, -1, 1.0, "maybe", "enabled", [True]])
def test_anything_else_is_no_boolean(value: object) -> None:
    assert error_of(as_bool, "has_arm", value) == (
        "invalid_type", f"has_arm must be a boolean, got {value!r}", "has_arm",
    )  # fmt: skip


# -- text --------------------------------------------------------------------------------


def test_a_json_boolean_or_number_sent_to_a_text_field_is_its_text() -> None:
    assert as_text("method", True, 16) == "true"
    assert as_text("method", False, 16) == "false"
    assert as_text("method", 0, 16) == "0"
    assert as_text("method", 8.5, 16) == "8.5"
    assert as_text("method", " x y ", 16) == "x y"
    for parse in (text_parser(16), text_parser(16, lower=True)):
        assert parse("method", True) == "true"
        assert parse("method", 12) == "12"


def test_text_length_limit_is_inclusive() -> None:
    assert as_text("arch", "a" * 8, 8) == "a" * 8
    assert as_text("arch", " " + "a" * 8 + " ", 8) == "a" * 8
    expected = ("too_long", "arch is longer than 8 characters", "arch")
    assert error_of(as_text, "arch", "a" * 9, 8) == expected
    assert error_of(text_parser(8), "arch", "a" * 9) == expected
    assert error_of(text_parser(8), "arch", 123456789) == expected
    assert text_parser(8)("arch", "a" * 8) == "a" * 8


def test_a_bad_value_is_quoted_whole_up_to_40_characters() -> None:
    forty = "x" * 38  # its repr, quotes included, is 40 characters
    assert error_of(as_bool, "f", forty)[1] == f"f must be a boolean, got '{forty}'"
    longer = "x" * 39
    assert error_of(as_bool, "f", longer)[1] == f"f must be a boolean, got '{longer}…"


def test_the_text_parser_takes_its_options_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        text_parser(16, True)  # type: ignore[misc, call-arg, unused-ignore]


def test_text_parser_lowers_only_when_asked_and_reads_blank_as_nothing() -> None:
    assert text_parser(16, lower=True)("os", " Debian ") == "debian"
    assert text_parser(16)("os", " Debian ") == "Debian"
    assert text_parser(16)("os", "   ") is None
    assert text_parser(16)("os", None) is None
    assert as_text("os", None, 16) is None
    assert error_of(as_text, "os", {"a": 1}, 16) == ("invalid_type", "os must be a string", "os")


def test_is_empty() -> None:
    assert is_empty(None) and is_empty("") and is_empty(" \t\n")
    assert not is_empty(0) and not is_empty(False) and not is_empty("x") and not is_empty([])


# -- timestamps --------------------------------------------------------------------------

FIRST = datetime(2020, 1, 1, tzinfo=UTC)
FIRST_EPOCH = 1_577_836_800  # 50 years of 365 days plus 12 leap days, in seconds
assert EPOCH + timedelta(days=50 * 365 + 12) == FIRST


def test_the_earliest_accepted_moment_is_2020_01_01() -> None:
    assert as_timestamp("timestamp", "2020-01-01T00:00:00Z") == FIRST
    assert as_timestamp("timestamp", "2020-01-01T00:00:00.000001Z") == FIRST + timedelta(
        microseconds=1
    )
    assert as_timestamp("timestamp", FIRST_EPOCH) == FIRST
    assert as_timestamp("timestamp", FIRST_EPOCH + 1) == FIRST + timedelta(seconds=1)
    assert as_timestamp("timestamp", FIRST_EPOCH * 1000) == FIRST
    before = ("out_of_range", "timestamp is before 2020-01-01", "timestamp")
    assert error_of(as_timestamp, "timestamp", "2019-12-31T23:59:59.999999Z") == before
    assert error_of(as_timestamp, "timestamp", FIRST_EPOCH - 1) == before
    assert error_of(as_timestamp, "timestamp", str(FIRST_EPOCH - 1)) == before
    assert error_of(as_timestamp, "timestamp", "2020-01-01T00:30:00+01:00") == before


def test_epoch_seconds_and_milliseconds() -> None:
    assert as_timestamp("t", 1_773_500_000) == EPOCH + timedelta(seconds=1_773_500_000)
    assert as_timestamp("t", "1773500000.25") == EPOCH + timedelta(seconds=1_773_500_000.25)
    assert as_timestamp("t", 1_773_500_000_123) == EPOCH + timedelta(
        seconds=1_773_500_000, milliseconds=123
    )
    # The last value read as seconds (year 5138) and the first read as milliseconds
    # (1973, so refused).
    assert as_timestamp("t", 99_999_999_999) == EPOCH + timedelta(seconds=99_999_999_999)
    assert error_of(as_timestamp, "t", 100_000_000_000)[0] == "out_of_range"


def test_iso_times_are_utc_and_naive_ones_are_taken_as_utc() -> None:
    expected = datetime(2026, 3, 14, 15, tzinfo=UTC)
    for text in ("2026-03-14T15:00:00Z", "2026-03-14T15:00:00", " 2026-03-14 17:00:00+02:00 "):
        moment = as_timestamp("t", text)
        assert moment == expected and moment is not None
        assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "1.2.3", "²", [2026], 10**30])
def test_unreadable_timestamps(value: object) -> None:
    assert error_of(as_timestamp, "t", value) == (
        "invalid_timestamp", f"t must be ISO 8601 or epoch seconds, got {value!r}", "t",
    )  # fmt: skip


def test_a_boolean_is_no_timestamp_and_blank_is_none() -> None:
    assert error_of(as_timestamp, "t", True) == (
        "invalid_timestamp", "t must be ISO 8601 or epoch seconds", "t",
    )  # fmt: skip
    assert as_timestamp("t", "") is None and as_timestamp("t", None) is None
