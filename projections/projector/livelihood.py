"""Livelihood projects (民生实事票决): proposed, listed, deliberated, voted, implemented, evaluated, closed; their
snapshots, and per node, year and state the figures the livelihood view shows (``project_cells``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from domain.livelihood import LivelihoodProject, passes
from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.lifecycle import Contributions, Lifecycle, load_states
from projections.projector.page import Family, Handler, Page, day_of
from projections.rules import project_figures


def _yuan(amount: str) -> int:
    return int((Decimal(amount) * 10000).to_integral_value())


def _contributions(x: dict[str, Any]) -> Contributions:
    return [(s.project_cells, (x["year"], x["node_id"], x["state"]), project_figures(x))]


PROJECTS = Lifecycle(
    "projects",
    "livelihood project",
    s.projects,
    s.project_snapshots,
    s.PROJECT_COLUMNS,
    s.PROJECT_KEPT,
    s.PROJECT_DYNAMIC,
    _contributions,
)


def _project_proposed(b: Page, e: LeanEvent) -> None:
    occ = b.occ(e)
    pid = b.oid
    state = {
        "project_id": pid,
        "node_id": b.owner,
        "year": e.year,
        "title": e.title,
        "category": e.category,
        "proposed_by": e.proposed_by,
        "day": day_of(occ),
        "created_rec": e.timestamp,
        "created_occ": occ,
        "created_known": e.known_at,
        "state": "proposed",
        "estimate_yuan": 0,
        "deliberated_day": None,
        "session": "",
        "yes": None,
        "no": None,
        "abstain": None,
        "present": None,
        "total_deputies": None,
        "passed": None,
        "voted_day": None,
        "budget_yuan": 0,
        "lead_unit": "",
        "started_day": None,
        "progress": 0,
        "spent_yuan": 0,
        "progress_day": None,
        "supervisions": 0,
        "satisfied": None,
        "basically_satisfied": None,
        "dissatisfied": None,
        "evaluated_day": None,
        "closed_day": None,
    }
    PROJECTS.created(b, state)
    PROJECTS.snapshot(b, state, e, "proposed", occ)


def _project_step(name: str, apply: Callable[[dict[str, Any], Any, str], None]) -> Handler:
    def handle(b: Page, e: LeanEvent) -> None:
        state = PROJECTS.state(b, e)
        occ = b.occ(e)
        apply(state, e, day_of(occ))
        PROJECTS.snapshot(b, state, e, name, occ)

    return handle


def _listed(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="candidate", estimate_yuan=_yuan(e.estimate_wan))


def _deliberated(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="deliberated", deliberated_day=day)


def _voted(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    passed = passes(e.yes, e.total_deputies)
    state.update(
        state="passed" if passed else "rejected",
        session=e.session,
        yes=e.yes,
        no=e.no,
        abstain=e.abstain,
        present=e.present,
        total_deputies=e.total_deputies,
        passed=passed,
        voted_day=day,
    )


def _implementation(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="implementing", budget_yuan=_yuan(e.budget_wan), lead_unit=e.lead_unit, started_day=day)


def _progress(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(progress=e.progress, spent_yuan=_yuan(e.spent_wan), progress_day=day)


def _project_supervised(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state["supervisions"] += 1


def _project_evaluated(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(
        state="evaluated",
        satisfied=e.satisfied,
        basically_satisfied=e.basically_satisfied,
        dissatisfied=e.dissatisfied,
        evaluated_day=day,
    )


def _project_closed(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="closed", closed_day=day)


HANDLERS: dict[type, Handler] = {
    LivelihoodProject.Proposed: _project_proposed,
    LivelihoodProject.Listed: _project_step("listed", _listed),
    LivelihoodProject.Deliberated: _project_step("deliberated", _deliberated),
    LivelihoodProject.Voted: _project_step("voted", _voted),
    LivelihoodProject.ImplementationStarted: _project_step("implementing", _implementation),
    LivelihoodProject.ProgressReported: _project_step("progress", _progress),
    LivelihoodProject.Supervised: _project_step("supervised", _project_supervised),
    LivelihoodProject.Evaluated: _project_step("evaluated", _project_evaluated),
    LivelihoodProject.Closed: _project_step("closed", _project_closed),
}

FAMILY = Family(
    HANDLERS,
    prefetch={cls: "projects" for cls in HANDLERS},
    loaders={"projects": lambda b, ids: load_states(b, PROJECTS, ids)},
    finish=PROJECTS.finish,
    complete=PROJECTS.complete,
)
