"""The activity simulator: deterministic, realistic, rule-abiding, owned per node, and saveable as it is yielded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.base import DutyAggregate, NodeRef, Role
from domain.bodies import StandingCommittee
from domain.contacts import ContactActivity, ContactKind, OrganiserKind
from domain.deputies import Deputy, ElectedVia, MandateStatus
from domain.hierarchy import Hierarchy
from domain.levels import CongressLevel, DivisionKind, Level
from domain.livelihood import LivelihoodProject, ProjectState, passes
from domain.simulation import TZ, Batch, EventFamily, SimulationStats, family_of, simulate, summarise
from domain.stations import Station, StationStatus
from domain.store import NodeStore, StoreSettings
from domain.suggestions import Evaluation, Suggestion, SuggestionState
from domain.visits import StationVisit
from tests.sync_helpers import as_stored

START = date(2025, 1, 1)
SHAODONG = "430582"  # 邵东市: 3 streets, 22 towns and townships (邵阳: stations get merged)
WULINGYUAN = "430811"  # 武陵源区: 2 streets, 2 towns and townships — small and quick


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


def region(hunan: Hierarchy, code: str) -> list[NodeRef]:
    return [hunan.ref(d) for d in hunan.subtree(hunan.by_code(code))]


def event_rows(batches: Iterator[Batch]) -> list[tuple[Any, ...]]:
    """(id, version, type, fields) of every event, in order; the store's recording time is not simulated."""
    rows = []
    for batch in batches:
        for aggregate in batch.aggregates:
            for event in aggregate.collect_events():
                fields = {k: v for k, v in vars(event).items() if k != "timestamp"}
                rows.append((event.originator_id, event.originator_version, type(event).__qualname__, fields))
    return rows


@dataclass
class Run:
    batches: list[Batch]  # as yielded (the aggregates in them are the live, final objects)
    final: dict[UUID, DutyAggregate]  # every aggregate in its last state
    events: Counter[str]  # events per type
    when: dict[tuple[UUID, str], date | None]  # the day an aggregate first had an event of a type


def run(nodes: list[NodeRef], **kwargs: Any) -> Run:
    """Drive the simulator as a caller that saves would (collecting the events of each batch)."""
    result = Run([], {}, Counter(), {})
    for batch in simulate(nodes, **kwargs):
        result.batches.append(Batch(batch.node, batch.day, list(batch.aggregates)))
        for aggregate in batch.aggregates:
            for event in aggregate.collect_events():
                kind = type(event).__qualname__
                result.events[kind] += 1
                result.when.setdefault((aggregate.id, kind), batch.day)
            result.final[aggregate.id] = aggregate
    return result


@pytest.fixture(scope="module")
def shaodong_year(hunan: Hierarchy) -> Run:
    return run(region(hunan, SHAODONG), days=365, start=START, seed=11)


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_events_and_different_seeds_differ(hunan: Hierarchy) -> None:
    nodes = region(hunan, WULINGYUAN)
    first = event_rows(simulate(nodes, days=45, start=START, seed=3, scale=0.5))
    again = event_rows(simulate(nodes, days=45, start=START, seed=3, scale=0.5))
    other = event_rows(simulate(nodes, days=45, start=START, seed=4, scale=0.5))
    assert len(first) > 1000
    assert first == again
    assert first != other


def rows_before(batches: Iterator[Batch], day: date) -> list[tuple[Any, ...]]:
    """``event_rows`` of the master data and of the days before ``day``."""
    return event_rows(b for b in batches if b.day is None or b.day < day)


@pytest.mark.parametrize(("start", "short", "long"), [(START, 30, 60), (date(2025, 12, 20), 20, 90), (START, 300, 420)])
def test_a_longer_run_begins_exactly_as_the_shorter_one(hunan: Hierarchy, start: date, short: int, long: int) -> None:
    """What lets a recorded run be extended: no event of the first days depends on how many days are simulated
    (departures, station merges and sessions are planned independently of the run's length)."""
    nodes = region(hunan, SHAODONG if short < 100 else WULINGYUAN)
    cut = start + timedelta(days=short)
    shorter = event_rows(simulate(nodes, days=short, start=start, seed=5, scale=0.3))
    longer = rows_before(simulate(nodes, days=long, start=start, seed=5, scale=0.3), cut)
    assert len(shorter) > 1000
    assert longer == shorter


