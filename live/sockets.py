"""The open GraphQL websockets, so that a graceful shutdown can close them first.

aiohttp's shutdown waits for running handlers (60 s by default) before it runs the
cleanup contexts, and Strawberry's websocket handler outlives even the cancellation
that follows, so one dashboard with a live subscription held a SIGTERM for about two
minutes. Closing every websocket in ``on_shutdown`` (which runs before that wait) with
1001 "going away" ends them at once; clients reconnect to another replica.
"""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import WSCloseCode, web


class OpenWebSockets:
    def __init__(self) -> None:
        # Weak: a finished connection drops out by itself.
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, socket: web.WebSocketResponse) -> None:
        self._sockets.add(socket)

    async def close_all(self) -> None:
        closing = [
            socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            for socket in list(self._sockets)
            if not socket.closed
        ]
        await asyncio.gather(*closing, return_exceptions=True)
