"""删除与保存期限: erasing personal data of the public at its origin, by person, by record, or by the retention rule;
one piece for the command line and the API (``domain.privacy`` says how data is sealed and why erasure is a key's
destruction).

An erasure first records its ``Erasure`` event in the node's log, then destroys the keys: a process stopped in
between leaves the event with live keys, and the next erasure (or ``yipanqi privacy status``) completes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.base import Attribution, NotFound
from domain.catalogue import event_classes
from domain.contacts import ContactActivity
from domain.personal import find, phone_subject
from domain.privacy import PERSONAL, Erasure, sealed_key_id
from domain.store import NodeStore
from domain.timeline import day_of
from domain.visits import StationVisit

_SEALING_TOPICS = [get_topic(cls) for cls in PERSONAL]
_ERASURE_TOPIC = get_topic(Erasure.Recorded)


@dataclass(frozen=True)
class SealedEvent:
    """One event of the node's own that seals personal data: where it is, whose record, under which key."""

    position: int
    aggregate_id: UUID
    version: int
    key_id: str


@dataclass
class ErasureReport:
    """What an erasure destroyed: keys, how many events they sealed, the erasure's record (``already``: it was done
    before; nothing more to do)."""

    erasure_id: UUID | None
    basis: str
    key_ids: list[str]
    records: int
    already: bool = False
    completed: int = 0  # keys of earlier, interrupted erasures destroyed now


@dataclass
class RetentionReport:
    """What the retention rule finds (``dry_run``) or erased: records ended before ``until``, their keys."""

    until: date
    dry_run: bool
    aggregates: list[UUID] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)
    records: int = 0
    kept_shared: int = 0  # keys kept: they also seal a record still within its retention
    erasure: ErasureReport | None = None


def person_subject(identifier: str) -> str:
    """The key subject of a person named by a phone or ID number, as typed (spaces, hyphens, +86, full width)."""
    found = find(identifier.strip())
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(identifier.strip()):
        return found[0].subject
    digits = phone_subject(identifier)
    if len(digits) > len("phone:") + 6 and all(c.isdigit() or c in " -+()（）" for c in identifier.strip()):
        return digits
    raise ValueError(f"person: {identifier!r} is neither a phone number nor a resident ID number (既非电话号码也非身份证号)")


def sealed_events(store: NodeStore) -> Iterator[SealedEvent]:
    """The node's own events that seal personal data, in log order."""
    node_id, start = store.node.node_id, 1
    while page := store.recorder.select_notifications(start=start, limit=1000, topics=_SEALING_TOPICS):
        for n in page:
            event: Any = store.mapper.to_domain_event(n)
            key_id = sealed_key_id(getattr(event, "sealed", ""))
            if key_id and event.owner == node_id:
                yield SealedEvent(n.id, event.originator_id, event.originator_version, key_id)
        start = page[-1].id + 1


def erase_person(store: NodeStore, by: Attribution, identifier: str, reason: str) -> ErasureReport:
    """Erase everything sealed under the keys of the person with this phone or ID number."""
    subject_id = store.keyring.subject_id(person_subject(identifier))
    return _erase(store, by, "person", subject_id, store.books.subject_key_ids(subject_id), reason)


def erase_record(store: NodeStore, by: Attribution, aggregate_id: UUID, reason: str) -> ErasureReport:
    """Erase the personal data of one record: every key its events sealed with (a person's key seals their other
    records too, which the report counts)."""
    if not store.contains(aggregate_id):
        raise NotFound(f"record {aggregate_id}", "absent", f"no record {aggregate_id} at {store.node}")
    key_ids = sorted({e.key_id for e in sealed_events(store) if e.aggregate_id == aggregate_id})
    live = [k for k in key_ids if store.books.data_key(k) is not None]
    return _erase(store, by, "record", str(aggregate_id), live, reason, named=key_ids)


def _erase(
    store: NodeStore,
    by: Attribution,
    basis: str,
    subject_id: str,
    key_ids: list[str],
    reason: str,
    named: list[str] | None = None,
) -> ErasureReport:
    completed = complete_erasures(store)
    if not key_ids:
        done = _erased_before(store, subject_id, named)
        if done is None:
            raise NotFound(
                f"personal data at {store.node}",
                "absent",
                f"no personal data sealed for this {basis} at {store.node} (无此人/此记录的个人信息)",
            )
        return ErasureReport(done.id, basis, list(done.key_ids), done.records, already=True, completed=completed)
    keys = set(key_ids)
    records = sum(1 for e in sealed_events(store) if e.key_id in keys)
    erasure = Erasure.record_erasure(
        store.node, by, basis=basis, subject_id=subject_id, key_ids=key_ids, records=records, reason=reason
    )
    if not store.contains(erasure.id):
        store.save_all([erasure])
    store.books.erase_data_keys(key_ids)
    return ErasureReport(erasure.id, basis, sorted(key_ids), records, completed=completed)


