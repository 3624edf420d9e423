"""Typed application state: everything a handler may take from ``request.app``."""

from __future__ import annotations

from aiohttp import web

from service.settings import Settings
from storage.engine import Database
from storage.writer import IngestWriter

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
WRITER = web.AppKey("writer", IngestWriter)
