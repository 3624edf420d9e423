"""The ingest driver in a process of its own, so that it does not share the server's GIL.

In one process the writer thread had to win the GIL back from the event loop after
every statement it ran: a batch of 16 reports that takes ~1.6 ms alone took ~3.4 ms
under HTTP load, and the HTTP front end waited for it. Here the server only pickles
the batch (~4 µs a report) and unpickles the answer; the child runs the same driver
(storage/ingest_drivers.py), one transaction at a time (every batch waiting goes
into it), and answers after the commit.

Protocol over a socket pair: the server sends the store's address, the child answers
``("ready", None)`` once it can work; then for each ``(reports, want_runs)`` the server
sends, ``("ok", (results, runs))`` (runs only if wanted) or ``("error", exception)``,
in the order the lists came
(the server sends the next list before the answer to the last); ``None`` asks it to close
the store and exit. The child ignores SIGINT/SIGTERM (a terminal's Ctrl-C reaches the
whole process group): the server stops it through the pipe after committing what is
queued, and when the server dies the pipe closes and the child exits after the batch
it holds, if any, which is committed or rolled back as a whole.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from ingest.report import Report
from storage.ingest_batch import BatchResult

STOP_TIMEOUT = 30.0


class WriterProcessDied(Exception):
    """The writer process exited; the batch in flight may or may not have committed."""


class ProcessIngestDriver:
    """The server's end of the pipe. Batches may be sent before the previous ones are
    answered (storage/writer.py keeps up to ``batches_in_flight``): the child takes them
    in order and answers in order, so the n-th answer read belongs to the n-th batch."""

    # Lists of reports sent before the first of them is answered: the child stores
    # every list waiting when it is free in one transaction.
    batches_in_flight = 8

    def __init__(self, dialect: str, target: str, synchronous: str, batch_size: int) -> None:
        self._store = (dialect, target, synchronous, batch_size)
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: Connection | None = None
        self._ready = False
        self._starting = asyncio.Lock()
        # Who waits for the child's next messages, oldest first.
        self._waiting: collections.deque[asyncio.Future[tuple[str, Any]]] = collections.deque()
        self._reading: asyncio.AbstractEventLoop | None = None
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
        async with self._starting:
            if self._pipe is None or not self._alive():
                self._discard()
                self._start()
            if not self._ready:
                status, _ = await self._next_message()
                if status != "ready":
                    raise WriterProcessDied(f"unexpected {status!r} from the writer process")
                self._ready = True

    async def apply(self, reports: Sequence[Report], want_runs: bool = True) -> BatchResult:
        await self.ready()
        assert self._pipe is not None
        try:
            self._pipe.send((list(reports), want_runs))
        except OSError as exc:
            self._discard()
            raise WriterProcessDied(str(exc) or type(exc).__name__) from exc
        # A waiter cancelled here still takes its answer off the pipe, unread.
        status, value = await self._next_message()
        if status == "error":
            raise value
        result: BatchResult = value
        return result

    def _next_message(self) -> asyncio.Future[tuple[str, Any]]:
        """The child's next message not yet promised to an earlier caller."""
        assert self._pipe is not None
        loop = asyncio.get_running_loop()
        message: asyncio.Future[tuple[str, Any]] = loop.create_future()
        self._waiting.append(message)
        if self._reading is None:
            loop.add_reader(self._pipe.fileno(), self._read_message)
            self._reading = loop
        return message

    def _read_message(self) -> None:
        pipe = self._pipe
        assert pipe is not None
        try:
            message: tuple[str, Any] = pipe.recv()
        except (EOFError, OSError) as exc:
            self._discard(WriterProcessDied(str(exc) or type(exc).__name__))
            return
        waiter = self._waiting.popleft()
        if not waiter.done():
            waiter.set_result(message)
        if not self._waiting:
            self._stop_reading()

    def _stop_reading(self) -> None:
        if self._reading is not None and self._pipe is not None:
            self._reading.remove_reader(self._pipe.fileno())
        self._reading = None

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

    def _discard(self, reason: Exception | None = None) -> None:
        """Forget the child (killing it if it still runs); whoever waits for an answer
        gets ``reason``: their batches may or may not have committed."""
        self._stop_reading()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(reason or WriterProcessDied("the writer process was stopped"))
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            if self._alive():
                self._process.kill()
            self._process.wait()
            self._process = None


Answer = tuple[str, Any]


def _serve(pipe: Connection) -> None:
    """The child: apply what the server sent, answer, until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from storage.ingest_drivers import PostgresIngestDriver, SqliteIngestDriver

    try:
        dialect, target, synchronous, batch_size = pipe.recv()
    except EOFError:
        return

    loop = asyncio.new_event_loop()
    sqlite = SqliteIngestDriver(target, synchronous) if dialect == "sqlite" else None
    postgres = PostgresIngestDriver(target, own_loop=False) if dialect != "sqlite" else None

    def apply(reports: list[Report]) -> BatchResult:
        if sqlite is not None:
            return sqlite.apply_here(reports)
        assert postgres is not None
        return loop.run_until_complete(postgres.apply_here(reports))

    try:
        if sqlite is not None:
            sqlite.open_here()
        pipe.send(("ready", None))
        stopping = False
        while not stopping:
            try:
                messages, stopping = _waiting_messages(pipe, batch_size)
            except EOFError:
                return
            for answer in _apply_together(apply, messages):
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


# What the server sends for each batch: its reports, and whether it wants the runs
# back (live updates listen: storage/writer.py).
Message = tuple[list[Report], bool]


def _waiting_messages(pipe: Connection, batch_size: int) -> tuple[list[Message], bool]:
    """The next batches: wait for one, then take every one already sent, up to about
    ``batch_size`` reports; and whether the server asked to stop after them."""
    messages: list[Message] = []
    count = 0
    while not messages or (count < batch_size and pipe.poll()):
        message = pipe.recv()
        if message is None:
            return messages, True
        messages.append(message)
        count += len(message[0])
    return messages, False


def _apply_together(
    apply: Callable[[list[Report]], BatchResult], messages: list[Message]
) -> list[Answer]:
    """One answer per message, in order. The messages are stored in one transaction;
    if that fails, each in one of its own, so that only the failing one's reports are
    refused (and isolated by the server, storage/writer.py). The runs go back only to
    a server that wants them."""
    if len(messages) > 1:
        try:
            results, runs = apply([report for reports, _ in messages for report in reports])
        except Exception:
            pass
        else:
            answers: list[Answer] = []
            start = 0
            wanted = any(want_runs for _, want_runs in messages)
            for number, (reports, _) in enumerate(messages, 1):
                # The runs changed go with the last answer: listeners hear of each once.
                changed = runs if wanted and number == len(messages) else []
                answers.append(("ok", (results[start : start + len(reports)], changed)))
                start += len(reports)
            return answers
    answers = []
    for reports, want_runs in messages:
        try:
            results, runs = apply(reports)
            answers.append(("ok", (results, runs if want_runs else [])))
        except Exception as exc:
            answers.append(("error", exc))
    return answers


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
