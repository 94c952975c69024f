"""The gateway's API in process (TestClient over the real app and real SQLite stores): every command family through
every step, the error answers, idempotency, access, masking, history and as-of, lists.

Topology: 湖南省 430000 › 邵阳市 430500 › 邵东市 430582 (斫𥕢乡 430582204) and 洞口县 430525 (江口镇 430525101), all served
by one app, with simulated master data; the townships' events are copied into their counties' logs as the ingest
would (verbatim), so the counties hold replicas they must not write.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from domain.terms import term_of
from domain.timeline import SHANGHAI
from domain.tokens import access_token_id
from gateways.api import create_app
from gateways.api.devtools import issue_tokens, seed

PROVINCE, SHAOYANG, SHAODONG, ZHUOXI, DONGKOU, JIANGKOU = "430000", "430500", "430582", "430582204", "430525", "430525101"
CODES = (PROVINCE, SHAOYANG, SHAODONG, ZHUOXI, DONGKOU, JIANGKOU)
ROLES = ("recorder", "viewer", "auditor", "administrator")
TODAY = datetime.now(SHANGHAI).date().isoformat()  # steps recorded now name days not before earlier steps
THIS_YEAR = datetime.now(SHANGHAI).year  # a project of the year is proposed in it (or the year before)
_seq = itertools.count(1)


def copy_log(settings: StoreSettings, hierarchy: Hierarchy, child: str, parent: str) -> None:
    """What the ingest does: the child's events, verbatim, appended to the parent's log."""
    src = NodeStore(hierarchy.ref(hierarchy.by_code(child)), settings)
    dst = NodeStore(hierarchy.ref(hierarchy.by_code(parent)), settings)
    try:
        rows = [(n.originator_id, n.originator_version, n.topic, n.state) for n in src.iter_notifications()]
        dst.recorder.insert_rows(rows)
    finally:
        src.close()
        dst.close()


class Api:
    """A TestClient with the topology's tokens."""

    def __init__(self, client: TestClient, tokens: dict[tuple[str, str], str]) -> None:
        self.client = client
        self.tokens = tokens

    def h(self, code: str, role: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[(code, role)]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def post(
        self,
        code: str,
        path: str,
        body: dict[str, Any],
        *,
        as_: tuple[str, str] | None = None,
        key: str | None = None,
        expect: int | None = None,
    ) -> dict[str, Any]:
        who = as_ or (code, "recorder")
        r = self.client.post(f"/nodes/{code}{path}", json=body, headers=self.h(*who, key=key))
        if expect is not None:
            assert r.status_code == expect, (path, r.status_code, r.text)
        return {"status": r.status_code, **r.json()}

    def get(self, code: str, path: str, *, as_: tuple[str, str] | None = None, **params: Any) -> Any:
        who = as_ or (code, "viewer")
        return self.client.get(f"/nodes/{code}{path}", headers=self.h(*who), params=params)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, StoreSettings, Hierarchy]]:
    data = tmp_path_factory.mktemp("api")
    settings = StoreSettings(store="sqlite", data_dir=Path(data))
    hierarchy = Hierarchy.load()
    seed(settings, CODES, days=4, seed=3, scale=0.05, hierarchy=hierarchy)
    for child, parent in ((ZHUOXI, SHAODONG), (JIANGKOU, DONGKOU)):
        copy_log(settings, hierarchy, child, parent)
    tokens = issue_tokens(settings, CODES, ROLES, hierarchy)
    app = create_app(CODES, settings=settings, hierarchy=hierarchy)
    app.state.gateway.verifier.cache_s = 0.0  # revocation takes effect at once in these tests
    with TestClient(app) as client:
        yield Api(client, tokens), settings, hierarchy


@pytest.fixture(scope="module")
def api(world: tuple[Api, StoreSettings, Hierarchy]) -> Api:
    return world[0]


def new_deputy(api: Api, code: str, congress: str, term: int) -> str:
    n = next(_seq)
    d = api.post(
        code,
        "/deputies",
        {"person_id": f"T{code}{n:04d}", "name": f"测试代表{n}", "gender": "女", "grassroots": True},
        expect=201,
    )
    api.post(code, f"/deputies/{d['id']}/mandates", {"congress": congress, "term": term, "elected_by": "第1选区"}, expect=200)
    api.post(code, f"/deputies/{d['id']}/credentials", {"congress": congress, "term": term, "passed": True}, expect=200)
    return d["id"]


def new_station(api: Api, code: str, *deputies: str) -> str:
    s = api.post(code, "/stations", {"name": f"测试联络站{next(_seq)}", "address": "湖南省"}, expect=201)
    for d in deputies:
        api.post(code, f"/stations/{s['id']}/enrolments", {"deputy_id": d}, expect=200)
    return s["id"]


# ---------------------------------------------------------------------------------------------- every command


def test_deputy_lifecycle(api: Api) -> None:
    d = new_deputy(api, SHAODONG, "county", 18)
    assert api.post(SHAODONG, f"/deputies/{d}/flags", {"grassroots": False, "leading_cadre": True}, expect=200)["version"] == 4
    api.post(SHAODONG, f"/deputies/{d}/groups", {"group": "教育专业小组", "kind": "professional"}, expect=200)
    api.post(SHAODONG, f"/deputies/{d}/groups/leave", {"group": "教育专业小组"}, expect=200)
    r = api.post(
        SHAODONG, f"/deputies/{d}/termination", {"congress": "county", "term": 18, "reason": "调离本行政区域"}, expect=200
    )
    assert r["state"] == "not_serving" and r["events"] == [{"type": "Deputy.MandateTerminated", "label": "终止代表资格"}]
    # A second termination: the mandate is not active any more → 409 naming the aggregate, its state and the rule.
    again = api.post(SHAODONG, f"/deputies/{d}/termination", {"congress": "county", "term": 18, "reason": "x"}, expect=409)
    assert again["state"] == "not serving" and "资格终止" in again["rule"] and again["aggregate"].startswith("deputy ")
    # Township mandates are recorded by the township, not the county: a domain rule on an existing aggregate.
    r = api.post(SHAODONG, f"/deputies/{d}/mandates", {"congress": "township", "term": 18, "elected_by": "x"}, expect=409)
    assert "recorded by" in r["rule"]


