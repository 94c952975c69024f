"""The stations and livelihood views honour the period (issue 11 §4): the stations open at the end of the year (by
occurred time, as known at the as-of cut by either clock), the merges and closures within it; the livelihood projects
of that year. A county's small history, on SQLite and PostgreSQL; every as-of answer also equals the same view on read
models rebuilt from only the events on this side of the cut."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from domain.base import Attribution, Role
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.visits import StationVisit
from projections import queries
from projections.db import ProjectionDB
from projections.projector import Projector
from projections.rebuild import build_cut
from projections.timeutil import parse_moment, us

COUNTY = "430525"  # 洞口县
REF_DAY = "2025-06-30"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    database = request.getfixturevalue("pg_database")
    return StoreSettings(store="postgres", pg_dsn=database["dsn"], data_dir=tmp_path)


def on(day: str) -> Attribution:
    return Attribution("office-clerk-01", Role.RECORDER, datetime.fromisoformat(f"{day}T10:00:00+08:00"))


@dataclass
class History:
    hunan: Hierarchy
    settings: StoreSettings
    store: NodeStore
    db: ProjectionDB
    between: int  # recorded time after the first batch of facts and before the second (UTC microseconds)

    def scope(self, year: int, as_of: int | None = None, by: str = "recorded") -> queries.Scope:
        return queries.make_scope(self.db, year=year, as_of=as_of, by=by, hierarchy=self.hunan, ref_day=REF_DAY)


@pytest.fixture
def history(store_settings: StoreSettings) -> Iterator[History]:
    """Stations 甲, 乙, 丙 established in 2023; a deputy enrolled at 甲, who is on duty there in 2024 and 2025; a
    2024 project. Recorded later (after ``between``): 丙 closed on 2024-12-20 (entered late), 甲 merged into 乙 on
    2025-04-10, 丁 established in 2025, a 2025 project."""
    hunan = Hierarchy.load()
    county = hunan.ref(hunan.by_code(COUNTY))
    store = NodeStore(county, store_settings)
    a, b, c = (Station.establish(county, on("2023-03-01"), name=f"{n}联络站") for n in "甲乙丙")
    deputy = uuid4()
    a.enrol(on("2023-03-02"), deputy_id=deputy, deputy_name="代表甲", congress="county")
    visits = [
        StationVisit.record_visit(
            county, on(day), station=a, visit_date=date.fromisoformat(day), deputy_ids=[deputy], people_received=5
        )
        for day in ("2024-06-01", "2025-03-01")
    ]
    p24 = LivelihoodProject.propose(county, on("2024-01-10"), year=2024, title="村道硬化", category="交通")
    store.save_all([a, b, c, *visits, p24])
    time.sleep(0.01)
    between = us(datetime.now(UTC))
    time.sleep(0.01)
    c.close(on("2024-12-20"), reason="撤并")
    a.merge_into(b, on("2025-04-10"))
    d = Station.establish(county, on("2025-02-01"), name="丁联络站")
    p25 = LivelihoodProject.propose(county, on("2025-01-10"), year=2025, title="路灯", category="民生")
    store.save_all([a, b, c, d, p25])
    db = ProjectionDB(county, store_settings, hierarchy=hunan).open()
    Projector(store, db, hierarchy=hunan).run()
    try:
        yield History(hunan, store_settings, store, db, between)
    finally:
        db.dispose()
        store.close()


def open_stations(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The open stations of a stations view (every one of them is idle in this history: listed in ``idle``)."""
    return {r["name"][0]: r for r in answer["idle"]["items"]}


def stations(h: History, scope: queries.Scope) -> dict[str, Any]:
    return queries.stations(h.db, scope, idle_days=0, limit=100)