def _erased_before(store: NodeStore, subject_id: str, key_ids: list[str] | None) -> Erasure | None:
    for e in _erasures(store):
        if e.subject_id == subject_id or (key_ids and set(key_ids) <= set(e.key_ids)):
            return store.get(e.originator_id)  # type: ignore[no-any-return]
    return None


def _erasures(store: NodeStore) -> Iterator[Erasure.Recorded]:
    start = 1
    while page := store.recorder.select_notifications(start=start, limit=1000, topics=[_ERASURE_TOPIC]):
        for n in page:
            event: Any = store.mapper.to_domain_event(n)
            if event.owner == store.node.node_id:
                yield event  # type: ignore[misc]
        start = page[-1].id + 1


def complete_erasures(store: NodeStore) -> int:
    """Destroy the keys of recorded erasures that are still alive (a process stopped between the event and the
    destruction, or a key store restored from a backup): how many."""
    live = [k for e in _erasures(store) for k in e.key_ids if store.books.data_key(k) is not None]
    return store.books.erase_data_keys(live) if live else 0


# --------------------------------------------------------------------------------------------- retention

_RECORDS = (StationVisit, ContactActivity)
_RECORD_TOPICS = [get_topic(cls) for record in _RECORDS for cls in event_classes(record)]
_ENDING = {get_topic(StationVisit.Closed), get_topic(StationVisit.Voided), get_topic(ContactActivity.Voided)}
_VISIT_TOPICS = {get_topic(cls) for cls in event_classes(StationVisit)}


def retention_years() -> int:
    """The retention of personal data of the public, in years after a record ended: ``YIPANQI_RETENTION_YEARS``
    (default 3)."""
    text = os.environ.get("YIPANQI_RETENTION_YEARS", "3").strip()
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ValueError(f"YIPANQI_RETENTION_YEARS: {text!r} is not a number of years between 1 and 100")
    return int(text)


def retention(store: NodeStore, by: Attribution, *, years: int, today: date, dry_run: bool, reason: str = "") -> RetentionReport:
    """Erase the personal data of records that ended more than ``years`` ago (a station visit ends when it is closed,
    a contact with its last event); a key that also seals a record still within its time is kept."""
    if not 1 <= years <= 100:
        raise ValueError(f"years: {years} is not between 1 and 100")
    until = _years_before(today, years)
    ended: dict[UUID, date] = {}
    visits: set[UUID] = set()
    closed: set[UUID] = set()
    start = 1
    while page := store.recorder.select_notifications(start=start, limit=1000, topics=_RECORD_TOPICS):
        for n in page:
            event: Any = store.mapper.to_domain_event(n)
            if event.owner != store.node.node_id:
                continue
            aggregate_id = event.originator_id
            ended[aggregate_id] = max(ended.get(aggregate_id, date.min), day_of(event.occurred_at))
            if n.topic in _VISIT_TOPICS:
                visits.add(aggregate_id)
            if n.topic in _ENDING:
                closed.add(aggregate_id)
        start = page[-1].id + 1
    expired = {a for a, day in ended.items() if day < until and (a not in visits or a in closed)}
    report = RetentionReport(until, dry_run)
    sealing: dict[str, set[UUID]] = {}  # key → the records it seals
    records: dict[str, int] = {}
    for e in sealed_events(store):
        sealing.setdefault(e.key_id, set()).add(e.aggregate_id)
        records[e.key_id] = records.get(e.key_id, 0) + 1
    gone = [k for k, held in sorted(sealing.items()) if held <= expired]
    live = [k for k in gone if store.books.data_key(k) is not None]
    report.key_ids, report.records = live, sum(records[k] for k in live)
    report.kept_shared = sum(1 for held in sealing.values() if held & expired and not held <= expired)
    report.aggregates = sorted({a for k in live for a in sealing[k]}, key=str)
    if live and not dry_run:
        why = reason or f"保存期限 {years} 年届满 (records ended before {until.isoformat()})"
        report.erasure = _erase(store, by, "retention", f"until:{until.isoformat()}", live, why)
    return report


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def erasure_status(store: NodeStore) -> dict[str, int]:
    """The node's personal data at a glance: events sealing it, live keys they use, erasures recorded."""
    events = list(sealed_events(store))
    keys = {e.key_id for e in events}
    sealed = len(events)
    live = sum(1 for k in keys if store.books.data_key(k) is not None)
    return {"sealed_events": sealed, "keys_used": len(keys), "keys_live": live, "erasures": sum(1 for _ in _erasures(store))}


__all__ = [
    "ErasureReport",
    "RetentionReport",
    "complete_erasures",
    "erase_person",
    "erase_record",
    "erasure_status",
    "person_subject",
    "retention",
    "retention_years",
    "sealed_events",
]
