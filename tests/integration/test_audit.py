"""The audit log (``gateways.audit``): ``GET /nodes/{code}/audit`` and ``yipanqi audit`` over a county whose log holds
its townships' events, on SQLite and PostgreSQL.

Topology: 邵东市 430582 with 斫𥕢乡 430582204 (A) and 牛马司镇 430582101 (B). At A, clerk-1 records with two tokens
of their own (a token per device), an administrator with a third; at B another clerk-1 (same subject, another
office) with a token of B; one event at A is written without a token (as the simulator and the host's command line
write). The townships' logs are copied into the county's as the ingest would.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.base import Attribution, Role
from domain.hierarchy import Hierarchy
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.timeline import SHANGHAI
from gateways.api import create_app
from gateways.api.devtools import replicate_up
from gateways.api.storage import dispose_engines, gateway_db
from gateways.audit import COLUMNS, NO_TOKEN, AuditFilter, AuditScan, resolve_types
from gateways.cli import app as cli
from tests.tamper import Tamper

COUNTY, TOWN_A, TOWN_B, ELSEWHERE = "430582", "430582204", "430582101", "430525"
AUDIT = f"/nodes/{COUNTY}/audit"


@dataclass
class World:
    client: TestClient
    settings: StoreSettings
    secrets: dict[str, str]  # name → bearer secret
    token_ids: dict[str, str]  # name → token id
    stations: dict[str, str]  # name → aggregate id

    def get(self, who: str = "auditor", path: str = AUDIT, **params: Any) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.secrets[who]}"})

    def rows(self, **params: Any) -> list[dict[str, Any]]:
        answer = self.get(**params)
        assert answer.status_code == 200, answer.text
        assert answer.json()["next_cursor"] is None
        return answer.json()["rows"]  # type: ignore[no-any-return]


def _post(client: TestClient, secret: str, path: str, body: dict[str, Any]) -> str:
    answer = client.post(path, json=body, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["id"])


@pytest.fixture
def world(settings: StoreSettings) -> Iterator[World]:
    hierarchy = Hierarchy.load()
    refs = {code: hierarchy.ref(hierarchy.by_code(code)) for code in (COUNTY, TOWN_A, TOWN_B)}
    untokened = NodeStore(refs[TOWN_A], settings)  # what the simulator writes: no token
    by = Attribution("simulator", Role.RECORDER, datetime(2025, 2, 1, 8, tzinfo=SHANGHAI))
    untokened.save_all([Station.establish(refs[TOWN_A], by, name="模拟联络站")])
    untokened.close()
    issued = {
        "first": (TOWN_A, "recorder", "clerk-1"),
        "second": (TOWN_A, "recorder", "clerk-1"),
        "admin": (TOWN_A, "administrator", "管理员王"),
        "b": (TOWN_B, "recorder", "clerk-1"),
        "auditor": (COUNTY, "auditor", "审计员李"),
        "county-admin": (COUNTY, "administrator", "admin@county"),
        "viewer": (COUNTY, "viewer", "viewer@county"),
        "recorder": (COUNTY, "recorder", "recorder@county"),
        "deputy": (COUNTY, "deputy", "00000000-0000-0000-0000-000000000001"),
        "town-auditor": (TOWN_A, "auditor", "审计员赵"),
    }
    secrets, token_ids = {}, {}
    for name, (code, role, subject) in issued.items():
        secrets[name], record = gateway_db(settings, refs[code]).issue(role=role, subject=subject)
        token_ids[name] = record.token_id
    app = create_app([COUNTY, TOWN_A, TOWN_B], settings=settings, hierarchy=hierarchy)
    try:
        with TestClient(app) as client:
            a, b = f"/nodes/{TOWN_A}", f"/nodes/{TOWN_B}"
            stations = {
                "s1": _post(client, secrets["first"], f"{a}/stations", {"name": "一站", "occurred_at": "2025-03-10T09:00:00"}),
                "s2": _post(client, secrets["second"], f"{a}/stations", {"name": "二站", "occurred_at": "2025-04-01T10:00:00"}),
                "s3": _post(client, secrets["admin"], f"{a}/stations", {"name": "三站", "occurred_at": "2025-04-02T10:00:00"}),
                "s4": _post(client, secrets["b"], f"{b}/stations", {"name": "四站", "occurred_at": "2025-03-11T15:00:00"}),
            }
            body = {"reason": "并入中心站", "occurred_at": "2025-03-12T09:00:00"}
            _post(client, secrets["first"], f"{a}/stations/{stations['s1']}/close", body)
            replicate_up(settings, hierarchy, {TOWN_A: COUNTY, TOWN_B: COUNTY})
            yield World(client, settings, secrets, token_ids, stations)
    finally:
        app.state.gateway.close()
        dispose_engines()


def _names(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["type"], row["actor"]) for row in rows]


# --------------------------------------------------------------------------------------------------------- API


def test_two_tokens_of_one_subject_are_told_apart(world: World) -> None:
    first = world.rows(token=world.token_ids["first"])
    second = world.rows(token=world.token_ids["second"])
    assert _names(first) == [("Station.Established", "clerk-1"), ("Station.Closed", "clerk-1")]
    assert [r["aggregate_id"] for r in first] == [world.stations["s1"]] * 2
    assert _names(second) == [("Station.Established", "clerk-1")]
    assert second[0]["aggregate_id"] == world.stations["s2"]
    # by subject alone, clerk-1 is four events at two offices
    assert len(world.rows(actor="clerk-1")) == 4
    assert {r["owner_code"] for r in world.rows(actor="clerk-1")} == {TOWN_A, TOWN_B}
    untokened = world.rows(token=NO_TOKEN)
    assert [(r["actor"], r["token"], r["label"]) for r in untokened] == [("simulator", "", "设立联络站")]


def test_every_row_says_who_when_role_token_and_what(world: World) -> None:
    rows = world.rows()
    assert len(rows) == 6
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)  # oldest first
    closed = next(r for r in rows if r["type"] == "Station.Closed")
    assert closed["label"] == "撤销联络站"
    assert closed["topic"] == "domain.stations:Station.Closed"
    assert closed["owner_code"] == TOWN_A and closed["owner_name"] == "斫𥕢乡"
    assert closed["role"] == "recorder" and closed["role_label"] == "录入员"
    assert closed["token"] == world.token_ids["first"]
    assert closed["version"] == 2
    assert closed["occurred_at"] == "2025-03-12T09:00:00+08:00"
    assert datetime.fromisoformat(closed["recorded_at"]).year >= 2025
    admin = world.rows(role="administrator")
    assert [(r["actor"], r["role_label"]) for r in admin] == [("管理员王", "管理员")]


def test_filters_by_type_aggregate_and_time(world: World) -> None:
    assert _names(world.rows(type="Station.Closed")) == [("Station.Closed", "clerk-1")]
    assert len(world.rows(type="撤销联络站")) == 1  # the Chinese label
    assert len(world.rows(type="domain.stations:Station.Established")) == 5  # the topic
    assert len(world.rows(type=["Station.Established", "Station.Closed"])) == 6  # repeated
    assert len(world.rows(type="Station")) == 6  # the aggregate: all its events
    assert world.rows(type="Voided") == []
    s1 = world.stations["s1"]
    assert [r["version"] for r in world.rows(aggregate=s1)] == [1, 2]
    assert [r["version"] for r in world.rows(aggregate=s1, type="Station.Closed")] == [2]
    # occurred time: since inclusive, until exclusive, a date alone is a whole day
    assert {r["aggregate_id"] for r in world.rows(since="2025-04-01")} == {world.stations["s2"], world.stations["s3"]}
    assert len(world.rows(until="2025-03-31")) == 4  # the untokened 02-01, s1 on 03-10 and 03-12, s4 on 03-11
    assert [r["aggregate_id"] for r in world.rows(since="2025-03-11", until="2025-03-11")] == [world.stations["s4"]]
    assert len(world.rows(since="2025-03-10T09:00:00")) == 5  # inclusive
    assert len(world.rows(until="2025-03-10T09:00:00")) == 1  # exclusive: only the untokened one
    assert len(world.rows(since="2025-03-10T01:00:00Z", until="2025-03-10T01:00:01Z")) == 1  # with an offset
    # recorded time: everything was recorded now, nothing before 2025-04
    assert world.rows(clock="recorded", until="2025-04-01") == []
    assert len(world.rows(clock="recorded", since="2025-04-01")) == 6
    both = world.rows(actor="clerk-1", since="2025-03-11", type="Station.Established")
    assert [r["aggregate_id"] for r in both] == [world.stations["s2"], world.stations["s4"]]


def test_region_drills_into_a_township(world: World) -> None:
    assert {r["owner_code"] for r in world.rows(region=TOWN_B)} == {TOWN_B}
    assert len(world.rows(region=TOWN_A)) == 5
    assert len(world.rows(region=COUNTY)) == 6
    assert [r["owner_code"] for r in world.rows(region=TOWN_A, actor="clerk-1")] == [TOWN_A] * 3
    outside = world.get(region=ELSEWHERE)
    assert outside.status_code == 403 and outside.json()["field"] == "region"


def test_only_auditors_and_administrators(world: World) -> None:
    for who in ("viewer", "recorder", "deputy"):
        answer = world.get(who)
        assert answer.status_code == 403, (who, answer.text)
        assert answer.json()["error"] == "forbidden"
    assert world.get("county-admin").status_code == 200
    assert world.get("town-auditor").status_code == 403  # the county is outside a township auditor's subtree
    town = world.get("town-auditor", f"/nodes/{TOWN_A}/audit")
    assert town.status_code == 200 and len(town.json()["rows"]) == 5  # its own township's log
    assert world.client.get(AUDIT).status_code == 401


def test_csv_has_a_header_and_the_rows(world: World) -> None:
    answer = world.get(format="csv", actor="clerk-1")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["x-next-cursor"] == ""
    assert answer.content.startswith("\ufeff".encode())  # the BOM: Excel reads it as UTF-8
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert tuple(table[0]) == COLUMNS
    assert len(table) == 1 + 4
    row = dict(zip(COLUMNS, table[1], strict=True))
    assert row["actor"] == "clerk-1" and row["label"] == "设立联络站" and row["owner_name"] == "斫𥕢乡"
    assert row["token"] == world.token_ids["first"]
    empty = world.get(format="csv", actor="nobody")
    assert list(csv.reader(io.StringIO(empty.content.decode("utf-8-sig")))) == [list(COLUMNS)]


def test_bad_input_names_the_field(world: World) -> None:
    bad_type = world.get(type="Station.Vanished")
    assert bad_type.status_code == 422 and bad_type.json()["field"] == "query.type"
    assert "Aggregate.Event" in bad_type.json()["rule"] and "did you mean Station.Voided" in bad_type.json()["rule"]
    bad_date = world.get(since="2025-02-30")
    assert bad_date.status_code == 422 and bad_date.json()["field"] == "query.since"
    assert "ISO date" in bad_date.json()["rule"]
    backwards = world.get(since="2025-04-01", until="2025-03-01")
    assert backwards.status_code == 422 and backwards.json()["field"] == "query.until"
    assert world.get(aggregate="not-a-uuid").status_code == 422
    assert world.get(role="king").status_code == 422
    assert world.get(limit=501).status_code == 422
    assert world.get(format="xml").status_code == 422
    misspelt = world.get(actr="clerk-1")
    assert misspelt.status_code == 422 and misspelt.json()["field"] == "query.actr"


def test_cursor_pages_give_every_row_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = [r["position"] for r in world.rows()]

    def pages(**params: Any) -> tuple[list[int], int]:
        seen: list[int] = []
        cursor: int | None = 0
        requests = 0
        while cursor is not None:
            answer = world.get(cursor=cursor, **params).json()
            seen += [r["position"] for r in answer["rows"]]
            assert answer["next_cursor"] is None or answer["next_cursor"] > cursor
            cursor = answer["next_cursor"]
            requests += 1
        return seen, requests

    assert pages(limit=2)[0] == everything
    monkeypatch.setattr("gateways.api.routers.audit.SCAN_BUDGET", 2)  # a request examines two events at most
    seen, requests = pages(limit=500)
    assert seen == everything and requests >= 3
    selective, requests = pages(token=world.token_ids["second"])
    assert len(selective) == 1 and requests >= 3  # pages without rows, the cursor moving on
    csv_cursor = world.get(format="csv", limit=1).headers["x-next-cursor"]
    assert csv_cursor == str(everything[0])


# ------------------------------------------------------------------------------------------------ command line


def _cli(settings: StoreSettings, *args: str, node: str = COUNTY) -> Any:
    env = {"YIPANQI_STORE": settings.store, "YIPANQI_DATA_DIR": str(settings.data_dir), "COLUMNS": "250"}
    if settings.pg_dsn:
        env["YIPANQI_PG_DSN"] = settings.pg_dsn
    return CliRunner().invoke(cli, ["audit", "--node", node, *args], env=env)


def test_command_line(world: World) -> None:
    done = _cli(world.settings, "--token", world.token_ids["first"], "--format", "csv")
    assert done.exit_code == 0, done.output
    table = list(csv.reader(io.StringIO(done.stdout.lstrip("\ufeff"))))
    assert tuple(table[0]) == COLUMNS and [r[COLUMNS.index("type")] for r in table[1:]] == [
        "Station.Established",
        "Station.Closed",
    ]
    assert done.stdout.startswith("\ufeff")
    assert not _cli(world.settings, "--format", "csv", "--no-bom").stdout.startswith("\ufeff")
    lines = _cli(world.settings, "--format", "json", "--actor", "clerk-1", "--region", TOWN_B).stdout.splitlines()
    assert [json.loads(line)["aggregate_id"] for line in lines] == [world.stations["s4"]]
    many = _cli(world.settings, "--format", "json", "--type", "Station.Established", "--type", "撤销联络站", "--limit", "3")
    assert len(many.stdout.splitlines()) == 3
    shown = _cli(world.settings, "--since", "2025-04-01", "--role", "administrator")
    assert shown.exit_code == 0 and "管理员王" in shown.stdout and "设立联络站" in shown.stdout
    assert "clerk-1" not in shown.stdout
    aggregate = _cli(world.settings, "--format", "json", "--aggregate", world.stations["s1"], "--clock", "recorded")
    assert [json.loads(line)["version"] for line in aggregate.stdout.splitlines()] == [1, 2]
    out = world.settings.data_dir / "audit.csv"
    assert _cli(world.settings, "--format", "csv", "-o", str(out)).exit_code == 0
    assert len(out.read_text(encoding="utf-8-sig").splitlines()) == 1 + 6


def test_command_line_bad_input(settings: StoreSettings) -> None:
    for args, said in (
        (("--type", "Station.Vanished"), "unknown event type 'Station.Vanished' (did you mean Station.Voided"),
        (("--since", "2025-02-30"), "is not an ISO date"),
        (("--since", "2025-04-01", "--until", "2025-03-01"), "must be after since"),
        (("--aggregate", "s1"), "is not an aggregate id"),
        (("--region", ELSEWHERE), "is outside 邵东市(430582)'s subtree"),
        (("--region", "无此地"), "无此地"),
        (("--node", "无此地"), "无此地"),
        *([(("--node", ELSEWHERE), "has no store here")] if settings.store == "sqlite" else []),  # PG: made on open
    ):
        node = args[1] if args[0] == "--node" else COUNTY
        refused = _cli(settings, *(args if args[0] != "--node" else ()), node=node)
        assert refused.exit_code == 2, (args, refused.output)
        assert "错误 error" in refused.output and said in refused.output, (args, refused.output)


# ------------------------------------------------------------------------------------------------------ the scan


def test_scan_prefilter_keeps_what_decoding_would(store: NodeStore) -> None:
    """Actors whose JSON is escaped, a name that is a prefix of another, and an event stored before tokens were
    recorded (no ``token`` in its bytes): the byte prefilter finds exactly what the decoded check finds."""
    when = datetime(2025, 3, 1, 9, tzinfo=SHANGHAI)
    actors = ["clerk-1", "clerk-10", '王"五\\', "line\nbreak"]
    store.save_all(
        [
            Station.establish(store.node, Attribution(actor, Role.RECORDER, when, token=f"{i:012x}"), name=f"站{i}")
            for i, actor in enumerate(actors)
        ]
    )
    old = Station.establish(store.node, Attribution("clerk-1", Role.RECORDER, when), name="旧站")
    (row,) = store.take_rows([old])
    state = json.loads(row[3])
    del state["token"]  # as an event stored before the field existed
    store.append_rows([(row[0], row[1], row[2], json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode())])
    hierarchy = Hierarchy.load()

    def scan(**conditions: Any) -> list[str]:
        return [r.actor for r in AuditScan(store, hierarchy, AuditFilter(**conditions))]

    for actor in actors:
        assert scan(actor=actor) == [actor] + (["clerk-1"] if actor == "clerk-1" else [])
    assert scan(token=f"{2:012x}") == ['王"五\\']
    assert scan(token=NO_TOKEN) == ["clerk-1"]
    assert scan(role="administrator") == []
    assert len(scan(topics=resolve_types(["Station.Established"]))) == 5


def test_scan_stops_on_budget_and_resumes(store: NodeStore) -> None:
    when = datetime(2025, 3, 1, 9, tzinfo=SHANGHAI)
    by = Attribution("clerk", Role.RECORDER, when)
    store.save_all([Station.establish(store.node, by, name=f"站{i}") for i in range(7)])
    hierarchy = Hierarchy.load()
    seen: list[int] = []
    after, scans = 0, 0
    while True:
        scan = AuditScan(store, hierarchy, AuditFilter(), after=after, budget=3, page=2)
        seen += [r.position for r in scan]
        scans += 1
        if scan.done:
            break
        assert scan.position > after
        after = scan.position
    assert seen == sorted(set(seen)) and len(seen) == 7 and scans == 3
    first = next(iter(AuditScan(store, hierarchy, AuditFilter(aggregate=UUID(int=0)))), None)
    assert first is None


def test_scan_of_a_large_region_and_of_a_type_this_version_does_not_know(settings: StoreSettings) -> None:
    """A prefecture's log: a region of many nodes (checked on the plain JSON before decoding), and an event of a type
    from a newer release (audited by its head fields, though it cannot be decoded)."""
    hierarchy = Hierarchy.load()
    prefecture = NodeStore(hierarchy.ref(hierarchy.by_code("430500")), settings)
    try:
        when = datetime(2025, 3, 1, 9, tzinfo=SHANGHAI)
        county = hierarchy.by_code(ELSEWHERE)  # 洞口县, in 邵阳市
        assert len(hierarchy.subtree(county)) > 16
        inside = [hierarchy.ref(d) for d in hierarchy.subtree(county)[1:4]]
        outside = [hierarchy.ref(d) for d in hierarchy.subtree(hierarchy.by_code(COUNTY))[1:3]]
        prefecture.save_all(
            [
                Station.establish(ref, Attribution(f"clerk@{ref.code}", Role.RECORDER, when), name="站")
                for ref in [*inside, *outside]
            ]
        )
        (row,) = prefecture.take_rows([Station.establish(inside[0], Attribution("newer", Role.RECORDER, when), name="新")])
        prefecture.append_rows([(row[0], row[1], "domain.future:Thing.Happened", row[3])])
        scan = AuditScan(prefecture, hierarchy, AuditFilter(region=county.id))
        rows = list(scan)
        assert [r.owner_code for r in rows] == [ref.code for ref in inside] + [inside[0].code]
        future = rows[-1]
        assert (future.type, future.label, future.actor) == ("Thing.Happened", "未知事件类型 unknown type", "newer")
        assert future.occurred_at == when and future.role_label == "录入员"
        later = AuditFilter(region=county.id, since=datetime(2025, 3, 2, tzinfo=SHANGHAI))
        assert list(AuditScan(prefecture, hierarchy, later)) == []
    finally:
        prefecture.close()


def test_verify_through_the_api(world: World) -> None:
    """``GET /nodes/{code}/verify`` answers what ``yipanqi verify --json`` prints: intact chains at the county and the
    township, the township's log against the county's copy (deep), a changed byte found where it was changed; for
    auditors and administrators only; deep without a reachable parent is refused."""
    county = world.get("auditor", f"/nodes/{COUNTY}/verify")
    assert county.status_code == 200 and county.json()["ok"] and county.json()["events"] > 0, county.text
    for who in ("viewer", "recorder", "deputy"):
        assert world.get(who, f"/nodes/{COUNTY}/verify").status_code == 403, who
    deep = world.get("town-auditor", f"/nodes/{TOWN_A}/verify", deep="true")
    assert deep.status_code == 200 and deep.json()["ok"] and deep.json()["parent"]["code"] == COUNTY, deep.text
    assert [c["code"] for c in deep.json()["chains"]] == [TOWN_A] and deep.json()["chains"][0]["events"] >= 5
    above = world.get("auditor", f"/nodes/{COUNTY}/verify", deep="true")  # the prefecture has no store of its own here
    if world.settings.store == "sqlite":  # no file: refused
        assert above.status_code == 409 and "no store reachable" in above.json()["rule"], above.text
    else:  # its tables are made on open: it holds nothing of the county
        assert above.status_code == 200 and above.json()["parent"]["held"] == 0, above.text

    hierarchy = Hierarchy.load()
    township = NodeStore(hierarchy.ref(hierarchy.by_code(TOWN_A)), world.settings)
    try:
        Tamper(township).change_byte(2)
    finally:
        township.close()
    town = world.get("town-auditor", f"/nodes/{TOWN_A}/verify")
    assert town.status_code == 200 and not town.json()["ok"], town.text
    first = next(c for c in town.json()["chains"] if c["code"] == TOWN_A)["first"]
    assert (first["kind"], first["position"]) == ("bytes_changed", 2), first
    assert world.get("auditor", f"/nodes/{COUNTY}/verify").json()["ok"]  # the county's copy is intact
