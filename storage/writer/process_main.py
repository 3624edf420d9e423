"""The writer process's program: ``python -m storage.writer.process_main FD``.

It applies the batches the server sends over the socket pair ``FD`` with the store's
driver, one transaction at a time (every batch already waiting goes into it), and
answers each after the commit, until told to stop or orphaned. The messages are in
protocol.py; the server's end is process_proxy.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

from ingest.report import Report
from storage.writer.drivers import PostgresIngestDriver, SqliteIngestDriver
from storage.writer.plan import BatchResult
from storage.writer.protocol import Answer, Batch, Failed, Ready, StoreAddress, Stored


def serve(pipe: Connection) -> None:
    """Apply what the server sent, answer, until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        store: StoreAddress = pipe.recv()
    except EOFError:
        return

    loop = asyncio.new_event_loop()
    sqlite = None
    postgres = None
    if store.dialect == "sqlite":
        sqlite = SqliteIngestDriver(store.target, store.synchronous)
    else:
        postgres = PostgresIngestDriver(store.target, own_loop=False)

    def apply(reports: list[Report]) -> BatchResult:
        if sqlite is not None:
            return sqlite.apply_here(reports)
        assert postgres is not None
        return loop.run_until_complete(postgres.apply_here(reports))

    try:
        if sqlite is not None:
            sqlite.open_here()
        pipe.send(Ready(os.getpid()))
        stopping = False
        while not stopping:
            try:
                batches, stopping = waiting_batches(pipe, store.batch_size)
            except EOFError:
                return
            for answer in apply_together(apply, batches):
                try:
                    pipe.send(answer)
                except (OSError, EOFError):
                    return
                except Exception:  # an exception that does not pickle (asyncpg's may not)
                    assert isinstance(answer, Failed)
                    error = answer.error
                    pipe.send(Failed(RuntimeError(f"{type(error).__name__}: {error}")))
    finally:
        if sqlite is not None:
            sqlite.close_here()
        if postgres is not None:
            loop.run_until_complete(postgres.close_here())
        loop.close()


def waiting_batches(pipe: Connection, batch_size: int) -> tuple[list[Batch], bool]:
    """The next batches: wait for one, then take every one already sent, up to about
    ``batch_size`` reports; and whether the server asked to stop after them."""
    batches: list[Batch] = []
    count = 0
    while not batches or (count < batch_size and pipe.poll()):
        batch: Batch | None = pipe.recv()
        if batch is None:
            return batches, True
        batches.append(batch)
        count += len(batch.reports)
    return batches, False


def apply_together(
    apply: Callable[[list[Report]], BatchResult], batches: list[Batch]
) -> list[Answer]:
    """One answer per batch, in order. The batches are stored in one transaction; if
    that fails, each in one of its own, so that only the failing one's reports are
    refused (and isolated by the server, group_commit.py). The runs go back only to a
    server that wants them."""
    if len(batches) > 1:
        try:
            results, runs = apply([report for batch in batches for report in batch.reports])
        except Exception:
            pass
        else:
            answers: list[Answer] = []
            start = 0
            wanted = any(batch.want_runs for batch in batches)
            for number, batch in enumerate(batches, 1):
                # The runs changed go with the last answer: listeners hear of each once.
                changed = runs if wanted and number == len(batches) else []
                end = start + len(batch.reports)
                answers.append(Stored((results[start:end], changed)))
                start = end
            return answers
    answers = []
    for batch in batches:
        try:
            results, runs = apply(batch.reports)
            answers.append(Stored((results, runs if batch.want_runs else [])))
        except Exception as exc:
            answers.append(Failed(exc))
    return answers


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
