"""The aiohttp view at /graphql: JSON through orjson, a Context per request, and live
WebSockets registered for shutdown."""

from __future__ import annotations

import json
from typing import Any, TypeGuard

import orjson
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView

from resolvers.context import Context
from service.keys import BROKER, DATABASE, SETTINGS, WEBSOCKETS, WRITER


class InstallstatsGraphQLView(GraphQLView[Context, None]):
    def decode_json(self, data: str | bytes) -> object:
        """orjson (its errors are json.JSONDecodeError, which Strawberry answers 400);
        the standard parser for what orjson refuses, such as integers beyond 64 bits."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)

    def encode_json(self, data: object) -> str | bytes:
        # Text, not bytes: WebSocket messages must be text frames.
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data, separators=(",", ":"))

    def is_websocket_request(self, request: web.Request) -> TypeGuard[web.Request]:
        # Strawberry's check builds a WebSocketResponse; only a GET can be an upgrade.
        return request.method == "GET" and super().is_websocket_request(request)

    async def get_context(self, request: web.Request, response: Any) -> Context:
        app = request.app
        return Context(
            request=request,
            settings=app[SETTINGS],
            database=app[DATABASE],
            writer=app[WRITER],
            broker=app[BROKER],
        )

    async def create_websocket_response(
        self, request: web.Request, subprotocol: str | None
    ) -> web.WebSocketResponse:
        socket = await super().create_websocket_response(request, subprotocol)
        request.app[WEBSOCKETS].add(socket)  # closed first on shutdown (live/sockets.py)
        return socket
