"""Reads that are not analytics: runs and their events, the legacy REST reads."""
