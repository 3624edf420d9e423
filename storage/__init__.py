"""Persistence: SQLModel tables, the engine, migrations, the ingest writer and queries."""
