"""Deterministic demo data: realistic runs and their events, streamed in bounded chunks.

``seed.generator.generate_chunks`` draws everything from ``random.Random(seed)`` so the
same seed and ``now`` always give the same database; ``storage.bulk.bulk_load`` writes
the chunks without going through the per-report ingest path.
"""
