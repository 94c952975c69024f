"""One masking rule for every output (issue 13 §3): every read route of the API, with every role at every level, and
every command-line report in every format, is searched for a member of the public's phone number, ID number and
name. Only the origin office's recorders and administrators may see them, and only where a record is shown whole
(an aggregate, its history). The data is there twice: sealed as every write now is, and once as a log written before
sealing kept it (plain text in the log), which the outputs must mask all the same.

Topology (SQLite stores, one app): 湖南省 › 邵阳市 › 邵东市 › 斫𥕢乡 (the origin), the township's log copied verbatim
into the county, the prefecture and the province, as the sync does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings, _collect
from gateways.api import create_app
from gateways.api.devtools import issue_tokens, seed
from gateways.cli import app as cli

PROVINCE, SHAOYANG, SHAODONG, ZHUOXI = "430000", "430500", "430582", "430582204"
CODES = (PROVINCE, SHAOYANG, SHAODONG, ZHUOXI)
ROLES = ("recorder", "viewer", "auditor", "administrator")

PHONE, ID_NUMBER, NAME, LANDLINE = "13907391235", "430521199202021235", "赵铁柱", "7651234"
LEGACY_PHONE, LEGACY_NAME = "15873901234", "钱多多"
NEEDLES = (PHONE, ID_NUMBER, NAME, LANDLINE, LEGACY_PHONE, LEGACY_NAME, "139 0739 1235", "430521 19920202 1235")
WHOLE_RECORD = re.compile(r"^/nodes/\{code\}/aggregates/\{aggregate_id\}(/history)?$")


class World:
    def __init__(self, client: TestClient, tokens: dict[tuple[str, str], str], settings: StoreSettings) -> None:
        self.client, self.tokens, self.settings = client, tokens, settings
        self.ids: dict[str, str] = {}

    def post(self, code: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post(
            f"/nodes/{code}{path}", json=body, headers={"Authorization": f"Bearer {self.tokens[(code, 'recorder')]}"}
        )
        assert r.status_code in (200, 201), r.text
        return r.json()  # type: ignore[no-any-return]


def _copy_up(settings: StoreSettings, hierarchy: Hierarchy) -> None:
    """What the sync does: the township's log, verbatim, in each level above."""
    src = NodeStore(hierarchy.ref(hierarchy.by_code(ZHUOXI)), settings)
    rows = [(n.originator_id, n.originator_version, n.topic, n.state) for n in src.iter_notifications()]
    src.close()
    for code in (SHAODONG, SHAOYANG, PROVINCE):
        dst = NodeStore(hierarchy.ref(hierarchy.by_code(code)), settings)
        dst.recorder.insert_rows(rows)
        dst.close()


def _legacy_issue(settings: StoreSettings, hierarchy: Hierarchy, visit_id: str) -> None:
    """An issue stored as a version before sealing stored it: its personal data in plain text in the log."""
    from uuid import UUID

    from domain.base import Attribution, Role

    store = NodeStore(hierarchy.ref(hierarchy.by_code(ZHUOXI)), settings)
    visit = store.get(UUID(visit_id))
    visit.raise_issue(
        Attribution("legacy", Role.RECORDER, visit.modified_on),
        summary=f"{LEGACY_NAME}反映: 电话 {LEGACY_PHONE}",
        category="民政",
        raised_by_name=LEGACY_NAME,
        raised_by_phone=LEGACY_PHONE,
    )
    store.append_rows([store.mapper.to_row(e) for e in _collect([visit])])  # type: ignore[attr-defined]
    store.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("sweep")
    settings = StoreSettings(store="sqlite", data_dir=Path(data))
    hierarchy = Hierarchy.load()
    seed(settings, CODES, days=3, seed=5, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, CODES, ROLES, hierarchy)
    app = create_app(CODES, settings=settings, hierarchy=hierarchy)
    with TestClient(app) as client:
        w = World(client, tokens, settings)
        d = w.post(ZHUOXI, "/deputies", {"person_id": "SWEEP-1", "name": "扫描代表", "gender": "男", "grassroots": True})["id"]
        w.post(ZHUOXI, f"/deputies/{d}/mandates", {"congress": "township", "term": 18, "elected_by": "第1选区"})
        w.post(ZHUOXI, f"/deputies/{d}/credentials", {"congress": "township", "term": 18, "passed": True})
        st = w.post(ZHUOXI, "/stations", {"name": "扫描联络站", "address": "湖南省"})["id"]
        w.post(ZHUOXI, f"/stations/{st}/enrolments", {"deputy_id": d})
        v = w.post(ZHUOXI, "/visits", {"station_id": st, "visit_date": "2025-05-06", "deputy_ids": [d], "people_received": 2})[
            "id"
        ]
        summary = f"{NAME}反映低保问题, 电话 139 0739 1235, 身份证 430521 19920202 1235, 座机 (0739){LANDLINE}"
        w.post(
            ZHUOXI,
            f"/visits/{v}/issues",
            {"summary": summary, "category": "民政", "raised_by_name": NAME, "raised_by_phone": PHONE},
        )
        w.post(ZHUOXI, f"/visits/{v}/issues/1/resolve", {"outcome": f"已回电 {PHONE}"})
        hotline = {
            "kind": "hotline_report",
            "channel": "hotline",
            "title": "反映小区停水",
            "held_on": "2025-05-07",
            "organiser_kind": "deputy",
            "organiser": "扫描代表",
            "organiser_id": d,
            "deputy_ids": [d],
            "ticket": "GD2025050700001",
        }
        c = w.post(ZHUOXI, "/contacts", hotline)["id"]
        w.post(ZHUOXI, f"/contacts/{c}/opinions", {"text": f"居民来电 {PHONE}, 身份证 {ID_NUMBER}", "deputy_id": d})
        w.post(ZHUOXI, f"/contacts/{c}/hotline-outcome", {"outcome": f"已联系 {PHONE}"})
        _legacy_issue(settings, hierarchy, v)
        _copy_up(settings, hierarchy)
        w.ids = {"aggregate_id": v, "deputy_id": d, "station_id": st, "visit_id": v, "contact_id": c}
        yield w


