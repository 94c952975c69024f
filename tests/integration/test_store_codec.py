"""The store's fast codec and lean append path: the library's bytes, exact round trips, positions in the same
transaction, and the library's path still there for whatever the lean one does not do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.base import Attribution, Role
from domain.codec import DateAsISO, NodeMapper, StateTranscoder
from domain.hierarchy import Hierarchy
from domain.persistence import StoredAnswer, StreamPosition
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from tests.sync_helpers import as_stored

BY = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))))


def _transcoders() -> tuple[JSONTranscoder, StateTranscoder]:
    library, fast = JSONTranscoder(), StateTranscoder()
    for transcoder in (library, fast):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
            transcoder.register(transcoding)
    return library, fast


LIBRARY, FAST = _transcoders()


def _same_encoding(state: Any) -> bytes:
    """Our encoder writes exactly the library's bytes, or fails exactly as it does."""
    try:
        expected = LIBRARY.encode(state)
    except Exception as e:
        with pytest.raises(type(e)):
            FAST.encode(state)
        return b""
    assert FAST.encode(state) == expected
    return expected


# ----------------------------------------------------------------------------------------- the same bytes


class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    BIG = 3


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


class PointAsDict(Transcoding):
    type = Point
    name = "point"

    def encode(self, obj: Point) -> dict[str, Any]:
        return {"x": obj.x, "at": date(2025, 1, 2)}

    def decode(self, data: dict[str, Any]) -> Point:
        return Point(data["x"])


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        '𦰡溪瑶族乡 "quoted" back\\slash \n\t\r\b\f \x00\x1f\x7f \u2028\u2029 é',
        "",
        0,
        -(2**63),
        2**64 - 1,
        2**70,  # orjson refuses: the library's encoder writes it
        True,
        None,
        1.5,
        1e-7,
        float("nan"),
        float("inf"),
        Decimal("230.50"),
        Decimal("-0.000"),
        UUID(int=0),
        uuid4(),
        date(1, 1, 1),
        date(2025, 6, 30),
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8), "Asia/Shanghai")),
        datetime(2025, 1, 1, 8, 0, 0, 1000),  # naive
        datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1, seconds=1))),  # an offset with seconds
        datetime(1403, 1, 14, 16, 8, 53, tzinfo=ZoneInfo("Asia/Shanghai")),  # local mean time: +08:05:43
        datetime(2025, 7, 1, tzinfo=ZoneInfo("America/New_York")),
        [],
        {},
        [uuid4(), None, "x", [date(2025, 1, 1)]],
        (1, "two", uuid4()),
        {"nested": {"deeper": [uuid4(), {"at": datetime(2025, 1, 1, tzinfo=UTC)}]}},
        {1: "int key"},
        {None: "null key", True: "bool key"},
        Colour.RED,
        [Colour.RED],
        Size.BIG,
        {"_type_": "uuid_hex", "_data_": "not made by us"},
        Point(3),  # registered only below
        object(),  # never registered
        {"bytes": b"raw"},
        "\ud800",  # a lone surrogate: neither encoder writes it
    ],
    ids=repr,
)
def test_the_fast_encoder_writes_the_librarys_bytes(value: Any) -> None:
    _same_encoding({"value": value, "after": "x"})
    _same_encoding({"before": uuid4(), "value": value})
    _same_encoding(value)


def test_registered_custom_transcodings_are_used_and_their_output_encoded_too() -> None:
    library, fast = _transcoders()
    for transcoder in (library, fast):
        transcoder.register(PointAsDict())
    state = {"point": Point(7), "points": [Point(1), Point(2)]}
    assert fast.encode(state) == library.encode(state)
    assert library.decode(fast.encode(state))["point"].x == 7


def test_an_unregistered_type_fails_as_in_the_library() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        FAST.encode({"when": datetime(2025, 1, 1).time()})


def test_every_code_point_is_written_as_the_library_writes_it() -> None:
    code_points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(code_points), 4096):
        _same_encoding({"text": "".join(code_points[i : i + 4096])})


_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.uuids()
    | st.dates()
    | st.datetimes(timezones=st.none() | st.timezones() | st.just(UTC))
    | st.decimals(allow_nan=False)
)
_values = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values, max_size=8))
def test_any_state_is_written_as_the_library_writes_it(state: dict[str, Any]) -> None:
    encoded = _same_encoding(state)
    if encoded:
        json.loads(encoded)  # plain JSON text, readable without our code


# ------------------------------------------------------------------------------------ events round-trip


