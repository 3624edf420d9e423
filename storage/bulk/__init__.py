"""Bulk loading (seed, import) and recomputing rollups from runs."""
