"""Every GraphQL example in the README runs, without errors, against a seeded database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from graphql import parse, validate

from graphql_api.schema import build_schema
from service.settings import Settings
from tests.utils.reference_data import generate_dataset, load_dataset

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```graphql\n(.+?)\n```", README, re.S)
EXAMPLES = [block for block in BLOCKS if not block.startswith("subscription")]
SUBSCRIPTIONS = [block for block in BLOCKS if block.startswith("subscription")]
ROOT_FIELDS = (
    "runs", "run", "reportInstall", "summary", "appStats", "errorHistogram", "timeSeries",
    "distribution", "aggregate", "exitCodes",
)  # fmt: skip


def test_readme_has_an_example_for_every_root_field() -> None:
    for field in (*ROOT_FIELDS, "runChanged"):
        assert any(re.search(rf"\b{field}\s*[({{]", block) for block in BLOCKS), field


def test_readme_subscription_examples_are_valid_against_the_schema() -> None:
    schema = build_schema(Settings())
    for block in SUBSCRIPTIONS:
        assert validate(schema._schema, parse(block)) == [], block


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def seeded_client(aiohttp_client, app: web.Application, database_url: str) -> Client:
    await load_dataset(database_url, generate_dataset(3, runs=400, days=60, now=datetime.now(UTC)))
    client: Client = await aiohttp_client(app)
    return client


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_readme_example_runs_against_a_seeded_database(
    seeded_client: Client, example: str
) -> None:
    response = await seeded_client.post("/graphql", json={"query": example})
    assert response.status == 200
    body = await response.json()
    assert "errors" not in body, body.get("errors")
    assert body["data"]