# ------------------------------------------------------------------------------------------------ structure


def test_batches_are_owned_by_their_node_master_data_first_then_one_per_node_and_day(hunan: Hierarchy) -> None:
    nodes = region(hunan, WULINGYUAN)
    batches = run(nodes, days=40, start=START, seed=1, scale=0.5).batches
    assert batches[0].day is None and batches[0].node == nodes[0]
    master = [b for b in batches if b.day is None]
    assert [b.node for b in master] == nodes  # every node has master data here (stations at least), in order
    days = [b.day for b in batches[len(master) :] if b.day is not None]
    assert len(days) == len(batches) - len(master) and days == sorted(days)
    assert all(START <= d < START + timedelta(days=40) for d in days)
    keys = [(b.node.node_id, b.day) for b in batches]
    assert len(keys) == len(set(keys)), "more than one batch for a node on a day"
    for batch in batches:
        assert batch.aggregates, "an empty batch"
        for aggregate in batch.aggregates:
            assert aggregate.owner == batch.node.node_id, f"{aggregate} yielded at {batch.node}"


def test_events_happen_on_the_simulated_day_recorded_by_clerks_or_the_lead_deputy(hunan: Hierarchy) -> None:
    nodes = region(hunan, WULINGYUAN)
    entries = Counter[str]()
    for batch in simulate(nodes, days=120, start=START, seed=2, scale=0.5):
        for aggregate in batch.aggregates:
            event: Any
            for event in aggregate.collect_events():
                assert event.occurred_at.utcoffset() == timedelta(hours=8)
                assert event.occurred_at.date() == (batch.day or START)
                if isinstance(event, Suggestion.Evaluated) and event.entry == "self":
                    assert event.role == Role.DEPUTY and event.actor == str(event.deputy_id) and not event.form_number
                else:  # an office's record, an evaluation entered from a signed form (代录) among them
                    assert event.role == Role.RECORDER and event.actor.startswith(f"clerk-{batch.node.code}-")
                    if isinstance(event, Suggestion.Evaluated):
                        assert event.entry == "office" and event.form_number.startswith(f"{batch.node.code}-PJ-")
                if isinstance(event, Suggestion.Evaluated):
                    entries[event.entry] += 1
    assert entries["self"] > entries["office"] > 0, entries


def test_children_before_parents_is_refused(hunan: Hierarchy) -> None:
    nodes = region(hunan, WULINGYUAN)
    with pytest.raises(ValueError, match="before its parent"):
        next(simulate(list(reversed(nodes)), days=1, start=START))
    with pytest.raises(ValueError, match="days"):
        next(simulate(nodes, days=-1, start=START))


# ------------------------------------------------------------------------------------------------- realism


def test_streets_get_stations_and_visits_but_no_township_deputies_livelihood_or_suggestions(
    shaodong_year: Run,
) -> None:
    batches = shaodong_year.batches
    at_streets = [b for b in batches if b.node.kind is DivisionKind.STREET]
    assert at_streets
    kinds = Counter(type(a).__name__ for b in at_streets for a in b.aggregates)
    assert kinds["Station"] and kinds["StationVisit"] and kinds["ContactActivity"]
    assert not kinds["Deputy"] and not kinds["LivelihoodProject"] and not kinds["Suggestion"]
    organisers = {a.organiser_kind for b in at_streets for a in b.aggregates if isinstance(a, ContactActivity)}
    assert organisers == {OrganiserKind.STREET_COMMITTEE}
    towns = [b for b in batches if b.node.level is Level.TOWNSHIP and b.node.has_congress]
    assert any(isinstance(a, Deputy) for b in towns for a in b.aggregates)
    assert any(isinstance(a, LivelihoodProject) for b in towns for a in b.aggregates)