def test_standing_committee_roster(api: Api) -> None:
    sc = api.post(SHAODONG, "/standing-committees", {"term": 19}, expect=201)
    api.post(
        SHAODONG, f"/standing-committees/{sc['id']}/members", {"member_id": "m1", "name": "李主任", "post": "主任"}, expect=200
    )
    dup = api.post(
        SHAODONG, f"/standing-committees/{sc['id']}/members", {"member_id": "m2", "name": "赵", "post": "主任"}, expect=409
    )
    assert "already has a 主任" in dup["rule"]
    api.post(SHAODONG, f"/standing-committees/{sc['id']}/members/leave", {"member_id": "m1", "reason": "退休"}, expect=200)
    assert api.post(SHAODONG, "/standing-committees", {"term": 19}, expect=409)["rule"].endswith(
        "exists already (same natural key)"
    )
    # A township has a presidium, not a standing committee: refused on creation → 422.
    assert "presidium" in api.post(ZHUOXI, "/standing-committees", {"term": 19}, expect=422)["rule"]


def test_station_enrol_remove_merge_close(api: Api) -> None:
    a, b = new_deputy(api, SHAODONG, "county", 18), new_deputy(api, SHAODONG, "county", 18)
    s1, s2 = new_station(api, SHAODONG, a), new_station(api, SHAODONG, b)
    dup = api.post(SHAODONG, f"/stations/{s1}/enrolments", {"deputy_id": a}, expect=409)
    assert "already enrolled" in dup["rule"]
    unknown = api.post(SHAODONG, f"/stations/{s1}/enrolments", {"deputy_id": "00000000-0000-0000-0000-000000000001"}, expect=404)
    assert unknown["field"] == "deputy_id" and "unknown at 邵东市" in unknown["rule"]
    wrong = api.post(SHAODONG, f"/stations/{s1}/enrolments", {"deputy_id": b, "congress": "provincial"}, expect=422)
    assert wrong["field"] == "congress"
    merged = api.post(SHAODONG, f"/stations/{s1}/merge", {"successor_id": s2}, expect=200)
    assert [e["type"] for e in merged["events"]] == ["Station.Absorbed", "Station.MergedInto"] and merged["state"] == "merged"
    assert api.post(SHAODONG, f"/stations/{s1}/close", {"reason": "x"}, expect=409)["state"] == "已合并"
    api.post(SHAODONG, f"/stations/{s2}/removals", {"deputy_id": a, "reason": "调离"}, expect=200)
    api.post(SHAODONG, f"/stations/{s2}/removals", {"deputy_id": b, "reason": "调离"}, expect=200)
    assert api.post(SHAODONG, f"/stations/{s2}/close", {"reason": "撤并"}, expect=200)["state_label"] == "已撤销"


def test_station_views_honour_the_year(api: Api) -> None:
    """``?year=`` bounds the stations view: the stations open at that year's end, the merges and closures within it
    (two stations established in 2024, a third closed in 2024; one of the two merged into the other in 2025)."""

    def totals(year: int) -> dict[str, int]:
        deadline = time.monotonic() + 30
        while (status := api.get(SHAODONG, "/sync/status").json())["projected"] < status["head"]:
            assert time.monotonic() < deadline, status  # the gateway's projector catches up within a second or so
            time.sleep(0.1)
        r = api.get(SHAODONG, "/views/stations", year=year)
        assert r.status_code == 200, r.text
        return {k: r.json()["totals"][k] for k in ("stations", "merged", "closed")}

    before = {year: totals(year) for year in (2024, 2025)}
    s1, s2, s3 = (
        api.post(
            SHAODONG, "/stations", {"name": f"年度联络站{next(_seq)}", "occurred_at": "2024-03-01T09:00:00+08:00"}, expect=201
        )["id"]
        for _ in range(3)
    )
    api.post(SHAODONG, f"/stations/{s3}/close", {"reason": "撤并", "occurred_at": "2024-11-01T09:00:00+08:00"}, expect=200)
    api.post(SHAODONG, f"/stations/{s1}/merge", {"successor_id": s2, "occurred_at": "2025-06-01T09:00:00+08:00"}, expect=200)
    after = {year: totals(year) for year in (2024, 2025)}
    change = {year: {k: after[year][k] - before[year][k] for k in after[year]} for year in after}
    assert change == {2024: {"stations": 2, "merged": 0, "closed": 1}, 2025: {"stations": 1, "merged": 1, "closed": 0}}


def test_station_visit_lifecycle_and_validation(api: Api) -> None:
    a, b = new_deputy(api, SHAODONG, "county", 18), new_deputy(api, SHAODONG, "county", 18)
    station = new_station(api, SHAODONG, a)
    body = {"station_id": station, "visit_date": "2025-04-01", "deputy_ids": [a], "people_received": 12}
    v = api.post(SHAODONG, "/visits", body, expect=201)
    assert v["kind_label"] == "进站接待" and v["recorded_by"].startswith("recorder@430582")
    one = api.post(
        SHAODONG,
        f"/visits/{v['id']}/issues",
        {"summary": "路灯不亮", "category": "市政", "raised_by_phone": "13900001111"},
        expect=200,
    )
    two = api.post(SHAODONG, f"/visits/{v['id']}/issues", {"summary": "垃圾清运", "category": "环境"}, expect=200)
    assert (one["number"], two["number"]) == (1, 2)
    assert (
        api.post(SHAODONG, f"/visits/{v['id']}/close", {}, expect=409)["rule"]
        == "issues [1, 2] are neither resolved nor transferred"
    )
    api.post(SHAODONG, f"/visits/{v['id']}/issues/1/resolve", {"outcome": "已修复"}, expect=200)
    api.post(SHAODONG, f"/visits/{v['id']}/issues/2/transfer", {"to_unit": "城管局"}, expect=200)
    assert api.post(SHAODONG, f"/visits/{v['id']}/issues/3/resolve", {"outcome": "x"}, expect=409)["rule"].startswith(
        "no issue number 3"
    )
    assert api.post(SHAODONG, f"/visits/{v['id']}/close", {}, expect=200)["state"] == "closed"
    # A deputy not enrolled at the station: the domain refuses the visit (422 on creation, naming the rule).
    r = api.post(SHAODONG, "/visits", {**body, "deputy_ids": [b], "visit_date": "2025-04-02"}, expect=422)
    assert "is not enrolled at" in r["rule"]
    # A deputy unknown at this node: 404 naming the field.
    r = api.post(SHAODONG, "/visits", {**body, "deputy_ids": ["00000000-0000-0000-0000-0000000000aa"]}, expect=404)
    assert r["field"] == "deputy_ids"
    # The same visit again (same station, date, deputies: the natural key) → 409.
    assert api.post(SHAODONG, "/visits", body, expect=409)["rule"].endswith("exists already (same natural key)")


