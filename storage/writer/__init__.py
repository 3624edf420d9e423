"""Live ingest: group commit, the batch plan, per-dialect SQL, rollup deltas, the
drivers, and the writer process (its server-side proxy, its main and their protocol)."""
