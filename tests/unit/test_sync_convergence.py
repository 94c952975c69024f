"""Property: any interleaving of deliveries, duplicates, reorderings, stale heartbeats, failed commits and restarts
converges to the same parent log, each child's events once and in the child's order.

The messages are the real ones: a real ``Relay`` publishes two real township logs (simulated activity in SQLite)
into a recording producer, in frames of up to three events. A real ``Ingest`` applies them into a real SQLite
store of their county, which holds events of its own. Only the transport is modelled: hypothesis picks which
frames arrive, in which order, how often, in which polls, when a commit fails (the transaction rolls back: the
process dies) and when the ingest is re-created from the database (a restart: positions come from the store,
nothing from memory). The model's relays answer re-publish requests with a real relay rewound to the requested
position (framed anew from there), so a frame delivered late may straddle the position held: only its events
after that position apply. At the end the network behaves (heartbeats and answered requests only) and the parent
must have converged.
"""

from __future__ import annotations

import atexit
import json
import shutil
import struct
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from domain.persistence import StreamPosition
from domain.store import NodeStore, StoreSettings
from sync.envelope import HEADER, Entry, Frame, Kind, heartbeat, initial_position
from sync.envelope import step as chain_step
from sync.ingest import Inbound, Ingest, StreamState
from sync.relay import Relay, link_at
from sync.settings import SyncSettings, TopicPlan
from sync.status import node_status
from tests.sync_helpers import (
    DONGKOU,
    JIANGKOU,
    WENCHANG_STREET,
    Ledger,
    RecordingProducer,
    Row,
    hunan,
    log_rows,
    owner_of,
    ref,
    write_activity,
)

CODES = (DONGKOU, WENCHANG_STREET, JIANGKOU)
CHILDREN = (WENCHANG_STREET, JIANGKOU)
PLAN = TopicPlan("prop")
SETTINGS = SyncSettings(relay_batch=7, frame_events=3, republish_s=1e-6, heartbeat_s=1e9)


class MemoryBooks:
    """A relay's books outside the township's store: capturing must not move the township's own position. (A relay
    reads and saves its position, nothing else of the sync books.)"""

    def __init__(self, *positions: StreamPosition) -> None:
        self._positions = {p.stream: p for p in positions}

    def positions(self) -> dict[str, StreamPosition]:
        return dict(self._positions)

    def save_position(self, position: StreamPosition) -> None:
        self._positions[position.stream] = position


@dataclass(frozen=True)
class Stream:
    code: str
    topic: str
    messages: tuple[tuple[bytes, bytes], ...]  # (value, envelope header), as the relay sent them
    frames: tuple[Frame, ...]


@dataclass(frozen=True)
class Fixture:
    template: Path  # data dir holding the townships' logs and the county's own events
    own: tuple[StoredEvent, ...]  # the county's own events
    streams: tuple[Stream, ...]


def capture(store: NodeStore, topic: str, after: StreamPosition | None = None) -> list[tuple[bytes, bytes]]:
    """What a real relay sends for the township's log after ``after`` (its whole log by default)."""
    producer = RecordingProducer()
    relay = Relay(
        origin=store.node.node_id,
        source=store.recorder,
        books=MemoryBooks(*([after] if after else [])),  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        topic=topic,
        beat_topic=f"{topic}.beat",
        stream="up",
        settings=SETTINGS,
    )
    while relay.run_once():
        pass
    return [(m.value, dict(m.headers)[HEADER]) for m in producer.sent]


@cache
def fixture() -> Fixture:
    """Simulated activity of a county and two of its townships (one a street), and the relays' messages."""
    template = Path(tempfile.mkdtemp(prefix="yipanqi-prop-"))
    atexit.register(shutil.rmtree, template, True)
    store_settings = StoreSettings(data_dir=template)
    write_activity(store_settings, CODES, days=6, seed=71, scale=0.05)
    streams = []
    for code in CHILDREN:
        store = NodeStore(ref(code), store_settings)
        sent = capture(store, PLAN.up(ref(code).node_id))
        streams.append(Stream(code, PLAN.up(ref(code).node_id), tuple(sent), tuple(Frame.decode(h) for _, h in sent)))
        assert [e.position for f in streams[-1].frames for e in f.entries] == [n.id for n in store.iter_notifications()]
        store.close()
    county_path = store_settings.sqlite_path(ref(DONGKOU).node_id)
    county = NodeStore(ref(DONGKOU), store_settings)
    own = tuple(county.recorder.select_notifications(start=1, limit=100_000))
    county.close()
    county_path.unlink()  # each example starts the county afresh from these events
    assert all(len(s.messages) >= 4 for s in streams), [len(s.messages) for s in streams]
    assert sum(len(f.entries) for s in streams for f in s.frames) > 2 * sum(len(s.frames) for s in streams)  # mostly full
    return Fixture(
        template, tuple(StoredEvent(e.originator_id, e.originator_version, e.topic, e.state) for e in own), tuple(streams)
    )


