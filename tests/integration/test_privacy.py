"""Erasure and retention at a node's store (``gateways.privacy``), on SQLite and PostgreSQL: by person, by record, by
the retention rule (dry run first), an interrupted erasure completed, and what stays: every event, its bytes, the
chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from domain.base import Attribution, NotFound, Role
from domain.hierarchy import Hierarchy
from domain.privacy import Erasure
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.visits import StationVisit
from gateways.privacy import complete_erasures, erase_person, erase_record, erasure_status, retention, retention_years
from projections.timeutil import CST

TOWN = "430582101"
ADMIN = Attribution("admin", Role.ADMINISTRATOR, datetime(2026, 12, 1, 9, 0, tzinfo=CST))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeStore]:
    if request.param == "sqlite":
        settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    else:
        settings = StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    store = NodeStore(hierarchy.ref(hierarchy.by_code(TOWN)), settings)
    yield store
    store.close()


def _visit(store: NodeStore, day: date, phone: str, *, close: bool, station: Station | None = None) -> StationVisit:
    by = Attribution("clerk", Role.RECORDER, datetime(day.year, day.month, day.day, 9, 0, tzinfo=CST))
    if station is None:
        station = Station.establish(store.node, by, name=f"联络站{uuid4().hex[:8]}", address="湖南")
        station.enrol(by, deputy_id=uuid4(), deputy_name="代表", congress="township")
        store.save_all([station])
    deputy = next(iter(station.enrolled))
    visit = StationVisit.record_visit(store.node, by, station=station, visit_date=day, deputy_ids=[deputy], people_received=1)
    visit.raise_issue(by, summary=f"来电 {phone}", category="民政", raised_by_name="周某某", raised_by_phone=phone)
    visit.resolve_issue(by, number=1, outcome="已答复")
    if close:
        visit.close(by)
    store.save_all([visit])
    return visit


def _status(store: NodeStore, visit: StationVisit) -> str:
    return store.reveal(store.history(visit.id)[1])[1]


def test_erasure_by_person_and_by_record_leave_every_event_in_place(store: NodeStore) -> None:
    first = _visit(store, date(2025, 3, 1), "13800000001", close=True)
    again = _visit(store, date(2025, 4, 1), "13800000001", close=True)  # the same person, another record
    other = _visit(store, date(2025, 5, 1), "13900000002", close=True)
    before = [(n.id, bytes(n.state)) for n in store.iter_notifications()]
    report = erase_person(store, ADMIN, "138 0000 0001", "本人申请删除")
    assert (report.basis, len(report.key_ids), report.records, report.already) == ("person", 2, 2, False)
    assert (_status(store, first), _status(store, again), _status(store, other)) == ("erased", "erased", "opened")
    after = [(n.id, bytes(n.state)) for n in store.iter_notifications()]
    assert after[: len(before)] == before  # not a byte changed; one event more: the erasure
    [erasure_event] = after[len(before) :]
    assert b"13800000001" not in erasure_event[1]
    assert store.verify().ok
    assert erase_person(store, ADMIN, "13800000001", "again").already
    with pytest.raises(NotFound):
        erase_person(store, ADMIN, "13700000000", "nobody")
    with pytest.raises(ValueError, match="neither a phone number nor"):
        erase_person(store, ADMIN, "张三", "a name is no key")
    by_record = erase_record(store, ADMIN, other.id, "登记人申请")
    assert (by_record.basis, by_record.records) == ("record", 1) and _status(store, other) == "erased"
    assert erasure_status(store)["erasures"] == 2


def test_retention_erases_only_records_ended_before_the_limit_after_a_dry_run(store: NodeStore) -> None:
    old = _visit(store, date(2021, 3, 1), "13800000011", close=True)
    still_open = _visit(store, date(2021, 3, 2), "13800000012", close=False)  # not ended: kept whatever its age
    recent = _visit(store, date(2025, 3, 1), "13800000013", close=True)
    dry = retention(store, ADMIN, years=3, today=date(2026, 6, 1), dry_run=True)
    assert (dry.until, dry.aggregates, dry.erasure) == (date(2023, 6, 1), [old.id], None)
    assert _status(store, old) == "opened"  # a dry run erases nothing
    done = retention(store, ADMIN, years=3, today=date(2026, 6, 1), dry_run=False)
    assert done.erasure is not None and done.erasure.basis == "retention" and done.aggregates == [old.id]
    assert (_status(store, old), _status(store, still_open), _status(store, recent)) == ("erased", "opened", "opened")
    assert not retention(store, ADMIN, years=3, today=date(2026, 6, 1), dry_run=False).key_ids  # nothing left to do
    with pytest.raises(ValueError, match="between 1 and 100"):
        retention(store, ADMIN, years=0, today=date(2026, 6, 1), dry_run=True)


def test_an_interrupted_erasure_is_completed(store: NodeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    visit = _visit(store, date(2025, 3, 1), "13800000021", close=True)
    key_ids = store.books.subject_key_ids(store.keyring.subject_id("phone:13800000021"))
    # The process stopped between the erasure's event and the keys' destruction:
    store.save_all(
        [Erasure.record_erasure(store.node, ADMIN, basis="person", subject_id="x", key_ids=key_ids, records=1, reason="r")]
    )
    assert _status(store, visit) == "opened"
    assert complete_erasures(store) == len(key_ids) and _status(store, visit) == "erased"
    monkeypatch.setenv("YIPANQI_RETENTION_YEARS", "0")
    with pytest.raises(ValueError, match="YIPANQI_RETENTION_YEARS"):
        retention_years()
