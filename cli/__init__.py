"""The ``installstats`` console script."""