class Crash(Exception):
    """The process died in the middle of the ingest's transaction."""


class Target:
    """The county's recorder, with a switch that makes the next insert fail (the transaction rolls back)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.fail_next = False

    def insert_rows(self, rows: Any, **kwargs: Any) -> Any:
        if self.fail_next:
            self.fail_next = False
            raise Crash()
        return self.recorder.insert_rows(rows, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)


class World:
    def __init__(self, data: Path) -> None:
        self.fx = fixture()
        self.settings = StoreSettings(data_dir=data)
        shutil.copytree(self.fx.template, data, dirs_exist_ok=True)
        self.county = NodeStore(ref(DONGKOU), self.settings)
        self.townships = {s.code: NodeStore(ref(s.code), self.settings) for s in self.fx.streams}
        self.county.recorder.insert_events(list(self.fx.own))
        self.target = Target(self.county.recorder)
        self.producer = RecordingProducer()
        self.offsets: Counter[str] = Counter()
        self.answered = 0
        self.crashes = 0
        self.ingest = self.restart()

    def restart(self) -> Ingest:
        """A new process: the ingest knows only what the database says."""
        inbound = [
            Inbound(
                stream=str(ref(s.code).node_id),
                topic=s.topic,
                beat_topic=PLAN.beat(ref(s.code).node_id),
                origin=ref(s.code).node_id,
                control_topic=PLAN.control(ref(s.code).node_id),
                remote_stream="up",
                position=initial_position(self.county.recorder, str(ref(s.code).node_id)),  # type: ignore[arg-type]
            )
            for s in self.fx.streams
        ]
        self.ingest = Ingest(
            node=ref(DONGKOU).node_id,
            target=self.target,  # type: ignore[arg-type]
            inbound=inbound,
            consumer=None,  # type: ignore[arg-type]
            producer=self.producer,  # type: ignore[arg-type]
            settings=SETTINGS,
        )
        return self.ingest

    def record(self, stream: Stream, value: bytes, header: bytes) -> ConsumerRecord:
        offset = self.offsets[stream.topic]
        self.offsets[stream.topic] += 1
        return ConsumerRecord(
            stream.topic, 0, -1, offset, 1_700_000_000_000 + offset, 0, None, value, [(HEADER, header)], None, -1, len(value), -1
        )

    def poll(self, parts: list[tuple[Stream, list[tuple[bytes, bytes]]]], *, crash: bool = False) -> None:
        """One poll's records handed to the ingest (one transaction)."""
        records: dict[TopicPartition, list[ConsumerRecord]] = {}
        for stream, messages in parts:
            records.setdefault(TopicPartition(stream.topic, 0), []).extend(self.record(stream, v, h) for v, h in messages)
        self.target.fail_next = crash
        try:
            self.ingest.handle(records)
        except Crash:
            self.crashes += 1
            self.restart()
        self.target.fail_next = False

    def heartbeat(self, stream: Stream, index: int) -> None:
        """The relay says it has published up to message ``index`` (a stale one if the ingest is further)."""
        frame = stream.frames[index]
        beat = heartbeat(frame.origin, frame.last, stream.frames[-1].last, frame.link)
        self.poll([(stream, [(b"", beat.encode())])])

    def answer_requests(self, limit: int | None = None) -> None:
        """The relays answer the latest re-publish request of each stream: a real relay rewound to the position
        publishes the stream again after it (the first ``limit`` frames of that arrive)."""
        latest = {sent.topic: json.loads(sent.value) for sent in self.producer.sent[self.answered :]}
        self.answered = len(self.producer.sent)
        for stream in self.fx.streams:
            request = latest.get(PLAN.control(ref(stream.code).node_id))
            if request is None:
                continue
            assert request["kind"] == "republish" and request["stream"] == "up"
            position, link = request["from"], request["link"]
            assert link == link_at(self.townships[stream.code].recorder, "up", position).link, "a link never sent"
            self.republish(stream, position, limit)

    def republish(self, stream: Stream, position: int, limit: int | None = None) -> None:
        """A relay rewound to ``position`` publishes the stream again, framed anew from there (an answer to a stale
        request: its frames straddle whatever position the ingest holds by then)."""
        township = self.townships[stream.code]
        after = capture(township, stream.topic, link_at(township.recorder, "up", position))
        self.poll([(stream, after[:limit] if limit else after)])

    def converged(self) -> bool:
        return all(
            s.position.position == stream.frames[-1].last and s.state is StreamState.FOLLOWING
            for s, stream in zip(self.ingest.inbound.values(), self.fx.streams, strict=True)
        )

    def close(self) -> None:
        for store in (self.county, *self.townships.values()):
            store.close()