def _simulated_events() -> Iterator[Any]:
    """Two years of one town's deputy work: every kind of activity, a few thousand events."""
    from domain.simulation import simulate

    hierarchy = Hierarchy.load()
    nodes = [hierarchy.ref(d) for d in hierarchy.subtree(hierarchy.by_code("430582101"))]
    for batch in simulate(nodes, days=730, start=date(2025, 1, 1), seed=7):
        for aggregate in batch.aggregates:
            yield from aggregate.collect_events()


def _sealed_too(events: Iterator[Any]) -> Iterator[Any]:
    """Each event, and each that holds personal data of the public also as the store seals it (``sealed`` after
    its fields: an encoder of its own)."""
    from domain.persistence.datakeys import KeyMinter
    from domain.privacy import PERSONAL, seal_events

    keyring = KeyMinter(bytes(32))
    for event in events:
        yield event
        if type(event) in PERSONAL:
            [sealed] = seal_events([event], keyring)
            if sealed is not event:
                yield sealed


def test_simulated_events_map_to_the_librarys_stored_events_and_back() -> None:
    library = Mapper(LIBRARY)
    ours = NodeMapper(FAST)
    classes: set[type] = set()
    sealed = 0
    for event in _sealed_too(_simulated_events()):
        sealed += bool(getattr(event, "sealed", ""))
        classes.add(type(event))
        FAST.native_dict(vars(event))  # the fast pass takes every domain event (no fall back to the library's)
        stored = ours.to_stored_event(event)
        assert stored == library.to_stored_event(event)
        assert ours.to_row(event) == (stored.originator_id, stored.originator_version, stored.topic, stored.state)
        again = ours.to_domain_event(stored)
        assert type(again) is type(event) and again.__dict__ == event.__dict__
    assert len(classes) >= 25  # most event types of the domain went through
    assert any(getattr(cls, "class_version", 1) > 1 for cls in classes)
    assert sealed > 50


# ------------------------------------------------------------------------------------------- the store


def _settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreSettings:
    if backend == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeStore]:
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.by_code("430582101"))
    store = NodeStore(node, _settings(request.param, tmp_path, request))
    yield store
    store.close()


def test_save_all_returns_the_notification_ids_in_order(store: NodeStore) -> None:
    stations = [Station.establish(store.node, BY, name=f"联络站{i}") for i in range(5)]
    for i, station in enumerate(stations[:3]):
        station.enrol(BY, deputy_id=UUID(int=i + 1), deputy_name=f"代表{i}", congress="township")
    ids = store.save_all(stations)
    notifications = list(store.iter_notifications())
    assert list(ids) == [n.id for n in notifications]
    assert [(n.originator_id, n.originator_version) for n in notifications] == [
        (s.id, v) for s in stations for v in range(1, s.version + 1)
    ]
    more = store.save_all([Station.establish(store.node, BY, name="再一个")])
    assert len(more) == 1 and more[0] > ids[-1]
    assert store.save_all([]) == []
    for station in stations:
        assert store.get(station.id) == station


def test_simulated_aggregates_round_trip_through_the_store(store: NodeStore) -> None:
    from domain.simulation import simulate

    hierarchy = Hierarchy.load()
    nodes = [hierarchy.ref(d) for d in hierarchy.subtree(hierarchy.by_code("430582101"))]
    live: dict[UUID, Any] = {}
    saved = 0
    for batch in simulate(nodes, days=730, start=date(2025, 1, 1), seed=3):
        saved += batch.events
        store.save_all(batch.aggregates)  # before the next batch: the simulator goes on changing them
        live.update((a.id, a) for a in batch.aggregates)
    assert saved > 1000 and store.count_events() == saved
    for aggregate_id, aggregate in live.items():
        assert store.get(aggregate_id) == as_stored(aggregate)


def test_rows_and_positions_commit_together_or_not_at_all(store: NodeStore) -> None:
    recorder: Any = store.recorder
    mapper: Any = store.mapper
    first = Station.establish(store.node, BY, name="甲")
    ids = recorder.insert_rows(map(mapper.to_row, first.collect_events()), positions=[StreamPosition("child-a", 5, "ab", 9)])
    assert len(ids) == 1
    assert recorder.positions()["child-a"] == StreamPosition("child-a", 5, "ab", 9)

    again = Station.establish(store.node, BY, name="甲")  # the same natural id: a conflict
    fresh = Station.establish(store.node, BY, name="乙")
    rows = [mapper.to_row(e) for e in fresh.collect_events() + again.collect_events()]
    with pytest.raises(IntegrityError):
        recorder.insert_rows(rows, positions=[StreamPosition("child-a", 6, "cd", 10)])
    assert recorder.positions()["child-a"].position == 5
    assert not store.contains(fresh.id)

    # The library's method, as sync's ingest calls it, does the same.
    stored = [StoredEvent(*row) for row in rows[:1]]
    ids = recorder.insert_events(stored, positions=[StreamPosition("child-a", 6, "cd", 10)])
    assert len(ids) == 1 and recorder.positions()["child-a"].position == 6
    assert store.contains(fresh.id)
    assert recorder.insert_events([], positions=[StreamPosition("child-b", 1, "ef", 0)]) in ([], None)
    assert recorder.positions()["child-b"].position == 1
    assert store.count_events() == 2


