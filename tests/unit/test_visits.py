"""Station visits: deputies on duty must be enrolled at an open station; every issue ends resolved or transferred."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from domain.base import Attribution, NodeRef
from domain.stations import Station
from domain.visits import IssueStatus, StationVisit

D1, D2, D3 = (UUID(int=i) for i in (11, 12, 13))
DAY = date(2025, 3, 8)
NOW_DAY = date(2025, 3, 10)  # the clerk's attribution's day (conftest NOW)


@pytest.fixture
def station(town: NodeRef, clerk: Attribution) -> Station:
    station = Station.establish(town, clerk, name="江口镇人大代表联络站")
    station.enrol(clerk, deputy_id=D1, deputy_name="李桂花", congress="county")
    station.enrol(clerk, deputy_id=D2, deputy_name="王建军", congress="township")
    return station


def visit_at(
    station: Station, town: NodeRef, by: Attribution, deputies: list[UUID] | None = None, people: int = 12
) -> StationVisit:
    return StationVisit.record_visit(
        town, by, station=station, visit_date=DAY, deputy_ids=deputies or [D1, D2], people_received=people
    )


def test_record_visit(station: Station, town: NodeRef, clerk: Attribution) -> None:
    visit = visit_at(station, town, clerk)
    assert (visit.station_id, visit.visit_date, visit.deputy_ids, visit.people_received) == (station.id, DAY, [D1, D2], 12)
    assert visit.issues == [] and not visit.closed and visit.state_label == "open"
    assert visit.owner == town.node_id
    # The natural id does not depend on the order the deputies were listed in.
    again = StationVisit.record_visit(town, clerk, station=station, visit_date=DAY, deputy_ids=[D2, D1], people_received=3)
    assert again.id == visit.id


def test_record_visit_with_explicit_id_and_nobody_received(station: Station, town: NodeRef, clerk: Attribution) -> None:
    visit_id = UUID(int=99)
    visit = StationVisit.record_visit(
        town, clerk, station=station, visit_date=DAY, deputy_ids=[D1], people_received=0, visit_id=visit_id
    )
    assert visit.id == visit_id and visit.people_received == 0


@pytest.mark.parametrize(
    ("deputies", "people", "rule"),
    [
        ([D1, D3], 5, f"deputy {D3} is not enrolled at 江口镇人大代表联络站"),
        ([], 5, "at least one deputy must be on duty"),
        ([D1, D1], 5, "a deputy is listed twice"),
        ([D1], -1, "people_received must be 0..10000 (got -1)"),
        ([D1], 10_001, "people_received must be 0..10000 (got 10001)"),
    ],
)
def test_record_visit_rejected(
    station: Station, town: NodeRef, clerk: Attribution, rejects, deputies: list[UUID], people: int, rule: str
) -> None:
    rejects(
        station,
        lambda: StationVisit.record_visit(
            town, clerk, station=station, visit_date=DAY, deputy_ids=deputies, people_received=people
        ),
        state="运行中",
        rule=rule,
    )


def test_record_visit_of_a_removed_deputy_rejected(station: Station, town: NodeRef, clerk: Attribution, rejects) -> None:
    station.remove(clerk, deputy_id=D2, reason="调离")
    rejects(station, lambda: visit_at(station, town, clerk), state="运行中", rule=f"deputy {D2} is not enrolled")


def test_record_visit_at_a_closed_station_rejected(town: NodeRef, clerk: Attribution, rejects) -> None:
    station = Station.establish(town, clerk, name="旧站")
    station.close(clerk, reason="撤并")
    rejects(station, lambda: visit_at(station, town, clerk, [D1]), state="已撤销", rule="the station is 已撤销, not open")


def test_record_visit_at_a_merged_station_rejected(station: Station, town: NodeRef, clerk: Attribution, rejects) -> None:
    station.merge_into(Station.establish(town, clerk, name="中心站"), clerk)
    rejects(station, lambda: visit_at(station, town, clerk, [D1]), state="已合并", rule="the station is 已合并, not open")


def test_record_visit_at_another_nodes_station_rejected(
    station: Station, ethnic_township: NodeRef, clerk: Attribution, rejects
) -> None:
    rejects(
        station,
        lambda: visit_at(station, ethnic_township, clerk, [D1]),
        state="运行中",
        rule="the station belongs to another node than 𦰡溪瑶族乡(430525203)",
    )


def test_issues_resolved_and_transferred_then_close(station: Station, town: NodeRef, clerk: Attribution) -> None:
    visit = visit_at(station, town, clerk)
    assert (
        visit.raise_issue(
            clerk, summary=" 村道路灯不亮 ", category="基础设施", raised_by_name=" 张三 ", raised_by_phone=" 13800000000 "
        )
        == 1
    )
    assert visit.raise_issue(clerk, summary="低保办理咨询", category="民政") == 2
    assert visit.state_label == "open"
    visit.resolve_issue(clerk, number=2, outcome="当场解答办理流程")
    visit.transfer_issue(clerk, number=1, to_unit="江口镇人民政府")
    assert visit.issues == [
        {
            "summary": "村道路灯不亮",
            "category": "基础设施",
            "raised_by_name": "张三",
            "raised_by_phone": "13800000000",
            "status": IssueStatus.TRANSFERRED.value,
            "outcome": "江口镇人民政府",
            "version": 2,  # the issue's event, named by a correction of it
            "day": NOW_DAY,
        },
        {
            "summary": "低保办理咨询",
            "category": "民政",
            "raised_by_name": "",
            "raised_by_phone": "",
            "status": IssueStatus.RESOLVED.value,
            "outcome": "当场解答办理流程",
            "version": 3,
            "day": NOW_DAY,
        },
    ]
    visit.close(clerk)
    assert visit.closed and visit.state_label == "closed"
    assert [type(e).__name__ for e in visit.pending_events] == [
        "Recorded",
        "IssueRaised",
        "IssueRaised",
        "IssueResolved",
        "IssueTransferred",
        "Closed",
    ]


def test_close_a_visit_without_issues(station: Station, town: NodeRef, clerk: Attribution) -> None:
    visit = visit_at(station, town, clerk)
    visit.close(clerk)
    assert visit.closed


def test_close_with_pending_issues_rejected(station: Station, town: NodeRef, clerk: Attribution, rejects) -> None:
    visit = visit_at(station, town, clerk)
    visit.raise_issue(clerk, summary="a", category="x")
    visit.raise_issue(clerk, summary="b", category="x")
    visit.raise_issue(clerk, summary="c", category="x")
    visit.resolve_issue(clerk, number=2, outcome="ok")
    rejects(visit, lambda: visit.close(clerk), state="open", rule="issues [1, 3] are neither resolved nor transferred")


def test_issue_handled_twice_or_unknown_rejected(station: Station, town: NodeRef, clerk: Attribution, rejects) -> None:
    visit = visit_at(station, town, clerk)
    visit.raise_issue(clerk, summary="a", category="x")
    visit.resolve_issue(clerk, number=1, outcome="ok")
    rejects(
        visit, lambda: visit.transfer_issue(clerk, number=1, to_unit="县住建局"), state="open", rule="issue 1 is already 已解决"
    )
    rejects(visit, lambda: visit.resolve_issue(clerk, number=1, outcome="ok"), state="open", rule="issue 1 is already 已解决")
    for number in (0, 2, -1):
        rejects(
            visit,
            lambda number=number: visit.resolve_issue(clerk, number=number, outcome="ok"),
            state="open",
            rule=f"no issue number {number} (this visit has 1)",
        )
    visit.raise_issue(clerk, summary="b", category="x")
    visit.transfer_issue(clerk, number=2, to_unit="县住建局")
    rejects(visit, lambda: visit.resolve_issue(clerk, number=2, outcome="ok"), state="open", rule="issue 2 is already 已转办")


def test_closed_visit_takes_nothing_more(station: Station, town: NodeRef, clerk: Attribution, rejects) -> None:
    visit = visit_at(station, town, clerk)
    visit.raise_issue(clerk, summary="a", category="x")
    visit.transfer_issue(clerk, number=1, to_unit="县住建局")
    visit.close(clerk)
    rejects(visit, lambda: visit.raise_issue(clerk, summary="b", category="x"), state="closed", rule="the visit is closed")
    rejects(visit, lambda: visit.resolve_issue(clerk, number=1, outcome="ok"), state="closed", rule="the visit is closed")
    rejects(visit, lambda: visit.close(clerk), state="closed", rule="the visit is already closed")


# ---------------------------------------------------------------------- field validation on an existing visit

FIELD_CASES = {
    "empty summary": (lambda v, by: v.raise_issue(by, summary=" ", category="x"), "summary must not be empty"),
    "long category": (lambda v, by: v.raise_issue(by, summary="a", category="类" * 51), "category must be at most 50 characters"),
    "empty outcome": (lambda v, by: v.resolve_issue(by, number=1, outcome=""), "outcome must not be empty"),
    "empty unit": (lambda v, by: v.transfer_issue(by, number=1, to_unit=""), "to_unit must not be empty"),
}


def _visit_with_an_issue(station: Station, town: NodeRef, by: Attribution) -> StationVisit:
    visit = visit_at(station, town, by)
    visit.raise_issue(by, summary="a", category="x")
    return visit


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(
    station: Station, town: NodeRef, clerk: Attribution, records_nothing, case: str
) -> None:
    visit = _visit_with_an_issue(station, town, clerk)
    command, rule = FIELD_CASES[case]
    records_nothing(visit, lambda: command(visit, clerk), rule=rule)


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_visit_and_its_state(
    station: Station, town: NodeRef, clerk: Attribution, rejects, case: str
) -> None:
    visit = _visit_with_an_issue(station, town, clerk)
    command, rule = FIELD_CASES[case]
    rejects(visit, lambda: command(visit, clerk), state="open", rule=rule)
