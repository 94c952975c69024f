"""The domain's lean paths agree with the library's: events made by ``DutyAggregate.record``/``start`` (not the
library's ``trigger_event``/``_create``), natural ids (not ``uuid5``), and each event class's generated encoder (not
the library's mapper). They lean on eventsourcing internals (the version is pinned): these tests say whether they
still hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4, uuid5

import pytest
from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import base
from domain.base import YIPANQI_NS, Attribution, DutyAggregate, NodeRef, Role, natural_id
from domain.codec import DateAsISO, NodeMapper, StateTranscoder
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject
from domain.simulation import simulate
from domain.stations import Station
from domain.suggestions import Suggestion

BY = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))))


def _library_mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def _node_mapper() -> NodeMapper:
    transcoder = StateTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return NodeMapper(transcoder=transcoder)


def _aggregate_classes() -> list[type[DutyAggregate]]:
    found, stack = [], list(DutyAggregate.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls.__module__.startswith("domain."):
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def _event_classes(cls: type[DutyAggregate]) -> list[type]:
    return [v for k, v in vars(cls).items() if isinstance(v, type) and issubclass(v, CanMutateAggregate) and k != "Event"]


# --------------------------------------------------------------------------------------------- natural ids


@pytest.mark.parametrize(
    "parts",
    [
        ("deputy", uuid4(), "P430500100001"),
        ("suggestion", uuid4(), 18, 4, "闭012"),
        ("station", UUID(int=0), "𦰡溪瑶族乡人大代表联络站"),
        ("division",),
        (Role.DEPUTY, 3, 2.5, None, date(2025, 1, 1)),  # str() of anything, a StrEnum's value
        ("",),
    ],
    ids=repr,
)
def test_natural_ids_are_uuid5_of_the_joined_parts(parts: tuple[Any, ...]) -> None:
    expected = uuid5(YIPANQI_NS, "/".join(str(p) for p in parts))
    got = natural_id(*parts)
    assert got == expected and got.int == expected.int and got.version == 5
    assert (str(got), got.hex, hash(got), got.is_safe, got.variant) == (
        str(expected),
        expected.hex,
        hash(expected),
        expected.is_safe,
        expected.variant,
    )
    assert natural_id(*parts) == got  # the remembered text of a UUID part gives the same id


def test_a_str_subclass_part_is_its_str() -> None:
    class Plain(str):
        pass

    class Kind(StrEnum):
        A = "a"

    assert natural_id(Plain("x"), Kind.A) == uuid5(YIPANQI_NS, "x/a")


# --------------------------------------------------------------------------------------------- lean events


def test_every_domain_event_class_is_made_the_lean_way() -> None:
    for cls in _aggregate_classes():
        for event_class in _event_classes(cls):
            assert base._lean_event(event_class, cls) is not None, event_class  # noqa: SLF001


def test_a_lean_event_has_the_dataclass_init_s_state_in_the_same_order() -> None:
    node = uuid4()
    station = Station.establish(_ref(node), BY, name="某某站", address="湖南")
    station.enrol(BY, deputy_id=uuid4(), deputy_name="张三", congress="county")
    for event in station.collect_events():
        state = vars(event)
        again = type(event)(**state)  # the library's way: the dataclass __init__ and __post_init__
        assert list(vars(again).items()) == list(state.items())
        assert again == event and hash(again) == hash(event)


def _ref(node_id: UUID) -> NodeRef:
    from domain.levels import DivisionKind, Level

    return NodeRef(node_id, "430525", "洞口县", Level.COUNTY, DivisionKind.COUNTY)


def _simulated(library: bool, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ...]]:
    """Every simulated event (state without the store's timestamp, in order) and the aggregates after each batch,
    through the lean path or (``library``) the library's."""
    with monkeypatch.context() as patch:
        if library:
            patch.setattr(base, "_LEAN_EVENTS", {})
            patch.setattr(base, "_lean_event", lambda event_class, cls: None)
        hierarchy = Hierarchy.load()
        refs = [hierarchy.ref(d) for d in hierarchy.subtree(hierarchy.resolve("430525"))]
        for batch in simulate(refs, days=400, start=date(2024, 11, 1), seed=3, scale=0.3):
            for aggregate in batch.aggregates:
                events = aggregate.collect_events()
                state = {k: v for k, v in vars(aggregate).items() if k not in ("_created_on", "_modified_on")}
                assert aggregate.modified_on == events[-1].timestamp
                yield type(aggregate), list(state), repr(state)
                for event in events:
                    yield type(event), [(k, v) for k, v in vars(event).items() if k != "timestamp"]
                    assert type(event.timestamp) is datetime and event.timestamp.tzinfo is UTC


def test_simulated_events_and_aggregates_are_those_of_the_librarys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    lean = list(_simulated(False, monkeypatch))
    library = list(_simulated(True, monkeypatch))
    assert len(lean) == len(library) > 10_000
    assert {item[0] for item in lean} >= {Suggestion.Submitted, LivelihoodProject.Voted, ContactActivity.Recorded}
    for ours, theirs in zip(lean, library, strict=True):
        assert ours == theirs


def test_a_lean_command_that_breaks_an_event_s_signature_fails_as_the_library_would() -> None:
    station = Station.establish(_ref(uuid4()), BY, name="某某站")
    with pytest.raises(TypeError, match="Can't construct event"):
        station.record(Station.DeputyEnrolled, BY, deputy_id=uuid4(), deputy_name="张三")  # no congress
    with pytest.raises(TypeError, match="Unable to construct 'Station.Established' event"):
        Station.start(Station.Established, uuid4(), uuid4(), BY, name="x", address="y", extra=1)
    assert station.version == 1 and len(station.pending_events) == 1


def test_a_failing_apply_records_nothing() -> None:
    deputy = Deputy.start(
        Deputy.Registered,
        uuid4(),
        uuid4(),
        BY,
        person_id="P1",
        name="张三",
        gender="男",
        unit="",
        grassroots=False,
        leading_cadre=False,
        home_node=uuid4(),
    )
    with pytest.raises(KeyError):
        deputy.record(Deputy.LeftGroup, BY, group="没有的小组")  # apply: del groups[...]
    assert deputy.version == 1 and len(deputy.pending_events) == 1


class Odd(DutyAggregate):
    """Events the lean path does not make: a field with a default, a __post_init__ of its own."""

    label: ClassVar[str] = "odd"

    class Began(DutyAggregate.Created):
        note: str = "default"

        def apply(self, odd: Odd) -> None:
            odd.notes = [self.note]

    class Noted(DutyAggregate.Event):
        note: str

        def __post_init__(self) -> None:
            super().__post_init__()
            if not self.note:
                raise ValueError("empty note")

        def apply(self, odd: Odd) -> None:
            odd.notes.append(self.note)

    if TYPE_CHECKING:  # set by Began.apply (an annotation here would make a dataclass __init__)
        notes: list[str]


def test_event_classes_the_lean_path_does_not_make_take_the_library_s_path() -> None:
    assert base._lean_event(Odd.Began, Odd) is None  # noqa: SLF001
    assert base._lean_event(Odd.Noted, Odd) is None  # noqa: SLF001
    odd = Odd.start(Odd.Began, uuid4(), uuid4(), BY)
    odd.record(Odd.Noted, BY, note="x")
    with pytest.raises(ValueError, match="empty note"):
        odd.record(Odd.Noted, BY, note="")
    assert odd.notes == ["default", "x"] and odd.version == 2
    assert [e.role for e in odd.pending_events] == ["recorder", "recorder"]


def test_an_attribution_takes_a_role_s_value() -> None:
    assert Attribution("a", "deputy", BY.occurred_at).role is Role.DEPUTY  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Attribution("a", "nobody", BY.occurred_at)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- class encoders


def test_each_event_class_s_encoder_writes_the_librarys_bytes() -> None:
    ours, library = _node_mapper(), _library_mapper()
    node = uuid4()
    station = Station.establish(_ref(node), BY, name="某某站", address="湖南")
    deputy = uuid4()
    station.enrol(BY, deputy_id=deputy, deputy_name="张三", congress="county")
    other = Station.establish(_ref(node), BY, name="另一站")
    station.merge_into(other, BY)
    project = LivelihoodProject.start(
        LivelihoodProject.Proposed, uuid4(), node, BY, year=2025, title="道路", category="交通", proposed_by="public"
    )
    project.record(LivelihoodProject.Listed, BY, estimate_wan=Decimal("12.30"))
    suggestion = Suggestion.start(
        Suggestion.Submitted,
        uuid4(),
        node,
        BY,
        number="0001",
        congress="county",
        term=18,
        session=4,
        title="关于",
        content="内容",
        category="交通运输",
        lead_deputy_id=deputy,
        co_deputy_ids=[uuid4(), uuid4()],
    )
    suggestion.record(Suggestion.Assigned, BY, lead_unit="局", co_units=["财政局"], due_on=date(2025, 6, 1))
    events = [e for a in (station, other, project, suggestion) for e in a.collect_events()]
    for event in events:
        stored = library.to_stored_event(event)
        assert ours.to_row(event) == (stored.originator_id, stored.originator_version, stored.topic, stored.state)


_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.uuids()
    | st.dates()
    | st.datetimes(timezones=st.none() | st.timezones() | st.just(UTC))
    | st.decimals(allow_nan=False)
    | st.lists(st.uuids() | st.text(max_size=3), max_size=3)
    | st.sampled_from([Role.DEPUTY, b"raw", object()])
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([Station.DeputyEnrolled, ContactActivity.Recorded, Suggestion.Submitted, LivelihoodProject.ProgressReported]),
    st.data(),
)
def test_any_value_in_any_field_is_written_as_the_library_writes_it(event_class: type, data: st.DataObject) -> None:
    """Whatever the annotations say, the encoder checks each value's type: anything unexpected is written by the
    general path (the same bytes as the library's), or fails as the library does."""
    names = [f.name for f in dataclasses.fields(event_class)]
    state: dict[str, Any] = {"originator_id": uuid4(), "originator_version": 1}
    for name in names[2:]:
        state[name] = data.draw(_values, label=name)
    if data.draw(st.booleans(), label="reordered"):
        state = dict(reversed(state.items()))
    event: Any = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    try:
        stored = _library_mapper().to_stored_event(event)
    except Exception as e:  # noqa: BLE001 - whatever the library raises, ours raises too
        with pytest.raises(type(e)):
            _node_mapper().to_row(event)
        return
    assert _node_mapper().to_row(event)[3] == stored.state


def test_values_remembered_by_identity_are_only_immutable_ones() -> None:
    """``owner`` and ``occurred_at`` are remembered by identity from one event to the next: a mutable value found
    there is converted every time."""
    ours, library = _node_mapper(), _library_mapper()
    owner: Any = ["a"]
    station = Station.establish(_ref(uuid4()), BY, name="某某站")
    event: Any = station.collect_events()[0]
    for value in (owner, owner):
        object.__setattr__(event, "__dict__", {**vars(event), "owner": value})
        assert ours.to_row(event)[3] == library.to_stored_event(event).state
        owner.append("b")  # the same list, changed: written as it is now
    node = uuid4()  # the same owner (the same UUID object) for events of two classes
    station = Station.establish(_ref(node), BY, name="甲")
    station.enrol(BY, deputy_id=uuid4(), deputy_name="张三", congress="county")
    for event in station.collect_events():
        assert ours.to_row(event)[3] == library.to_stored_event(event).state
