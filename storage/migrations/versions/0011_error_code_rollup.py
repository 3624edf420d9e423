"""rollup_error_code: FAILED runs by exit code and category with their apps as a bitmap.

errorHistogram by exit code or category counts the apps of each bucket. Read from
rollup_error, that is one row per app and code and time bucket, and those rows keep
filling in as volume grows (1,600 rows for 90 days at 100k runs, 16,000 at 1M: the
histogram took 23 ms at 1M against 4 ms at 100k). Per code the apps are a set, and a
bitmap per row unions over the pieces of a range: a few hundred rows whatever the
volume.

Triggers on rollup_error keep the table, so that every path that writes error rows
(ingest, bulk loads, rebuilds) keeps it, in the same transaction: ``runs`` is the sum
of the error rows with the same keys, bit n of ``apps`` (storage/model/app_bits.py) is set
while app n's error row counts a run. ``app_ids`` numbers the apps; the triggers add
an app when its first error row appears. On SQLite the triggers call the function
``installstats_app_bit``, which every connection of this project registers
(storage/engine.py); PostgreSQL gets it in PL/pgSQL.

The existing error rows are taken out and put back with the triggers in place (4 s for
the 207,000 error rows of a 1M-run store on the bench host).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CODE_KEYS = ("grain", "bucket_start", "kind", "exit_code", "error_category")
ERROR_KEYS = ("grain", "bucket_start", "kind", "app", "exit_code", "error_category")

POSTGRES_APP_BIT = """
CREATE FUNCTION installstats_app_bit(bits text, app_id integer, present boolean)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    position integer;
    digit integer;
    mask integer;
BEGIN
    IF app_id IS NULL THEN
        RETURN bits;
    END IF;
    position := app_id / 4 + 1;
    mask := 1 << (app_id % 4);
    IF length(bits) < position THEN
        IF NOT present THEN
            RETURN bits;
        END IF;
        bits := bits || repeat('0', position - length(bits));
    END IF;
    digit := strpos('0123456789abcdef', substr(bits, position, 1)) - 1;
    digit := CASE WHEN present THEN digit | mask ELSE digit & ~mask END;
    RETURN rtrim(
        overlay(bits PLACING substr('0123456789abcdef', digit + 1, 1) FROM position FOR 1),
        '0'
    );
END
$$"""

POSTGRES_TRIGGER_FUNCTION = """
CREATE FUNCTION installstats_rollup_error_code() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    app_id integer;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.grain, NEW.bucket_start, NEW.kind, NEW.app, NEW.exit_code,
            NEW.error_category) IS NOT DISTINCT FROM (OLD.grain, OLD.bucket_start, OLD.kind,
            OLD.app, OLD.exit_code, OLD.error_category) THEN
        IF NEW.runs = OLD.runs THEN
            RETURN NULL;
        END IF;
        IF (NEW.runs <> 0) <> (OLD.runs <> 0) THEN
            SELECT id INTO app_id FROM app_ids WHERE app = NEW.app;
        END IF;
        UPDATE rollup_error_code AS code
        SET runs = code.runs + NEW.runs - OLD.runs,
            apps = installstats_app_bit(code.apps, app_id, NEW.runs <> 0)
        WHERE (code.grain, code.bucket_start, code.kind, code.exit_code, code.error_category)
            = (NEW.grain, NEW.bucket_start, NEW.kind, NEW.exit_code, NEW.error_category);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT id INTO app_id FROM app_ids WHERE app = OLD.app;
        UPDATE rollup_error_code AS code
        SET runs = code.runs - OLD.runs, apps = installstats_app_bit(code.apps, app_id, false)
        WHERE (code.grain, code.bucket_start, code.kind, code.exit_code, code.error_category)
            = (OLD.grain, OLD.bucket_start, OLD.kind, OLD.exit_code, OLD.error_category);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        app_id := NULL;
        IF NEW.app <> '' THEN
            SELECT id INTO app_id FROM app_ids WHERE app = NEW.app;
            IF app_id IS NULL THEN
                -- Only when missing: every attempt would take a number from the sequence.
                INSERT INTO app_ids (app) VALUES (NEW.app) ON CONFLICT (app) DO NOTHING
                    RETURNING id INTO app_id;
                IF app_id IS NULL THEN  -- another writer added it meanwhile
                    SELECT id INTO app_id FROM app_ids WHERE app = NEW.app;
                END IF;
            END IF;
        END IF;
        INSERT INTO rollup_error_code AS code
            (grain, bucket_start, kind, exit_code, error_category, runs, apps)
        VALUES (NEW.grain, NEW.bucket_start, NEW.kind, NEW.exit_code, NEW.error_category,
            NEW.runs, installstats_app_bit('', app_id, NEW.runs <> 0))
        ON CONFLICT (grain, bucket_start, kind, exit_code, error_category) DO UPDATE
        SET runs = code.runs + excluded.runs,
            apps = installstats_app_bit(code.apps, app_id, NEW.runs <> 0);
    END IF;
    RETURN NULL;