def test_master_data_sizes_follow_hunan(hunan: Hierarchy, shaodong_year: Run) -> None:
    final = shaodong_year.final
    deputies = [a for a in final.values() if isinstance(a, Deputy)]
    by_level = Counter(level for d in deputies for level in d.congress_levels)
    towns = [d for d in hunan.children(hunan.by_code(SHAODONG)) if d.has_congress]
    assert 180 <= by_level[CongressLevel.COUNTY] <= 320
    assert 45 * len(towns) <= by_level[CongressLevel.TOWNSHIP] <= 85 * len(towns)
    grassroots = sum(d.grassroots for d in deputies) / len(deputies)
    cadres = sum(d.leading_cadre for d in deputies) / len(deputies)
    assert 0.6 < grassroots < 0.8 and 0.08 < cadres < 0.22
    statuses = Counter(m["status"] for d in deputies for m in d.mandates.values())
    assert statuses[MandateStatus.ACTIVE.value] > 0.97 * len(deputies)
    assert all(m["term"] == 18 for d in deputies for m in d.mandates.values())
    assert all(d.groups for d in deputies if d.has_active_mandate)
    # One person may hold a county and a township mandate: two Deputy aggregates, one person id.
    persons = Counter(d.person_id for d in deputies)
    assert any(n == 2 for n in persons.values())
    sc = [a for a in final.values() if isinstance(a, StandingCommittee)]
    assert len(sc) == 1 and 25 <= len(sc[0].members) <= 40
    assert Counter(m["post"] for m in sc[0].members.values())["主任"] == 1
    stations = [a for a in final.values() if isinstance(a, Station)]
    assert len(towns) <= len(stations) <= 3 * (len(towns) + 4)
    enrolled_at = {d: s.owner for s in stations for d in s.enrolled}
    serving = [d for d in deputies if d.has_active_mandate]
    assert {d.id for d in serving} <= set(enrolled_at)  # every serving deputy is enrolled (merged stations' moved on)
    if hasattr(serving[0], "home_node"):  # where they live or work: the node of the station they are enrolled at
        assert all(d.home_node == enrolled_at[d.id] for d in serving)


def test_stations_merge_keeping_history_and_no_visit_after_the_merge(
    shaodong_year: Run,
) -> None:
    final, events = shaodong_year.final, shaodong_year.events
    merged = [a for a in final.values() if isinstance(a, Station) and a.status is StationStatus.MERGED]
    assert merged and events["Station.MergedInto"] == events["Station.Absorbed"] == len(merged)
    merge_day = {s.id: shaodong_year.when[(s.id, "Station.MergedInto")] for s in merged}
    for station in merged:
        successor = final[station.successor_id]  # type: ignore[index]
        assert isinstance(successor, Station) and station.id in successor.absorbed
    visits = [a for a in final.values() if isinstance(a, StationVisit)]
    for visit in visits:
        merged_on = merge_day.get(visit.station_id)
        if merged_on is not None:
            assert visit.visit_date <= merged_on


def test_some_deputies_leave_during_the_year_and_by_elections_fill_their_seats(shaodong_year: Run) -> None:
    deputies = [a for a in shaodong_year.final.values() if isinstance(a, Deputy)]
    statuses = [m["status"] for d in deputies for m in d.mandates.values()]
    left = [d for d in deputies if any(m["status"] == MandateStatus.TERMINATED.value for m in d.mandates.values())]
    by_elected = [d for d in deputies if any(m["via"] == ElectedVia.BY_ELECTION.value for m in d.mandates.values())]
    # About 1.2 % a year of ~1,900 serving deputies; a seat is filled 60-150 days later (within the year or not),
    # and so are the few seats whose election was found void.
    assert 8 <= len(left) <= 45 and shaodong_year.events["Deputy.MandateTerminated"] == len(left)
    assert 0 < len(by_elected) <= len(left) + statuses.count(MandateStatus.VOID.value)
    days = sorted(shaodong_year.when[(d.id, "Deputy.MandateTerminated")] or START for d in left)
    assert days[0] < START + timedelta(days=120) and days[-1] > START + timedelta(days=240), "spread over the year"


def test_sc_members_mostly_but_not_all_contact_deputies_in_a_year(
    shaodong_year: Run,
) -> None:
    final = shaodong_year.final
    (sc,) = [a for a in final.values() if isinstance(a, StandingCommittee)]
    contacts = [a for a in final.values() if isinstance(a, ContactActivity)]
    organisers = {
        c.organiser_id
        for c in contacts
        if c.kind is ContactKind.ORGAN_MEETING and c.organiser_kind in (OrganiserKind.SC_MEMBER, OrganiserKind.CHAIR_COUNCIL)
    }
    met = [m for m in sc.members if m in organisers]
    assert 0.6 * len(sc.members) <= len(met) < len(sc.members)
    kinds = Counter(c.kind for c in contacts)
    assert set(kinds) == set(ContactKind)
    hotline = [c for c in contacts if c.kind is ContactKind.HOTLINE_REPORT]
    assert all(c.ticket for c in hotline) and sum(bool(c.hotline_outcome) for c in hotline) > 0.8 * len(hotline)
    opinions = [o for c in contacts for o in c.opinions]
    assert sum(o["fed_back"] for o in opinions) > 0.8 * len(opinions)
    assert all(o["handling"] for o in opinions if o["fed_back"])


