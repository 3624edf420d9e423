"""Query, mutation and subscription resolvers: a few lines each, calling storage."""
