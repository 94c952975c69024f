"""Every view, computed incrementally by the projector in pages of random size, equals a plain reference computation
over the raw decoded events — for random simulated activity, regions, periods and as-of cuts (hypothesis).

The reference below is deliberately naive: it folds the decoded events into dictionaries in log order (after applying
the as-of cut to the events themselves) and counts with loops. It shares no code with the projector or the queries,
only the documented semantics:

- as-of by recorded time keeps the events whose store timestamp is at or before the cut; by occurred time, the events
  whose *effective* occurred time is (an event's occurred time, raised to the latest of its aggregate's earlier
  events' — an aggregate's history is sequential);
- corrections (更正) and voids (作废) of livelihood projects, station visits, suggestions, contacts and deputies'
  categories: by recorded time and by known time as any event; by occurred time a correction of a fact on this side of
  the cut counts (a category from its ``effective_from``), a void always; a voided record is in no view;
- a region holds a fact when the fact's owner node lies within it; deputies are placed where they live (their home
  node) when that node is in the projection's subtree, else at their office;
- yearly targets count the scope's year; reports to constituents the county/township term containing it;
- a person is covered when any of their deputy records known at the cut did the thing.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.base import Attribution, DomainError, NodeRef, Role
from domain.hierarchy import Hierarchy
from domain.levels import DivisionKind, Level
from domain.simulation import simulate
from domain.store import NodeStore, StoreSettings
from domain.timeline import start_of
from projections import queries
from projections.db import ProjectionDB
from projections.projector import Projector

CST_OFFSET = timedelta(hours=8)
SMALL_TREE = ("430000", "430800", "430811", "430811004", "430811005", "430811201", "430811202")
ORGANS = {"sc_member", "chair_council", "special_committee", "sc_office", "township_presidium", "street_committee"}
RESEARCH = {"sc_member", "chair_council", "special_committee", "sc_office", "township_presidium"}
F2F = {"face_to_face", "symposium", "visit", "field_research", "station"}
TERM_ANCHOR = (18, 2022)  # county and township congresses
HANDLED = {
    "Registered",
    "MandateGranted",
    "CredentialsReviewed",
    "MandateTerminated",
    "FlagsSet",
    "Constituted",
    "MemberAppointed",
    "MemberLeft",
    "Established",
    "DeputyEnrolled",
    "DeputyRemoved",
    "MergedInto",
    "Absorbed",
    "Recorded",
    "IssueRaised",
    "IssueResolved",
    "IssueTransferred",
    "OpinionRaised",
    "OpinionHandled",
    "OpinionFedBack",
    "Submitted",
    "Assigned",
    "HandlingStarted",
    "Replied",
    "Evaluated",
    "Solved",
    "MarkedPriority",
    "Supervised",
    "Closed",
    "Proposed",
    "Listed",
    "Deliberated",
    "Voted",
    "ImplementationStarted",
    "ProgressReported",
    "Corrected",
    "Voided",
}
NOT_HANDLED = {"Deputy.JoinedGroup", "Deputy.LeftGroup", "StationVisit.Closed", "ContactActivity.HotlineOutcome"}


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


# ============================================================================================ writing stores


def write_simulation(
    store: NodeStore, nodes: Sequence[NodeRef], *, days: int, start: date, seed: int, scale: float, every: int = 2000
) -> int:
    """The simulated activity of ``nodes``, saved straight into one store (as a parent's log holds it after sync)."""
    pending: dict[int, Any] = {}
    count = written = 0
    for batch in simulate(nodes, days=days, start=start, seed=seed, scale=scale):
        for aggregate in batch.aggregates:
            pending.setdefault(id(aggregate), aggregate)
        count += batch.events
        if count >= every:
            written += sum(len(a.pending_events) for a in pending.values())
            store.save_all(list(pending.values()))
            pending.clear()
            count = 0
    if pending:
        written += sum(len(a.pending_events) for a in pending.values())
        store.save_all(list(pending.values()))
    return written


def decoded(store: NodeStore) -> list[Any]:
    return [store.mapper.to_domain_event(n) for n in store.iter_notifications()]


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _cst_day(us_value: int) -> date:
    return (datetime(1970, 1, 1) + timedelta(microseconds=us_value) + CST_OFFSET).date()


def cut_events(events: Iterable[Any], *, by: str, at: int | None, known: Sequence[int] = ()) -> list[tuple[Any, int]]:
    """(event, effective occurred time) of the events on this side of the cut; ``known``: when the node came to hold
    each event (``known_us``), for a cut by known time. Corrections and voids: by the recorded clock and by the known
    clock as any event; by the occurred clock a correction of a fact on this side counts (a deputy's category from its
    ``effective_from``), and a void always (the voided record never was)."""
    clock: dict[UUID, int] = {}
    held: dict[UUID, set[int]] = defaultdict(set)
    out = []
    for i, e in enumerate(events):
        name = type(e).__qualname__
        if name in NOT_HANDLED:
            continue
        oid = e.originator_id
        if at is not None and by == "occurred" and name.endswith((".Corrected", ".Voided")):
            since = e.effective_from if name.endswith(".Corrected") else None
            if name.endswith(".Voided") or (e.version in held[oid] and (since is None or _us(start_of(since)) <= at)):
                out.append((e, clock[oid]))
            continue
        occurred = max(_us(e.occurred_at), clock.get(oid, -(2**62)))
        if not name.endswith((".Corrected", ".Voided")):
            clock[oid] = occurred
        if at is not None and (occurred if by == "occurred" else known[i] if by == "known" else _us(e.timestamp)) > at:
            continue
        held[oid].add(e.originator_version)
        out.append((e, occurred))
    return out


def known_us(store: NodeStore) -> list[int]:
    """When the store came to hold each of its events, in log order (an unknown one: when it was recorded)."""
    notifications = list(store.iter_notifications())
    known = store.known_at([n.id for n in notifications])
    return [_us(k or store.mapper.to_domain_event(n).timestamp) for k, n in zip(known, notifications, strict=True)]


def write_corrections(store: NodeStore, seed: int) -> int:
    """Random corrections and voids of livelihood projects and deputies' categories in ``store`` (each as its owner
    office records it, now; refused ones leave nothing); returns how many events were written."""
    rng = random.Random(seed)
    created: dict[str, list[UUID]] = {}
    last: dict[UUID, str] = {}
    for e in decoded(store):
        created.setdefault(type(e).__qualname__, []).append(e.originator_id)
        last[e.originator_id] = type(e).__qualname__
    projects = sorted(set(created.get("LivelihoodProject.Proposed", [])))
    deputies = sorted(set(created.get("Deputy.Registered", [])))
    suggestions = sorted(set(created.get("Suggestion.Submitted", [])))
    replied = [oid for oid in suggestions if last[oid] == "Suggestion.Replied"]  # their latest reply is correctable
    visits = sorted(set(created.get("StationVisit.Recorded", [])))
    contacts = sorted(set(created.get("ContactActivity.Recorded", [])))
    by = Attribution("corrector", Role.RECORDER, datetime.now(UTC))
    changed: dict[UUID, Any] = {}
    for _ in range(rng.randint(5, 40)):
        if contacts and rng.random() < 0.25:
            contact = changed.get(oid := rng.choice(contacts)) or store.get(oid)
            if _void_contact(contact, by):
                changed[oid] = contact
        elif visits and rng.random() < 0.3:
            visit = changed.get(oid := rng.choice(visits)) or store.get(oid)
            if _correct_visit(rng, visit, by):
                changed[oid] = visit
        elif suggestions and rng.random() < 0.3:
            suggestion = changed.get(oid := rng.choice(replied or suggestions)) or store.get(oid)
            if _correct_suggestion(rng, suggestion, by):
                changed[oid] = suggestion
        elif projects and rng.random() < 0.6:
            project = changed.get(oid := rng.choice(projects)) or store.get(oid)
            office = NodeRef(project.owner, "", "owner", Level.TOWNSHIP, DivisionKind.TOWN)
            facts = [("candidate", 1)] if getattr(project, "listed", None) else []
            facts += [("implementation", 1)] if getattr(project, "started", None) else []
            facts += [("progress", n) for n in range(1, len(project.reports) + 1)]
            facts += [("evaluation", 1)] if getattr(project, "evaluated", None) else []
            facts += [("vote", 1)] if getattr(project, "voted", None) else []
            try:
                if rng.random() < 0.15 or not facts:
                    project.void(office, by, reason="登记有误")
                else:
                    fact, number = rng.choice(facts)
                    fields = {"candidate": "estimate_wan", "implementation": "budget_wan", "progress": "progress"}
                    field_ = fields.get(fact) or rng.choice(list(project.correctable[fact]))
                    reports = [0, *(r["progress"] for r in project.reports), 100]  # a report between its neighbours
                    value = rng.randint(reports[number - 1], reports[number + 1]) if fact == "progress" else None
                    if fact in ("evaluation", "vote"):  # counts: refused where they break the tally's rules
                        value = rng.randint(0, 60)
                    value = Decimal(rng.randint(0, 3000)) if value is None else value
                    project.correct(office, by, fact=fact, number=number, changes={field_: value}, reason="更正")
            except DomainError:
                continue
            changed[oid] = project
        elif deputies:
            deputy = changed.get(oid := rng.choice(deputies)) or store.get(oid)
            office = NodeRef(deputy.owner, "", "owner", Level.TOWNSHIP, DivisionKind.TOWN)
            if rng.random() < 0.1:
                with contextlib.suppress(DomainError):  # (a record voided already: nothing is written)
                    deputy.void(office, by, reason="登记有误")
                    changed[oid] = deputy
                continue
            grassroots = rng.random() < 0.5
            since = date(2024, 1, 1) + timedelta(days=rng.randint(0, 700))
            try:
                deputy.correct(
                    office,
                    by,
                    fact="category",
                    changes={"grassroots": grassroots, "leading_cadre": not grassroots and rng.random() < 0.7},
                    reason="更正",
                    effective_from=since,
                )
            except DomainError:
                continue
            changed[oid] = deputy
    written = sum(len(a.pending_events) for a in changed.values())
    store.save_all(list(changed.values()))
    return written


def _correct_visit(rng: random.Random, visit: Any, by: Attribution) -> bool:
    """A random void of a station visit, or correction of its people received or of an issue's category."""
    office = NodeRef(visit.owner, "", "owner", Level.TOWNSHIP, DivisionKind.TOWN)
    try:
        if rng.random() < 0.3:
            visit.void(office, by, reason="登记有误")
        elif visit.issues and rng.random() < 0.3:
            number = rng.randint(1, len(visit.issues))
            visit.correct(office, by, fact="issue", number=number, changes={"category": "更正类别"}, reason="更正")
        else:
            visit.correct(office, by, fact="visit", changes={"people_received": rng.randint(0, 200)}, reason="更正")
    except DomainError:
        return False
    return True


def _void_contact(contact: Any, by: Attribution) -> bool:
    """A contact voided (refused if it already was: then nothing is written)."""
    office = NodeRef(contact.owner, "", "owner", Level.TOWNSHIP, DivisionKind.TOWN)
    try:
        contact.void(office, by, reason="登记有误")
    except DomainError:
        return False
    return True


def _correct_suggestion(rng: random.Random, suggestion: Any, by: Attribution) -> bool:
    """A random void of a suggestion, or correction of its assignment (lead unit, due date) or of its latest reply's
    category (refused once evaluated: then nothing is written)."""
    office = NodeRef(suggestion.owner, "", "owner", Level.TOWNSHIP, DivisionKind.TOWN)
    if rng.random() < 0.15:
        fact, number, changes = "", 0, {}  # a void
    elif suggestion.replies and rng.random() < 0.5:
        fact, number, changes = "reply", len(suggestion.replies), {"category": rng.choice("ABC")}
    elif suggestion.state.value != "submitted":
        fact, number = "assignment", 1
        due = suggestion.assigned.occurred + timedelta(days=rng.randint(1, 120))
        changes = rng.choice([{"lead_unit": f"更正单位{rng.randint(1, 5)}"}, {"due_on": due}])
    else:
        return False
    try:
        if fact:
            suggestion.correct(office, by, fact=fact, number=number, changes=changes, reason="更正")
        else:
            suggestion.void(office, by, reason="登记有误")
    except DomainError:
        return False
    return True


# ================================================================================================ reference


@dataclass
class World:
    """Everything the events say, folded plainly."""

    deputies: dict[str, dict[str, Any]] = field(default_factory=dict)
    mandates: dict[tuple[str, str, int], str] = field(default_factory=dict)
    sc_node: dict[str, str] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrolled: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    visits: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    opinions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    suggestions: dict[str, dict[str, Any]] = field(default_factory=dict)
    signers: list[tuple[str, str, int]] = field(default_factory=list)  # suggestion, deputy, year
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)