def test_stations_open_at_the_end_of_the_year_and_merges_in_it(history: History) -> None:
    y2024 = stations(history, history.scope(2024))
    assert sorted(open_stations(y2024)) == ["乙", "甲"]  # 甲 merged in 2025, 丙 closed in 2024, 丁 not yet there
    assert (y2024["totals"]["stations"], y2024["totals"]["merged"], y2024["totals"]["closed"]) == (2, 0, 1)
    first = open_stations(y2024)["甲"]
    assert (first["visits"], first["enrolled"], first["absorbed"], first["last_visit"]) == (1, 1, 0, "2024-06-01")
    assert first["idle_days"] == 213  # to the year's last day, not to the reference day in 2025
    assert y2024["scope"]["ref_day"] == "2024-12-31"

    y2025 = stations(history, history.scope(2025))
    assert sorted(open_stations(y2025)) == ["丁", "乙"]
    assert (y2025["totals"]["stations"], y2025["totals"]["merged"], y2025["totals"]["closed"]) == (2, 1, 0)
    second = open_stations(y2025)["乙"]
    assert (second["visits"], second["enrolled"], second["absorbed"]) == (1, 1, 1)  # 甲's 2025 visit, under 乙

    assert stations(history, history.scope(2023))["totals"]["stations"] == 3
    assert stations(history, history.scope(2022))["totals"]["stations"] == 0


@pytest.mark.parametrize(
    ("by", "at", "year", "shown", "merged", "closed"),
    [
        ("occurred", "2024-12-15", 2024, "乙甲丙", 0, 0),  # before the closure happened
        ("occurred", "2024-12-25", 2024, "乙甲", 0, 1),
        ("occurred", "2025-03-01", 2025, "丁乙甲", 0, 0),  # the cut is earlier than the year's end: it wins
        ("occurred", "2026-01-01", 2024, "乙甲", 0, 1),  # the year's end is earlier than the cut: it wins
        ("recorded", "between", 2024, "乙甲丙", 0, 0),  # the closure had happened, but was not entered yet
        ("recorded", "between", 2025, "乙甲丙", 0, 0),
        ("recorded", "2100-01-01", 2024, "乙甲", 0, 1),
        ("recorded", "2100-01-01", 2025, "丁乙", 1, 0),
    ],
)
def test_as_of_either_clock_within_the_year(
    history: History, by: str, at: str, year: int, shown: str, merged: int, closed: int
) -> None:
    cut = history.between if at == "between" else us(parse_moment(at))
    answer = stations(history, history.scope(year, cut, by))
    assert sorted(open_stations(answer)) == sorted(shown)
    assert (answer["totals"]["merged"], answer["totals"]["closed"]) == (merged, closed)
    rollup = queries.rollup(history.db, history.scope(year, cut, by))
    assert rollup["stations"]["totals"] == answer["totals"]
    # the same answer as read models holding only what was on this side of the cut
    rebuilt = build_cut(history.store, history.settings, at=cut, by=by, variant="cut", hierarchy=history.hunan)  # type: ignore[arg-type]
    try:
        plain = queries.make_scope(rebuilt, year=year, hierarchy=history.hunan, ref_day=REF_DAY)
        for view in (queries.stations, queries.livelihood):
            got, want = view(history.db, history.scope(year, cut, by)), view(rebuilt, plain)
            assert {k: v for k, v in got.items() if k != "scope"} == {k: v for k, v in want.items() if k != "scope"}
    finally:
        rebuilt.drop()


def test_livelihood_projects_of_the_year(history: History) -> None:
    def proposed(year: int, at: int | None = None, by: str = "recorded") -> int:
        return int(queries.livelihood(history.db, history.scope(year, at, by))["totals"]["proposed"])

    assert (proposed(2024), proposed(2025), proposed(2023)) == (1, 1, 0)
    by_year = queries.livelihood(history.db, history.scope(2024))["by_year"]
    assert [(r["year"], r["proposed"]) for r in by_year] == [(2024, 1), (2025, 1)]  # every year, whatever the period
    assert proposed(2025, us(parse_moment("2024-12-31")), "occurred") == 0
    assert proposed(2025, us(parse_moment("2025-01-10")), "occurred") == 1
    assert (proposed(2024, history.between), proposed(2025, history.between)) == (1, 0)
