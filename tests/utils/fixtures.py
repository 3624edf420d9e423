"""The captured client traffic kept in ``tests/fixtures/clients`` (see its README).

The files are part of the repository, so a missing or truncated copy is a failure,
never a skip: each loader checks the file is complete before returning it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

CLIENTS = Path(__file__).resolve().parent.parent / "fixtures" / "clients"
CAPTURED_REQUESTS = CLIENTS / "captured-requests.ndjson"
PREVIOUS_EXIT_TEXTS = CLIENTS / "previous-client-exit-texts.tsv"

# How many records each complete file holds: a shorter copy is a broken fixture.
CAPTURED_REQUEST_COUNT = 11
PREVIOUS_EXIT_TEXT_COUNT = 55


def captured_requests() -> list[dict[str, Any]]:
    """Every captured request in order: ``method``, ``path``, ``content_type``, raw ``body``."""
    lines = CAPTURED_REQUESTS.read_text(encoding="utf-8").splitlines()
    requests = [json.loads(line) for line in lines if line.strip()]
    assert len(requests) == CAPTURED_REQUEST_COUNT, f"{CAPTURED_REQUESTS} is incomplete"
    return requests


def previous_exit_texts() -> list[tuple[int, str]]:
    """The previous client's ``(exit code, text it sends in error)`` rows, in file order."""
    with PREVIOUS_EXIT_TEXTS.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        assert header == ["exit_code", "text_sent_in_error_field"]
        rows = [(int(code), text) for code, text in reader]
    assert len(rows) == PREVIOUS_EXIT_TEXT_COUNT, f"{PREVIOUS_EXIT_TEXTS} is incomplete"
    return rows