def test_suggestions_follow_their_lifecycle(
    shaodong_year: Run,
) -> None:
    final, events = shaodong_year.final, shaodong_year.events
    suggestions = [a for a in final.values() if isinstance(a, Suggestion)]
    assert len(suggestions) > 300
    first_replies = Counter(s.replies[0]["category"] for s in suggestions if s.replies)
    total = sum(first_replies.values())
    assert 0.5 < first_replies["A"] / total < 0.7 and 0.2 < first_replies["B"] / total < 0.4 and first_replies["C"]
    evaluations = Counter(e for s in suggestions for e in s.evaluations)
    assert 0 < evaluations[Evaluation.DISSATISFIED.value] < 0.12 * sum(evaluations.values())
    rehandled = [s for s in suggestions if Evaluation.DISSATISFIED.value in s.evaluations]
    assert any(len(s.replies) == 2 for s in rehandled)
    assert events["Suggestion.Solved"] > 0 and events["Suggestion.Closed"] > 0.5 * len(suggestions)
    overdue = [s for s in suggestions if s.replies and s.due_on and s.replies[0]["replied_on"] > s.due_on]
    assert 0 < len(overdue) < 0.15 * len(suggestions)
    assert {s.state for s in suggestions} >= {SuggestionState.CLOSED, SuggestionState.FOLLOW_UP}
    sessions = Counter((s.term, s.session) for s in suggestions)
    assert (18, 4) in sessions  # 2025: the fourth session of the 18th county and township congresses


def test_livelihood_projects_are_voted_by_tally_and_implemented(
    shaodong_year: Run,
) -> None:
    final, events = shaodong_year.final, shaodong_year.events
    projects = [a for a in final.values() if isinstance(a, LivelihoodProject)]
    voted = [p for p in projects if p.tally]
    assert voted
    passed = [p for p in voted if passes(p.tally["yes"], p.tally["total_deputies"])]
    assert 0.7 * len(voted) <= len(passed) < len(voted)  # most pass, some fail
    for p in voted:
        t = p.tally
        assert t["yes"] + t["no"] + t["abstain"] <= t["present"] <= t["total_deputies"]
        assert 2 * t["present"] > t["total_deputies"]
    for p in voted:
        if p not in passed:
            assert p.state in (ProjectState.REJECTED, ProjectState.CLOSED) and p.budget_wan == 0
    (sc,) = [a for a in final.values() if isinstance(a, StandingCommittee)]
    implemented = [p for p in passed if p.budget_wan]
    assert implemented
    for p in implemented:  # in 万元: a township's project 50–800, a county's 300–5000
        low, high = (300, 5000) if p.owner == sc.owner else (50, 800)
        assert low <= p.budget_wan <= high, (p.title, p.budget_wan)
        assert p.spent_wan <= p.budget_wan * 2
    assert events["LivelihoodProject.ProgressReported"] > len(passed)
    assert events["LivelihoodProject.Supervised"] and events["LivelihoodProject.Evaluated"]
    assert any(p.state is ProjectState.CLOSED and p.progress == 100 for p in projects)


def test_every_family_has_events_for_one_county_over_60_days(hunan: Hierarchy) -> None:
    stats = summarise(simulate(region(hunan, SHAODONG), days=60, start=START, seed=5))
    assert all(stats.family_total(f) > 0 for f in EventFamily), stats.by_family()
    assert stats.total == sum(stats.by_family().values()) == sum(stats.by_level().values())
    assert [lv for lv, _ in stats.levels()] == [Level.COUNTY, Level.TOWNSHIP]
    assert dict(stats.levels())[Level.TOWNSHIP] == len(hunan.children(hunan.by_code(SHAODONG)))
    assert stats.first_day == START and stats.last_day is not None and stats.last_day < START + timedelta(days=60)
    assert set(stats.sample_ids) == set(EventFamily)