delivery = st.tuples(st.integers(0, 1), st.integers(0, 10_000), st.integers(1, 12), st.booleans())
step = st.one_of(
    st.tuples(st.just("poll"), st.lists(delivery, min_size=1, max_size=3)),
    st.tuples(st.just("crash"), st.lists(delivery, min_size=1, max_size=3)),
    st.tuples(st.just("heartbeat"), st.tuples(st.integers(0, 1), st.integers(0, 10_000))),
    st.tuples(st.just("republish"), st.integers(1, 15)),
    st.tuples(st.just("stale"), st.tuples(st.integers(0, 1), st.integers(1, 4), st.integers(1, 6))),
    st.tuples(st.just("restart"), st.none()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=25))
def test_any_interleaving_converges_to_the_same_parent_log(steps: list[tuple[str, Any]]) -> None:
    data = Path(tempfile.mkdtemp(prefix="yipanqi-prop-run-"))
    world = World(data)
    try:
        streams = world.fx.streams
        for kind, arg in steps:
            if kind in ("poll", "crash"):
                parts = []
                for which, start, count, backwards in arg:
                    stream = streams[which]
                    i = start % len(stream.messages)
                    chunk = list(stream.messages[i : i + count])
                    parts.append((stream, chunk[::-1] if backwards else chunk))
                world.poll(parts, crash=kind == "crash")
            elif kind == "heartbeat":
                which, index = arg
                world.heartbeat(streams[which], index % len(streams[which].messages))
            elif kind == "republish":
                world.answer_requests(limit=arg)
            elif kind == "stale":  # a relay answers an old request: from a few events before what the ingest holds
                which, back, limit = arg
                positions = [0, *(e.position for f in streams[which].frames for e in f.entries)]
                held = world.ingest.inbound[streams[which].topic].position.position
                world.republish(streams[which], positions[max(0, positions.index(held) - back)], limit)
            else:
                world.restart()
        for _ in range(10):  # then the network behaves: the relays say where they are and answer requests
            if world.converged():
                break
            for stream in streams:
                world.heartbeat(stream, len(stream.messages) - 1)
            world.answer_requests()
        assert world.converged(), [s.status() for s in world.ingest.inbound.values()]
        assert not world.county.recorder.parked() and not world.county.recorder.halts()

        with Ledger(world.settings, CODES) as ledger:
            report = ledger.assert_nothing_lost_nothing_duplicated()  # sets, duplicates, each child's order
            expected = report.levels[DONGKOU].expected_digest
            assert report.levels[DONGKOU].held_digest == expected
        digests.add(expected)
        assert len(digests) == 1  # every interleaving, the same parent log
        positions = world.county.recorder.positions()
        for stream in streams:
            assert positions[str(ref(stream.code).node_id)].link == stream.frames[-1].link
    finally:
        world.close()
        shutil.rmtree(data, ignore_errors=True)


digests: set[str] = set()


# ----------------------------------------------------------------------------------- frames, case by case


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "data")
    yield made
    made.close()


