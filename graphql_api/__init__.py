"""The GraphQL endpoint: schema assembly, the guards on every request, the aiohttp view."""