END
$$"""


def _sqlite_app_id(row: str) -> str:
    return f"(SELECT id FROM app_ids WHERE app = {row}.app)"


def _sqlite_code_row(row: str) -> str:
    return " AND ".join(f"{key} = {row}.{key}" for key in CODE_KEYS)


def _sqlite_add(row: str) -> str:
    values = ", ".join(f"{row}.{key}" for key in CODE_KEYS)
    app_id, present = _sqlite_app_id(row), f"{row}.runs != 0"
    return (
        f"INSERT INTO app_ids (app) SELECT {row}.app WHERE {row}.app != '' "
        f"AND NOT EXISTS (SELECT 1 FROM app_ids WHERE app = {row}.app); "
        f"INSERT INTO rollup_error_code ({', '.join(CODE_KEYS)}, runs, apps) "
        f"VALUES ({values}, {row}.runs, installstats_app_bit('', {app_id}, {present})) "
        f"ON CONFLICT ({', '.join(CODE_KEYS)}) DO UPDATE SET "
        "runs = rollup_error_code.runs + excluded.runs, "
        f"apps = installstats_app_bit(rollup_error_code.apps, {app_id}, {present});"
    )


def _sqlite_remove(row: str) -> str:
    return (
        f"UPDATE rollup_error_code SET runs = runs - {row}.runs, "
        f"apps = installstats_app_bit(apps, {_sqlite_app_id(row)}, 0) "
        f"WHERE {_sqlite_code_row(row)};"
    )


def _sqlite_triggers() -> dict[str, str]:
    same_keys = " AND ".join(f"NEW.{key} IS OLD.{key}" for key in ERROR_KEYS)
    # The ingest case: an error row's count moves; the bitmap only when it crosses zero.
    moved = (
        "UPDATE rollup_error_code SET runs = runs + NEW.runs - OLD.runs, "
        "apps = CASE WHEN (NEW.runs != 0) = (OLD.runs != 0) THEN apps "
        f"ELSE installstats_app_bit(apps, {_sqlite_app_id('NEW')}, NEW.runs != 0) END "
        f"WHERE {_sqlite_code_row('NEW')};"
    )
    triggers = {
        "insert": ("INSERT", None, _sqlite_add("NEW")),
        "update_runs": ("UPDATE", same_keys, moved),
        "update_keys": ("UPDATE", f"NOT ({same_keys})", _sqlite_remove("OLD") + _sqlite_add("NEW")),
        "delete": ("DELETE", None, _sqlite_remove("OLD")),
    }
    return {
        name: f"CREATE TRIGGER rollup_error_code_{name} AFTER {event} ON rollup_error "
        f"FOR EACH ROW{'' if when is None else f' WHEN {when}'} BEGIN {body} END"
        for name, (event, when, body) in triggers.items()
    }


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "app_ids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("app", sa.String(length=100), nullable=False, unique=True),
    )
    op.create_table(
        "rollup_error_code",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=False),
        sa.Column("error_category", sa.String(length=32), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("apps", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint(*CODE_KEYS),
        sqlite_with_rowid=False,
    )
    # Frequent apps first: they get the low bits, and most bitmaps stay short.
    op.execute(
        "INSERT INTO app_ids (app) SELECT app FROM rollup_error WHERE app != '' "
        "GROUP BY app ORDER BY SUM(runs) DESC, app"
    )
    # Take the error rows out before the triggers exist, put them back after.
    op.execute("CREATE TEMPORARY TABLE error_rows AS SELECT * FROM rollup_error")
    op.execute("DELETE FROM rollup_error")
    if sqlite:
        for trigger in _sqlite_triggers().values():
            op.execute(trigger)
    else:
        op.execute(POSTGRES_APP_BIT)
        op.execute(POSTGRES_TRIGGER_FUNCTION)
        op.execute(
            "CREATE TRIGGER rollup_error_code AFTER INSERT OR UPDATE OR DELETE ON rollup_error "
            "FOR EACH ROW EXECUTE FUNCTION installstats_rollup_error_code()"
        )
    op.execute("INSERT INTO rollup_error SELECT * FROM error_rows")
    op.execute("DROP TABLE error_rows")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _sqlite_triggers():
            op.execute(f"DROP TRIGGER rollup_error_code_{name}")
    else:
        op.execute("DROP TRIGGER rollup_error_code ON rollup_error")
        op.execute("DROP FUNCTION installstats_rollup_error_code()")
        op.execute("DROP FUNCTION installstats_app_bit(text, integer, boolean)")
    op.drop_table("rollup_error_code")
    op.drop_table("app_ids")
