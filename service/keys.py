"""Typed application state: everything a handler may take from ``request.app``."""

from __future__ import annotations

from aiohttp import web

from live.broker import RunBroker
from live.sockets import OpenWebSockets
from service.settings import Settings
from storage.engine import Database
from storage.writer.group_commit import IngestWriter

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
WRITER = web.AppKey("writer", IngestWriter)
BROKER = web.AppKey("broker", RunBroker)
WEBSOCKETS = web.AppKey("websockets", OpenWebSockets)