def _get_routes(client: TestClient) -> list[tuple[str, dict[str, Any]]]:
    """The GET operations, their path parameters' schemas resolved (an enum is a reference to a component)."""
    schema = client.get("/openapi.json").json()
    components = schema.get("components", {}).get("schemas", {})
    routes = []
    for path, ops in schema["paths"].items():
        if "get" in ops:
            op = ops["get"]
            for p in op.get("parameters", []):
                ref = p.get("schema", {}).get("$ref")
                if ref:
                    p["schema"] = components[ref.rsplit("/", 1)[1]]
            routes.append((path, op))
    return routes


def _fill(path: str, op: dict[str, Any], code: str, ids: dict[str, str]) -> str | None:
    out = path.replace("{code}", code)
    for p in op.get("parameters", []):
        if p["in"] != "path" or p["name"] == "code":
            continue
        name, schema = p["name"], p.get("schema", {})
        value = ids.get(name) or (schema.get("enum") or [None])[0]
        if value is None:
            return None
        out = out.replace("{" + name + "}", str(value))
    return out


def _paths(client: TestClient, ids: dict[str, str], code: str) -> Iterator[tuple[str, str]]:
    """Each GET route at a node, every enum value of a path parameter taken once, with its pattern."""
    for path, op in _get_routes(client):
        enums = [p for p in op.get("parameters", []) if p["in"] == "path" and p.get("schema", {}).get("enum")]
        variants = [{e["name"]: v} for e in enums for v in e["schema"]["enum"]] or [{}]
        for variant in variants:
            filled = _fill(path, op, code, {**ids, **variant})
            if filled is not None:
                yield path, filled


def test_every_read_route_with_every_role_masks_what_the_role_may_not_see(world: World) -> None:
    unfilled = {p for p, op in _get_routes(world.client) if _fill(p, op, ZHUOXI, world.ids) is None}
    assert not unfilled, f"routes this sweep cannot call (give their parameters a value): {unfilled}"
    called = 0
    for code in CODES:
        for role in ROLES:
            headers = {"Authorization": f"Bearer {world.tokens[(code, role)]}"}
            for pattern, url in _paths(world.client, world.ids, code):
                r = world.client.get(url, headers=headers)
                called += 1
                may_see = code == ZHUOXI and role in ("recorder", "administrator") and WHOLE_RECORD.match(pattern)
                found = [n for n in NEEDLES if n in r.text]
                if may_see:
                    continue
                assert not found, f"{role}@{code} GET {url} ({r.status_code}) shows {found}"
    assert called > 200


def test_the_origin_office_sees_the_record_whole(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.tokens[(ZHUOXI, 'administrator')]}"}
    r = world.client.get(f"/nodes/{ZHUOXI}/aggregates/{world.ids['aggregate_id']}", headers=headers)
    assert all(n in r.text for n in (PHONE, "430521 19920202 1235", NAME, LEGACY_PHONE)), r.text


@pytest.mark.parametrize("code", [ZHUOXI, PROVINCE])
def test_every_command_line_report_masks(world: World, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIPANQI_DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("YIPANQI_STORE", "sqlite")
    runner = CliRunner()
    commands = [
        ["report", view, "--node", code, "--format", fmt, "--limit", "500"]
        for view in ("coverage", "stations", "suggestions", "livelihood", "duty")
        for fmt in ("table", "json", "csv")
    ]
    commands += [
        ["history", world.ids["aggregate_id"], "--node", code],
        ["history", world.ids["aggregate_id"], "--node", code, "--json"],
        ["audit", "--node", code, "--format", "json"],
        ["audit", "--node", code, "--format", "csv"],
        ["audit", "--node", code],
    ]
    for args in commands:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        found = [n for n in NEEDLES if n in result.output]
        assert not found, f"yipanqi {' '.join(args)} shows {found}"
