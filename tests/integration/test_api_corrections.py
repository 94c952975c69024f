"""Corrections (更正) and voids (作废) through the gateway, answered alike by the direct route and FastAPI's handler.

A command that records is sent through both with one Idempotency-Key: the first records, the second is answered with
the stored answer; a refusal records nothing, so both get it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from domain.terms import term_of
from domain.timeline import SHANGHAI
from gateways.api import create_app
from gateways.api.devtools import issue_tokens, seed
from tests.integration.test_api_direct import COUNTY, TOWNSHIP, Both, _keys, _station_with_deputy


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[tuple[str, str], str]]]:
    settings = StoreSettings(store="sqlite", data_dir=Path(tmp_path_factory.mktemp("corrections")))
    hierarchy = Hierarchy.load()
    seed(settings, (COUNTY, TOWNSHIP), days=2, seed=7, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, (COUNTY, TOWNSHIP), ("recorder", "auditor"), hierarchy)
    with TestClient(create_app((COUNTY, TOWNSHIP), settings=settings, hierarchy=hierarchy)) as client:
        yield client, tokens


@pytest.fixture
def both(world: tuple[TestClient, dict[tuple[str, str], str]], monkeypatch: pytest.MonkeyPatch) -> Both:
    return Both(*world, monkeypatch)


def _recorded(both: Both, url: str, body: dict[str, Any], code: str = COUNTY) -> dict[str, Any]:
    """A command that records, through both handlers under one key: answered alike (the second from the store)."""
    headers = both.h(code, "recorder", **{"Idempotency-Key": f"corr-{next(_keys)}"})
    status, answer = both.same("POST", url, json=body, headers=headers)
    assert status == 200, answer
    return answer


def _refused(both: Both, url: str, body: dict[str, Any], status: int, rule: str, code: str = COUNTY) -> dict[str, Any]:
    got, answer = both.same("POST", url, json=body, headers=both.h(code, "recorder"))
    assert got == status and rule in answer["rule"], answer
    return answer


def _aggregate(both: Both, code: str, aggregate_id: str, **params: str) -> dict[str, Any]:
    r = both.client.get(f"/nodes/{code}/aggregates/{aggregate_id}", params=params, headers=both.h(code, "auditor"))
    assert r.status_code == 200, r.text
    return r.json()


def _now() -> datetime:
    return datetime.now(SHANGHAI)


def test_a_visit_corrected_then_voided(both: Both) -> None:
    station, deputy = _station_with_deputy(both)
    h = both.h(COUNTY, "recorder")
    body = {"station_id": station, "visit_date": _now().date().isoformat(), "deputy_ids": [deputy], "people_received": 3}
    visit = both.client.post(f"/nodes/{COUNTY}/visits", json=body, headers=h).json()["id"]
    assert both.client.post(f"/nodes/{COUNTY}/visits/{visit}/issues", json={"summary": "路灯", "category": "城建"}, headers=h)
    url = f"/nodes/{COUNTY}/visits/{visit}/corrections"
    before_correction = _now()

    answer = _recorded(both, url, {"fact": "visit", "changes": {"people_received": 30}, "reason": "30 录成了 3"})
    assert answer["events"] == [{"type": "StationVisit.Corrected", "label": "更正"}] and answer["version"] == 3
    _recorded(both, url, {"fact": "issue", "number": 1, "changes": {"category": "交通"}, "reason": "类别有误"})

    # Refusals: the schema's bounds (422), the domain's rules on the record (409); each names the field and the rule.
    _refused(both, url, {"fact": "visit", "changes": {"people_received": 10_001}, "reason": "x"}, 422, "less than or equal")
    _refused(both, url, {"fact": "visit", "changes": {"visit_date": "2025-01-01"}, "reason": "x"}, 422, "Extra inputs")
    _refused(both, url, {"fact": "issue", "number": 5, "changes": {"summary": "x"}, "reason": "x"}, 409, "no issue number 5")
    _refused(both, url, {"fact": "visit", "changes": {"people_received": 30}, "reason": "x"}, 409, "nothing to correct")
    _refused(both, url, {"fact": "visit", "changes": {"people_received": 1}}, 422, "body.reason")

    now = _aggregate(both, COUNTY, visit)
    assert now["data"]["people_received"] == 30 and now["data"]["issues"][0]["category"] == "交通"
    # As of before the correction was recorded: what was believed then; by occurred time: the corrected world.
    believed = _aggregate(both, COUNTY, visit, as_of=before_correction.isoformat(), basis="recorded")
    assert believed["data"]["people_received"] == 3
    held = _aggregate(both, COUNTY, visit, as_of=before_correction.isoformat(), basis="known")
    assert held["data"]["people_received"] == 3  # what this node held then (its own events: when recorded here)
    world = _aggregate(both, COUNTY, visit, as_of=before_correction.isoformat(), basis="occurred")
    assert world["data"]["people_received"] == 30 and world["data"]["issues"][0]["category"] == "交通"
    history = both.client.get(f"/nodes/{COUNTY}/aggregates/{visit}/history", headers=both.h(COUNTY, "auditor")).json()
    corrections = [e for e in history["events"] if e["label"] == "更正"]
    assert [e["payload"]["changes"] for e in corrections] == [{"people_received": 30}, {"category": "交通"}]
    assert corrections[0]["payload"]["reason"] == "30 录成了 3" and corrections[0]["payload"]["version"] == 1

    voided = _recorded(both, f"/nodes/{COUNTY}/visits/{visit}/voids", {"reason": "登记有误: 重复录入"})
    assert (voided["state"], voided["state_label"], voided["events"][0]["label"]) == ("voided", "已作废", "作废")
    answer = _refused(
        both, f"/nodes/{COUNTY}/visits/{visit}/issues/1/resolve", {"outcome": "x"}, 409, "已作废: 登记有误: 重复录入"
    )
    assert answer["state"] == "voided"
    _refused(both, url, {"fact": "visit", "changes": {"people_received": 4}, "reason": "x"}, 409, "the record was voided")
    assert _aggregate(both, COUNTY, visit)["state_label"] == "已作废"


def test_a_progress_report_and_the_budget_corrected(both: Both) -> None:
    h = both.h(TOWNSHIP, "recorder")
    base = f"/nodes/{TOWNSHIP}/livelihood-projects"
    pid = both.client.post(
        base, json={"year": datetime.now(SHANGHAI).year, "title": f"路灯{next(_keys)}", "category": "民生"}, headers=h
    ).json()["id"]
    for step, body in (
        ("candidate", {"estimate_wan": 100}),
        ("deliberation", {"deputies_present": 40}),
        ("vote", {"session": "第一次会议", "yes": 40, "no": 2, "abstain": 0, "present": 42, "total_deputies": 50}),
        ("implementation", {"budget_wan": 1500, "lead_unit": "镇政府"}),
        ("progress", {"progress": 90, "spent_wan": 10}),
    ):
        assert both.client.post(f"{base}/{pid}/{step}", json=body, headers=h).status_code == 200
    url = f"{base}/{pid}/corrections"
    correct = {"fact": "progress", "number": 1, "changes": {"progress": 9}, "reason": "9 录成了 90"}
    assert _recorded(both, url, correct, TOWNSHIP)["number"] == 1
    _recorded(both, url, {"fact": "implementation", "changes": {"budget_wan": "150"}, "reason": "1500 应为 150"}, TOWNSHIP)
    data = _aggregate(both, TOWNSHIP, pid)["data"]
    assert (data["progress"], data["budget_wan"]) == (9, "150.00")
    over = {"fact": "implementation", "changes": {"budget_wan": "5"}, "reason": "x"}
    _refused(both, url, over, 409, "below the 10.00 万元 spent by progress report 1", TOWNSHIP)
    _refused(both, url, {"fact": "tally", "changes": {}, "reason": "x"}, 422, "body.fact", TOWNSHIP)
    _recorded(both, url, {"fact": "vote", "changes": {"yes": 39, "abstain": 1}, "reason": "一票记错"}, TOWNSHIP)
    flipped = {"fact": "vote", "changes": {"yes": 20}, "reason": "x"}
    _refused(both, url, flipped, 409, "cannot change whether the project passed", TOWNSHIP)
    _refused(both, url, {"fact": "vote", "changes": {"present": 60}, "reason": "x"}, 409, "cannot exceed all deputies", TOWNSHIP)
    _recorded(both, url, {"fact": "deliberation", "changes": {"opinions": 7}, "reason": "漏记"}, TOWNSHIP)
    _refused(both, url, {"fact": "evaluation", "changes": {"satisfied": 1}, "reason": "x"}, 409, "no evaluation yet", TOWNSHIP)
    _refused(both, url, {"fact": "progress", "changes": {"progress": 101}, "reason": "x"}, 422, "body.changes.progress", TOWNSHIP)
    _recorded(both, f"{base}/{pid}/voids", {"reason": "登记有误"}, TOWNSHIP)
    _refused(both, f"{base}/{pid}/close", {}, 409, "the record was voided", TOWNSHIP)


def test_a_deputys_category_corrected_from_a_day(both: Both) -> None:
    registered = {"person_id": f"C{next(_keys):05d}", "name": "李桂花", "gender": "女", "grassroots": True}
    registered["occurred_at"] = "2020-01-02T09:00:00+08:00"
    deputy = both.client.post(f"/nodes/{COUNTY}/deputies", json=registered, headers=both.h(COUNTY, "recorder")).json()["id"]
    url = f"/nodes/{COUNTY}/deputies/{deputy}/corrections"
    change = {"changes": {"grassroots": False, "leading_cadre": True}, "reason": "误登记为基层代表"}
    _refused(both, url, change, 422, "body.category.effective_from")
    _refused(both, url, {**change, "effective_from": "1900-01-01"}, 422, "body.category.effective_from")
    future = (_now() + timedelta(days=30)).date().isoformat()
    _refused(both, url, {**change, "effective_from": future}, 409, "effective_from")
    before = _now()
    _recorded(both, url, {**change, "effective_from": "2021-01-01"})
    data = _aggregate(both, COUNTY, deputy)["data"]
    assert (data["grassroots"], data["leading_cadre"]) == (False, True)
    # By occurred time the category holds from the day given; before it, the one registered.
    for as_of, grassroots in (("2020-12-31T12:00:00+08:00", True), ("2021-01-01T00:00:00+08:00", False)):
        assert _aggregate(both, COUNTY, deputy, as_of=as_of, basis="occurred")["data"]["grassroots"] is grassroots
    # As of before the correction was recorded: what was believed then.
    assert _aggregate(both, COUNTY, deputy, as_of=before.isoformat(), basis="recorded")["data"]["grassroots"] is True
    renamed = {"fact": "registration", "changes": {"name": "李桂华", "unit": "县农业农村局"}, "reason": "姓名笔误"}
    _recorded(both, url, renamed)
    data = _aggregate(both, COUNTY, deputy)["data"]
    assert (data["name"], data["unit"], data["grassroots"]) == ("李桂华", "县农业农村局", False)
    _refused(both, url, {**renamed, "changes": {"gender": "M"}}, 422, "body.registration.changes.gender")
    _refused(both, url, {**renamed, "effective_from": "2021-01-01"}, 422, "body.registration.effective_from")
    granted = {"congress": "county", "term": 18, "elected_by": "第1选区", "occurred_at": "2021-12-20T09:00:00+08:00"}
    r = both.client.post(f"/nodes/{COUNTY}/deputies/{deputy}/mandates", json=granted, headers=both.h(COUNTY, "recorder"))
    assert r.status_code == 200, r.text
    mandate = {"fact": "mandate", "number": 1, "changes": {"elected_by": "第2选区", "via": "by_election"}, "reason": "选区录错"}
    _recorded(both, url, mandate)
    held = _aggregate(both, COUNTY, deputy)["data"]["mandates"]["county/18"]
    assert (held["elected_by"], held["via"], held["congress"]) == ("第2选区", "by_election", "county")
    _refused(both, url, {**mandate, "number": 2}, 409, "no mandate number 2")
    _refused(both, url, {**mandate, "changes": {"term": 19}}, 422, "body.mandate.changes.term")
    _refused(both, url, {**mandate, "changes": {"via": "appointed"}}, 422, "body.mandate.changes.via")


def test_a_suggestion_corrected(both: Both) -> None:
    h = both.h(COUNTY, "recorder")
    _, deputy = _station_with_deputy(both)
    submitted = {
        "number": f"C{next(_keys):04d}",
        "congress": "county",
        "term": term_of("county", _now().year),  # the term in force: a suggestion belongs to it
        "session": 4,
        "title": "关于修缮灌溉渠的建议",
        "content": "……",
        "category": "农业农村",
        "lead_deputy_id": deputy,
    }
    sid = both.client.post(f"/nodes/{COUNTY}/suggestions", json=submitted, headers=h).json()["id"]
    url = f"/nodes/{COUNTY}/suggestions/{sid}/corrections"
    unit = {"fact": "assignment", "changes": {"lead_unit": "农业农村局"}, "reason": "主办单位有误"}
    _refused(both, url, unit, 409, "not been assigned yet")
    today = _now().date()
    steps = (
        ("assign", {"lead_unit": "水利局", "due_on": (today + timedelta(days=90)).isoformat()}),
        ("start-handling", {"contacted_on": today.isoformat()}),
        ("reply", {"category": "B", "text": "已列入计划", "replied_on": today.isoformat()}),
    )
    for step, body in steps:
        r = both.client.post(f"/nodes/{COUNTY}/suggestions/{sid}/{step}", json=body, headers=h)
        assert r.status_code == 200, r.text
    answer = _recorded(both, url, unit)
    assert answer["events"] == [{"type": "Suggestion.Corrected", "label": "更正"}]
    _recorded(both, url, {"fact": "reply", "changes": {"category": "A"}, "reason": "应为 A 类"})
    _recorded(both, url, {"fact": "submission", "changes": {"title": "关于修缮东干渠的建议"}, "reason": "标题有误"})
    due_on = (today + timedelta(days=30)).isoformat()
    _recorded(both, url, {"fact": "assignment", "changes": {"due_on": due_on}, "reason": "期限有误"})
    data = _aggregate(both, COUNTY, sid)["data"]
    assert (data["lead_unit"], data["title"], data["replies"][0]["category"]) == ("农业农村局", "关于修缮东干渠的建议", "A")
    assert data["due_on"] == due_on

    # Refusals name the field and the rule, and record nothing.
    _refused(both, url, {"fact": "reply", "changes": {"category": "D"}, "reason": "x"}, 409, "category must be one of")
    _refused(both, url, {"fact": "reply", "number": 2, "changes": {"category": "C"}, "reason": "x"}, 409, "no reply number 2")
    early = {"fact": "assignment", "changes": {"due_on": "2001-01-01"}, "reason": "x"}
    _refused(both, url, early, 409, "must be after the assignment")
    _refused(both, url, {"fact": "submission", "changes": {"lead_unit": "x"}, "reason": "x"}, 409, "cannot be corrected")
    _refused(both, url, {"fact": "evaluation", "changes": {"category": "A"}, "reason": "x"}, 422, "body.fact")
    _refused(both, url, {"fact": "submission", "changes": {"number": "9"}, "reason": "x"}, 422, "Extra inputs")
    assert _aggregate(both, COUNTY, sid)["version"] == answer["version"] + 3
    voided = _recorded(both, f"/nodes/{COUNTY}/suggestions/{sid}/voids", {"reason": "登记有误: 重复录入"})
    assert (voided["state"], voided["events"][0]["label"]) == ("voided", "作废")
    _refused(both, url, {"fact": "reply", "changes": {"category": "B"}, "reason": "x"}, 409, "the record was voided")
    _refused(both, f"/nodes/{COUNTY}/suggestions/{sid}/close", {}, 409, "已作废: 登记有误: 重复录入")


def test_a_contact_and_its_opinion_corrected(both: Both) -> None:
    h = both.h(COUNTY, "recorder")
    _, deputy = _station_with_deputy(both)
    contact = {
        "kind": "group_activity",
        "channel": "symposium",
        "title": "代表小组活动",
        "held_on": _now().date().isoformat(),
        "organiser_kind": "deputy_group",
        "organiser": "第一代表小组",
        "deputy_ids": [deputy],
    }
    cid = both.client.post(f"/nodes/{COUNTY}/contacts", json=contact, headers=h).json()["id"]
    assert both.client.post(f"/nodes/{COUNTY}/contacts/{cid}/opinions", json={"text": "修渠"}, headers=h).status_code == 200
    url = f"/nodes/{COUNTY}/contacts/{cid}/corrections"
    _recorded(both, url, {"fact": "record", "changes": {"title": "代表小组活动: 修渠", "public_count": 12}, "reason": "漏记"})
    _recorded(both, url, {"fact": "opinion", "number": 1, "changes": {"text": "建议修缮东干渠"}, "reason": "笔误"})
    data = _aggregate(both, COUNTY, cid)["data"]
    assert (data["title"], data["public_count"], data["opinions"][0]["text"]) == ("代表小组活动: 修渠", 12, "建议修缮东干渠")
    _refused(both, url, {"fact": "record", "changes": {"public_count": -1}, "reason": "x"}, 422, "changes.public_count")
    _refused(both, url, {"fact": "record", "changes": {"held_on": "2025-01-01"}, "reason": "x"}, 422, "Extra inputs")
    _refused(both, url, {"fact": "opinion", "number": 3, "changes": {"text": "x"}, "reason": "x"}, 409, "no opinion number 3")

    voids = f"/nodes/{COUNTY}/contacts/{cid}/voids"
    _refused(both, voids, {"reason": ""}, 422, "body.reason")
    _refused(both, voids, {"reason": "x"}, 403, "", code=TOWNSHIP)  # another office's record: not even found there
    voided = _recorded(both, voids, {"reason": "登记有误: 重复录入"})
    assert (voided["state"], voided["events"][0]["type"]) == ("voided", "ContactActivity.Voided")
    _refused(both, f"/nodes/{COUNTY}/contacts/{cid}/opinions", {"text": "x"}, 409, "已作废: 登记有误: 重复录入")
    _refused(both, voids, {"reason": "x"}, 409, "the record was voided")
    assert _aggregate(both, COUNTY, cid)["state_label"] == "已作废"


def test_a_station_and_an_appointment_corrected(both: Both) -> None:
    h = both.h(COUNTY, "recorder")
    station, _ = _station_with_deputy(both)
    url = f"/nodes/{COUNTY}/stations/{station}/corrections"
    _recorded(both, url, {"changes": {"name": "城关镇联络站", "address": "人民路2号"}, "reason": "笔误"})
    data = _aggregate(both, COUNTY, station)["data"]
    assert (data["name"], data["address"]) == ("城关镇联络站", "人民路2号")
    _refused(both, url, {"changes": {"name": ""}, "reason": "x"}, 422, "changes.name")
    _refused(both, url, {"fact": "establishment", "number": 2, "changes": {"name": "x"}, "reason": "x"}, 409, "number 1")

    created = both.client.post(f"/nodes/{COUNTY}/standing-committees", json={"term": 21}, headers=h)
    assert created.status_code == 201, created.text
    sc = created.json()["id"]
    for member, name, post in (("M-1", "张三", "主任"), ("M-2", "李四", "委员")):
        body = {"member_id": member, "name": name, "post": post}
        r = both.client.post(f"/nodes/{COUNTY}/standing-committees/{sc}/members", json=body, headers=h)
        assert r.status_code == 200, r.text
    url = f"/nodes/{COUNTY}/standing-committees/{sc}/corrections"
    _recorded(both, url, {"number": 2, "changes": {"name": "李斯", "post": "副主任"}, "reason": "笔误"})
    assert _aggregate(both, COUNTY, sc)["data"]["members"]["M-2"]["name"] == "李斯"
    _refused(both, url, {"number": 2, "changes": {"post": "主任"}, "reason": "x"}, 409, "already has a 主任 (张三)")
    _refused(both, url, {"number": 2, "changes": {"post": "秘书长"}, "reason": "x"}, 409, "no 秘书长")
    _refused(both, url, {"number": 3, "changes": {"name": "x"}, "reason": "x"}, 409, "no appointment number 3")
    _refused(both, url, {"number": 1, "changes": {"post": "总监"}, "reason": "x"}, 422, "changes.post")
    _refused(both, url, {"number": 1, "changes": {"member_id": "M-9"}, "reason": "x"}, 422, "Extra inputs")


def test_a_deputys_record_voided(both: Both) -> None:
    _, deputy = _station_with_deputy(both)
    voids = f"/nodes/{COUNTY}/deputies/{deputy}/voids"
    voided = _recorded(both, voids, {"reason": "登记有误: 人员编号错误"})
    assert (voided["state"], voided["events"][0]["type"]) == ("voided", "Deputy.Voided")
    flags = {"grassroots": False, "leading_cadre": True}
    _refused(both, f"/nodes/{COUNTY}/deputies/{deputy}/flags", flags, 409, "已作废: 登记有误: 人员编号错误")
    _refused(both, voids, {"reason": "x"}, 409, "the record was voided")


def test_the_openapi_states_the_correction_bounds(both: Both) -> None:
    schemas = both.client.get("/openapi.json").json()["components"]["schemas"]
    people = schemas["VisitChanges"]["properties"]["people_received"]["anyOf"][0]
    assert (people["minimum"], people["maximum"]) == (0, 10_000)
    facts = ["candidate", "deliberation", "vote", "implementation", "progress", "evaluation"]
    assert schemas["ProjectCorrection"]["properties"]["fact"]["enum"] == facts
    assert "effective_from" in schemas["CategoryCorrection"]["required"]
    assert "effective_from" not in schemas["RegistrationCorrection"]["properties"]
    assert schemas["Void"]["properties"]["reason"]["minLength"] == 1
    assert schemas["VisitChanges"]["additionalProperties"] is False