def received(world: World, stream: Stream) -> list[Row]:
    """The township's events the county holds, in the county's order."""
    township = ref(stream.code).node_id
    return [row for row in log_rows(world.county) if owner_of(row[3]) == township]


def township_log(world: World, stream: Stream) -> list[Row]:
    return log_rows(world.townships[stream.code])


def test_a_frame_straddling_the_held_position_applies_only_the_events_after_it(world: World) -> None:
    stream = world.fx.streams[1]
    world.poll([(stream, [stream.messages[0]])])
    inbound = world.ingest.inbound[stream.topic]
    held = inbound.position.position
    assert held == stream.frames[0].last == 3
    # A relay answering an old request (it was asked for everything after position 1) frames anew from there:
    # its first frame holds 2..4 and straddles the 3 held.
    township = world.townships[stream.code]
    again = capture(township, stream.topic, link_at(township.recorder, "up", 1))
    straddling = Frame.decode(again[0][1])
    assert straddling.prev < held < straddling.last
    world.poll([(stream, again[:2])])
    second = Frame.decode(again[1][1])
    assert (inbound.state, inbound.position.position, inbound.position.link) == (StreamState.FOLLOWING, second.last, second.link)
    assert received(world, stream) == township_log(world, stream)[: second.last]  # each once, in order
    assert not world.producer.sent  # no gap was seen: nothing was asked for


def status_of(world: World, stream: Stream) -> dict[str, Any]:
    """What `yipanqi sync status` shows for the stream (it reads the county's store, as another process would)."""
    rows = node_status(hunan(), ref(DONGKOU), world.settings)
    return next(row for row in rows if row["child"].endswith(f"({stream.code})"))


def test_a_duplicated_and_a_reordered_frame_change_nothing(world: World) -> None:
    stream = world.fx.streams[1]
    m0, m1, m2, m3 = stream.messages[:4]
    inbound = world.ingest.inbound[stream.topic]
    world.poll([(stream, [m1])])  # the second frame first: a gap
    assert inbound.state is StreamState.GAP and "we hold 0" in inbound.reason
    status = status_of(world, stream)
    assert status["state"] == "gap" and "we hold 0" in status["reason"] and "(since 20" in status["reason"], status
    assert world.restart().inbound[stream.topic].state is StreamState.GAP  # the halt outlives a restart
    inbound = world.ingest.inbound[stream.topic]
    world.poll([(stream, [m0, m0, m1, m2, m1])])  # then the first twice, the second again, the third, the second
    world.poll([(stream, [m2, m0, m3, m3])])
    assert (inbound.state, inbound.position.position) == (StreamState.FOLLOWING, stream.frames[3].last)
    assert received(world, stream) == township_log(world, stream)[: stream.frames[3].last]
    assert {json.loads(s.value)["from"] for s in world.producer.sent} == {0}  # asked for everything after 0
    assert status_of(world, stream)["state"] == "behind" and status_of(world, stream)["since"] is None


def test_events_held_already_are_kept_out_and_one_held_with_other_bytes_fails_loudly(world: World) -> None:
    """A node that moved to another parent re-sends its log: the parent holds some of its events already (copied
    through the old parent), under no position of this stream. Those are kept out, the others applied, each once."""
    stream = world.fx.streams[1]
    township = world.townships[stream.code]
    first = stream.frames[0]
    held_already = [n for n in township.recorder.select_notifications(start=1, limit=first.last)][1:]
    world.county.recorder.insert_events(  # type: ignore[call-arg]
        [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in held_already],
        origins=[ref(stream.code).node_id.bytes] * len(held_already),
    )
    world.poll([(stream, stream.messages[:2])])
    inbound = world.ingest.inbound[stream.topic]
    assert (inbound.state, inbound.position.position) == (StreamState.FOLLOWING, stream.frames[1].last)
    assert sorted(received(world, stream)) == sorted(township_log(world, stream)[: stream.frames[1].last])  # each once

    other = world.fx.streams[0]
    n = world.townships[other.code].recorder.select_notifications(start=2, limit=1)[0]
    world.county.recorder.insert_events([StoredEvent(n.originator_id, n.originator_version, n.topic, n.state + b" ")])
    with pytest.raises(IntegrityError, match="differs from the one held"):
        world.ingest.handle({TopicPartition(other.topic, 0): [world.record(other, *other.messages[0])]})
    assert str(ref(other.code).node_id) not in world.county.recorder.positions()  # nothing of it was committed
    assert [row[3] for row in received(world, other)] == [n.state + b" "]


