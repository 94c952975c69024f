"""Representatives' suggestions (代表建议): the lifecycle from submission to closing, its snapshots, the signers, and
the summaries the suggestions view and the follow-up target count from (``suggestion_cells``, ``suggestion_units``,
``suggestion_entries``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.suggestions import Suggestion
from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.lifecycle import Contributions, Lifecycle, load_states
from projections.projector.page import SUGGESTIONS, Family, Handler, Page, day_of
from projections.rules import ACTIVE, VOIDED, suggestion_cell, suggestion_unit


def _contributions(x: dict[str, Any]) -> Contributions:
    if x["state"] == VOIDED:  # a record entered in error counts nowhere
        return []
    cell = suggestion_cell(x)
    out: Contributions = [(s.suggestion_cells, cell, (1,))]
    unit = suggestion_unit(x, cell)
    if unit is not None:
        out.append((s.suggestion_units, *unit))
    if x["evaluations"]:
        office = x["office_evaluations"]
        out.append((s.suggestion_entries, (x["year"], x["node_id"]), (x["evaluations"] - office, office)))
    return out


SUGGESTIONS_ = Lifecycle(
    "suggestions",
    "suggestion",
    s.suggestions,
    s.suggestion_snapshots,
    s.SUGGESTION_COLUMNS,
    s.SUGGESTION_KEPT,
    s.SUGGESTION_SNAPSHOT,
    _contributions,
)


def _suggestion_submitted(b: Page, e: LeanEvent) -> None:
    rec, occ, known = e.timestamp, b.occ(e), e.known_at
    sid, node = b.oid, b.owner
    day = day_of(occ)
    year = int(day[:4])
    state = {
        "suggestion_id": sid,
        "node_id": node,
        "number": e.number,
        "congress": e.congress,
        "term": e.term,
        "session": e.session,
        "title": e.title,
        "category": e.category,
        "lead_deputy_id": e.lead_deputy_id,
        "co_n": len(e.co_deputy_ids),
        "day": day,
        "year": year,
        "created_rec": rec,
        "created_occ": occ,
        "created_known": known,
        "state": "submitted",
        "lead_unit": "",
        "co_units": "",
        "due_on": None,
        "assigned_day": None,
        "handling_day": None,
        "replies": 0,
        "first_reply_day": None,
        "last_reply_day": None,
        "last_category": None,
        "evaluations": 0,
        "office_evaluations": 0,
        "last_evaluation": None,
        "dissatisfied": 0,
        "priority": False,
        "leader": "",
        "supervisions": 0,
        "solved_day": None,
        "closed_day": None,
    }
    SUGGESTIONS_.created(b, state)
    b.seen(day)
    # the domain keeps the lead out of the co-signers and lists each once; a key must not repeat regardless
    signers = {e.lead_deputy_id: "lead", **{d: "co" for d in e.co_deputy_ids if d != e.lead_deputy_id}}
    b.inserts["suggestion_signers"].extend(
        (year, d, sid, role, node, day, rec, occ, known, None, None, None) for d, role in signers.items()
    )
    for signer in signers:
        b.count(signer, year, SUGGESTIONS)
        b.mark(ACTIVE, year, signer, node, rec, occ, known)
    SUGGESTIONS_.snapshot(b, state, e, "submitted", occ)


def _suggestion_step(name: str, apply: Callable[[dict[str, Any], Any, str], None]) -> Handler:
    def handle(b: Page, e: LeanEvent) -> None:
        state = SUGGESTIONS_.state(b, e)
        occ = b.occ(e)
        apply(state, e, day_of(occ))
        SUGGESTIONS_.snapshot(b, state, e, name, occ)

    return handle


def _assigned(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(
        state="assigned",
        lead_unit=e.lead_unit,
        co_units="、".join(e.co_units),
        due_on=e.due_on,
        assigned_day=day,
    )


def _handling_started(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="in_handling", handling_day=e.contacted_on)


def _replied(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    day = e.replied_on
    state.update(state="replied", replies=state["replies"] + 1, last_reply_day=day, last_category=e.category)
    if state["first_reply_day"] is None:
        state["first_reply_day"] = day


def _evaluated(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    dissatisfied = e.evaluation == "dissatisfied"
    if dissatisfied:
        after = "rehandling"
    elif state["last_category"] == "A":
        after = "evaluated"
    else:
        after = "follow_up"
    state.update(
        state=after,
        evaluations=state["evaluations"] + 1,
        office_evaluations=state["office_evaluations"] + (e.entry == "office"),
        last_evaluation=e.evaluation,
        dissatisfied=state["dissatisfied"] + (1 if dissatisfied else 0),
    )


def _solved(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="evaluated", solved_day=e.solved_on)


def _priority(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(priority=True, leader=e.leader)


def _supervised(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state["supervisions"] += 1


def _suggestion_closed(state: dict[str, Any], e: LeanEvent, day: str) -> None:
    state.update(state="closed", closed_day=day)


#: What a correction of each correctable fact changes: its fields' columns and the snapshot event that sets them again
#: (a later reply); ``None``: static columns, the current row's only (as-of views read them for a page of a list).
_CORRECTED: dict[str, tuple[str | None, dict[str, str]]] = {
    "submission": (None, {"title": "title", "category": "category"}),
    "assignment": ("assigned", {"lead_unit": "lead_unit", "due_on": "due_on"}),
    "reply": ("replied", {"category": "last_category"}),
}


def _suggestion_corrected(b: Page, e: LeanEvent) -> None:
    """更正: a submission's title and category in the current row; an assignment's or a reply's values by the
    lifecycle's correction (by the recorded and known clocks from when it was recorded and came to be held here, by the
    occurred clock from when the corrected step happened; see ``Lifecycle.correct``)."""
    until, fields = _CORRECTED[e.fact]
    values = {column: e.changes[name] for name, column in fields.items() if name in e.changes}
    state = SUGGESTIONS_.state(b, e)
    if until is None:
        state.update(values)
        SUGGESTIONS_.snapshot(b, state, e, "corrected", None)
    else:
        SUGGESTIONS_.correct(b, e, state, values, until)


def _suggestion_voided(b: Page, e: LeanEvent) -> None:
    """作废: the lifecycle's void (``Lifecycle.void``); its signers stop holding as a voided visit's deputies do (by the
    recorded and known clocks from the void, by the occurred clock never), their activity counted one less and their
    first activity of the year derived again (``projector.deputies``)."""
    state = SUGGESTIONS_.state(b, e)
    SUGGESTIONS_.void(b, e, state)
    b.stop_holding(s.suggestion_signers, "suggestion_id = ?", (b.oid,), e)
    sql = f"SELECT deputy_id, year FROM {b.sql.t(s.suggestion_signers)} WHERE suggestion_id = {b.sql.ph}"
    signers = [tuple(r) for r in b.conn.exec_driver_sql(sql, (b.oid,))]
    if not signers:  # submitted in this page: its rows are not written yet
        signers = [(r[1], r[0]) for r in b.inserts["suggestion_signers"] if r[2] == b.oid]
    for deputy, year in signers:
        b.count(deputy, year, SUGGESTIONS, n=-1)
        b.derive_again["active"].add((year, deputy))


HANDLERS: dict[type, Handler] = {
    Suggestion.Submitted: _suggestion_submitted,
    Suggestion.Assigned: _suggestion_step("assigned", _assigned),
    Suggestion.HandlingStarted: _suggestion_step("handling", _handling_started),
    Suggestion.Replied: _suggestion_step("replied", _replied),
    Suggestion.Evaluated: _suggestion_step("evaluated", _evaluated),
    Suggestion.Solved: _suggestion_step("solved", _solved),
    Suggestion.MarkedPriority: _suggestion_step("priority", _priority),
    Suggestion.Supervised: _suggestion_step("supervised", _supervised),
    Suggestion.Closed: _suggestion_step("closed", _suggestion_closed),
    Suggestion.Corrected: _suggestion_corrected,
    Suggestion.Voided: _suggestion_voided,
}

FAMILY = Family(
    HANDLERS,
    prefetch={cls: "suggestions" for cls in HANDLERS},
    loaders={"suggestions": lambda b, ids: load_states(b, SUGGESTIONS_, ids)},
    finish=SUGGESTIONS_.finish,
    complete=SUGGESTIONS_.complete,
)