def fold(events: list[tuple[Any, int]], subtree: set[str]) -> World:
    w = World()
    for e, occ in events:
        name = type(e).__qualname__
        oid, node = e.originator_id.hex, e.owner.hex
        day = _cst_day(occ)
        if name == "Deputy.Registered":
            home = e.home_node.hex
            w.deputies[oid] = {
                "person": e.person_id,
                "name": e.name,
                "node": node,
                "area": home if home in subtree else node,
                "grassroots": e.grassroots,
                "leading": e.leading_cadre,
            }
        elif name == "Deputy.FlagsSet":
            w.deputies[oid].update(grassroots=e.grassroots, leading=e.leading_cadre)
        elif name == "Deputy.Corrected":
            w.deputies[oid].update(grassroots=e.changes["grassroots"], leading=e.changes["leading_cadre"])
        elif name == "Deputy.Voided":  # by the occurred clock even before the record: it never served
            for key in [k for k in w.mandates if k[0] == oid]:
                w.mandates[key] = "terminated"
        elif name == "Deputy.MandateGranted":
            w.mandates[(oid, e.congress, e.term)] = "pending"
        elif name == "Deputy.CredentialsReviewed":
            w.mandates[(oid, e.congress, e.term)] = "active" if e.passed else "void"
        elif name == "Deputy.MandateTerminated":
            w.mandates[(oid, e.congress, e.term)] = "terminated"
        elif name == "StandingCommittee.Constituted":
            w.sc_node[oid] = node
        elif name == "StandingCommittee.MemberAppointed":
            w.members[(oid, e.member_id)] = {"node": node, "name": e.name, "active": True}
        elif name == "StandingCommittee.MemberLeft":
            w.members[(oid, e.member_id)]["active"] = False
        elif name == "Station.Established":
            w.stations[oid] = {"node": node, "day": day, "status": "open", "successor": None}
        elif name == "Station.DeputyEnrolled":
            w.enrolled[oid].add(e.deputy_id.hex)
        elif name == "Station.DeputyRemoved":
            w.enrolled[oid].discard(e.deputy_id.hex)
        elif name == "Station.MergedInto":
            if oid in w.stations:
                w.stations[oid].update(status="merged", successor=e.successor_id.hex, ended=day)
            w.enrolled[oid] = set()
        elif name == "Station.Absorbed":
            w.enrolled[oid] |= set(e.deputies)
        elif name == "Station.Closed":
            if oid in w.stations:
                w.stations[oid].update(status="closed", ended=day)
        elif name == "StationVisit.Recorded":
            w.visits[oid] = {
                "node": node,
                "station": e.station_id.hex,
                "day": e.visit_date,
                "people": e.people_received,
                "deputies": [d.hex for d in e.deputy_ids],
                "issues": 0,
            }
        elif name == "StationVisit.IssueRaised":
            v = w.visits[oid]
            v["issues"] += 1
            w.issues[(oid, v["issues"])] = {"node": node, "station": v["station"], "year": day.year, "outcome": None}
        elif name == "StationVisit.Corrected":
            if e.fact == "visit" and oid in w.visits:  # no view reads an issue's category or summary
                w.visits[oid]["people"] = e.changes["people_received"]
        elif name == "StationVisit.Voided":  # by the occurred clock even before the visit: it never was
            for number in range(1, w.visits.pop(oid, {"issues": 0})["issues"] + 1):
                del w.issues[(oid, number)]
        elif name in ("StationVisit.IssueResolved", "StationVisit.IssueTransferred"):
            issue = w.issues.get((oid, e.number))
            if issue is not None:
                issue["outcome"] = "resolved" if name.endswith("Resolved") else "transferred"
        elif name == "ContactActivity.Recorded":
            w.contacts[oid] = {
                "node": node,
                "kind": e.kind,
                "channel": e.channel,
                "organiser_kind": e.organiser_kind,
                "organiser_id": e.organiser_id,
                "day": e.held_on,
                "deputies": [d.hex for d in e.deputy_ids],
                "opinions": 0,
            }
        elif name == "ContactActivity.Voided":  # by the occurred clock even before the contact: it never was
            for number in range(1, w.contacts.pop(oid, {"opinions": 0})["opinions"] + 1):
                del w.opinions[(oid, number)]
        elif name == "ContactActivity.OpinionRaised":
            c = w.contacts[oid]
            c["opinions"] += 1
            w.opinions[(oid, c["opinions"])] = {
                "node": node,
                "year": day.year,
                "deputy": e.deputy_id.hex if e.deputy_id else None,
                "handled": False,
                "fed_back": False,
            }
        elif name == "ContactActivity.OpinionHandled":
            w.opinions[(oid, e.number)]["handled"] = True
        elif name == "ContactActivity.OpinionFedBack":
            w.opinions[(oid, e.number)]["fed_back"] = True
        elif name.startswith("Suggestion."):
            _fold_suggestion(w, name, e, oid, node, day)
        elif name.startswith("LivelihoodProject."):
            _fold_project(w, name, e, oid, node, day)
    return w


