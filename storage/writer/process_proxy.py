"""The server's end of the writer process: the ingest driver run in a process of its own.

In one process the writer thread had to win the GIL back from the event loop after
every statement it ran: a batch of 16 reports that takes ~1.6 ms alone took ~3.4 ms
under HTTP load, and the HTTP front end waited for it. Here the server only pickles
the batch (~4 µs a report) and unpickles the answer; the child (process_main.py) runs
the same driver, one transaction at a time, and answers after the commit. The messages
are in protocol.py.

The child ignores SIGINT/SIGTERM (a terminal's Ctrl-C reaches the whole process group):
the server stops it through the pipe after committing what is queued, and when the
server dies the pipe closes and the child exits after the batch it holds, if any, which
is committed or rolled back as a whole.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from ingest.report import Report
from storage.writer.plan import BatchResult
from storage.writer.protocol import STOP, Answer, Batch, Failed, Ready, StoreAddress

STOP_TIMEOUT = 30.0


class WriterProcessDied(Exception):
    """The writer process exited; the batch in flight may or may not have committed."""


class ProcessIngestDriver:
    """Batches may be sent before the previous ones are answered (group_commit.py keeps
    up to ``batches_in_flight``): the child takes them in order and answers in order, so
    the n-th answer read belongs to the n-th batch."""

    # Batches sent before the first of them is answered: the child stores every batch
    # waiting when it is free in one transaction.
    batches_in_flight = 8

    def __init__(self, dialect: str, target: str, synchronous: str, batch_size: int) -> None:
        self._store = StoreAddress(dialect, target, synchronous, batch_size)
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: Connection | None = None
        self._ready = False
        self._starting = asyncio.Lock()
        # Who waits for the child's next messages, oldest first.
        self._waiting: collections.deque[asyncio.Future[Answer]] = collections.deque()
        self._reading: asyncio.AbstractEventLoop | None = None
        self._start()

    def _start(self) -> None:
        """A fresh interpreter importing only the driver (multiprocessing's spawn would
        import the server's whole __main__: ~90 MB instead of ~60)."""
        ours, theirs = socket.socketpair()
        process = subprocess.Popen(
            [sys.executable, "-m", "storage.writer.process_main", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        pipe = Connection(ours.detach())
        pipe.send(self._store)
        self._process, self._pipe, self._ready = process, pipe, False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

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
                answer = await self._next_answer()
                if not isinstance(answer, Ready):
                    raise WriterProcessDied(f"unexpected {answer!r} from the writer process")
                self._ready = True

    async def apply(self, reports: Sequence[Report], want_runs: bool = True) -> BatchResult:
        await self.ready()
        assert self._pipe is not None
        try:
            self._pipe.send(Batch(list(reports), want_runs))
        except OSError as exc:
            self._discard()
            raise WriterProcessDied(str(exc) or type(exc).__name__) from exc
        # A waiter cancelled here still takes its answer off the pipe, unread.
        answer = await self._next_answer()
        if isinstance(answer, Failed):
            raise answer.error
        if isinstance(answer, Ready):
            raise WriterProcessDied("the writer process answered a batch with Ready")
        return answer.result

    def _next_answer(self) -> asyncio.Future[Answer]:
        """The child's next answer not yet promised to an earlier caller."""
        assert self._pipe is not None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append(answer)
        if self._reading is None:
            loop.add_reader(self._pipe.fileno(), self._read_answer)
            self._reading = loop
        return answer

    def _read_answer(self) -> None:
        pipe = self._pipe
        assert pipe is not None
        try:
            answer: Answer = pipe.recv()
        except (EOFError, OSError) as exc:
            self._discard(WriterProcessDied(str(exc) or type(exc).__name__))
            return
        waiter = self._waiting.popleft()
        if not waiter.done():
            waiter.set_result(answer)
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
            self._pipe.send(STOP)
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
