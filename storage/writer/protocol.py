"""The messages between the server and its writer process (process_proxy ↔ process_main).

Over a socket pair: the server first sends a ``StoreAddress``; the child answers
``Ready`` once it can work. Then, for each ``Batch`` the server sends, the child answers
``Stored`` or ``Failed``, in the order the batches came (the server may send the next
batch before the answer to the last). ``STOP`` asks the child to close the store and
exit. Named tuples: thousands of reports a second cross this pipe, and a tuple pickles
in a few microseconds.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from ingest.report import Report
from storage.writer.plan import BatchResult


class StoreAddress(NamedTuple):
    """Sent through the pipe, not the command line (``ps`` shows that)."""

    dialect: str
    target: str  # the SQLite file, or an asyncpg DSN
    synchronous: str
    batch_size: int


class Batch(NamedTuple):
    reports: list[Report]
    want_runs: bool  # whether the runs come back (live updates listen)


class Ready(NamedTuple):
    pid: int


class Stored(NamedTuple):
    result: BatchResult


class Failed(NamedTuple):
    error: BaseException


Answer = Ready | Stored | Failed
STOP: Final = None