def test_contacts_opinions_and_hotline(api: Api) -> None:
    d = new_deputy(api, SHAODONG, "county", 18)
    c = api.post(
        SHAODONG,
        "/contacts",
        {
            "kind": "organ_meeting",
            "channel": "symposium",
            "title": "常委会组成人员联系代表座谈会",
            "held_on": "2025-04-03",
            "organiser_kind": "sc_member",
            "organiser": "王主任",
            "deputy_ids": [d],
        },
        expect=201,
    )
    assert (
        api.post(SHAODONG, f"/contacts/{c['id']}/opinions", {"text": "建议加强农村道路养护", "deputy_id": d}, expect=200)[
            "number"
        ]
        == 1
    )
    assert api.post(SHAODONG, f"/contacts/{c['id']}/opinions/1/feedback", {}, expect=409)["rule"].endswith(
        "only after it was handled"
    )
    api.post(SHAODONG, f"/contacts/{c['id']}/opinions/1/handle", {"handling": "assigned"}, expect=409)  # assigned needs a unit
    api.post(SHAODONG, f"/contacts/{c['id']}/opinions/1/handle", {"handling": "assigned", "unit": "交通运输局"}, expect=200)
    assert api.post(SHAODONG, f"/contacts/{c['id']}/opinions/1/feedback", {"note": "已反馈"}, expect=200)["state"] == "recorded"
    assert "only a 12345" in api.post(SHAODONG, f"/contacts/{c['id']}/hotline-outcome", {"outcome": "x"}, expect=409)["rule"]
    h = api.post(
        SHAODONG,
        "/contacts",
        {
            "kind": "hotline_report",
            "channel": "hotline",
            "title": "反映小区停水",
            "held_on": "2025-04-04",
            "organiser_kind": "deputy",
            "organiser": "测试代表",
            "organiser_id": d,
            "deputy_ids": [d],
            "ticket": "GD2025040400012",
        },
        expect=201,
    )
    api.post(SHAODONG, f"/contacts/{h['id']}/hotline-outcome", {"outcome": "已恢复供水"}, expect=200)
    bad = api.post(
        SHAODONG,
        "/contacts",
        {
            "kind": "hotline_report",
            "channel": "phone",
            "title": "x",
            "held_on": "2025-04-04",
            "organiser_kind": "deputy",
            "organiser": "x",
            "deputy_ids": [d],
        },
        expect=422,
    )
    assert "hotline channel" in bad["rule"]


def submit_replied(api: Api, lead: str, category: str = "B") -> str:
    n = next(_seq)
    s = api.post(
        SHAODONG,
        "/suggestions",
        {
            "number": f"T{n:04d}",
            "congress": "county",
            "term": term_of("county", datetime.now(SHANGHAI).year),  # the term in force: a suggestion belongs to it
            "session": 4,
            "title": "关于加强农村饮水安全的建议",
            "content": "……",
            "category": "农业农村",
            "lead_deputy_id": lead,
        },
        expect=201,
    )
    api.post(
        SHAODONG,
        f"/suggestions/{s['id']}/assign",
        {"lead_unit": "水利局", "co_units": ["财政局"], "due_on": "2099-01-01"},
        expect=200,
    )
    api.post(SHAODONG, f"/suggestions/{s['id']}/start-handling", {"contacted_on": TODAY}, expect=200)
    r = api.post(
        SHAODONG,
        f"/suggestions/{s['id']}/reply",
        {"category": category, "text": "已列入计划", "replied_on": TODAY},
        expect=200,
    )
    assert r["state"] == "replied"
    return s["id"]


def deputy_token(world: tuple[Api, StoreSettings, Hierarchy], deputy_id: str) -> str:
    from gateways.api.storage import gateway_db

    _, settings, hierarchy = world
    token, _ = gateway_db(settings, hierarchy.ref(hierarchy.by_code(SHAODONG))).issue(role="deputy", subject=deputy_id)
    return token


