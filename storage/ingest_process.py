"""The ingest driver in a process of its own, so that it does not share the server's GIL.

In one process the writer thread had to win the GIL back from the event loop after
every statement it ran: a batch of 16 reports that takes ~1.6 ms alone took ~3.4 ms
under HTTP load, and the HTTP front end waited for it. Here the server only pickles
the batch (~4 µs a report) and unpickles the answer; the child runs the same driver
(storage/ingest_drivers.py), one batch at a time, and answers after the commit.

Protocol over a socket pair: the server sends the store's address, the child answers
``("ready", None)`` once it can work; then for each list of reports the server sends,
``("ok", (results, changes))`` or ``("error", exception)``; ``None`` asks it to close
the store and exit. The child ignores SIGINT/SIGTERM (a terminal's Ctrl-C reaches the
whole process group): the server stops it through the pipe after committing what is
queued, and when the server dies the pipe closes and the child exits after the batch
it holds, if any, which is committed or rolled back as a whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from ingest.report import Report
from storage.ingest_batch import BatchResult

STOP_TIMEOUT = 30.0


class WriterProcessDied(Exception):
    """The writer process exited; the batch in flight may or may not have committed."""


class ProcessIngestDriver:
    def __init__(self, dialect: str, target: str, synchronous: str) -> None:
        self._store = (dialect, target, synchronous)
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: Connection | None = None
        self._ready = False
        self._start()

    def _start(self) -> None:
        """A fresh interpreter importing only the driver (multiprocessing's spawn would
        import the server's whole __main__: ~90 MB instead of ~60)."""
        ours, theirs = socket.socketpair()
        process = subprocess.Popen(
            [sys.executable, "-m", "storage.ingest_process", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        pipe = Connection(ours.detach())
        # The store's address goes through the pipe, not the command line (ps shows that).
        pipe.send(self._store)
        self._process, self._pipe, self._ready = process, pipe, False

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def ready(self) -> None:
        """Wait for the child to have imported the driver (and opened a SQLite store):
        the server starts answering only then (its first batches would otherwise wait for
        the imports, ~0.5 s of requests at up to that latency)."""
        if self._pipe is None or not self._alive():
            self._discard()
            self._start()
        if not self._ready:
            status, _ = await self._receive()
            if status != "ready":
                raise WriterProcessDied(f"unexpected {status!r} from the writer process")
            self._ready = True

    async def apply(self, reports: Sequence[Report]) -> BatchResult:
        await self.ready()
        assert self._pipe is not None
        try:
            self._pipe.send(list(reports))
        except OSError as exc:
            self._discard()
            raise WriterProcessDied(str(exc) or type(exc).__name__) from exc
        status, value = await self._receive()
        if status == "error":
            raise value
        result: BatchResult = value
        return result

    async def _receive(self) -> tuple[str, Any]:
        """The child's next message; WriterProcessDied if it is gone."""
        pipe = self._pipe
        assert pipe is not None
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        handle = pipe.fileno()
        loop.add_reader(handle, _settle, readable)
        try:
            await readable
            message: tuple[str, Any] = pipe.recv()
        except (EOFError, OSError) as exc:
            died: Exception | None = WriterProcessDied(str(exc) or type(exc).__name__)
        except BaseException:
            # Cancelled mid-batch: an answer may still come and would pair with the next
            # batch. The child is stopped; its open transaction rolls back.
            loop.remove_reader(handle)
            self._discard()
            raise
        else:
            died = None
        loop.remove_reader(handle)
        if died is not None:
            self._discard()
            raise died
        return message

    async def close(self) -> None:
        if self._pipe is None:
            return
        with contextlib.suppress(OSError):
            self._pipe.send(None)
        process = self._process
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, STOP_TIMEOUT)
        self._discard()

    def _discard(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            if self._alive():
                self._process.kill()
            self._process.wait()
            self._process = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _serve(pipe: Connection) -> None:
    """The child: apply each batch received, answer, until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from storage.ingest_drivers import PostgresIngestDriver, SqliteIngestDriver

    try:
        dialect, target, synchronous = pipe.recv()
    except EOFError:
        return

    loop = asyncio.new_event_loop()
    sqlite = SqliteIngestDriver(target, synchronous) if dialect == "sqlite" else None
    postgres = PostgresIngestDriver(target, own_loop=False) if dialect != "sqlite" else None
    try:
        if sqlite is not None:
            sqlite.open_here()
        pipe.send(("ready", None))
        while True:
            try:
                reports = pipe.recv()
            except EOFError:
                return
            if reports is None:
                return
            try:
                if sqlite is not None:
                    answer: tuple[str, Any] = ("ok", sqlite.apply_here(reports))
                else:
                    assert postgres is not None
                    answer = ("ok", loop.run_until_complete(postgres.apply_here(reports)))
            except Exception as exc:  # answered to the server, which isolates the report
                answer = ("error", exc)
            try:
                pipe.send(answer)
            except (OSError, EOFError):
                return
            except Exception:  # an exception that does not pickle (asyncpg's may not)
                error = answer[1]
                pipe.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
    finally:
        if sqlite is not None:
            sqlite.close_here()
        if postgres is not None:
            loop.run_until_complete(postgres.close_here())
        loop.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
