"""Behaviour of the exit-code reference table and the previous-client text matcher."""

from __future__ import annotations

import pytest

from ingest import exit_codes
from ingest.exit_codes import (
    ABORT_EXIT_CODES,
    CATEGORIES,
    ExitCode,
    all_exit_codes,
    category_for,
    infer_exit_code_from_text,
    lookup_exit_code,
)
from tests.utils.fixtures import previous_exit_texts


def _span(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


# docs/semantics.md, "Exit codes", plus the previous client's database codes filed as "database".
EXPECTED_CATEGORIES: dict[str, list[int]] = {
    "network": [6, 7, 22, 35],
    "timeout": [28, 124, 211],
    "storage": [214, 217, 219, 224],
    "dependency": [100, 101, 102, 127, *_span(160, 162), 255],
    "permission": [126, 152],
    "config": [10, 128, *_span(203, 208)],
    "proxmox": [200, 209, 210, 212, 213, 215, 216, 218, *_span(220, 223), 225, 231],
    "service": [150, 151, 153, 154],
    "database": [
        *_span(170, 173),
        *_span(180, 183),
        *_span(190, 193),
        *_span(232, 234),
        241,
        242,
        244,
        *_span(251, 254),
    ],
    "runtime": [243, *_span(245, 249)],
    "user_aborted": [129, 130, 143],
    "resource": [134, 137],
    "signal": [139, 141],
    "shell": [1, 2],
}

COLLIDING_CODES = [210, 211, 231, 243, 254]


@pytest.mark.parametrize(
    ("code", "category"),
    [(code, cat) for cat, codes in EXPECTED_CATEGORIES.items() for code in codes],
)
def test_every_design_code_has_its_category(code: int, category: str) -> None:
    entry = lookup_exit_code(code)
    assert entry.code == code
    assert entry.category == category
    assert category_for(code) == category


def test_the_table_holds_exactly_the_known_codes() -> None:
    expected = sorted(code for codes in EXPECTED_CATEGORIES.values() for code in codes)
    assert [entry.code for entry in all_exit_codes()] == expected


def test_all_exit_codes_is_sorted_and_unique() -> None:
    codes = [entry.code for entry in all_exit_codes()]
    assert codes == sorted(set(codes))


def test_every_entry_has_a_listed_category_and_qualified_descriptions() -> None:
    for entry in all_exit_codes():
        assert entry.category in CATEGORIES
        assert entry.descriptions
        for description in entry.descriptions:
            family, sep, detail = description.partition(": ")
            assert sep and family and detail, description


def test_categories_cover_client_and_server_side_names() -> None:
    client = {
        "network",
        "config",
        "timeout",
        "storage",
        "dependency",
        "permission",
        "proxmox",
        "service",
        "database",
        "runtime",
        "user_aborted",
        "resource",
        "signal",
        "shell",
        "unknown",
    }
    server = {"apt", "command_not_found", "build", "preflight"}
    assert set(CATEGORIES) == client | server
    assert len(CATEGORIES) == len(set(CATEGORIES))


@pytest.mark.parametrize("code", COLLIDING_CODES)
def test_colliding_codes_keep_every_family_meaning(code: int) -> None:
    descriptions = lookup_exit_code(code).descriptions
    assert len(descriptions) >= 2
    families = {d.partition(":")[0] for d in descriptions}
    assert len(families) == len(descriptions)


def test_descriptions_are_our_own_not_the_client_texts() -> None:
    client_texts = set(exit_codes._PREVIOUS_CLIENT_TEXTS)
    for entry in all_exit_codes():
        assert not client_texts.intersection(entry.descriptions), entry.code


def test_abort_codes_are_hup_int_and_term() -> None:
    assert frozenset({129, 130, 143}) == ABORT_EXIT_CODES
    assert all(lookup_exit_code(code).category == "user_aborted" for code in ABORT_EXIT_CODES)


def test_unknown_code_gets_a_placeholder_entry() -> None:
    assert lookup_exit_code(42) == ExitCode(42, "unknown", ("Unknown exit code",))
    assert category_for(42) == "unknown"


def test_zero_means_success() -> None:
    assert lookup_exit_code(0) == ExitCode(0, "unknown", ("Success",))


def test_category_for_none_is_none() -> None:
    assert category_for(None) is None


def test_exit_code_is_immutable() -> None:
    entry = lookup_exit_code(1)
    with pytest.raises(AttributeError):
        entry.code = 2  # type: ignore[misc]


def test_every_previous_client_text_infers_its_code() -> None:
    rows = previous_exit_texts()
    for code, text in rows:
        assert infer_exit_code_from_text(text) == code, text


def test_embedded_text_table_equals_the_tsv() -> None:
    rows = previous_exit_texts()
    assert dict(exit_codes._PREVIOUS_CLIENT_TEXTS) == {text: code for code, text in rows}


def test_previous_client_texts_are_unique_though_some_codes_repeat() -> None:
    rows = previous_exit_texts()
    texts = [text for _, text in rows]
    assert len(texts) == len(set(texts))
    codes = [code for code, _ in rows]
    repeated = {code for code in codes if codes.count(code) > 1}
    assert repeated == set(COLLIDING_CODES)


def test_every_inferred_code_is_in_the_table() -> None:
    known = {entry.code for entry in all_exit_codes()}
    assert set(exit_codes._PREVIOUS_CLIENT_TEXTS.values()) <= known


def test_inference_ignores_surrounding_whitespace() -> None:
    assert infer_exit_code_from_text("  Command not found\n") == 127


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Unknown error",
        "command not found",
        "Command not found (extra)",
        "exit_code=127 | Command not found | at line 3: foo",
    ],
)
def test_anything_but_an_exact_text_infers_nothing(text: str | None) -> None:
    assert infer_exit_code_from_text(text) is None