def test_suggestion_through_every_step_and_only_the_lead_deputy_evaluates(api: Api, world: Any) -> None:
    lead, other = new_deputy(api, SHAODONG, "county", 18), new_deputy(api, SHAODONG, "county", 18)
    sid = submit_replied(api, lead, "B")
    api.post(SHAODONG, f"/suggestions/{sid}/priority", {"leader": "副县长"}, expect=200)
    api.post(SHAODONG, f"/suggestions/{sid}/supervision", {"supervision": "chair_led", "note": "主任领衔督办"}, expect=200)
    body = {"evaluation": "satisfied"}
    # No office account can record the evaluation, whatever its role ("被满意" is impossible).
    for role in ROLES:
        r = api.client.post(f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation", json=body, headers=api.h(SHAODONG, role))
        assert r.status_code == 403 and "only the lead deputy" in r.json()["rule"], (role, r.text)
    # Another deputy's own account: the domain refuses (not the lead deputy).
    r = api.client.post(
        f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation",
        json=body,
        headers={"Authorization": f"Bearer {deputy_token(world, other)}"},
    )
    assert r.status_code == 409 and "only the lead deputy" in r.json()["rule"]
    lead_h = {"Authorization": f"Bearer {deputy_token(world, lead)}"}
    r = api.client.post(
        f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation", json={"evaluation": "basically_satisfied"}, headers=lead_h
    )
    assert r.status_code == 200 and r.json()["state"] == "follow_up", r.text
    # The deputy's token writes nothing else, and reads only their own suggestions.
    assert api.client.post(f"/nodes/{SHAODONG}/stations", json={"name": "x"}, headers=lead_h).status_code == 403
    assert api.client.get(f"/nodes/{SHAODONG}/aggregates/{sid}", headers=lead_h).status_code == 200
    assert api.client.get(f"/nodes/{SHAODONG}/aggregates/{lead}", headers=lead_h).status_code == 403
    api.post(SHAODONG, f"/suggestions/{sid}/supervision", {"supervision": "follow_up", "note": "跟踪督办"}, expect=200)
    api.post(SHAODONG, f"/suggestions/{sid}/solved", {"note": "已解决", "solved_on": TODAY}, expect=200)
    assert api.post(SHAODONG, f"/suggestions/{sid}/close", {}, expect=200)["state_label"] == "已办结"
    # The history names who recorded the evaluation and in which role.
    history = api.get(SHAODONG, f"/aggregates/{sid}/history", as_=(SHAODONG, "auditor")).json()
    evaluated = next(e for e in history["events"] if e["type"] == "Suggestion.Evaluated")
    assert (evaluated["actor"], evaluated["role"], evaluated["label"]) == (lead, "deputy", "代表评价")
    assert {e["role"] for e in history["events"]} == {"recorder", "deputy"}


def test_dissatisfied_goes_back_to_handling(api: Api, world: Any) -> None:
    lead = new_deputy(api, SHAODONG, "county", 18)
    sid = submit_replied(api, lead, "A")
    h = {"Authorization": f"Bearer {deputy_token(world, lead)}"}
    r = api.client.post(f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation", json={"evaluation": "dissatisfied"}, headers=h)
    assert r.json()["state"] == "rehandling"
    api.post(SHAODONG, f"/suggestions/{sid}/reply", {"category": "A", "text": "重新办理答复", "replied_on": TODAY}, expect=200)


def test_an_office_enters_a_signed_evaluation_form_as_its_own_entry(api: Api, world: Any) -> None:
    """代录: a recorder enters the lead deputy's signed form; the history names the clerk, the token and the form, and
    the entry never reads as the deputy's own."""
    lead = new_deputy(api, SHAODONG, "county", 18)
    sid = submit_replied(api, lead, "A")
    body = {"deputy_id": lead, "evaluation": "satisfied", "form_number": "邵东-PJ-2025-0042"}
    for role in ("viewer", "auditor"):
        r = api.client.post(f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation-entry", json=body, headers=api.h(SHAODONG, role))
        assert r.status_code == 403, (role, r.text)
    lead_h = {"Authorization": f"Bearer {deputy_token(world, lead)}"}
    r = api.client.post(f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation-entry", json=body, headers=lead_h)
    assert r.status_code == 403, r.text  # a deputy evaluates with their own credential, not as an office entry
    r = api.client.post(
        f"/nodes/{SHAODONG}/suggestions/{sid}/evaluation-entry",
        json={**body, "form_number": ""},
        headers=api.h(SHAODONG, "recorder"),
    )
    assert r.status_code == 422 and "form_number" in r.text, r.text
    assert api.post(SHAODONG, f"/suggestions/{sid}/evaluation-entry", body, expect=200)["state"] == "evaluated"
    history = api.get(SHAODONG, f"/aggregates/{sid}/history", as_=(SHAODONG, "auditor")).json()
    evaluated = next(e for e in history["events"] if e["type"] == "Suggestion.Evaluated")
    whoami = api.client.get("/whoami", headers=api.h(SHAODONG, "recorder")).json()
    assert (evaluated["actor"], evaluated["role"], evaluated["token"]) == (whoami["subject"], "recorder", whoami["token_id"])
    assert (evaluated["payload"]["entry"], evaluated["payload"]["form_number"]) == ("office", "邵东-PJ-2025-0042")
    assert evaluated["token"] and all(e["token"] for e in history["events"]), "every write names its token"


def test_livelihood_project_through_every_step(api: Api) -> None:
    p = api.post(ZHUOXI, "/livelihood-projects", {"year": THIS_YEAR, "title": "村级道路硬化", "category": "交通"}, expect=201)
    pid = p["id"]
    api.post(ZHUOXI, f"/livelihood-projects/{pid}/candidate", {"estimate_wan": "120.5"}, expect=200)
    api.post(ZHUOXI, f"/livelihood-projects/{pid}/deliberation", {"deputies_present": 40, "opinions": 3}, expect=200)
    quorum = api.post(
        ZHUOXI,
        f"/livelihood-projects/{pid}/vote",
        {"session": "第十八届第四次会议", "yes": 10, "no": 0, "abstain": 0, "present": 10, "total_deputies": 45},
        expect=409,
    )
    assert "no quorum" in quorum["rule"]
    r = api.post(
        ZHUOXI,
        f"/livelihood-projects/{pid}/vote",
        {"session": "第十八届第四次会议", "yes": 38, "no": 2, "abstain": 1, "present": 41, "total_deputies": 45},
        expect=200,
    )
    assert r["state"] == "passed"
    api.post(ZHUOXI, f"/livelihood-projects/{pid}/implementation", {"budget_wan": 118, "lead_unit": "乡政府"}, expect=200)
    api.post(ZHUOXI, f"/livelihood-projects/{pid}/progress", {"progress": 60, "spent_wan": 70}, expect=200)
    back = api.post(ZHUOXI, f"/livelihood-projects/{pid}/progress", {"progress": 50, "spent_wan": 80}, expect=409)
    assert "cannot go back" in back["rule"] and back["field"] == "progress"
    api.post(ZHUOXI, f"/livelihood-projects/{pid}/supervision", {"action": "人大主席团视察"}, expect=200)
    api.post(ZHUOXI, f"/livelihood-projects/{pid}/progress", {"progress": 100, "spent_wan": 117.3}, expect=200)
    api.post(
        ZHUOXI,
        f"/livelihood-projects/{pid}/evaluation",
        {"satisfied": 30, "basically_satisfied": 8, "dissatisfied": 1},
        expect=200,
    )
    assert api.post(ZHUOXI, f"/livelihood-projects/{pid}/close", {}, expect=200)["state"] == "closed"
    state = api.get(ZHUOXI, f"/aggregates/{pid}").json()
    assert state["data"]["tally"] == {"yes": 38, "no": 2, "abstain": 1, "present": 41, "total_deputies": 45}
    assert state["data"]["budget_wan"] == "118.00"
    # A rejected project closes directly; a street (no congress) cannot vote at all.
    q = api.post(ZHUOXI, "/livelihood-projects", {"year": THIS_YEAR, "title": "文化广场", "category": "文化"}, expect=201)["id"]
    api.post(ZHUOXI, f"/livelihood-projects/{q}/candidate", {"estimate_wan": 10}, expect=200)
    api.post(ZHUOXI, f"/livelihood-projects/{q}/deliberation", {"deputies_present": 40}, expect=200)
    api.post(
        ZHUOXI,
        f"/livelihood-projects/{q}/vote",
        {"session": "s", "yes": 20, "no": 20, "abstain": 1, "present": 41, "total_deputies": 45},
        expect=200,
    )
    api.post(ZHUOXI, f"/livelihood-projects/{q}/close", {}, expect=200)


# ------------------------------------------------------------------------------------------------------ errors


def test_errors_name_the_field_rule_or_state(api: Api) -> None:
    c = api.client
    assert c.get(f"/nodes/{SHAODONG}").status_code == 401
    r = c.get(f"/nodes/{SHAODONG}", headers={"Authorization": "Bearer yq_nonsense"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
    r = c.get("/nodes/430999", headers=api.h(PROVINCE, "viewer"))
    assert r.status_code == 404 and r.json()["field"] == "code"
    r = c.get("/nodes/430521", headers=api.h(PROVINCE, "viewer"))  # 邵东县's former code names 邵东市
    assert r.status_code == 200 and r.json()["code"] == SHAODONG
    r = c.get("/nodes/430103", headers=api.h(PROVINCE, "viewer"))  # real, but not served here
    assert r.status_code == 404 and "not served by this gateway" in r.json()["rule"]
    h = api.h(SHAODONG, "recorder")
    r = c.post(f"/nodes/{SHAODONG}/stations", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = c.post(f"/nodes/{SHAODONG}/stations", json={"name": "x" * (1 << 20)}, headers=h)  # over 1 MiB: not even read
    assert r.status_code == 413 and r.json()["rule"].endswith("(1,048,576 bytes)")
    r = c.post(f"/nodes/{SHAODONG}/stations", json={"name": "x", "colour": "red"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.colour"
    r = c.post(f"/nodes/{SHAODONG}/visits/not-a-uuid/close", json={}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "path.visit_id"
    r = c.post(f"/nodes/{SHAODONG}/visits/{'0' * 8}-0000-0000-0000-{'0' * 12}/close", json={}, headers=h)
    assert r.status_code == 404 and r.json()["field"] == "visit_id"
    r = c.post(
        f"/nodes/{SHAODONG}/deputies",
        json={"person_id": "x", "name": "y", "gender": "男", "grassroots": True, "leading_cadre": True},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["state"] == "new" and "either grassroots" in r.json()["rule"]
    r = c.post(f"/nodes/{SHAODONG}/contacts", json={"kind": "tea_party"}, headers=h)
    assert r.status_code == 422 and {p["field"] for p in r.json()["fields"]} >= {"body.kind", "body.title"}
    r = c.post(f"/nodes/{SHAODONG}/stations", json={"name": "x", "occurred_at": "1850-01-01T00:00:00Z"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.occurred_at"


def test_a_node_writes_only_what_it_owns(api: Api, world: Any) -> None:
    _, settings, hierarchy = world
    township_station = api.get(ZHUOXI, "/lists/stations", as_=(ZHUOXI, "viewer")).json()["items"][0]["id"]
    # The county's log holds the township's station (replicated by the ingest); the county may read it...
    r = api.get(SHAODONG, f"/aggregates/{township_station}")
    assert r.status_code == 200 and r.json()["owner_name"] == "斫𥕢乡(430582204)"
    # ...but never write it: only the owner records.
    r = api.post(SHAODONG, f"/stations/{township_station}/close", {"reason": "x"}, expect=403)
    assert "owned by 斫𥕢乡(430582204)" in r["rule"] and r["field"] == "station_id"
    # And a county's token records only at its own node, not at its township's.
    r = api.post(ZHUOXI, f"/stations/{township_station}/close", {"reason": "x"}, as_=(SHAODONG, "administrator"), expect=403)
    assert "records only at its own node" in r["rule"]


def test_idempotent_retries(api: Api) -> None:
    d = new_deputy(api, SHAODONG, "county", 18)
    st = new_station(api, SHAODONG, d)
    body = {"station_id": st, "visit_date": "2025-05-05", "deputy_ids": [d], "people_received": 3}
    first = api.client.post(f"/nodes/{SHAODONG}/visits", json=body, headers=api.h(SHAODONG, "recorder", key="visit-0505"))
    again = api.client.post(f"/nodes/{SHAODONG}/visits", json=body, headers=api.h(SHAODONG, "recorder", key="visit-0505"))
    assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    vid = first.json()["id"]
    issue = {"summary": "噪音扰民", "category": "环境"}
    for _ in range(3):
        r = api.client.post(
            f"/nodes/{SHAODONG}/visits/{vid}/issues", json=issue, headers=api.h(SHAODONG, "recorder", key="issue-1")
        )
        assert r.status_code == 200 and r.json()["number"] == 1
    history = api.get(SHAODONG, f"/aggregates/{vid}/history", as_=(SHAODONG, "auditor")).json()["events"]
    assert [e["type"] for e in history] == ["StationVisit.Recorded", "StationVisit.IssueRaised"]  # nothing twice
    r = api.client.post(
        f"/nodes/{SHAODONG}/visits/{vid}/issues",
        json={**issue, "summary": "别的"},
        headers=api.h(SHAODONG, "recorder", key="issue-1"),
    )
    assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key"
    # Keys belong to one token: another client's same key is a new request.
    r = api.client.post(
        f"/nodes/{SHAODONG}/visits/{vid}/issues", json=issue, headers=api.h(SHAODONG, "administrator", key="issue-1")
    )
    assert r.status_code == 200 and r.json()["number"] == 2
    # A refused command's answer is the first answer too: the retry gets the same 409, nothing recorded.
    close = [
        api.client.post(f"/nodes/{SHAODONG}/visits/{vid}/close", json={}, headers=api.h(SHAODONG, "recorder", key="close-1"))
        for _ in range(2)
    ]
    assert [c.status_code for c in close] == [409, 409] and close[0].json() == close[1].json()


def test_contact_ids_derive_from_the_idempotency_key(api: Api) -> None:
    d = new_deputy(api, SHAODONG, "county", 18)
    body = {
        "kind": "practical_deed",
        "channel": "visit",
        "title": "为村民修缮水渠",
        "held_on": "2025-04-09",
        "organiser_kind": "deputy",
        "organiser": "测试代表",
        "deputy_ids": [d],
    }
    a = api.post(SHAODONG, "/contacts", body, key="deed-1", expect=201)
    b = api.post(SHAODONG, "/contacts", body, key="deed-2", expect=201)
    assert a["id"] != b["id"]
    assert api.post(SHAODONG, "/contacts", body, key="deed-1", expect=201)["id"] == a["id"]


def test_revoked_token_is_refused(api: Api, world: Any) -> None:
    from gateways.api.storage import gateway_db

    _, settings, hierarchy = world
    db = gateway_db(settings, hierarchy.ref(hierarchy.by_code(JIANGKOU)))
    token, record = db.issue(role="viewer", subject="临时")
    h = {"Authorization": f"Bearer {token}"}
    assert api.client.get(f"/nodes/{JIANGKOU}", headers=h).status_code == 200
    db.revoke(record.token_id)
    assert api.client.get(f"/nodes/{JIANGKOU}", headers=h).status_code == 401
    assert all(r.token_id != record.token_id for r in db.list_tokens() if r.active)


# ------------------------------------------------------------------------------------------------------ access


def expected_read(token_code: str, role: str, target: str, hierarchy: Hierarchy) -> int:
    if not hierarchy.is_within(hierarchy.by_code(target), hierarchy.by_code(token_code)):
        return 403
    return 200


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix_over_roles_and_levels(api: Api, world: Any, role: str) -> None:
    """Every level's token, of each role, against every node: reads within the subtree only; writes at the own node
    by recorders and administrators only; history for auditors and administrators only."""
    _, _, hierarchy = world
    for token_code, target in itertools.product(CODES, CODES):
        read = api.client.get(f"/nodes/{target}/lists/stations", headers=api.h(token_code, role))
        assert read.status_code == expected_read(token_code, role, target, hierarchy), (token_code, role, target, read.text)
        write = api.client.post(f"/nodes/{target}/stations", json={"name": ""}, headers=api.h(token_code, role))
        may_write = role in ("recorder", "administrator") and token_code == target
        assert write.status_code == (422 if may_write else 403), (token_code, role, target, write.text)
        sync = api.client.get(f"/nodes/{target}/sync/status", headers=api.h(token_code, role))
        assert sync.status_code == expected_read(token_code, role, target, hierarchy)
    station = api.get(ZHUOXI, "/lists/stations", as_=(ZHUOXI, "viewer")).json()["items"][0]["id"]
    for token_code in CODES:
        r = api.client.get(f"/nodes/{ZHUOXI}/aggregates/{station}/history", headers=api.h(token_code, role))
        allowed = expected_read(token_code, role, ZHUOXI, hierarchy) == 200 and role in ("auditor", "administrator")
        assert r.status_code == (200 if allowed else 403), (token_code, role, r.text)


def test_drill_down_region_stays_in_the_subtree(api: Api) -> None:
    r = api.get(PROVINCE, "/lists/stations", as_=(PROVINCE, "viewer"), region=SHAODONG)
    assert r.status_code == 200 and r.json()["region"] == SHAODONG
    r = api.get(SHAODONG, "/lists/stations", as_=(SHAODONG, "viewer"), region=DONGKOU)
    assert r.status_code == 403 and r.json()["field"] == "region"


# ----------------------------------------------------------------------------------------------------- masking


def test_masking_of_personal_data_by_role_and_level(api: Api) -> None:
    d = new_deputy(api, ZHUOXI, "township", 18)
    st = new_station(api, ZHUOXI, d)
    v = api.post(
        ZHUOXI, "/visits", {"station_id": st, "visit_date": "2025-04-10", "deputy_ids": [d], "people_received": 1}, expect=201
    )
    api.post(
        ZHUOXI,
        f"/visits/{v['id']}/issues",
        {
            "summary": "低保申请, 回电13712345678, 身份证430521199003041234",
            "category": "民政",
            "raised_by_name": "刘小红",
            "raised_by_phone": "13712345678",
        },
        expect=200,
    )
    seen = {}
    for who in (
        (ZHUOXI, "recorder"),
        (ZHUOXI, "administrator"),
        (ZHUOXI, "viewer"),
        (ZHUOXI, "auditor"),
        (SHAODONG, "administrator"),
        (PROVINCE, "administrator"),
    ):
        r = api.get(ZHUOXI, f"/aggregates/{v['id']}", as_=who).json()
        seen[who] = (r["masked"], r["data"]["issues"][0])
    for who in ((ZHUOXI, "recorder"), (ZHUOXI, "administrator")):
        masked, issue = seen[who]
        assert not masked and issue["raised_by_phone"] == "13712345678" and issue["raised_by_name"] == "刘小红"
    for who in ((ZHUOXI, "viewer"), (ZHUOXI, "auditor"), (SHAODONG, "administrator"), (PROVINCE, "administrator")):
        masked, issue = seen[who]
        assert masked and issue["raised_by_phone"] == "137****5678" and issue["raised_by_name"] == "刘**", who
        assert "13712345678" not in issue["summary"] and "430521199003041234" not in issue["summary"]
    history = api.get(ZHUOXI, f"/aggregates/{v['id']}/history", as_=(ZHUOXI, "auditor")).json()
    assert history["masked"] and "13712345678" not in str(history)


def test_personal_data_is_sealed_in_the_log_opened_for_the_origin_office_and_erased(
    world: tuple[Api, StoreSettings, Hierarchy],
) -> None:
    api, settings, hierarchy = world
    d = new_deputy(api, ZHUOXI, "township", 18)
    st = new_station(api, ZHUOXI, d)
    v = api.post(
        ZHUOXI, "/visits", {"station_id": st, "visit_date": "2025-04-11", "deputy_ids": [d], "people_received": 1}, expect=201
    )
    summary = "王大明反映: 请回电 139-0739-1234 或 (0739)7654321, 身份证 430521 19900101 1234"
    body = {"summary": summary, "category": "民政", "raised_by_name": "王大明", "raised_by_phone": "13907391234"}
    api.post(ZHUOXI, f"/visits/{v['id']}/issues", body, expect=200)
    # The log holds the masked values and ciphertext: no plaintext in the store's file, its WAL included.
    store_file = settings.sqlite_path(hierarchy.by_code(ZHUOXI).id)
    raw = b"".join(p.read_bytes() for p in store_file.parent.glob(store_file.name + "*"))
    for plain in ("13907391234", "7654321", "199001011234", "王大明"):
        assert plain.encode() not in raw, plain
    admin = api.get(ZHUOXI, f"/aggregates/{v['id']}", as_=(ZHUOXI, "administrator")).json()
    assert (admin["masked"], admin["personal_data"]) == (False, "opened")
    assert admin["data"]["issues"][0] | body == admin["data"]["issues"][0]  # the originals, opened
    viewer = api.get(ZHUOXI, f"/aggregates/{v['id']}", as_=(ZHUOXI, "viewer")).json()
    assert (viewer["masked"], viewer["personal_data"]) == (True, "sealed")
    assert viewer["data"]["issues"][0]["summary"] == "王**反映: 请回电 139****1234 或 0739-****4321, 身份证 430**************4"
    events = api.get(ZHUOXI, f"/aggregates/{v['id']}/history", as_=(ZHUOXI, "administrator")).json()["events"]
    assert [e["personal_data"] for e in events][-1] == "opened" and events[-1]["payload"]["raised_by_phone"] == "13907391234"

    refused = api.post(ZHUOXI, "/privacy/erasures", {"person": "13907391234", "reason": "本人申请"}, as_=(ZHUOXI, "recorder"))
    assert refused["status"] == 403
    assert api.post(ZHUOXI, "/privacy/erasures", {"reason": "x"}, as_=(ZHUOXI, "administrator"))["status"] == 422
    erased = api.post(
        ZHUOXI,
        "/privacy/erasures",
        {"person": "+86 139 0739 1234", "reason": "本人申请删除"},
        as_=(ZHUOXI, "administrator"),
        expect=200,
    )
    assert (erased["basis"], erased["events"], erased["already"]) == ("person", 1, False)
    again = api.post(ZHUOXI, "/privacy/erasures", {"person": "13907391234", "reason": "再次"}, as_=(ZHUOXI, "administrator"))
    assert (again["status"], again["already"], again["erasure_id"]) == (200, True, erased["erasure_id"])
    unknown = api.post(ZHUOXI, "/privacy/erasures", {"person": "13800000000", "reason": "x"}, as_=(ZHUOXI, "administrator"))
    assert unknown["status"] == 404
    after = api.get(ZHUOXI, f"/aggregates/{v['id']}", as_=(ZHUOXI, "administrator")).json()
    assert (after["personal_data"], after["data"]["issues"][0]["raised_by_phone"]) == ("erased", "139****1234")
    assert after["version"] == admin["version"]  # nothing of the record changed: only a key is gone
    status = api.get(ZHUOXI, "/privacy", as_=(ZHUOXI, "auditor")).json()
    assert status["erasures"] >= 1 and status["keys_live"] < status["keys_used"]
    assert api.get(ZHUOXI, "/privacy", as_=(ZHUOXI, "viewer")).status_code == 403
    dry = api.post(ZHUOXI, "/privacy/retention", {"years": 1, "today": "2099-01-01"}, as_=(ZHUOXI, "administrator"), expect=200)
    assert dry["dry_run"] and dry["erasure"] is None


# ---------------------------------------------------------------------------------------------- history, as-of


def test_as_of_and_history(api: Api) -> None:
    import time
    from datetime import UTC, datetime

    p = api.post(JIANGKOU, "/livelihood-projects", {"year": THIS_YEAR, "title": "自来水改造", "category": "民生"}, expect=201)[
        "id"
    ]
    time.sleep(0.01)
    middle = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    api.post(JIANGKOU, f"/livelihood-projects/{p}/candidate", {"estimate_wan": 50}, expect=200)
    auditor = (JIANGKOU, "auditor")
    then = api.get(JIANGKOU, f"/aggregates/{p}", as_=auditor, as_of=middle).json()
    assert (then["version"], then["state"], then["as_of"] is not None) == (1, "proposed", True)
    assert api.get(JIANGKOU, f"/aggregates/{p}", as_=auditor).json()["state"] == "candidate"
    assert api.get(JIANGKOU, f"/aggregates/{p}", as_=auditor, as_of="2001-01-01T00:00:00Z").status_code == 404
    assert api.get(JIANGKOU, f"/aggregates/{p}", as_=(JIANGKOU, "viewer"), as_of=middle).status_code == 403
    # By occurred time: the candidate listing is back-dated before the cut, so it counts.
    q = api.post(
        JIANGKOU,
        "/livelihood-projects",
        {"year": 2025, "title": "路灯", "category": "民生", "occurred_at": "2025-01-01T09:00:00"},
        expect=201,
    )["id"]
    api.post(
        JIANGKOU,
        f"/livelihood-projects/{q}/candidate",
        {"estimate_wan": 5, "occurred_at": "2025-01-02T09:00:00+08:00"},
        expect=200,
    )
    occurred = api.get(JIANGKOU, f"/aggregates/{q}", as_=auditor, as_of="2025-01-01T12:00:00", basis="occurred").json()
    assert (occurred["version"], occurred["basis"]) == (1, "occurred")
    events = api.get(JIANGKOU, f"/aggregates/{q}/history", as_=auditor).json()["events"]
    assert [(e["label"], e["occurred_at"][:10], e["role"]) for e in events] == [
        ("群众提出", "2025-01-01", "recorder"),
        ("列入候选", "2025-01-02", "recorder"),
    ]


def test_lists_page_through_with_a_cursor(api: Api) -> None:
    seen, cursor, pages = [], 0, 0
    while cursor is not None and pages < 100:
        r = api.get(SHAODONG, "/lists/deputies", as_=(SHAODONG, "viewer"), cursor=cursor, limit=7)
        assert r.status_code == 200
        page = r.json()
        seen += [i["id"] for i in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
    assert len(seen) == len(set(seen)) > 7 and pages > 1
    township_only = api.get(SHAODONG, "/lists/deputies", as_=(SHAODONG, "viewer"), region=ZHUOXI, limit=200).json()["items"]
    assert township_only and all(i["owner_name"] == "斫𥕢乡(430582204)" for i in township_only)


def test_openapi_is_documented_in_chinese(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "一盘棋" in spec["info"]["title"]
    post = spec["paths"]["/nodes/{code}/suggestions/{suggestion_id}/evaluation"]["post"]
    assert "领衔代表" in post["summary"] and set(post["responses"]) >= {"200", "401", "403", "404", "409", "422"}
    assert "联络站" in spec["components"]["schemas"]["StationEstablish"]["description"]


def test_aggregate_as_of_known_time_at_a_parent(world: tuple[Api, StoreSettings, Hierarchy]) -> None:
    """``basis=known``: what the node held then. The county comes to hold a township's project only when it is copied
    up; before that it did not know it, though the township had recorded it."""
    from datetime import UTC, datetime

    api, settings, hierarchy = world
    body = {"year": 2025, "title": "知悉水渠", "category": "民生", "occurred_at": "2025-01-01T09:00:00+08:00"}
    p = api.post(JIANGKOU, "/livelihood-projects", body, expect=201)["id"]
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    township = NodeStore(hierarchy.ref(hierarchy.by_code(JIANGKOU)), settings)
    county = NodeStore(hierarchy.ref(hierarchy.by_code(DONGKOU)), settings)
    try:  # what the ingest does, for this one aggregate
        county.books.insert_rows(
            [
                (n.originator_id, n.originator_version, n.topic, n.state)
                for n in township.iter_notifications()
                if str(n.originator_id) == p
            ]
        )
    finally:
        township.close()
        county.close()

    def as_of(code: str, at: str, basis: str) -> Any:
        return api.get(code, f"/aggregates/{p}", as_=(code, "auditor"), as_of=at, basis=basis)

    assert as_of(DONGKOU, between, "recorded").json()["version"] == 1  # recorded at the township before the cut
    assert as_of(DONGKOU, between, "known").status_code == 404  # but not held by the county then
    assert as_of(DONGKOU, datetime.now(UTC).isoformat(), "known").json()["basis"] == "known"
    assert as_of(JIANGKOU, between, "known").json()["version"] == 1  # the township knew it when it recorded it


# ------------------------------------------------------------------------------------------------------- views


def test_views_over_the_subtree_with_drill_down_and_as_of(api: Api) -> None:
    who = (SHAOYANG, "viewer")
    r = api.get(SHAOYANG, "/views/rollup", as_=who)
    assert r.status_code == 200, r.text
    rollup = r.json()
    assert rollup["scope"]["region_code"] == SHAOYANG and {t["key"] for t in rollup["coverage"]} >= {
        "sc_face_to_face",
        "practical_deed",
    }
    assert {c["code"] for c in rollup["regions"]["children"]} >= {SHAODONG, DONGKOU}
    for view in ("coverage", "stations", "suggestions", "livelihood", "regions", "duty-ranking"):
        r = api.get(SHAOYANG, f"/views/{view}", as_=who, region=SHAODONG)
        assert r.status_code == 200 and (r.json().get("scope", {}).get("region_code", SHAODONG) == SHAODONG), (view, r.text)
    assert api.get(SHAOYANG, "/views/stations", as_=who, as_of="2025-03-01", by="occurred").json()["scope"]["as_of"]
    r = api.get(SHAOYANG, "/views/coverage", as_=who, target="practical_deed", missing_limit=3)
    assert [t["key"] for t in r.json()["targets"]] == ["practical_deed"] and len(
        r.json()["targets"][0]["missing_list"]["items"]
    ) <= 3
    # Out of the node's subtree, out of the token's, bad periods, unknown parameters: 403 / 422 naming what is wrong.
    assert api.get(SHAODONG, "/views/stations", as_=(SHAODONG, "viewer"), region=DONGKOU).json()["field"] == "region"
    assert api.get(SHAOYANG, "/views/stations", as_=(SHAODONG, "viewer")).status_code == 403
    assert api.get(SHAOYANG, "/views/stations", as_=who, year=2025, term=3).status_code == 422
    r = api.get(SHAOYANG, "/views/stations", as_=who, yaer=2025)
    assert r.status_code == 422 and r.json()["field"] == "query.yaer"
    r = api.get(SHAOYANG, "/views/duty-record", as_=who, who="无此人")
    assert r.status_code in (200, 422)


def test_views_as_of_known_time(api: Api) -> None:
    """``by=known``: what the node held at the cut. A station recorded after the cut is not known then, whatever
    it is dated; the answer names the clock."""
    from datetime import UTC, datetime

    def stations(as_of: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while (status := api.get(JIANGKOU, "/sync/status").json())["projected"] < status["head"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        r = api.get(JIANGKOU, "/views/stations", as_of=as_of, by="known", year=2024)
        assert r.status_code == 200, r.text
        return r.json()

    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    api.post(JIANGKOU, "/stations", {"name": f"知悉联络站{next(_seq)}", "occurred_at": "2024-03-01T09:00:00+08:00"}, expect=201)
    after = datetime.now(UTC).isoformat()
    then, now = stations(before), stations(after)
    assert now["totals"]["stations"] == then["totals"]["stations"] + 1
    assert "按知悉时间" in now["scope"]["as_of_label"]
    r = api.get(JIANGKOU, "/views/stations", as_of=after, by="whenever")
    assert r.status_code == 422 and "known" in r.text


def test_an_administrator_manages_the_nodes_tokens_and_every_act_is_recorded(api: Api, world: Any) -> None:
    """Tokens through the API: issued, re-roled and revoked by the node's administrator only, each act an event of the
    node's log named after the administrator's token; a change takes effect at once; a write with the new token
    names it."""
    _, settings, hierarchy = world
    admin = api.h(SHAODONG, "administrator")
    url = f"/nodes/{SHAODONG}/tokens"
    for who in (api.h(SHAODONG, "recorder"), api.h(SHAODONG, "auditor"), api.h(SHAOYANG, "administrator")):
        assert api.client.post(url, json={"role": "viewer", "subject": "x"}, headers=who).status_code == 403
    assert api.client.get(url, headers=api.h(SHAODONG, "viewer")).status_code == 403
    refusals = [
        ({"role": "system", "subject": "x"}, 422, "role"),
        ({"role": "viewer", "subject": ""}, 422, "subject"),
        ({"role": "viewer", "subject": "x", "expires_days": -1}, 422, "expires_days"),
        ({"role": "deputy", "subject": "张代表"}, 422, "subject"),
        ({"role": "deputy", "subject": "00000000-0000-0000-0000-000000000009"}, 404, "subject"),
    ]
    for body, status, field in refusals:
        r = api.client.post(url, json=body, headers=admin)
        assert r.status_code == status and field in r.text, (body, r.text)
    r = api.client.post(url, json={"role": "recorder", "subject": "新录入员 赵敏", "note": "借调"}, headers=admin)
    assert r.status_code == 201, r.text
    issued = r.json()
    new_h = {"Authorization": f"Bearer {issued['token']}"}
    station = api.client.post(f"/nodes/{SHAODONG}/stations", json={"name": "令牌测试站", "address": "邵东"}, headers=new_h)
    assert station.status_code == 201, station.text
    listed = api.client.get(url, headers=api.h(SHAODONG, "auditor")).json()
    assert any(t["token_id"] == issued["token_id"] and "token" not in t for t in listed)

    r = api.client.post(f"{url}/{issued['token_id']}/role", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert api.client.post(f"/nodes/{SHAODONG}/stations", json={"name": "x", "address": "x"}, headers=new_h).status_code == 403
    assert api.client.post(f"{url}/{issued['token_id']}/revoke", json={"reason": "借调结束"}, headers=admin).status_code == 200
    assert api.client.get(f"/nodes/{SHAODONG}", headers=new_h).status_code == 401
    assert api.client.post(f"{url}/{issued['token_id']}/revoke", json={}, headers=admin).status_code == 409
    assert api.client.post(f"{url}/ffffffffffff/revoke", json={}, headers=admin).status_code == 404

    node = hierarchy.ref(hierarchy.by_code(SHAODONG))
    me = api.client.get("/whoami", headers=admin).json()
    store = NodeStore(node, settings)
    try:
        events = list(store.events.get(access_token_id(node.node_id, issued["token_id"])))
        (established,) = store.events.get(UUID(station.json()["id"]))
    finally:
        store.close()
    assert [type(e).__name__ for e in events] == ["Issued", "RoleChanged", "Revoked"]
    assert {(e.actor, e.role, e.token) for e in events} == {(me["subject"], "administrator", me["token_id"])}
    assert (established.actor, established.token) == ("新录入员 赵敏", issued["token_id"])
