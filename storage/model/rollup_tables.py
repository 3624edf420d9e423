"""Rollup tables: run counts maintained in the ingest transaction (docs/semantics.md, "Rollups").

Each table is one narrow "cube" at two grains, UTC hours (``grain='h'``) and UTC days
(``grain='d'``), so a query over [since, until) reads whole days, at most two days of
hours at the edges, and the runs table only for the partial hours. Missing values are
stored as '' (text) or -1 (exit code) because primary keys cannot hold NULL. Stored
outcome IN_PROGRESS covers both IN_PROGRESS and UNFINISHED; the split is made at read
time from the runs table. rollup_total and rollup_app count each outcome in a column
of its own, rollup_error counts FAILED runs only and rollup_dimension has no outcome.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

# Outcomes as runs store them (IN_PROGRESS covers both open outcomes until read time),
# re-exported for the code that names the columns per outcome.
from ingest.statuses import STORED_OUTCOMES as STORED_OUTCOMES
from storage.model.types import UTCDateTime

# SQLite stores each rollup in primary key order, without a rowid (migration 0005): a
# range scan then reads one b-tree, and an upsert writes one.
_CLUSTERED = {"sqlite_with_rowid": False}


def runs_column(outcome: str) -> str:
    return f"runs_{outcome.lower()}"


def events_column(outcome: str) -> str:
    return f"events_{outcome.lower()}"


# The measures of the tables with a column per outcome, in column order.
OUTCOME_COLUMNS = tuple(map(runs_column, STORED_OUTCOMES)) + tuple(
    map(events_column, STORED_OUTCOMES)
)


class OutcomeColumns(SQLModel):
    """Runs and their events per stored outcome, a column each (migration 0012): a run
    that finishes moves its count within one row, and a range reads one row per key
    instead of one per key and outcome (appStats over 90 days at 1M runs: 10,000 rows
    before, 2,000 after)."""

    runs_success: int = 0
    runs_failed: int = 0
    runs_aborted: int = 0
    runs_unknown: int = 0
    runs_in_progress: int = 0
    events_success: int = 0
    events_failed: int = 0
    events_aborted: int = 0
    events_unknown: int = 0
    events_in_progress: int = 0


class RollupTotal(OutcomeColumns, table=True):
    """Runs and events by kind: summary and time series without filters."""

    __tablename__ = "rollup_total"
    __table_args__ = _CLUSTERED

    grain: str = Field(primary_key=True, max_length=1)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    kind: str = Field(primary_key=True, max_length=8)


class RollupApp(OutcomeColumns, table=True):
    """Runs and events by app: appStats, and summaries filtered by app."""

    __tablename__ = "rollup_app"
    __table_args__ = _CLUSTERED

    grain: str = Field(primary_key=True, max_length=1)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    kind: str = Field(primary_key=True, max_length=8)
    app: str = Field(primary_key=True, max_length=100)


class RollupError(SQLModel, table=True):
    """FAILED runs by app, exit code and category: the error histogram."""

    __tablename__ = "rollup_error"
    __table_args__ = _CLUSTERED

    grain: str = Field(primary_key=True, max_length=1)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    kind: str = Field(primary_key=True, max_length=8)
    app: str = Field(primary_key=True, max_length=100)
    exit_code: int = Field(primary_key=True)
    error_category: str = Field(primary_key=True, max_length=32)
    runs: int = 0


class RollupErrorCode(SQLModel, table=True):
    """FAILED runs by exit code and category, with the set of their apps: the error
    histogram without reading a row per app.

    Maintained by triggers on rollup_error (migration 0011), so every writer of that
    table (ingest, bulk loads, rebuilds) keeps it: ``runs`` is the sum of the
    rollup_error rows with these keys, ``apps`` the bitmap (storage/model/app_bits.py) of
    the apps whose row counts a run. Its grains are rollup_error's.
    """

    __tablename__ = "rollup_error_code"
    __table_args__ = _CLUSTERED

    grain: str = Field(primary_key=True, max_length=1)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    kind: str = Field(primary_key=True, max_length=8)
    exit_code: int = Field(primary_key=True)
    error_category: str = Field(primary_key=True, max_length=32)
    runs: int = 0
    apps: str = Field(default="", sa_type=Text)


class AppId(SQLModel, table=True):
    """A small number per app that failed, its bit in rollup_error_code.apps. Assigned
    by the triggers when an app first has an error row; never reused or changed."""

    __tablename__ = "app_ids"

    id: int | None = Field(default=None, primary_key=True)
    app: str = Field(max_length=100, unique=True)


class RollupDimension(SQLModel, table=True):
    """Runs by the value of one dimension at a time, whatever their outcome: distributions.

    No outcome column on purpose: a run's row here moves only when the run is created
    or its values change, not when it finishes, which keeps ingest cheap; questions
    that need outcomes per value read the runs table.
    """

    __tablename__ = "rollup_dimension"
    __table_args__ = _CLUSTERED

    dimension: str = Field(primary_key=True, max_length=24)
    grain: str = Field(primary_key=True, max_length=1)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    kind: str = Field(primary_key=True, max_length=8)
    value: str = Field(primary_key=True, max_length=200)
    runs: int = 0


ROLLUP_TOTAL = RollupTotal.__table__  # type: ignore[attr-defined]
ROLLUP_APP = RollupApp.__table__  # type: ignore[attr-defined]
ROLLUP_ERROR = RollupError.__table__  # type: ignore[attr-defined]
ROLLUP_DIMENSION = RollupDimension.__table__  # type: ignore[attr-defined]
ROLLUP_ERROR_CODE = RollupErrorCode.__table__  # type: ignore[attr-defined]
APP_IDS = AppId.__table__  # type: ignore[attr-defined]

# The grains each table holds, by table name: what the bulk load and the rebuild write
# and what the analytics read; live ingest (storage/writer/rollup_deltas.py GRAINS) must write the
# same. Month rows ("m") make appStats and errorHistogram over 30-90 days read ~3
# month rows per key instead of ~90 day rows (migration 0006 filled them in).
ROLLUP_GRAINS: dict[str, tuple[str, ...]] = {
    ROLLUP_TOTAL.name: ("h", "d"),
    ROLLUP_APP.name: ("h", "d", "m"),
    ROLLUP_ERROR.name: ("h", "d", "m"),
    ROLLUP_DIMENSION.name: ("h", "d"),
}
