"""The gateway's ops endpoints (issue 14 §2), in process over SQLite stores: ``/healthz``, ``/readyz`` and ``/metrics``
answer without a token; the metrics count what happened (latency by route template, token refusals, projection lag);
readiness fails, and says which check, when a projection falls too far behind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from gateways.api import create_app
from gateways.api.devtools import issue_tokens, seed

COUNTY, TOWN = "430525", "430525101"  # 洞口县 and 江口镇


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[tuple[str, str], str]]]:
    data = tmp_path_factory.mktemp("ops")
    settings = StoreSettings(store="sqlite", data_dir=data / "var")
    hierarchy = Hierarchy.load()
    seed(settings, (COUNTY, TOWN), days=2, seed=5, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, (COUNTY, TOWN), ("viewer", "recorder"), hierarchy)
    app = create_app((COUNTY, TOWN), settings=settings, hierarchy=hierarchy, cors_origins=())
    with TestClient(app) as client:
        yield client, tokens
    app.state.gateway.close()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series of a Prometheus text answer (None: no such series)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit(" ", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_health_readiness_and_metrics_need_no_token(world: Any) -> None:
    client, _ = world
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {f"{kind} {code}" for kind in ("store", "projection") for code in (COUNTY, TOWN)}
    assert all(check["ok"] for check in body["checks"].values())
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "yipanqi_http_request_duration_seconds" in metrics.text


def test_metrics_count_latency_by_route_and_token_refusals(world: Any) -> None:
    client, tokens = world
    before = client.get("/metrics").text
    route = "/nodes/{code}/views/coverage"
    viewer = {"Authorization": f"Bearer {tokens[(COUNTY, 'viewer')]}"}
    for _ in range(3):
        assert client.get(f"/nodes/{COUNTY}/views/coverage", headers=viewer).status_code == 200
    assert client.get(f"/nodes/{COUNTY}/views/coverage", headers={"Authorization": "Bearer yq_nonsense"}).status_code == 401
    town_token = {"Authorization": f"Bearer {tokens[(TOWN, 'viewer')]}"}
    assert client.get(f"/nodes/{COUNTY}/views/coverage", headers=town_token).status_code == 403  # a township reads up
    after = client.get("/metrics").text
    count = "yipanqi_http_request_duration_seconds_count"
    assert (sample(after, count, method="GET", route=route, status="200") or 0) - (
        sample(before, count, method="GET", route=route, status="200") or 0
    ) == 3
    for status in ("401", "403"):
        gained = (sample(after, "yipanqi_token_refusals_total", status=status) or 0) - (
            sample(before, "yipanqi_token_refusals_total", status=status) or 0
        )
        assert gained == 1, status
    client.get("/no/such/path")
    client.get("/openapi.json")  # a route FastAPI matches itself: labelled by its path all the same
    text = client.get("/metrics").text
    assert sample(text, count, method="GET", route="unmatched", status="404") == 1
    assert (sample(text, count, method="GET", route="/openapi.json", status="200") or 0) >= 1


def test_readiness_fails_when_a_projection_falls_behind(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = world
    lag = sample(client.get("/metrics").text, "yipanqi_projection_lag_events", node=TOWN)
    assert lag is not None and lag >= 0
    monkeypatch.setenv("YIPANQI_READY_LAG", "-1")  # nothing is within a negative bound: the check must say so
    ready = client.get("/readyz")
    assert ready.status_code == 503
    failing = {name: check for name, check in ready.json()["checks"].items() if not check["ok"]}
    assert set(failing) == {f"projection {COUNTY}", f"projection {TOWN}"}
    assert "events behind its log" in failing[f"projection {TOWN}"]["detail"]
    assert ready.json()["checks"][f"store {TOWN}"]["ok"]
