"""Aggregates and events as JSON for people and programs: plain values, Chinese labels beside the codes."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from domain.base import Step
from domain.bodies import StandingCommittee
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.livelihood import LivelihoodProject, ProjectState
from domain.stations import Station
from domain.suggestions import Suggestion, SuggestionState
from domain.visits import StationVisit

#: The aggregate kinds the API speaks of: path segment → (class, Chinese label).
KINDS: dict[str, tuple[type, str]] = {
    "deputy": (Deputy, "人大代表"),
    "standing-committee": (StandingCommittee, "人大常委会"),
    "station": (Station, "代表联络站"),
    "visit": (StationVisit, "进站接待"),
    "contact": (ContactActivity, "联系活动"),
    "suggestion": (Suggestion, "代表建议"),
    "livelihood-project": (LivelihoodProject, "民生实事项目"),
}
KIND_OF_CLASS = {cls: kind for kind, (cls, _) in KINDS.items()}

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "owner", "actor", "role", "occurred_at", "token"}


def plain(value: Any) -> Any:
    """A JSON-ready copy: UUIDs, dates, Decimals and enums as strings; dict keys as strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, Step):  # a lifecycle's last step: by name
        return plain(value._asdict())
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def kind_of(aggregate: Any) -> str:
    return KIND_OF_CLASS.get(type(aggregate), type(aggregate).__name__)


def kind_label(aggregate: Any) -> str:
    kind = kind_of(aggregate)
    return KINDS[kind][1] if kind in KINDS else kind


def state_of(aggregate: Any) -> tuple[str, str]:
    """The aggregate's state code and its Chinese label (a voided record is 已作废, whatever state it had reached)."""
    if aggregate.void_reason:
        return "voided", "已作废"
    if isinstance(aggregate, Suggestion):
        return aggregate.state.value, SuggestionState(aggregate.state).label
    if isinstance(aggregate, LivelihoodProject):
        return aggregate.state.value, ProjectState(aggregate.state).label
    if isinstance(aggregate, Station):
        return aggregate.status.value, aggregate.status.label
    if isinstance(aggregate, StationVisit):
        return ("closed", "已办结") if aggregate.closed else ("open", "接待中")
    if isinstance(aggregate, Deputy):
        return ("serving", "在任") if aggregate.has_active_mandate else ("not_serving", "不在任")
    if isinstance(aggregate, ContactActivity):
        pending = sum(1 for o in aggregate.opinions if not o["fed_back"])
        return ("awaiting_feedback", f"{pending} 条意见待反馈") if pending else ("recorded", "已记录")
    return "active", "有效"


def aggregate_data(aggregate: Any) -> dict[str, Any]:
    skip = {"_id", "_version", "_created_on", "_modified_on", "_pending_events"}
    return {k: plain(v) for k, v in vars(aggregate).items() if k not in skip and not k.startswith("_")}


def event_payload(event: Any) -> dict[str, Any]:
    return {f.name: plain(getattr(event, f.name)) for f in dataclasses.fields(event) if f.name not in _ENVELOPE}


def event_row(event: Any) -> dict[str, Any]:
    return {
        "version": event.originator_version,
        "type": type(event).__qualname__,
        "label": getattr(event, "label", ""),
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor,
        "role": event.role,
        "token": event.token,
        "owner": str(event.owner),
        "payload": event_payload(event),
    }
