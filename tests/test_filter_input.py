"""The RunFilter input refuses what cannot be a filter, with a message naming the field."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("filter_text", "message"),
    [
        ('{since: "2025-01-01T00:00:00"}', "filter.since: give a UTC offset"),
        ('{until: "2025-01-01T00:00:00"}', "filter.until: give a UTC offset"),
        ('{since: "2025-02-01T00:00:00Z", until: "2025-01-01T00:00:00Z"}', "since must be before"),
        ("{apps: [" + ", ".join(f'"a{i}"' for i in range(101)) + "]}", "filter.apps: at most 100"),
    ],
)
async def test_bad_filter_is_a_graphql_error_naming_the_field(client, filter_text, message):
    for field in ("runs(filter: %s) { totalCount }", "summary(filter: %s) { runs }"):
        query = "{ " + field % filter_text + " }"
        response = await client.post("/graphql", json={"query": query})
        body = await response.json()
        assert message in body["errors"][0]["message"], body
