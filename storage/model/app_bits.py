"""Sets of apps as text bitmaps: how rollup_error_code keeps the apps of each exit code.

"Apps affected" by an exit code over a range is the size of a union, which no sum of
counts gives; a bitmap per rollup row can be unioned over the pieces of any range.
App ``n`` (``app_ids.id``) is bit ``n``; the text is hexadecimal with the lowest four
bits first (character ``n // 4``), without trailing zeros, so that equal sets are equal
texts and a set only grows as long as its highest id. SQLite calls ``with_app_bit``
as the SQL function ``installstats_app_bit`` (storage/engine.py); PostgreSQL has the
same function in PL/pgSQL (migration 0011) and must give the same texts.
"""

from __future__ import annotations

from collections.abc import Iterable

SQL_FUNCTION = "installstats_app_bit"


def with_app_bit(bits: str | None, app_id: int | None, present: object) -> str:
    """``bits`` with app ``app_id`` added (``present`` true) or removed; unchanged for
    an app without an id (the missing app, which is never counted)."""
    value = app_set(bits)
    if app_id is None:
        return bits or ""
    mask = 1 << app_id
    value = value | mask if present else value & ~mask
    return format(value, "x")[::-1] if value else ""


def app_set(bits: str | None) -> int:
    """The bitmap as an integer (bit n: app n)."""
    return int(bits[::-1], 16) if bits else 0


def app_ids(value: int) -> set[int]:
    """The ids in an integer bitmap."""
    return {index for index, bit in enumerate(reversed(bin(value)[2:])) if bit == "1"}


def union_size(bitmaps: Iterable[str | None]) -> int:
    value = 0
    for bits in bitmaps:
        value |= app_set(bits)
    return value.bit_count()
