"""Aggregate queries: where every number of the analytics API is computed."""