def _fold_suggestion(w: World, name: str, e: Any, oid: str, node: str, day: date) -> None:
    if name == "Suggestion.Voided":  # by the occurred clock even before the suggestion: it never was
        w.suggestions.pop(oid, None)
        w.signers[:] = [x for x in w.signers if x[0] != oid]
        return
    if name == "Suggestion.Submitted":
        w.suggestions[oid] = {
            "node": node,
            "year": day.year,
            "state": "submitted",
            "unit": "",
            "due": None,
            "category": None,
            "evaluation": None,
            "evaluations": 0,
            "office": 0,
            "dissatisfied": 0,
            "replies": 0,
            "first_reply": None,
            "priority": False,
            "solved": False,
            "congress": e.congress,
        }
        w.signers.append((oid, e.lead_deputy_id.hex, day.year))
        w.signers.extend((oid, d.hex, day.year) for d in e.co_deputy_ids)
        return
    s = w.suggestions[oid]
    if name == "Suggestion.Assigned":
        s.update(state="assigned", unit=e.lead_unit, due=e.due_on)
    elif name == "Suggestion.HandlingStarted":
        s["state"] = "in_handling"
    elif name == "Suggestion.Replied":
        s.update(state="replied", category=e.category, replies=s["replies"] + 1)
        s["first_reply"] = s["first_reply"] or e.replied_on
    elif name == "Suggestion.Evaluated":
        s["evaluations"] += 1
        s["office"] += e.entry == "office"
        s["evaluation"] = e.evaluation
        if e.evaluation == "dissatisfied":
            s["dissatisfied"] += 1
            s["state"] = "rehandling"
        else:
            s["state"] = "evaluated" if s["category"] == "A" else "follow_up"
    elif name == "Suggestion.Solved":
        s.update(state="evaluated", solved=True)
    elif name == "Suggestion.MarkedPriority":
        s["priority"] = True
    elif name == "Suggestion.Closed":
        s["state"] = "closed"
    elif name == "Suggestion.Corrected":
        changes = e.changes
        if "lead_unit" in changes:
            s["unit"] = changes["lead_unit"]
        if "due_on" in changes:
            s["due"] = changes["due_on"]
        if e.fact == "reply" and e.number == s["replies"]:  # a later reply sets the category again
            s["category"] = changes["category"]


