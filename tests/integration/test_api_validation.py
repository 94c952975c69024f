"""Time order, plausible values, natural duplicates and hostile bodies, through the gateway and both its handlers.

Every hostile body (1,000 levels deep, an integer of 400 and of 5,000 digits, more than the body limit) is sent to
every command route, with and without a token, through the direct route and through FastAPI's handler: the answer is
400, 413 or 422 in the gateway's error shape, the same from both, never a 5xx.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.timeline import SHANGHAI
from tests.integration.test_api_direct import COUNTY, TOWNSHIP, Both, _keys, _station_with_deputy, world  # noqa: F401

NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def both(world: Any, monkeypatch: pytest.MonkeyPatch) -> Both:  # noqa: F811
    client, tokens = world
    return Both(client, tokens, monkeypatch)


def _command_paths(both: Both) -> list[str]:
    """Every POST route of the app, its path parameters filled in (ids that exist nowhere: bodies fail first)."""
    paths = []
    for template, operations in both.client.get("/openapi.json").json()["paths"].items():
        if "post" in operations:
            path = template.replace("{code}", COUNTY).replace("{number}", "1")
            for name in ("deputy_id", "station_id", "visit_id", "contact_id", "suggestion_id", "project_id", "committee_id"):
                path = path.replace("{" + name + "}", NIL)
            path = path.replace("{token_id}", "ffffffffffff")
            assert "{" not in path, path
            paths.append(path)
    assert len(paths) > 30
    return paths


HOSTILE = {
    "nested 1,000 deep": b"[" * 1000 + b"]" * 1000,
    "nested in a field": b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "integer of 400 digits": b'{"people_received": 1' + b"0" * 400 + b', "progress": 1' + b"0" * 400 + b"}",
    "integer of 5,000 digits": b'{"year": 1' + b"0" * 5000 + b"}",
    "float overflowing": b'{"estimate_wan": 1e400, "budget_wan": 1e400, "spent_wan": 1e400}',
}


@pytest.mark.parametrize("token", [False, True], ids=["no token", "token"])
@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_bodies_get_4xx_in_the_error_shape_from_both_handlers(
    both: Both, body: bytes, token: bool, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Content-Type": "application/json", **(both.h(COUNTY, "recorder") if token else {})}
    with caplog.at_level(logging.WARNING):
        for path in _command_paths(both):
            status, answer = both.same("POST", path, content=body, headers=headers)
            assert status in (400, 401, 403, 404, 422), (path, status, answer)  # 403: a deputy-only route
            assert answer["error"] and answer["rule"], answer
    assert "Traceback" not in caplog.text and "gateway.unexpected" not in caplog.text


def test_a_body_over_the_limit_gets_413(both: Both) -> None:
    huge = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    for path in _command_paths(both)[:5]:
        r = both.client.post(path, content=huge, headers={"Content-Type": "application/json", **both.h(COUNTY, "recorder")})
        assert r.status_code == 413 and r.json()["error"] == "too_large"


# ------------------------------------------------------------------------------------------------- time order


def _now() -> datetime:
    return datetime.now(SHANGHAI)


def test_a_visit_dated_in_the_future_is_refused_with_the_field_named(both: Both) -> None:
    station, deputy = _station_with_deputy(both)
    h = both.h(COUNTY, "recorder")
    far = (_now() + timedelta(days=3)).date().isoformat()
    body = {"station_id": station, "visit_date": far, "deputy_ids": [deputy], "people_received": 1}
    status, answer = both.same("POST", f"/nodes/{COUNTY}/visits", json=body, headers=h)
    assert status == 422 and "visit_date" in answer["rule"] and "future" in answer["rule"], answer
    tomorrow = (_now() + timedelta(days=1)).date().isoformat()  # within the default tolerance of one day
    r = both.client.post(f"/nodes/{COUNTY}/visits", json={**body, "visit_date": tomorrow}, headers=h)
    assert r.status_code == 201, r.text


def test_occurred_at_in_the_future_is_refused_and_the_clock_and_tolerance_come_from_the_gateway(both: Both) -> None:
    h = both.h(COUNTY, "recorder")
    gw = both.client.app.state.gateway  # type: ignore[attr-defined]
    in_2030 = "2030-01-01T09:00:00+08:00"
    body = {"name": f"联络站{next(_keys)}", "occurred_at": in_2030}
    status, answer = both.same("POST", f"/nodes/{COUNTY}/stations", json=body, headers=h)
    assert status == 422 and answer["field"] == "occurred_at" and "future" in answer["rule"], answer
    clock, tolerance = gw.clock, gw.future_tolerance
    try:
        gw.clock = lambda: datetime(2029, 12, 20, tzinfo=SHANGHAI)
        gw.future_tolerance = timedelta(days=14)
        r = both.client.post(f"/nodes/{COUNTY}/stations", json=body, headers=h)
        assert r.status_code == 201, r.text
    finally:
        gw.clock, gw.future_tolerance = clock, tolerance


def test_a_step_dated_before_the_step_it_follows_is_refused(both: Both) -> None:
    _, deputy = _station_with_deputy(both)
    h = both.h(COUNTY, "recorder")
    c = both.client
    n = next(_keys)
    body = {
        "number": f"V{n:04d}",
        "congress": "county",
        "term": 18,
        "session": 5,
        "title": "关于时间顺序的建议",
        "content": "……",
        "category": "其他",
        "lead_deputy_id": deputy,
        "occurred_at": "2026-01-10T09:00:00+08:00",
    }
    sid = c.post(f"/nodes/{COUNTY}/suggestions", json=body, headers=h).json()["id"]
    early = {"lead_unit": "县水利局", "due_on": "2026-04-10", "occurred_at": "2026-01-09T09:00:00+08:00"}
    status, answer = both.same("POST", f"/nodes/{COUNTY}/suggestions/{sid}/assign", json=early, headers=h)
    assert status == 409 and answer["field"] == "occurred_at" and "时间倒序" in answer["rule"], answer
    assert "提出建议" in answer["rule"] and answer["state"] == "submitted"
    good = {**early, "occurred_at": "2026-01-12T09:00:00+08:00"}
    assert c.post(f"/nodes/{COUNTY}/suggestions/{sid}/assign", json=good, headers=h).status_code == 200
    status, answer = both.same(
        "POST", f"/nodes/{COUNTY}/suggestions/{sid}/start-handling", json={"contacted_on": "2026-01-11"}, headers=h
    )
    assert status == 409 and answer["field"] == "contacted_on" and "交办" in answer["rule"], answer


# --------------------------------------------------------------------------------------------- plausible values


def _implementing_project(both: Both) -> str:
    h = both.h(TOWNSHIP, "recorder")
    c = both.client
    base = f"/nodes/{TOWNSHIP}/livelihood-projects"
    pid = c.post(
        base, json={"year": datetime.now(SHANGHAI).year, "title": f"路灯{next(_keys)}", "category": "民生"}, headers=h
    ).json()["id"]
    for step, body in (
        ("candidate", {"estimate_wan": 100}),
        ("deliberation", {"deputies_present": 40}),
        ("vote", {"session": "第一次会议", "yes": 40, "no": 2, "abstain": 0, "present": 42, "total_deputies": 50}),
        ("implementation", {"budget_wan": 100, "lead_unit": "镇政府"}),
    ):
        r = c.post(f"{base}/{pid}/{step}", json=body, headers=h)
        assert r.status_code == 200, r.text
    return pid


def test_counts_and_money_are_checked_against_what_they_count(both: Both) -> None:
    h = both.h(TOWNSHIP, "recorder")
    pid = _implementing_project(both)
    base = f"/nodes/{TOWNSHIP}/livelihood-projects/{pid}"
    # Spending over the budget: refused without a reason, recorded with one.
    status, answer = both.same("POST", f"{base}/progress", json={"progress": 50, "spent_wan": 120}, headers=h)
    assert status == 409 and answer["field"] == "overspend_reason" and "超支" in answer["rule"], answer
    over = {"progress": 100, "spent_wan": 120, "overspend_reason": "工程量增加，经镇人大主席团同意追加"}
    assert both.client.post(f"{base}/progress", json=over, headers=h).status_code == 200
    # More evaluations than the congress that voted has deputies.
    status, answer = both.same(
        "POST", f"{base}/evaluation", json={"satisfied": 40, "basically_satisfied": 10, "dissatisfied": 1}, headers=h
    )
    assert status == 409 and "all deputies of the congress" in answer["rule"], answer
    # Static bounds are the schema's: 422 before the domain is asked.
    status, answer = both.same(
        "POST", f"{base}/evaluation", json={"satisfied": 99_999, "basically_satisfied": 0, "dissatisfied": 0}, headers=h
    )
    assert status == 422 and answer["field"] == "body.satisfied", answer


def test_the_openapi_states_the_static_bounds(both: Both) -> None:
    schemas = both.client.get("/openapi.json").json()["components"]["schemas"]
    vote = schemas["ProjectVote"]["properties"]
    assert vote["total_deputies"]["maximum"] == 450 and vote["yes"]["maximum"] == 450 and vote["yes"]["minimum"] == 0
    assert schemas["ProjectDeliberate"]["properties"]["deputies_present"]["maximum"] == 450
    assert schemas["ProjectEvaluate"]["properties"]["satisfied"]["maximum"] == 450
    budget = schemas["ProjectImplement"]["properties"]["budget_wan"]
    assert any(s.get("maximum") == 100000 for s in budget.get("anyOf", [budget])), budget
    assert schemas["VisitRecord"]["properties"]["visit_date"]["format"] == "date"
    assert "1954-09-15" in schemas["VisitRecord"]["properties"]["occurred_at"]["anyOf"][0].get("description", "") or (
        "1954-09-15" in schemas["VisitRecord"]["properties"]["occurred_at"]["description"]
    )
    assert "overspend_reason" in schemas["ProjectProgress"]["properties"]


# ------------------------------------------------------------------------------------------- natural duplicates


def test_the_same_visit_under_another_key_is_refused_naming_the_existing_record(both: Both) -> None:
    station, deputy = _station_with_deputy(both)
    h = both.h(COUNTY, "recorder")
    body = {"station_id": station, "visit_date": _now().date().isoformat(), "deputy_ids": [deputy], "people_received": 3}
    first = both.client.post(f"/nodes/{COUNTY}/visits", json=body, headers={**h, "Idempotency-Key": f"a{next(_keys)}"})
    assert first.status_code == 201, first.text
    again = both.client.post(f"/nodes/{COUNTY}/visits", json=body, headers={**h, "Idempotency-Key": f"b{next(_keys)}"})
    assert again.status_code == 409 and again.json()["aggregate"] == first.json()["id"], again.text
    assert "exists already" in again.json()["rule"]


def test_a_hotline_ticket_is_reported_once_while_two_identical_contacts_are_both_kept(both: Both) -> None:
    _, deputy = _station_with_deputy(both)
    h = both.h(COUNTY, "recorder")
    day = _now().date().isoformat()
    common = {"title": "反映路灯损坏", "held_on": day, "organiser_kind": "deputy", "organiser": "代表", "deputy_ids": [deputy]}
    hotline = {**common, "kind": "hotline_report", "channel": "hotline", "ticket": f"12345-{next(_keys)}"}
    first = both.client.post(f"/nodes/{COUNTY}/contacts", json=hotline, headers={**h, "Idempotency-Key": f"h{next(_keys)}"})
    assert first.status_code == 201, first.text
    again = both.client.post(f"/nodes/{COUNTY}/contacts", json=hotline, headers={**h, "Idempotency-Key": f"h{next(_keys)}"})
    assert again.status_code == 409 and again.json()["aggregate"] == first.json()["id"], again.text
    deed = {**common, "kind": "practical_deed", "channel": "visit"}
    ids = {
        both.client.post(f"/nodes/{COUNTY}/contacts", json=deed, headers={**h, "Idempotency-Key": f"d{next(_keys)}"}).json()["id"]
        for _ in range(2)
    }
    assert len(ids) == 2
