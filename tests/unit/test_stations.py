"""Liaison stations: enrolment, removal, merge (history kept, successor named), closing."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.base import Attribution, NodeRef
from domain.levels import CongressLevel
from domain.stations import Station, StationStatus

D1, D2, D3 = (UUID(int=i) for i in (1, 2, 3))


def establish(owner: NodeRef, by: Attribution, name: str = "江口镇人大代表联络站") -> Station:
    return Station.establish(owner, by, name=name, address="江口镇解放路1号")


def with_deputies(owner: NodeRef, by: Attribution, name: str, *deputies: tuple[UUID, str]) -> Station:
    station = establish(owner, by, name)
    for deputy_id, congress in deputies:
        station.enrol(by, deputy_id=deputy_id, deputy_name=f"代表{deputy_id.int}", congress=congress)
    return station


def test_establish(town: NodeRef, clerk: Attribution) -> None:
    station = Station.establish(town, clerk, name="  江口镇人大代表联络站 ", address="解放路1号")
    assert station.id == Station.id_for(town.node_id, "江口镇人大代表联络站")
    assert (station.name, station.address, station.status) == ("江口镇人大代表联络站", "解放路1号", StationStatus.OPEN)
    assert station.enrolled == {} and station.successor_id is None and station.absorbed == []
    assert station.state_label == "运行中"


def test_establish_rejects_empty_or_long_name(town: NodeRef, clerk: Attribution, refused) -> None:
    refused(lambda: establish(town, clerk, "  "), named="station", rule="name must not be empty")
    refused(lambda: establish(town, clerk, "站" * 101), named="station", rule="name must be at most 100 characters")


def test_enrol_deputies_of_any_level(town: NodeRef, clerk: Attribution) -> None:
    station = establish(town, clerk)
    for deputy_id, congress in ((D1, CongressLevel.NATIONAL), (D2, "county"), (D3, CongressLevel.TOWNSHIP)):
        station.enrol(clerk, deputy_id=deputy_id, deputy_name="某代表", congress=congress)
    assert station.enrolled == {D1: "national", D2: "county", D3: "township"}
    assert station.is_enrolled(D2) and not station.is_enrolled(uuid4())
    assert station.version == 4


def test_enrol_twice_rejected(town: NodeRef, clerk: Attribution, rejects) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    rejects(
        station,
        lambda: station.enrol(clerk, deputy_id=D1, deputy_name="李桂花", congress="township"),
        state="运行中",
        rule=f"deputy 李桂花 ({D1}) is already enrolled here",
    )


def test_remove(town: NodeRef, clerk: Attribution, rejects) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"), (D2, "township"))
    station.remove(clerk, deputy_id=D1, reason=" 工作调动 ")
    assert station.enrolled == {D2: "township"}
    removed = station.pending_events[-1]
    assert isinstance(removed, Station.DeputyRemoved) and removed.reason == "工作调动"
    rejects(
        station,
        lambda: station.remove(clerk, deputy_id=D1, reason="again"),
        state="运行中",
        rule=f"deputy {D1} is not enrolled here",
    )


def test_merge_successor_absorbs_deputies_and_merged_keeps_history(town: NodeRef, clerk: Attribution) -> None:
    merged = with_deputies(town, clerk, "江口镇第二联络站", (D1, "county"), (D2, "township"))
    merged.remove(clerk, deputy_id=D2, reason="调离")
    successor = with_deputies(town, clerk, "江口镇人大代表联络站", (D3, "national"))
    merged_history = list(merged.pending_events)
    merged.merge_into(successor, clerk)

    assert merged.status is StationStatus.MERGED and merged.state_label == "已合并"
    assert merged.successor_id == successor.id
    assert merged.enrolled == {}
    assert merged.pending_events[: len(merged_history)] == merged_history  # history survives the merge
    last = merged.pending_events[-1]
    assert isinstance(last, Station.MergedInto)
    assert (last.successor_id, last.successor_name) == (successor.id, "江口镇人大代表联络站")

    assert successor.status is StationStatus.OPEN
    assert successor.enrolled == {D3: "national", D1: "county"}
    assert successor.absorbed == [merged.id]
    absorbed = successor.pending_events[-1]
    assert isinstance(absorbed, Station.Absorbed)
    assert (absorbed.merged_id, absorbed.merged_name, absorbed.deputies) == (merged.id, "江口镇第二联络站", {D1.hex: "county"})


def test_merge_keeps_the_successors_own_enrolment_of_a_shared_deputy(town: NodeRef, clerk: Attribution) -> None:
    merged = with_deputies(town, clerk, "二站", (D1, "township"))
    successor = with_deputies(town, clerk, "一站", (D1, "county"))
    merged.merge_into(successor, clerk)
    assert successor.enrolled == {D1: "county"}


def test_merge_into_itself_rejected(town: NodeRef, clerk: Attribution, rejects) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    rejects(station, lambda: station.merge_into(station, clerk), state="运行中", rule="a station cannot be merged into itself")


def test_merge_across_owners_rejected(town: NodeRef, ethnic_township: NodeRef, clerk: Attribution, rejects) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    foreign = establish(ethnic_township, clerk, "𦰡溪站")
    rejects(
        station,
        lambda: station.merge_into(foreign, clerk),
        state="运行中",
        rule="stations merge only within the node that owns them",
        untouched=[foreign],
    )


def test_merged_station_cannot_enrol_remove_merge_or_close(town: NodeRef, clerk: Attribution, rejects) -> None:
    merged = with_deputies(town, clerk, "二站", (D1, "county"))
    successor = establish(town, clerk, "一站")
    third = establish(town, clerk, "三站")
    merged.merge_into(successor, clerk)
    for command in (
        lambda: merged.enrol(clerk, deputy_id=D2, deputy_name="x", congress="county"),
        lambda: merged.remove(clerk, deputy_id=D1, reason="x"),
        lambda: merged.merge_into(third, clerk),
        lambda: merged.close(clerk, reason="x"),
    ):
        rejects(merged, command, state="已合并", rule="the station is 已合并, not open", untouched=[third])


def test_merge_into_a_merged_or_closed_station_rejected(town: NodeRef, clerk: Attribution, rejects) -> None:
    gone = establish(town, clerk, "已并站")
    gone.merge_into(establish(town, clerk, "接收站"), clerk)
    closed = establish(town, clerk, "已撤站")
    closed.close(clerk, reason="撤并")
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    # The error names the successor that is not open, and neither station records anything.
    rejects(
        gone, lambda: station.merge_into(gone, clerk), state="已合并", rule="the station is 已合并, not open", untouched=[station]
    )
    rejects(
        closed,
        lambda: station.merge_into(closed, clerk),
        state="已撤销",
        rule="the station is 已撤销, not open",
        untouched=[station],
    )


def test_close_an_empty_station(town: NodeRef, clerk: Attribution, rejects) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    station.remove(clerk, deputy_id=D1, reason="调离")
    station.close(clerk, reason=" 与中心站合并办公 ")
    assert station.status is StationStatus.CLOSED and station.state_label == "已撤销"
    closed = station.pending_events[-1]
    assert isinstance(closed, Station.Closed) and closed.reason == "与中心站合并办公"
    rejects(
        station,
        lambda: station.enrol(clerk, deputy_id=D2, deputy_name="x", congress="county"),
        state="已撤销",
        rule="the station is 已撤销, not open",
    )
    rejects(station, lambda: station.close(clerk, reason="again"), state="已撤销", rule="the station is 已撤销, not open")


def test_close_with_deputies_enrolled_rejected(town: NodeRef, clerk: Attribution, rejects) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"), (D2, "township"))
    rejects(
        station,
        lambda: station.close(clerk, reason="撤并"),
        state="运行中",
        rule="2 deputies are still enrolled: remove them or merge the station",
    )


# ------------------------------------------------------------------- field validation on an existing station

FIELD_CASES = {
    "bad congress": (lambda s, by: s.enrol(by, deputy_id=D2, deputy_name="x", congress="village"), "congress must be one of"),
    "empty remove reason": (lambda s, by: s.remove(by, deputy_id=D1, reason=" "), "reason must not be empty"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(town: NodeRef, clerk: Attribution, records_nothing, case: str) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    command, rule = FIELD_CASES[case]
    records_nothing(station, lambda: command(station, clerk), rule=rule)


def test_close_with_empty_reason_records_nothing(town: NodeRef, clerk: Attribution, records_nothing) -> None:
    station = establish(town, clerk)
    records_nothing(station, lambda: station.close(clerk, reason=""), rule="reason must not be empty")


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_station_and_its_state(town: NodeRef, clerk: Attribution, rejects, case: str) -> None:
    station = with_deputies(town, clerk, "江口站", (D1, "county"))
    command, rule = FIELD_CASES[case]
    rejects(station, lambda: command(station, clerk), state="运行中", rule=rule)