def _fold_project(w: World, name: str, e: Any, oid: str, node: str, day: date) -> None:
    if name == "LivelihoodProject.Voided":
        w.projects.pop(oid, None)  # by the occurred clock a void counts even before the project was proposed
        return
    if name == "LivelihoodProject.Proposed":
        w.projects[oid] = {
            "node": node,
            "year": e.year,
            "state": "proposed",
            "passed": None,
            "budget": 0,
            "progress": 0,
            "started": False,
            "sat": 0,
            "basic": 0,
            "dis": 0,
        }
        return
    p = w.projects[oid]
    if name == "LivelihoodProject.Listed":
        p.update(state="candidate", estimate=int(e.estimate_wan * 10000))
    elif name == "LivelihoodProject.Deliberated":
        p["state"] = "deliberated"
    elif name == "LivelihoodProject.Voted":
        p["passed"] = 2 * e.yes > e.total_deputies
        p["state"] = "passed" if p["passed"] else "rejected"
    elif name == "LivelihoodProject.ImplementationStarted":
        p.update(state="implementing", budget=int(e.budget_wan * 10000), started=True)
    elif name == "LivelihoodProject.ProgressReported":
        p["progress"] = p.setdefault("reports", {})[e.originator_version] = e.progress
    elif name == "LivelihoodProject.Corrected":
        changes = e.changes
        if "estimate_wan" in changes:
            p["estimate"] = int(changes["estimate_wan"] * 10000)
        if "budget_wan" in changes:
            p["budget"] = int(changes["budget_wan"] * 10000)
        for name, key in (("satisfied", "sat"), ("basically_satisfied", "basic"), ("dissatisfied", "dis")):
            if name in changes:
                p[key] = changes[name]
        if "progress" in changes:
            p["reports"][e.version] = changes["progress"]
            p["progress"] = p["reports"][max(p["reports"])]  # the latest report's, corrected or not
    elif name == "LivelihoodProject.Evaluated":
        p.update(state="evaluated", sat=e.satisfied, basic=e.basically_satisfied, dis=e.dissatisfied)
    elif name == "LivelihoodProject.Closed":
        p["state"] = "closed"