def test_a_commands_answer_commits_with_its_events_or_not_at_all(store: NodeStore) -> None:
    """The gateway's idempotency: the answer is written beside the events; a key taken already (a retry that got
    here second) fails the whole transaction, so the retry's events are not written either."""
    first = Station.establish(store.node, BY, name="丙")
    answer = StoredAnswer("tok-1", "key-1", "hash-1", 201, '{"id": "甲"}'.encode())
    ids = store.append_rows(store.take_rows([first]), beside=[answer])
    assert len(ids) == 1 and store.recorder.answer("tok-1", "key-1") == answer  # type: ignore[attr-defined]
    assert store.recorder.answer("tok-2", "key-1") is None  # type: ignore[attr-defined]
    assert store.recorder.last_version(first.id) == 1 and store.recorder.last_version(uuid4()) == 0  # type: ignore[attr-defined]

    retry = Station.establish(store.node, BY, name="丁")  # a new aggregate, as a re-decided non-creation would be
    with pytest.raises(IntegrityError):
        store.append_rows(store.take_rows([retry]), beside=[StoredAnswer("tok-1", "key-1", "hash-2", 200, b"{}")])
    assert not store.contains(retry.id) and store.recorder.answer("tok-1", "key-1") == answer  # type: ignore[attr-defined]

    # An answer alone (a refused command records no event) and save_all's keyword go the same way.
    assert store.append_rows([], beside=[StoredAnswer("tok-1", "key-2", "hash-3", 409, b"{}")]) == []
    other = Station.establish(store.node, BY, name="戊")
    store.save_all([other], beside=[StoredAnswer("tok-1", "key-3", "hash-4", 201, b"{}")])
    assert store.contains(other.id) and store.recorder.answer("tok-1", "key-3").status == 201  # type: ignore[attr-defined]
    assert store.count_events() == 2


def test_a_failed_batch_records_nothing(store: NodeStore) -> None:
    store.save_all([Station.establish(store.node, BY, name="甲")])
    with pytest.raises(IntegrityError):
        store.save_all([Station.establish(store.node, BY, name="乙"), Station.establish(store.node, BY, name="甲")])
    assert store.count_events() == 1


def test_an_event_that_cannot_be_encoded_records_nothing(store: NodeStore) -> None:
    good = Station.establish(store.node, BY, name="甲")
    bad = Station.establish(store.node, BY, name="乙")
    [created] = bad.collect_events()
    created.__dict__["opens_at"] = datetime(2025, 1, 1, 8, 30).time()  # no transcoding for time
    bad._pending_events.append(created)
    with pytest.raises(TranscodingNotRegisteredError):
        store.save_all([good, bad])  # fails half-way through the lazy rows: the transaction rolls back
    assert store.count_events() == 0
    assert store.save_all([Station.establish(store.node, BY, name="丙")]) != []


def test_stored_states_are_the_librarys_json(store: NodeStore) -> None:
    station = Station.establish(store.node, BY, name="𦰡溪联络站")
    store.save_all([station])
    [stored] = store.recorder.select_events(station.id)
    state = json.loads(stored.state)
    assert state["owner"] == {"_type_": "uuid_hex", "_data_": store.node.node_id.hex}
    assert state["occurred_at"] == {"_type_": "datetime_iso", "_data_": BY.occurred_at.isoformat()}
    assert Mapper(LIBRARY).to_domain_event(stored).__dict__ == store.history(station.id)[0].__dict__


class NotifyingStore(NodeStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notified: list[int] = []

    def _notify(self, recordings: list[Any]) -> None:
        self.notified += [r.notification.id for r in recordings]


def test_a_subclass_that_wants_recordings_gets_the_librarys_path(tmp_path: Path) -> None:
    hierarchy = Hierarchy.load()
    store = NotifyingStore(hierarchy.ref(hierarchy.by_code("430582101")), StoreSettings(store="sqlite", data_dir=tmp_path))
    try:
        ids = store.save_all([Station.establish(store.node, BY, name="甲"), Station.establish(store.node, BY, name="乙")])
        assert list(ids) == store.notified == [1, 2]
    finally:
        store.close()
