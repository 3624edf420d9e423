"""Live updates: pushing changed runs to GraphQL subscribers (``runChanged``).

One process on SQLite publishes straight from the ingest writer's commit listener;
several processes on PostgreSQL learn of changes through LISTEN/NOTIFY, so a report
stored by any replica reaches the subscribers of every replica.
"""