class Reference:
    def __init__(self, world: World, hierarchy: Hierarchy, region: Any, year: int, ref_day: date) -> None:
        self.w, self.h, self.region, self.year, self.ref_day = world, hierarchy, region, year, ref_day
        self.within_cache: dict[str, bool] = {}

    def within(self, node_hex: str) -> bool:
        if node_hex not in self.within_cache:
            node = UUID(node_hex)
            self.within_cache[node_hex] = node in self.h and self.h.is_within(node, self.region)
        return self.within_cache[node_hex]

    # coverage ---------------------------------------------------------------------------------------------------

    def serving(self) -> dict[str, set[str]]:
        """Serving deputies of the region → their active congresses."""
        out: dict[str, set[str]] = defaultdict(set)
        for (deputy, congress, _), status in self.w.mandates.items():
            d = self.w.deputies.get(deputy)
            if status == "active" and d is not None and self.within(d["area"]):
                out[deputy].add(congress)
        return out

    def persons_with(self, kinds: set[str], years: tuple[int, int], organs_only: bool = False) -> set[str]:
        persons = set()
        for c in self.w.contacts.values():
            if (
                c["kind"] in kinds
                and years[0] <= c["day"].year <= years[1]
                and (not organs_only or c["organiser_kind"] in ORGANS)
            ):
                persons.update(self.w.deputies[d]["person"] for d in c["deputies"] if d in self.w.deputies)
        return persons

    def coverage(self) -> dict[str, tuple[set[str], set[str]]]:
        """target → (population ids, covered ids)."""
        out: dict[str, tuple[set[str], set[str]]] = {}
        serving = self.serving()
        y = (self.year, self.year)
        dep = self.w.deputies
        targets = {
            "grassroots_provincial_invited": (
                {d for d, c in serving.items() if "provincial" in c and dep[d]["grassroots"]},
                self.persons_with({"organ_meeting", "field_research"}, y, organs_only=True),
            ),
            "leading_cadre_group": ({d for d in serving if dep[d]["leading"]}, self.persons_with({"group_activity"}, y)),
            "practical_deed": (set(serving), self.persons_with({"practical_deed"}, y)),
        }
        term = TERM_ANCHOR[0] + (self.year - TERM_ANCHOR[1]) // 5
        first = TERM_ANCHOR[1] + 5 * (term - TERM_ANCHOR[0])
        targets["constituent_report"] = (
            {d for d, c in serving.items() if c & {"county", "township"}},
            self.persons_with({"constituent_report"}, (first, first + 4)),
        )
        for key, (population, persons) in targets.items():
            out[key] = (population, {d for d in population if dep[d]["person"] in persons})
        members = {k for k, m in self.w.members.items() if m["active"] and self.within(m["node"])}
        f2f = {
            (c["node"], c["organiser_id"])
            for c in self.w.contacts.values()
            if c["kind"] in ("organ_meeting", "field_research")
            and c["organiser_kind"] in ("sc_member", "chair_council")
            and c["channel"] in F2F
            and c["day"].year == self.year
        }
        out["sc_face_to_face"] = (
            {f"{sc}:{m}" for sc, m in members},
            {f"{sc}:{m}" for sc, m in members if (self.w.members[(sc, m)]["node"], m) in f2f},
        )
        bodies = {n for n in self.w.sc_node.values() if self.within(n)}
        for d in dep.values():
            node = self.h.get(UUID(d["node"]))
            if node.level is Level.TOWNSHIP and node.has_congress and self.within(d["node"]):
                bodies.add(d["node"])
        researched = {
            c["node"]
            for c in self.w.contacts.values()
            if c["kind"] == "field_research" and c["organiser_kind"] in RESEARCH and c["day"].year == self.year
        }
        out["body_research"] = (bodies, bodies & researched)
        follow = {
            sid
            for sid, s in self.w.suggestions.items()
            if s["year"] == self.year
            and self.within(s["node"])
            and (s["dissatisfied"] > 0 or s["solved"] or s["state"] in ("follow_up", "rehandling"))
        }
        out["follow_up"] = (
            follow,
            {sid for sid in follow if self.w.suggestions[sid]["state"] not in ("follow_up", "rehandling")},
        )
        opinions = {k for k, o in self.w.opinions.items() if o["year"] == self.year and self.within(o["node"])}
        out["opinions"] = (opinions, {k for k in opinions if self.w.opinions[k]["fed_back"]})
        return out

    # stations ---------------------------------------------------------------------------------------------------

    def stations(self) -> dict[str, Any]:
        """The stations as they stood at the end of the year (by occurred day): a merge or closure after it is undone."""
        known = {}
        for sid, s in self.w.stations.items():
            if self.within(s["node"]) and s["day"].year <= self.year:
                ended_later = s["status"] != "open" and s["ended"].year > self.year
                known[sid] = {**s, "status": "open", "successor": None} if ended_later else s

        def final(sid: str) -> str:
            seen = set()
            while sid in known and known[sid]["successor"] and sid not in seen:
                seen.add(sid)
                sid = known[sid]["successor"]
            return sid

        per: dict[str, Counter[str]] = defaultdict(Counter)
        deputies: dict[str, set[str]] = defaultdict(set)
        for v in self.w.visits.values():
            if v["day"].year == self.year and self.within(v["node"]):
                f = final(v["station"])
                per[f].update(visits=1, people=v["people"], duty_slots=len(v["deputies"]))
                deputies[v["station"]].update(v["deputies"])
        for sid, ds in deputies.items():
            per[final(sid)]["deputies"] += len(ds)
        for i in self.w.issues.values():
            if i["year"] == self.year and self.within(i["node"]):
                per[final(i["station"])]["issues_raised"] += 1
                if i["outcome"]:
                    per[final(i["station"])][f"issues_{i['outcome']}"] += 1
        for sid, ds in self.w.enrolled.items():
            if sid in self.w.stations and self.within(self.w.stations[sid]["node"]):
                per[final(sid)]["enrolled"] += len(ds)
        seen_on = min(self.ref_day, date(self.year, 12, 31))  # a past year's stations are seen at its end
        last: dict[str, date] = {}
        for v in self.w.visits.values():
            if v["day"] <= seen_on and self.within(v["node"]):
                f = final(v["station"])
                last[f] = max(last.get(f, v["day"]), v["day"])
        rows = {}
        for sid, s in known.items():
            if s["status"] != "open":
                continue
            since = last.get(sid, s["day"])
            rows[sid] = {
                **per[sid],
                "idle_days": max(0, (seen_on - since).days) if since <= seen_on else 0,
                "last_visit": last.get(sid),
            }
        ended = Counter(s["status"] for s in known.values() if s["status"] != "open" and s["ended"].year == self.year)
        return {"rows": rows, "merged": ended["merged"], "closed": ended["closed"]}

    # suggestions ------------------------------------------------------------------------------------------------

    def suggestions(self) -> dict[str, Any]:
        mine = {sid: s for sid, s in self.w.suggestions.items() if s["year"] == self.year and self.within(s["node"])}
        overdue = {sid for sid, s in mine.items() if s["state"] in ("assigned", "in_handling") and s["due"] < self.ref_day}
        return {
            "by_state": Counter(s["state"] for s in mine.values()),
            "total": len(mine),
            "replied": sum(1 for s in mine.values() if s["replies"]),
            "evaluated": sum(1 for s in mine.values() if s["evaluations"]),
            "satisfied": sum(1 for s in mine.values() if s["evaluation"] in ("satisfied", "basically_satisfied")),
            "closed": sum(1 for s in mine.values() if s["state"] == "closed"),
            "overdue": overdue,
            "replied_late": sum(1 for s in mine.values() if s["first_reply"] and s["first_reply"] > s["due"]),
            "evaluations_self": sum(s["evaluations"] - s["office"] for s in mine.values()),
            "evaluations_office": sum(s["office"] for s in mine.values()),
            "b_open": sum(1 for s in mine.values() if s["state"] == "follow_up" and s["category"] == "B"),
            "c_open": sum(1 for s in mine.values() if s["state"] == "follow_up" and s["category"] == "C"),
            "rehandling": sum(1 for s in mine.values() if s["state"] == "rehandling"),
            "priority": Counter(s["state"] for s in mine.values() if s["priority"]),
            "by_category": Counter(s["category"] or "" for s in mine.values()),
            "by_unit": Counter(s["unit"] for s in mine.values() if s["unit"]),
        }

    # livelihood -------------------------------------------------------------------------------------------------

    def livelihood(self) -> dict[str, Any]:
        mine = [p for p in self.w.projects.values() if p["year"] == self.year and self.within(p["node"])]
        voted = [p for p in mine if p["passed"] is not None]
        passed = [p for p in mine if p["passed"]]
        started = [p for p in mine if p["started"]]
        return {
            "proposed": len(mine),
            "voted": len(voted),
            "passed": len(passed),
            "investment_wan": round(sum(p["budget"] or p["estimate"] for p in passed) / 10000, 2),
            "implementing": len(started),
            "completed": sum(1 for p in mine if p["progress"] == 100),
            "avg_progress": round(sum(p["progress"] for p in started) / len(started), 1) if started else None,
            "satisfied": sum(p["sat"] for p in mine),
            "dissatisfied": sum(p["dis"] for p in mine),
            "by_state": Counter(p["state"] for p in mine),
        }

    # duty ---------------------------------------------------------------------------------------------------------

    def duty(self) -> dict[str, tuple[int, int, int, int]]:
        """person → (contacts, visits, suggestions, opinions) in the year, for people with a serving record here."""
        persons = {self.w.deputies[d]["person"] for d in self.serving()}
        person_of = {d: x["person"] for d, x in self.w.deputies.items()}
        counts: dict[str, list[int]] = {p: [0, 0, 0, 0] for p in persons}

        def add(deputy: str | None, i: int) -> None:
            p = person_of.get(deputy) if deputy else None
            if p in counts:
                counts[p][i] += 1

        for c in self.w.contacts.values():
            if c["day"].year == self.year:
                for d in c["deputies"]:
                    add(d, 0)
        for v in self.w.visits.values():
            if v["day"].year == self.year:
                for d in v["deputies"]:
                    add(d, 1)
        for _, d, year in self.w.signers:
            if year == self.year:
                add(d, 2)
        for o in self.w.opinions.values():
            if o["year"] == self.year:
                add(o["deputy"], 3)
        return {p: tuple(c) for p, c in counts.items()}  # type: ignore[misc]


