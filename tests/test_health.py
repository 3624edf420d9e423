"""The service starts on either store and says so."""

from __future__ import annotations


async def test_healthz_answers_ok(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_reports_database_reachable(client):
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_metrics_are_exposed_in_prometheus_format(client):
    response = await client.get("/metrics")
    assert response.status == 200
    assert "installstats_reports_total" in await response.text()
