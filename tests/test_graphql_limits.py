"""Hostile GraphQL documents are refused before anything executes: too deep, too many
aliases, too many tokens. Limits come from Settings (graphql_max_depth, _aliases, _tokens).
"""

from __future__ import annotations

from typing import Any

import pytest

from server import create_app
from service.settings import Settings
from tests.utils.bad_input import graphql, graphql_data, run_count


def assert_refused(status: int, payload: dict[str, Any], *fragments: str) -> None:
    """A GraphQL error whose message names the limit, and nothing executed."""
    assert status in (200, 400), payload
    assert payload.get("data") is None, payload
    messages = [error["message"] for error in payload.get("errors", [])]
    assert any(all(fragment in message for fragment in fragments) for message in messages), messages


def aliased_report_mutation(count: int) -> str:
    reports = " ".join(
        f'r{index}: reportInstall(input: {{randomId: "alias-{index}", app: "debian", '
        f'status: "installing"}}) {{ __typename }}'
        for index in range(count)
    )
    return f"mutation {{ {reports} }}"


# Depth ---------------------------------------------------------------------------------


async def test_query_deeper_than_the_limit_is_refused(client, settings):
    # The schema itself is only five fields deep, so the nesting continues with fields
    # that do not exist; the depth error must be among the errors all the same.
    limit = settings.graphql_max_depth
    fields = ["runs", "edges", "node", "events", "status"] + ["deeper"] * limit
    query = "{ " + " { ".join(fields) + " }" * len(fields)
    status, payload = await graphql(client, query)
    assert_refused(status, payload, f"exceeds maximum operation depth of {limit}")


@pytest.fixture
async def shallow_client(aiohttp_client, database_url):
    """A server whose depth limit the real schema can reach: runs/edges/node is depth 3."""
    settings = Settings(database_url=database_url, graphql_max_depth=3)
    return await aiohttp_client(create_app(settings))


async def test_valid_query_at_the_depth_limit_runs(shallow_client):
    data = await graphql_data(shallow_client, "{ runs { edges { node { id } } } }")
    assert data == {"runs": {"edges": []}}


async def test_valid_query_one_level_past_the_depth_limit_is_refused(shallow_client):
    status, payload = await graphql(
        shallow_client, "{ runs { edges { node { events { status } } } } }"
    )
    assert_refused(status, payload, "exceeds maximum operation depth of 3")


async def test_fragments_do_not_hide_depth(shallow_client):
    query = """
    query { runs { ...Edges } }
    fragment Edges on RunConnection { edges { node { ...Events } } }
    fragment Events on Run { events { status } }
    """
    status, payload = await graphql(shallow_client, query)
    assert_refused(status, payload, "exceeds maximum operation depth of 3")


# Aliases -------------------------------------------------------------------------------


async def test_aliases_up_to_the_limit_are_allowed(client, settings):
    limit = settings.graphql_max_aliases
    assert limit == 30
    query = "{ " + " ".join(f"a{index}: runs {{ totalCount }}" for index in range(limit)) + " }"
    data = await graphql_data(client, query)
    assert len(data) == limit


async def test_more_aliases_than_allowed_are_refused(client, settings):
    limit = settings.graphql_max_aliases
    query = "{ " + " ".join(f"a{i}: runs {{ totalCount }}" for i in range(limit + 1)) + " }"
    status, payload = await graphql(client, query)
    assert_refused(status, payload, f"{limit + 1} aliases", f"Allowed: {limit}")


async def test_aliased_mutation_flood_is_refused_and_stores_nothing(client, settings):
    query = aliased_report_mutation(settings.graphql_max_aliases + 1)
    status, payload = await graphql(client, query)
    assert_refused(status, payload, "aliases", str(settings.graphql_max_aliases))
    assert await run_count(client) == 0


# Tokens --------------------------------------------------------------------------------


async def test_document_under_the_token_limit_runs(client, settings):
    # Each repeated field is one token. graphql-core compares repeated fields pairwise
    # with its own work budget, so the document stays at an eighth of the token limit.
    query = "{ runs { " + "totalCount " * (settings.graphql_max_tokens // 8) + "} }"
    data = await graphql_data(client, query)
    assert data == {"runs": {"totalCount": 0}}


async def test_document_with_a_huge_token_count_is_refused(client, settings):
    limit = settings.graphql_max_tokens
    query = "{ runs { " + "totalCount " * (limit * 3) + "} }"
    status, payload = await graphql(client, query)
    assert_refused(status, payload, f"more than {limit} tokens")


async def test_token_flood_of_mutations_stores_nothing(client, settings):
    # Few aliases but many tokens: refused at parse time, before any resolver runs.
    padding = " ".join("__typename" for _ in range(settings.graphql_max_tokens))
    query = (
        'mutation { reportInstall(input: {randomId: "tokens", app: "debian", '
        f'status: "installing"}}) {{ {padding} }} }}'
    )
    status, payload = await graphql(client, query)
    assert_refused(status, payload, "tokens")
    assert await run_count(client) == 0