# ====================================================================================================== comparing

BIG = 1_000_000


def compare_views(db: ProjectionDB, scope: queries.Scope, ref: Reference) -> None:
    """Every view of ``db`` for ``scope`` against the reference, field by field."""
    cov = {t["key"]: t for t in queries.coverage(db, scope, missing_limit=BIG)["targets"]}
    expected = ref.coverage()
    for key, (population, covered) in expected.items():
        got = cov[key]
        assert (got["population"], got["covered"]) == (len(population), len(covered)), key
        missing = population - covered
        if key in ("grassroots_provincial_invited", "leading_cadre_group", "practical_deed", "constituent_report"):
            assert {i["deputy_id"] for i in got["missing_list"]["items"]} == missing, key
        elif key == "follow_up":
            assert {i["suggestion_id"] for i in got["missing_list"]["items"]} == missing, key
        elif key == "opinions":
            assert {(i["contact_id"], i["number"]) for i in got["missing_list"]["items"]} == missing, key
        assert sum(r["population"] for r in got["by_region"]) == len(population), key

    stations = queries.stations(db, scope, idle_days=10, limit=BIG)
    expected_st = ref.stations()
    got_rows = {r["station_id"]: r for r in stations["idle"]["items"]}
    rows = expected_st["rows"]
    assert stations["totals"]["stations"] == len(rows)
    assert (stations["totals"]["merged"], stations["totals"]["closed"]) == (expected_st["merged"], expected_st["closed"])
    for k in ("visits", "people", "duty_slots", "deputies", "issues_raised", "issues_resolved", "issues_transferred"):
        assert stations["totals"][k] == sum(r.get(k, 0) for r in rows.values()), k
    assert set(got_rows) == {sid for sid, r in rows.items() if r["idle_days"] >= 10}
    for sid, r in got_rows.items():
        assert r["idle_days"] == rows[sid]["idle_days"]
        assert r["enrolled"] == rows[sid].get("enrolled", 0)
        assert r["visits"] == rows[sid].get("visits", 0)

    sg = queries.suggestions(db, scope, limit=BIG)
    exp = ref.suggestions()
    assert {r["state"]: r["count"] for r in sg["by_state"]} == dict(exp["by_state"])
    for k in ("total", "replied", "evaluated", "satisfied", "closed", "replied_late"):
        assert sg["totals"][k] == exp[k], k
    if scope.as_of is None:  # the deputies' own evaluations and their offices' entries (代录): counted now only
        assert (sg["totals"]["evaluations_self"], sg["totals"]["evaluations_office"]) == (
            exp["evaluations_self"],
            exp["evaluations_office"],
        )
    assert {i["suggestion_id"] for i in sg["overdue"]["items"]} == exp["overdue"]
    assert sg["follow_up"] == {"b_open": exp["b_open"], "c_open": exp["c_open"], "rehandling": exp["rehandling"]}
    assert {r["state"]: r["count"] for r in sg["priority"]["by_state"]} == dict(exp["priority"])
    assert {r["category"]: r["count"] for r in sg["by_category"]} == dict(exp["by_category"])
    assert len(sg["by_unit"]) == min(15, len(exp["by_unit"]))
    for r in sg["by_unit"]:
        assert r["total"] == exp["by_unit"][r["unit"]], r

    lv = queries.livelihood(db, scope)
    exp_lv = ref.livelihood()
    for k in (
        "proposed",
        "voted",
        "passed",
        "investment_wan",
        "implementing",
        "completed",
        "avg_progress",
        "satisfied",
        "dissatisfied",
    ):
        assert lv["totals"][k] == exp_lv[k], k
    assert {r["state"]: r["count"] for r in lv["by_state"]} == dict(exp_lv["by_state"])

    duty = queries.duty_ranking(db, scope, limit=BIG)
    got_duty = {r["person_id"]: (r["contacts"], r["visits"], r["suggestions"], r["opinions"]) for r in duty["deputies"]["items"]}
    assert got_duty == ref.duty()