NEXT_MODULE = "yipanqi_unit_next"
NEXT_TOPIC = f"{NEXT_MODULE}:Thing.Happened"


def forged(world: World, stream: Stream, after: int, bad: int, count: int) -> tuple[bytes, bytes]:
    """A frame as a township of a newer version would send it: its events after position ``after``, where the one
    at position ``bad`` is of a type this version does not know (its topic names a class of a newer module)."""
    township = world.townships[stream.code]
    events = township.recorder.select_notifications(start=after + 1, limit=count)
    link, entries = bytes.fromhex(link_at(township.recorder, "up", after).link), []
    for n in events:
        topic = NEXT_TOPIC if n.id == bad else n.topic
        link = chain_step(link, n.id, n.originator_id.bytes, n.originator_version, topic, n.state)
        entries.append(Entry(n.id, n.originator_id.bytes, n.originator_version, topic, len(n.state), None))
    frame = Frame(Kind.EVENTS, ref(stream.code).node_id, after, events[-1].id, link.hex(), tuple(entries))
    return b"".join(n.state for n in events), frame.encode()


def test_poison_in_the_middle_of_a_frame_parks_that_event_after_applying_the_ones_before(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = world.fx.streams[1]
    inbound = world.ingest.inbound[stream.topic]
    world.poll([(stream, [forged(world, stream, after=0, bad=4, count=7)])])
    assert (inbound.state, inbound.position.position) == (StreamState.PARKED, 3)
    assert received(world, stream) == township_log(world, stream)[:3]  # the events before it are applied
    [parked] = world.county.recorder.parked(inbound.stream)
    assert parked.position == 4 and f"unknown event type {NEXT_TOPIC}" in parked.reason
    assert parked.payload == township_log(world, stream)[3][3]  # the bad event's bytes, for the operator
    world.poll([(stream, [stream.messages[1]])])  # a parked stream takes nothing until it is retried
    assert inbound.position.position == 3

    def retry() -> None:  # what `yipanqi sync retry` and the running ingest do
        world.county.recorder.unpark(inbound.stream)
        assert world.ingest.retry_parked() == [inbound.stream]
        world.poll([])  # the ingest asks its relay to publish again after what it holds
        assert json.loads(world.producer.sent[-1].value)["from"] == 3
        world.poll([(stream, [forged(world, stream, after=3, bad=4, count=7)])])

    retry()  # before the upgrade: parked again, at the same event
    assert inbound.state is StreamState.PARKED and world.county.recorder.parked(inbound.stream)[0].position == 4
    (tmp_path / f"{NEXT_MODULE}.py").write_text("class Thing:\n    class Happened:\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the upgrade
    retry()
    assert (inbound.state, inbound.position.position) == (StreamState.FOLLOWING, 10)
    expected = [(*row[:2], NEXT_TOPIC if i == 3 else row[2], row[3]) for i, row in enumerate(township_log(world, stream)[:10])]
    assert received(world, stream) == expected  # verbatim, the new type included, each once


def test_a_format_1_envelope_is_parked_with_a_reason_naming_the_format(world: World) -> None:
    """What the previous version of the relay sent: one event per message, no format byte (its kind came first)."""
    stream = world.fx.streams[1]
    n = world.townships[stream.code].recorder.select_notifications(start=1, limit=1)[0]
    topic = n.topic.encode()
    origin = ref(stream.code).node_id.bytes
    fields = (1, origin, n.id, 0, n.id, n.originator_id.bytes, n.originator_version, bytes(32), len(topic))
    world.poll([(stream, [(n.state, struct.pack(">B16sqqq16sq32sH", *fields) + topic)])])
    inbound = world.ingest.inbound[stream.topic]
    assert inbound.state is StreamState.PARKED and "envelope format 1 (one event per message)" in inbound.reason
    [parked] = world.county.recorder.parked(inbound.stream)
    assert "undecodable envelope" in parked.reason and "envelope format 1" in parked.reason
    assert received(world, stream) == []
