"""The gateway's tables (tokens, idempotency) and commands on PostgreSQL stores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from domain.timeline import SHANGHAI
from gateways.api import create_app
from gateways.api.devtools import issue_tokens, seed
from gateways.api.storage import gateway_db

pytestmark = pytest.mark.postgres
COUNTY, TOWNSHIP = "430582", "430582204"


def test_tokens_idempotency_and_commands_on_postgresql(pg_database: dict[str, Any], tmp_path: Path) -> None:
    settings = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"], data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    seed(settings, [COUNTY, TOWNSHIP], days=2, seed=4, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, [COUNTY, TOWNSHIP], ["recorder", "viewer"], hierarchy)
    app = create_app([COUNTY, TOWNSHIP], settings=settings, hierarchy=hierarchy)
    try:
        with TestClient(app) as client:
            h = {"Authorization": f"Bearer {tokens[(TOWNSHIP, 'recorder')]}", "Idempotency-Key": "pg-1"}
            body = {"year": datetime.now(SHANGHAI).year, "title": "农村公路安全防护", "category": "交通"}
            first = client.post(f"/nodes/{TOWNSHIP}/livelihood-projects", json=body, headers=h)
            again = client.post(f"/nodes/{TOWNSHIP}/livelihood-projects", json=body, headers=h)
            assert first.status_code == again.status_code == 201 and first.json() == again.json()
            assert again.headers["idempotent-replayed"] == "true"
            pid = first.json()["id"]
            v = {"Authorization": f"Bearer {tokens[(COUNTY, 'viewer')]}"}
            assert client.get(f"/nodes/{TOWNSHIP}/aggregates/{pid}", headers=v).json()["version"] == 1
            assert client.get(f"/nodes/{TOWNSHIP}/lists/stations", headers=v).json()["items"]
            db = gateway_db(settings, hierarchy.ref(hierarchy.by_code(TOWNSHIP)))
            record = next(r for r in db.list_tokens() if r.role == "viewer")
            db.revoke(record.token_id)
            assert not next(r for r in db.list_tokens() if r.token_id == record.token_id).active
    finally:
        app.state.gateway.close()
        from gateways.api.storage import dispose_engines

        dispose_engines()
