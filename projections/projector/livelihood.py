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
from projections.rules import VOIDED, project_figures


def _yuan(amount: str) -> int:
    return int((Decimal(amount) * 10000).to_integral_value())


def _contributions(x: dict[str, Any]) -> Contributions:
    if x["state"] == VOIDED:  # a record entered in error counts nowhere
        return []
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


#: What a correction of each correctable fact changes: its fields' columns (with their read-model form) and the
#: snapshot event that sets them again (a later progress report); a project's other fields are no view's.
_CORRECTED: dict[str, tuple[str, dict[str, tuple[str, Callable[[Any], Any]]]]] = {
    "candidate": ("listed", {"estimate_wan": ("estimate_yuan", _yuan)}),
    "deliberation": ("deliberated", {}),
    "vote": ("voted", {k: (k, int) for k in ("yes", "no", "abstain", "present", "total_deputies")}),
    "evaluation": ("evaluated", {k: (k, int) for k in ("satisfied", "basically_satisfied", "dissatisfied")}),
    "implementation": ("implementing", {"budget_wan": ("budget_yuan", _yuan), "lead_unit": ("lead_unit", str)}),
    "progress": ("progress", {"progress": ("progress", int), "spent_wan": ("spent_yuan", _yuan)}),
}


def _project_corrected(b: Page, e: LeanEvent) -> None:
    """更正: by the recorded (known) clock the corrected state from when it was recorded (came to be held here); by the
    occurred clock the corrected values from when the corrected fact happened; now, the corrected state if the values
    are still the project's (a progress report followed by another is not). See ``Lifecycle.correct``."""
    until, fields = _CORRECTED[e.fact]
    values = {column: form(e.changes[name]) for name, (column, form) in fields.items() if name in e.changes}
    if values:  # else e.g. an overspend reason only: no view reads it
        PROJECTS.correct(b, e, PROJECTS.state(b, e), values, until)


def _project_voided(b: Page, e: LeanEvent) -> None:
    """作废: by the recorded (known) clock gone from when it was recorded (came to be held here); by the occurred clock
    and now, gone altogether."""
    PROJECTS.void(b, e, PROJECTS.state(b, e))


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
    LivelihoodProject.Corrected: _project_corrected,
    LivelihoodProject.Voided: _project_voided,
}

FAMILY = Family(
    HANDLERS,
    prefetch={cls: "projects" for cls in HANDLERS},
    loaders={"projects": lambda b, ids: load_states(b, PROJECTS, ids)},
    finish=PROJECTS.finish,
    complete=PROJECTS.complete,
)