# ========================================================================================================= tests


def _region_nodes(hunan: Hierarchy) -> list[NodeRef]:
    return sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))


def _check_scopes(
    db: ProjectionDB, store: NodeStore, hunan: Hierarchy, *, by: str, at: int | None, regions: Sequence[str]
) -> None:
    events = cut_events(decoded(store), by=by, at=at, known=known_us(store) if by == "known" else ())
    subtree = {d.id.hex for d in hunan.subtree(store.node.node_id)}
    world = fold(events, subtree)
    for code in regions:
        scope = queries.make_scope(db, region=code, as_of=at, by=by, hierarchy=hunan)
        ref = Reference(world, hunan, hunan.by_code(code).id, scope.year, date.fromisoformat(scope.ref_day))
        compare_views(db, scope, ref)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    days=st.integers(20, 150),
    start=st.dates(date(2024, 9, 1), date(2025, 9, 1)),
    scale=st.sampled_from([0.1, 0.2, 0.3]),
    page=st.integers(7, 3000),
    cut=st.floats(0.05, 0.95),
)
def test_every_view_equals_the_reference(
    tmp_path_factory: Any, hunan: Hierarchy, seed: int, days: int, start: date, scale: float, page: int, cut: float
) -> None:
    settings_ = StoreSettings(store="sqlite", data_dir=tmp_path_factory.mktemp("ref"))
    nodes = _region_nodes(hunan)
    store = NodeStore(nodes[0], settings_)
    db = ProjectionDB(nodes[0], settings_, hierarchy=hunan).open()
    try:
        written = write_simulation(store, nodes, days=days, start=start, seed=seed, scale=scale)
        stats = Projector(store, db, batch=page, hierarchy=hunan).run()
        assert stats.read == written and stats.unknown == 0, stats.as_dict()
        # corrections and voids of facts projected in earlier pages (and of one another, in pages of their own)
        written = write_corrections(store, seed)
        stats = Projector(store, db, batch=page, hierarchy=hunan).run()
        assert stats.read == written and stats.unknown == 0, stats.as_dict()
        regions = ["430000", "430811", "430811201"]
        _check_scopes(db, store, hunan, by="recorded", at=None, regions=regions)
        # the same views as they stood at a cut, by each clock
        events = decoded(store)
        recorded = sorted(_us(e.timestamp) for e in events)
        _check_scopes(db, store, hunan, by="recorded", at=recorded[int(cut * (len(recorded) - 1))], regions=regions[:2])
        first = datetime.combine(start, datetime.min.time()).replace(tzinfo=UTC) - CST_OFFSET
        at = _us(first + timedelta(days=days * cut, hours=9))
        _check_scopes(db, store, hunan, by="occurred", at=at, regions=regions[:2])
        known = known_us(store)
        # by known time: at the cut, and just before the node came to hold the corrections (each a snapshot seen from
        # then on; the occurred clock's corrected copies never seen)
        for at in sorted({known[int(cut * (len(known) - 1))], known[len(known) - 1 - written]}):
            _check_scopes(db, store, hunan, by="known", at=at, regions=regions[:2])
    finally:
        db.dispose()
        store.close()


