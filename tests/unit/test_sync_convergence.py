"""Property: any interleaving of deliveries, duplicates, reorderings, stale heartbeats, failed commits and restarts
converges to the same parent log, each child's events once and in the child's order.

The messages are the real ones: a real ``Relay`` publishes two real township logs (simulated activity in SQLite)
into a recording producer. A real ``Ingest`` applies them into a real SQLite store of their county, which holds
events of its own. Only the transport is modelled: hypothesis picks which messages arrive, in which order, how
often, in which polls, when a commit fails (the transaction rolls back: the process dies) and when the ingest is
re-created from the database (a restart: positions come from the store, nothing from memory). The model's relays
answer re-publish requests the way a rewound relay does: the stream again from the requested position.
At the end the network behaves (heartbeats and answered requests only) and the parent must have converged.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from domain.persistence import StreamPosition, SyncRecorder
from domain.store import NodeStore, StoreSettings
from sync.envelope import GENESIS_LINK, HEADER, Envelope, heartbeat
from sync.ingest import Inbound, Ingest, StreamState, initial_position
from sync.relay import Relay
from sync.settings import SyncSettings, TopicPlan
from tests.sync_helpers import DONGKOU, JIANGKOU, WENCHANG_STREET, Ledger, RecordingProducer, ref, write_activity

CODES = (DONGKOU, WENCHANG_STREET, JIANGKOU)
CHILDREN = (WENCHANG_STREET, JIANGKOU)
PLAN = TopicPlan("prop")
SETTINGS = SyncSettings(relay_batch=7, republish_s=1e-6, heartbeat_s=1e9)


class MemoryBooks(SyncRecorder):
    """A relay's books outside the township's store: capturing must not move the township's own position."""

    def __init__(self) -> None:
        self._positions: dict[str, StreamPosition] = {}

    def positions(self) -> dict[str, StreamPosition]:
        return dict(self._positions)

    def save_position(self, position: StreamPosition) -> None:
        self._positions[position.stream] = position

    def park(self, message: Any) -> None:
        raise AssertionError("a relay parks nothing")

    def parked(self, stream: str | None = None) -> list[Any]:
        return []

    def unpark(self, stream: str) -> list[Any]:
        return []


@dataclass(frozen=True)
class Stream:
    code: str
    topic: str
    messages: tuple[tuple[bytes, bytes], ...]  # (value, envelope header), as the relay sent them
    envelopes: tuple[Envelope, ...]


@dataclass(frozen=True)
class Fixture:
    template: Path  # data dir holding the townships' logs and the county's own events
    own: tuple[StoredEvent, ...]  # the county's own events
    streams: tuple[Stream, ...]


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
        producer = RecordingProducer()
        topic = PLAN.up(ref(code).node_id)
        relay = Relay(
            origin=ref(code).node_id,
            source=store.recorder,
            books=MemoryBooks(),
            producer=producer,  # type: ignore[arg-type]
            topic=topic,
            stream="up",
            settings=SETTINGS,
        )
        while relay.run_once():
            pass
        sent = [(m.value, dict(m.headers)[HEADER]) for m in producer.sent]
        streams.append(Stream(code, topic, tuple(sent), tuple(Envelope.decode(h) for _, h in sent)))
        assert [e.position for e in streams[-1].envelopes] == [n.id for n in store.iter_notifications()]
        store.close()
    county_path = store_settings.sqlite_path(ref(DONGKOU).node_id)
    county = NodeStore(ref(DONGKOU), store_settings)
    own = tuple(county.recorder.select_notifications(start=1, limit=100_000))
    county.close()
    county_path.unlink()  # each example starts the county afresh from these events
    assert all(len(s.messages) >= 8 for s in streams), [len(s.messages) for s in streams]
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

    def insert_events(self, events: Any, **kwargs: Any) -> Any:
        if self.fail_next:
            self.fail_next = False
            raise Crash()
        return self.recorder.insert_events(events, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)


class World:
    def __init__(self, data: Path) -> None:
        self.fx = fixture()
        self.settings = StoreSettings(data_dir=data)
        shutil.copytree(self.fx.template, data, dirs_exist_ok=True)
        self.county = NodeStore(ref(DONGKOU), self.settings)
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
        envelope = stream.envelopes[index]
        beat = heartbeat(envelope.origin, envelope.position, stream.envelopes[-1].position, envelope.link)
        self.poll([(stream, [(b"", beat.encode())])])

    def answer_requests(self, limit: int | None = None) -> None:
        """The relays answer the latest re-publish request of each stream: the stream again after the position."""
        latest = {sent.topic: json.loads(sent.value) for sent in self.producer.sent[self.answered :]}
        self.answered = len(self.producer.sent)
        for stream in self.fx.streams:
            request = latest.get(PLAN.control(ref(stream.code).node_id))
            if request is None:
                continue
            assert request["kind"] == "republish" and request["stream"] == "up"
            position, link = request["from"], request["link"]
            held = [e for e in stream.envelopes if e.position == position]
            assert link == (held[0].link if held else GENESIS_LINK), "the request names a link the relay never sent"
            after = [m for m, e in zip(stream.messages, stream.envelopes, strict=True) if e.position > position]
            self.poll([(stream, after[:limit] if limit else after)])

    def converged(self) -> bool:
        return all(
            s.position.position == stream.envelopes[-1].position and s.state is StreamState.FOLLOWING
            for s, stream in zip(self.ingest.inbound.values(), self.fx.streams, strict=True)
        )

    def close(self) -> None:
        self.county.close()


delivery = st.tuples(st.integers(0, 1), st.integers(0, 10_000), st.integers(1, 12), st.booleans())
step = st.one_of(
    st.tuples(st.just("poll"), st.lists(delivery, min_size=1, max_size=3)),
    st.tuples(st.just("crash"), st.lists(delivery, min_size=1, max_size=3)),
    st.tuples(st.just("heartbeat"), st.tuples(st.integers(0, 1), st.integers(0, 10_000))),
    st.tuples(st.just("republish"), st.integers(1, 15)),
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
            else:
                world.restart()
        for _ in range(10):  # then the network behaves: the relays say where they are and answer requests
            if world.converged():
                break
            for stream in streams:
                world.heartbeat(stream, len(stream.messages) - 1)
            world.answer_requests()
        assert world.converged(), [s.status() for s in world.ingest.inbound.values()]
        assert not world.county.recorder.parked()

        with Ledger(world.settings, CODES) as ledger:
            report = ledger.assert_nothing_lost_nothing_duplicated()  # sets, duplicates, each child's order
            expected = report.levels[DONGKOU].expected_digest
            assert report.levels[DONGKOU].held_digest == expected
        digests.add(expected)
        assert len(digests) == 1  # every interleaving, the same parent log
        positions = world.county.recorder.positions()
        for stream in streams:
            assert positions[str(ref(stream.code).node_id)].link == stream.envelopes[-1].link
    finally:
        world.close()
        shutil.rmtree(data, ignore_errors=True)


digests: set[str] = set()
