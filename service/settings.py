"""Typed settings read from ``INSTALLSTATS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each field's description is its documentation."""

    model_config = SettingsConfigDict(env_prefix="INSTALLSTATS_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{Path.cwd() / 'installstats.db'}",
        description=(
            "SQLAlchemy URL of the store: sqlite+aiosqlite:///path.db (embedded default, "
            "installstats.db in the working directory) or postgresql+asyncpg://user@host/db."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port of the HTTP server.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description=(
            "SQLite durability: FULL syncs every group commit to disk before answering "
            "(survives power loss); NORMAL survives a crash of the server process only."
        ),
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Largest accepted request body; larger reports are answered 413.",
    )
    unfinished_after_seconds: int = Field(
        default=3 * 3600,
        ge=60,
        description=(
            "A run without a terminal status whose last report (by event time) is older than "
            "this is UNFINISHED instead of IN_PROGRESS; derived at read time."
        ),
    )
    ingest_queue_size: int = Field(
        default=4096,
        ge=1,
        description="Reports waiting for the writer; when full, ingest answers 503 + Retry-After.",
    )
    ingest_batch_size: int = Field(
        default=256, ge=1, description="Most reports committed in one group-commit transaction."
    )
    ingest_writer: Literal["process", "thread"] = Field(
        default="process",
        description=(
            "Where the group-commit writer merges and stores reports: a process of its own "
            "(~60 MB more memory; ~30 % more reports per second on SQLite, as it no longer "
            "shares the HTTP front end's GIL) or a thread of the server process."
        ),
    )
    analytics_use_rollups: bool = Field(
        default=True,
        description=(
            "Answer aggregates from rollups when the filter allows; off, every aggregate "
            "reads the runs table (same numbers, slower; the tests compare the two)."
        ),
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending database migrations when `serve` starts."
    )
    log_level: str = Field(default="INFO", description="Level of the JSON log lines on stderr.")
    graphql_max_depth: int = Field(
        default=12, ge=2, description="Deepest GraphQL selection accepted; deeper is an error."
    )
    graphql_max_aliases: int = Field(
        default=30, ge=1, description="Most aliases in one GraphQL document."
    )
    graphql_max_tokens: int = Field(
        default=4000, ge=100, description="Most tokens in one GraphQL document."
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