FAR_FUTURE = _us(datetime(2100, 1, 1, tzinfo=UTC))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    days=st.integers(20, 150),
    start=st.dates(date(2024, 9, 1), date(2025, 9, 1)),
    scale=st.sampled_from([0.1, 0.2, 0.3]),
    page=st.integers(7, 3000),
    by=st.sampled_from(["recorded", "occurred", "known"]),
)
def test_current_views_from_the_summaries_equal_the_views_from_the_facts(
    tmp_path_factory: Any, hunan: Hierarchy, seed: int, days: int, start: date, scale: float, page: int, by: str
) -> None:
    """The current views read the projector's summaries (serving flags, per-person yearly counters); an as-of view
    with a cut after everything reads the fact tables: both must say the same, to the last name on every list."""
    settings_ = StoreSettings(store="sqlite", data_dir=tmp_path_factory.mktemp("summaries"))
    nodes = _region_nodes(hunan)
    store = NodeStore(nodes[0], settings_)
    db = ProjectionDB(nodes[0], settings_, hierarchy=hunan).open()
    try:
        write_simulation(store, nodes, days=days, start=start, seed=seed, scale=scale)
        Projector(store, db, batch=page, hierarchy=hunan).run()
        for code in ("430000", "430811", "430811201"):
            now = queries.make_scope(db, region=code, hierarchy=hunan)
            cut = queries.make_scope(
                db, region=code, year=now.year, as_of=FAR_FUTURE, by=by, ref_day=now.ref_day, hierarchy=hunan
            )
            for view in (
                lambda scope: queries.coverage(db, scope, missing_limit=BIG),
                lambda scope: queries.duty_ranking(db, scope, limit=BIG),
                lambda scope: queries.duty_ranking(db, scope, offset=3, limit=5, least=False),
                lambda scope: queries.stations(db, scope, limit=BIG),
                lambda scope: queries.suggestions(db, scope, limit=BIG),
                lambda scope: queries.livelihood(db, scope, limit=BIG),
            ):
                got, want = view(now), view(cut)
                assert got.pop("scope")["as_of"] is None and want.pop("scope")["as_of"] is not None
                if "by_state" in got and "follow_up" in got:  # the suggestions view: entries are counted now only
                    _evaluation_entries_now_only(got, want)
                assert got == want
    finally:
        db.dispose()
        store.close()


def test_pages_of_any_size_give_the_same_views(tmp_path: Path, hunan: Hierarchy) -> None:
    """One event per page and one page for everything: the same rows in every table."""
    settings_ = StoreSettings(store="sqlite", data_dir=tmp_path)
    nodes = _region_nodes(hunan)
    store = NodeStore(nodes[0], settings_)
    write_simulation(store, nodes, days=60, start=date(2024, 12, 10), seed=3, scale=0.15)
    dumps = []
    for variant, page in (("one", 1), ("all", 100_000), ("odd", 97)):
        db = ProjectionDB(nodes[0], settings_, variant=variant, hierarchy=hunan).open()
        Projector(store, db, batch=page, hierarchy=hunan).run()
        dumps.append(table_dump(db))
        db.dispose()
    store.close()
    assert dumps[0] == dumps[1] == dumps[2]


def table_dump(
    db: ProjectionDB,
    *,
    skip: Iterable[str] = ("projection_state", "projection_skips", "projection_meta"),
    known: bool = True,
    grant_versions: bool = True,
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table it has, sorted (the projection's whole content); unless ``known``, without
    the columns later revisions added to the tables of revision 0004 (a projection before 0005 has none of them);
    unless ``grant_versions``, without the mandates' (a migrated projection has none until rebuilt: 0011)."""
    import sqlalchemy as sa

    from projections import schema

    out = {}
    with db.connect() as conn:
        present = set(sa.inspect(conn).get_table_names(schema=db.schema))  # an older revision's: not every table
        for table in schema.metadata.sorted_tables:
            if table.name in skip or table.name not in present:
                continue
            columns = [
                c
                for c in table.columns
                if (known or not _after_0004(table.name, c.name))
                and (grant_versions or (table.name, c.name) != ("mandates", "version"))
            ]
            rows = conn.execute(sa.select(*columns)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def is_known_clock(column: str) -> bool:
    return column == "known_at" or column.endswith("_known")


def _after_0004(table: str, column: str) -> bool:
    """A column added after revision 0004: the known clock's (0005), a visit's version and the clocks at which rows
    stop holding (0009, 0010), a mandate's grant version (0011), a suggestion's evaluations entered by its office
    (0012)."""
    return (
        is_known_clock(column)
        or column.startswith("voided_")
        or (table, column) in (("visits", "version"), ("mandates", "version"), ("suggestions", "office_evaluations"))
    )


def _evaluation_entries_now_only(now: dict[str, Any], cut: dict[str, Any]) -> None:
    """How many evaluations the deputies made themselves and their offices entered (代录) is counted now (the
    suggestions' snapshots do not keep it); as of a cut the view says so with nulls."""
    for rows in ([now["totals"]], now["by_region"]):
        for row in rows:
            assert row.pop("evaluations_self") >= 0 and row.pop("evaluations_office") >= 0
    for rows in ([cut["totals"]], cut["by_region"]):
        for row in rows:
            assert row.pop("evaluations_self") is None and row.pop("evaluations_office") is None