def test_a_mid_year_start_still_votes_livelihood_projects(hunan: Hierarchy) -> None:
    town = hunan.ref(hunan.by_code("430582101"))  # 牛马司镇; its 2025 session was in the first quarter
    result = run([town], days=90, start=date(2025, 7, 15), seed=1)
    final, events = result.final, result.events
    assert events["LivelihoodProject.Voted"] and events["LivelihoodProject.ImplementationStarted"]
    years = {a.year for a in final.values() if isinstance(a, LivelihoodProject) and a.tally}
    assert years == {2025}
    assert events["StationVisit.Recorded"] and events["ContactActivity.Recorded"]


@pytest.mark.parametrize("start", [date(2024, 12, 24), date(2024, 12, 28), date(2024, 12, 30)])
def test_a_late_december_start_schedules_next_januarys_vote_in_order(hunan: Hierarchy, start: date) -> None:
    """Next year's township sessions fall days after such a start (邵东's towns: from 5 January): there was no room
    to list the candidates 12 days before the vote (an empty random range). The vote moves later instead, and each
    project is still proposed, listed, deliberated and voted in that order."""
    result = run(region(hunan, SHAODONG), days=60, start=start, seed=1, scale=0.1)
    steps = ["LivelihoodProject.Proposed", "LivelihoodProject.Listed", "LivelihoodProject.Deliberated", "LivelihoodProject.Voted"]
    assert result.events["LivelihoodProject.Voted"]
    for aggregate in result.final.values():
        if isinstance(aggregate, LivelihoodProject) and aggregate.tally:
            days = [result.when[(aggregate.id, step)] for step in steps]
            assert None not in days and days[0] < days[1] < days[2] < days[3], days


def test_stats_count_pending_events_by_family_and_level() -> None:
    node = NodeRef(UUID(int=1), "430000", "湖南省", Level.PROVINCE, DivisionKind.PROVINCE)
    batches = list(simulate([node], days=0, start=START, scale=0.05))
    stats = SimulationStats()
    pending = sum(b.events for b in batches)
    assert sum(stats.add(b) for b in batches) == pending == stats.total
    assert stats.count(Level.PROVINCE, EventFamily.DEPUTIES) == pending  # deputies and the SC roster only
    assert family_of(Deputy) is family_of(StandingCommittee) is EventFamily.DEPUTIES
    assert family_of(StationVisit) is EventFamily.STATION_VISITS
    deputies = [a for a in batches[0].aggregates if isinstance(a, Deputy)]
    assert {lv for d in deputies for lv in d.congress_levels} == {CongressLevel.NATIONAL, CongressLevel.PROVINCIAL}
    assert not any(isinstance(a, Station) for b in batches for a in b.aggregates)  # no stations in this region
    assert stats.as_dict()["by_level"] == {"province": pending}
    assert EventFamily.STATION_VISITS.label == "进站接待"
    assert TZ.utcoffset(None) == timedelta(hours=8)


# ------------------------------------------------------------------------------------------------------ store


def test_saved_batches_read_back_equal_to_the_simulated_aggregates(hunan: Hierarchy, tmp_path: Path) -> None:
    nodes = region(hunan, WULINGYUAN)
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    stores = {n.node_id: NodeStore(n, settings) for n in nodes}
    final: dict[UUID, tuple[UUID, DutyAggregate]] = {}
    saved = 0
    try:
        for batch in simulate(nodes, days=60, start=START, seed=9, scale=0.4):
            saved += batch.events
            stores[batch.node.node_id].save_all(batch.aggregates)
            for aggregate in batch.aggregates:
                assert not aggregate.pending_events
                final[aggregate.id] = (batch.node.node_id, aggregate)
        assert saved == sum(s.count_events() for s in stores.values())
        kinds = Counter(type(a).__name__ for _, a in final.values())
        assert set(kinds) >= {"Deputy", "Station", "StationVisit", "ContactActivity", "Suggestion", "LivelihoodProject"}
        for node_id, aggregate in final.values():
            assert stores[node_id].get(aggregate.id) == as_stored(aggregate), f"{type(aggregate).__name__} {aggregate.id}"
    finally:
        for store in stores.values():
            store.close()
