"""Ingest: incoming streams → this node's log, verbatim, with each stream's position in the same transaction.

The database position is the truth: a frame applies only if its ``prev`` is exactly the position held (or the held
position is one of its events: then only the events after it apply) and its hash-chain link follows from the link
held, event by event. A frame at or below the position is a duplicate: its events are compared with the ones held, and
skipped if they are the same (a re-sent event that differs, or that is missing here, marks the stream diverged:
nothing is skipped silently). Anything else is a gap: that stream halts (others go on) and asks its origin's relay to
re-publish from the held position, repeating the request until the stream follows on again. Kafka offsets are only
hints for seeking. Each applied event goes in with the chain its envelope names (``domain.persistence.chain``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import resolve_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from domain.persistence import EventRow, ParkedMessage, StreamHalt, StreamPosition, SyncRecorder
from domain.persistence.chain import ChainContradiction, id_bytes
from sync.envelope import HEADER, Beat, EnvelopeError, Frame, Kind, links, republish_request
from sync.health import Health, StreamState, StreamStatus
from sync.settings import SyncSettings

#: An event to apply, and the chain its envelope names.
Applied = tuple[EventRow, bytes | None]

#: What a parked message's reason begins with when the child's log differs from what we hold: the stream diverged.
DIVERGED = "hash chain mismatch"


@dataclass
class Inbound:
    """One incoming stream as this node sees it: where it stands, and what it last heard from the child."""

    stream: str  # the name its position is kept under
    topic: str
    beat_topic: str  # where the child says how far it has published, its head and its subtree's health
    origin: UUID  # the node whose relay publishes it
    control_topic: str  # where to ask that relay to re-publish
    remote_stream: str  # the relay's own name for it
    position: StreamPosition
    state: StreamState = StreamState.FOLLOWING  # BEHIND is not kept: it is FOLLOWING with the child ahead
    reason: str = ""
    since: datetime | None = None  # when a state other than following began
    head: int = 0  # the child's log head, as last heard
    published: int = 0  # how far the child's relay has published, as last heard
    heard: float = 0.0  # monotonic time of the last frame or beat
    heard_any: bool = False  # whether anything came from the child since this process started
    moved: float = 0.0  # monotonic time the position last moved, or the stream was last caught up
    stalled_at: float = 0.0  # monotonic time the current stall was noticed
    steps: int = 0  # recovery steps taken in the current stall
    last_request: float = 0.0
    health: Health | None = None  # the child's subtree, as its last beat reported it
    resend: str | None = None  # the child asks for every replica again (its reference store is new)
    last_applied_at: float = 0.0  # broker timestamp (s) of the last applied message

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position.position)

    def status(self, parent: UUID) -> StreamStatus:
        state, reason = self.state, self.reason
        if state is StreamState.FOLLOWING and not self.heard_any:
            state, reason = StreamState.UNKNOWN, "nothing heard from the child yet"
        elif state is StreamState.FOLLOWING and self.lag:
            state = StreamState.BEHIND
        since = self.since.isoformat() if self.since and state not in (StreamState.BEHIND, StreamState.UNKNOWN) else None
        return StreamStatus(
            parent, self.origin, state, self.position.position, max(self.head, self.position.position), since, reason
        )


class Ingest:
    def __init__(
        self,
        *,
        node: UUID,
        target: SyncRecorder,
        inbound: Sequence[Inbound],
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        settings: SyncSettings,
    ) -> None:
        self.node = node
        self.target = target
        self.inbound = {s.topic: s for s in inbound}
        self.beats = {s.beat_topic: s for s in inbound}
        self.consumer = consumer
        self.producer = producer
        self.settings = settings
        self.log = structlog.get_logger().bind(node=str(node))
        self.saved: dict[str, tuple[Any, ...]] = {}  # what was last kept of each stream's state, and when
        self.saved_state: dict[str, StreamState] = {}  # a change of state is kept at once, not after status_s
        self.pending: dict[tuple[bytes, int], bytes] = {}  # what this round applies, before it is committed
        self.next_save = 0.0
        now = time.monotonic()
        halts = target.halts()  # a gap outlives a restart: keep asking, and keep saying since when
        reports = target.state("report")
        for stream in inbound:
            stream.heard = stream.moved = now  # a grace period: nothing is silent or stalled before it could be heard
            parked = target.parked(stream.stream)
            if parked:
                state = StreamState.DIVERGED if parked[0].reason.startswith(DIVERGED) else StreamState.PARKED
                stream.state, stream.reason, stream.since = state, parked[0].reason, parked[0].parked_at
            elif stream.stream in halts:
                halt = halts[stream.stream]
                stream.state, stream.reason, stream.since = StreamState.GAP, halt.reason, halt.since
            if stream.stream in reports:
                stream.health = Health.decode(json.loads(reports[stream.stream]))

    def partitions(self) -> list[TopicPartition]:
        return [TopicPartition(topic, 0) for topic in (*self.inbound, *self.beats)]

    def seek_all(self) -> None:
        """Start each stream at its offset hint (a stale or missing hint only costs re-reading duplicates), and each
        beat topic at its beginning (compacted: little more than the latest beat)."""
        for stream in self.inbound.values():
            self.seek(stream)
        self.consumer.seek_to_beginning(*(TopicPartition(topic, 0) for topic in self.beats))

    def seek(self, stream: Inbound) -> None:
        tp = TopicPartition(stream.topic, 0)
        if stream.position.offset >= 0:
            self.consumer.seek(tp, stream.position.offset + 1)
        else:
            self.consumer.seek_to_beginning(tp)

    def handle(self, records: dict[TopicPartition, list[ConsumerRecord]]) -> int:
        """Apply polled records of this node's streams in one transaction; returns how many events were recorded."""
        moved: dict[str, tuple[Inbound, StreamPosition, list[Applied]]] = {}
        self.pending.clear()
        now = time.monotonic()
        for tp, messages in records.items():
            if tp.topic in self.beats:
                for message in messages:
                    self._beat(self.beats[tp.topic], message, now)
                continue
            stream = self.inbound.get(tp.topic)
            if stream is None:
                continue
            before = stream.position
            stream.heard, stream.heard_any = now, True
            applied = [row for message in messages for row in self._judge(stream, message)]
            if stream.position != before:
                stream.moved = now
                moved[stream.stream] = (stream, before, applied)
        count = self._commit_streams(moved)
        self._repeat_requests()
        return count

    def _beat(self, stream: Inbound, message: ConsumerRecord, now: float) -> None:
        """What the child says of itself: how far it has published, its head, its subtree's health."""
        try:
            beat = Beat.decode(message.value)
            health = Health.decode(beat.health) if beat.health is not None else None
        except (EnvelopeError, ValueError) as e:
            self.log.warning("ingest.bad_beat", stream=stream.stream, offset=message.offset, error=str(e))
            return
        if beat.origin != stream.origin:
            self.log.warning("ingest.foreign_beat", stream=stream.stream, origin=str(beat.origin), offset=message.offset)
            return
        # A beat says where the child stands now (a relay rewound on request publishes again from there); frames read
        # from a backlog carry older heads, so they only ever raise what a beat said.
        stream.heard, stream.heard_any = now, True
        stream.head, stream.published, stream.resend = beat.head, beat.published, beat.resend
        if health is not None:
            stream.health = health

    def _judge(self, stream: Inbound, message: ConsumerRecord) -> list[Applied]:
        """Decide one frame: apply the events we lack (returns them and advances the in-memory position), skip a
        duplicate, halt on a gap, or park poison."""
        if stream.state in (StreamState.PARKED, StreamState.DIVERGED):
            return []
        held = stream.position
        try:
            frame = Frame.decode(_header(message))
            states = frame.split(message.value)
        except EnvelopeError as e:
            self._park(stream, held.position + 1, f"undecodable envelope at offset {message.offset}: {e}", message)
            return []
        stream.head = max(stream.head, frame.head)
        stream.published = max(stream.published, frame.last)
        if frame.kind is Kind.HEARTBEAT:  # an older relay's, in the stream itself: everything before it was sent
            if frame.prev > held.position:
                self._gap(stream, f"origin has published up to {frame.prev}, we hold {held.position}")
            return []
        if frame.last <= held.position:
            self._same_as_held(stream, message, frame, states, len(frame.entries))  # duplicate or re-published
            return []
        skip = _held_prefix(frame, held.position)
        if skip is None:
            self._gap(stream, f"frame {frame.entries[0].position}..{frame.last} follows {frame.prev}, we hold {held.position}")
            return []
        if skip and not self._same_as_held(stream, message, frame, states, skip):
            return []
        return self._apply(stream, message, frame, skip, states)

    def _same_as_held(self, stream: Inbound, message: ConsumerRecord, frame: Frame, states: list[bytes], count: int) -> bool:
        """Whether the frame's first ``count`` events (at or below the position held) are the ones held, byte for
        byte; if not, the stream diverged: the child's copy or ours was changed after it was replicated."""
        entries = frame.entries[:count]
        keys = [(e.originator_id, e.originator_version) for e in entries]
        held = self.target.held_states([k for k in keys if k not in self.pending])
        for entry, key, state in zip(entries, keys, states, strict=False):
            mine = self.pending.get(key, held.get(key))
            if mine != state:
                what = f"{UUID(bytes=entry.originator_id)} v{entry.originator_version}"
                why = "is not held here" if mine is None else "differs from the copy held here"
                reason = f"{DIVERGED}: the re-sent event at position {entry.position} ({what}) {why}"
                self._park(stream, entry.position, reason, message, frame, state)
                return False
        return True

    def _apply(self, stream: Inbound, message: ConsumerRecord, frame: Frame, skip: int, states: list[bytes]) -> list[Applied]:
        """The frame's events after the first ``skip`` (held already), chained on from the link held."""
        entries, states = frame.entries[skip:], states[skip:]
        chained = list(links(bytes.fromhex(stream.position.link), entries, states))
        if chained[-1].hex() != frame.link:
            reason = f"{DIVERGED}: the origin's log differs from what we hold"
            self._park(stream, entries[0].position, reason, message, frame)
            return []
        known = next((i for i, e in enumerate(entries) if not _known_topic(e.topic)), len(entries))
        if known:
            if stream.state is StreamState.GAP:
                self.log.info("ingest.resumed", stream=stream.stream, position=stream.position.position)
                self.target.clear_halt(stream.stream)
            self._follow(stream)
            # A frame applied in part is read again after a restart (its offset minus one is the hint).
            offset = message.offset if known == len(entries) else message.offset - 1
            stream.position = StreamPosition(stream.stream, entries[known - 1].position, chained[known - 1].hex(), offset)
            stream.last_applied_at = message.timestamp / 1000
        if known < len(entries):
            bad = entries[known]
            reason = f"unknown event type {bad.topic}: upgrade, then `yipanqi sync retry`"
            self._park(stream, bad.position, reason, message, frame, states[known])
        applied = list(zip(entries[:known], states[:known], strict=True))
        self.pending.update(((e.originator_id, e.originator_version), state) for e, state in applied)
        # Ids as 32 hex digits: what the recorders store or parse without a UUID object per event.
        return [((e.originator_id.hex(), e.originator_version, e.topic, state), e.chain) for e, state in applied]

    def _follow(self, stream: Inbound) -> None:
        stream.state, stream.reason, stream.since, stream.steps = StreamState.FOLLOWING, "", None, 0

    def _commit_streams(self, moved: dict[str, tuple[Inbound, StreamPosition, list[Applied]]]) -> int:
        """Commit what the streams that moved apply, in one transaction. A stream carrying a checkpoint that this
        node's copy of its origin's chain contradicts applies nothing of this round and is marked diverged; the
        others are committed without it."""
        while moved:
            streams = list(moved.values())
            applied = [row for _, _, rows in streams for row in rows]
            try:
                self._commit(applied, [stream.position for stream, _, _ in streams])
                return len(applied)
            except ChainContradiction as e:
                at = e.index
                for stream, before, rows in streams:
                    if at < len(rows):
                        stream.position = before
                        del moved[stream.stream]
                        origin = UUID(bytes=e.origin)
                        self._park(stream, before.position + 1, f"{DIVERGED}: {origin}'s chain: {e.reason}", None)
                        break
                    at -= len(rows)
        return 0

    def _commit(self, applied: list[Applied], positions: list[StreamPosition]) -> None:
        try:
            self._insert(applied, positions)
        except IntegrityError:
            # Some events are here already (a node that moved to another parent re-sends its log): keep the
            # identical ones out, and let any that differ fail loudly.
            fresh = self._not_yet_held(applied)
            try:
                self._insert([applied[i] for i in fresh], positions)
            except ChainContradiction as e:  # said of the round as the caller gave it
                raise ChainContradiction(fresh[e.index], e.origin, e.seq, e.reason) from None
        self.log.debug("ingest.committed", events=len(applied), positions={p.stream: p.position for p in positions})

    def _insert(self, applied: list[Applied], positions: list[StreamPosition]) -> None:
        self.target.insert_rows([row for row, _ in applied], positions=positions, origins=[chain for _, chain in applied])

    def _not_yet_held(self, applied: list[Applied]) -> list[int]:
        """The indexes of the events not held here yet (read in one query); one held with other bytes fails loudly."""
        keys = [(id_bytes(row[0]), row[1]) for row, _ in applied]
        held = self.target.held_states(keys)
        for key, (row, _) in zip(keys, applied, strict=True):
            if key in held and held[key] != row[3]:
                raise IntegrityError(f"event {row[0]} v{row[1]} differs from the one held")
        return [i for i, key in enumerate(keys) if key not in held]

    def _gap(self, stream: Inbound, reason: str) -> None:
        if stream.state is not StreamState.GAP:
            self.log.warning("ingest.gap", stream=stream.stream, reason=reason, position=stream.position.position)
            self._halt(stream, reason)

    def _halt(self, stream: Inbound, reason: str) -> None:
        """Halt the stream until its origin re-publishes from the position held (asked for at once)."""
        stream.state, stream.reason, stream.since = StreamState.GAP, reason, datetime.now(UTC)
        stream.last_request = 0.0
        self.target.save_halt(StreamHalt(stream.stream, reason, stream.since))

    def _park(
        self,
        stream: Inbound,
        position: int,
        reason: str,
        message: ConsumerRecord | None,
        frame: Frame | None = None,
        payload: bytes | None = None,
    ) -> None:
        """Park a poison message (``payload``: the bad event's bytes, else the whole value; no message: what was
        found of a round of several); the stream halts."""
        self.log.error("ingest.parked", stream=stream.stream, position=position, reason=reason)
        where = {"offset": message.offset, "topic": message.topic} if message else {"topic": stream.topic}
        parked = ParkedMessage(
            stream=stream.stream,
            position=position,
            reason=reason,
            envelope=json.dumps({**where, **frame.as_dict()} if frame else where),
            payload=payload if payload is not None else (message.value if message else None) or b"",
            parked_at=datetime.now(UTC),
        )
        self.target.park(parked)
        stream.state = StreamState.DIVERGED if reason.startswith(DIVERGED) else StreamState.PARKED
        stream.reason, stream.since = reason, parked.parked_at

    def _repeat_requests(self) -> None:
        now = time.monotonic()
        for stream in self.inbound.values():
            if stream.state is StreamState.GAP and now - stream.last_request >= self.settings.republish_s:
                stream.last_request = now
                self.request_republish(stream)

    def request_republish(self, stream: Inbound) -> None:
        request = republish_request(stream.remote_stream, stream.position.position, stream.position.link, by=str(self.node))
        self.producer.send(stream.control_topic, value=request, partition=0)
        self.log.info("ingest.republish_requested", stream=stream.stream, position=stream.position.position)

    def retry_parked(self) -> list[str]:
        """Resume streams whose parked messages an operator released (`yipanqi sync retry`)."""
        resumed = []
        for stream in self.inbound.values():
            if stream.state in (StreamState.PARKED, StreamState.DIVERGED) and not self.target.parked(stream.stream):
                self._halt(stream, "retrying after parked messages were released")
                resumed.append(stream.stream)
        return resumed

    # ------------------------------------------------------------------------------------------ watching streams

    def watch(self, now: float) -> list[tuple[Inbound, int]]:
        """Judge every stream that is neither halted nor parked: following, silent or stalled. Returns the streams
        whose stall just reached another step of recovery, with the step (1, 2, …), for the host to act on.

        A stalled stream stays stalled until its position moves, or a beat heard since says it holds everything."""
        due = []
        for stream in self.inbound.values():
            if stream.state in (StreamState.GAP, StreamState.PARKED, StreamState.DIVERGED):
                continue
            if stream.state is StreamState.STALLED:
                if stream.moved > stream.stalled_at or (stream.heard > stream.stalled_at and not stream.lag):
                    self.log.info("ingest.following", stream=stream.stream, was="stalled", position=stream.position.position)
                    self._follow(stream)
                else:
                    stream.reason = self._stall_reason(stream, now) if stream.steps < 2 else stream.reason
                    if not self._ours(stream):
                        stream.stalled_at = now  # recovery's clock starts once the stall is ours to recover
                    step = 1 + int((now - stream.stalled_at) // self.settings.stall_s)
                    if step > stream.steps and self._ours(stream):
                        stream.steps = step
                        due.append((stream, step))
                continue
            if not stream.lag:
                stream.moved = now
            if now - stream.moved >= self.settings.stall_s:
                self._stall(stream, now, self._stall_reason(stream, now))
                if self._ours(stream):
                    stream.steps = 1
                    due.append((stream, 1))
            elif now - stream.heard > self.settings.silent_s:
                if stream.state is not StreamState.SILENT:
                    stream.state, stream.since = StreamState.SILENT, datetime.now(UTC)
                    silent_s = self.settings.silent_s
                    stream.reason = f"no frame or beat from the child for more than {silent_s:g} s: its sync may not be running"
                    self.log.warning("ingest.silent", stream=stream.stream, position=stream.position.position)
            elif stream.state is StreamState.SILENT:
                self.log.info("ingest.following", stream=stream.stream, was="silent", position=stream.position.position)
                self._follow(stream)
        return due

    @staticmethod
    def _ours(stream: Inbound) -> bool:
        """Whether the stall is this side's to recover: the child has published what we lack. (A child whose relay
        has not published it yet — busy, or not running — stalls the stream too, but re-reading cannot help.)"""
        return stream.published > stream.position.position

    def _stall_reason(self, stream: Inbound, now: float) -> str:
        held, idle = stream.position.position, round(now - stream.moved)
        if stream.published > held:
            return f"child has published up to {stream.published}, we hold {held}: no progress for {idle} s"
        return f"child's log reaches {stream.head}, its relay has published only {stream.published}: no progress for {idle} s"

    def _stall(self, stream: Inbound, now: float, reason: str) -> None:
        stream.state, stream.since, stream.stalled_at, stream.reason = StreamState.STALLED, datetime.now(UTC), now, reason
        # A warning when it is ours to recover; a child's relay that has not got to it yet (hundreds at a big start)
        # is said at info level, and shown by `sync status` all the same.
        log = self.log.warning if self._ours(stream) else self.log.info
        log("ingest.stalled", stream=stream.stream, position=stream.position.position, reason=reason)

    def stall_found(self, stream: Inbound, reason: str) -> None:
        """The host saw what the stream cannot (messages in the topic this consumer does not receive): stalled, and
        already at the second step of recovery (the host renews the consumer)."""
        if stream.state is not StreamState.STALLED:
            self._stall(stream, time.monotonic(), reason)
        stream.steps = max(stream.steps, 2)

    # ------------------------------------------------------------------------------------------------- health

    def health(self) -> Health:
        """This node's subtree: its own streams, and below each child what the child last reported."""
        health = Health.of(stream.status(self.node) for stream in self.inbound.values())
        for stream in self.inbound.values():
            if stream.health is not None:
                vouched = stream.state is not StreamState.SILENT
                health.include(stream.health, vouched=vouched, why=f"no beat from {stream.origin} since {stream.since}")
        return health

    def statuses(self) -> Iterable[dict[str, Any]]:
        now = time.time()
        for stream in list(self.inbound.values()):  # a copy: the metrics read it from their own thread
            status = stream.status(self.node)
            yield {
                "stream": stream.stream,
                "origin": str(stream.origin),
                "position": status.held,
                "head": status.head,
                "lag_events": stream.lag,
                "lag_s": round(now - stream.last_applied_at, 3) if stream.lag and stream.last_applied_at else 0.0,
                "state": status.state.value,
                "reason": status.reason,
            }

    def save_status(self, now: float, *, force: bool = False) -> None:
        """Keep each stream's state (and each child's last report) where other processes read it: a new state at once,
        other changes at most every ``status_s``, and at least every minute, so a reader can tell a running ingest
        from a stopped one."""
        changed = any(s.state is not self.saved_state.get(s.stream) for s in self.inbound.values())
        if now < self.next_save and not force and not changed:
            return
        self.next_save = now + self.settings.status_s
        streams, reports = {}, {}
        for stream in self.inbound.values():
            status = stream.status(self.node)
            key = (status.state, status.held, status.head, status.reason, stream.health and stream.health.encode())
            last = self.saved.get(stream.stream)
            if force or last is None or last[0] != key or now - last[1] >= 60:
                self.saved[stream.stream] = (key, now)
                self.saved_state[stream.stream] = stream.state
                streams[stream.stream] = json.dumps(
                    {
                        **dict(
                            zip(("parent", "child", "state", "held", "head", "since", "reason"), status.encode(), strict=True)
                        ),
                        "published": stream.published,
                        "at": datetime.now(UTC).isoformat(),
                    },
                    ensure_ascii=False,
                )
                if stream.health is not None:
                    reports[stream.stream] = stream.health.to_json()
        if streams:
            self.target.put_state("stream", streams)
        if reports:
            self.target.put_state("report", reports)


def _held_prefix(frame: Frame, held: int) -> int | None:
    """How many of the frame's events we hold already: none if it follows on from ``held``, some if ``held`` is
    one of its events (a frame re-read after a partial apply, or framed differently before a re-publish); None if
    the frame does not touch ``held`` (a gap)."""
    if frame.prev == held:
        return 0
    positions = [e.position for e in frame.entries]
    return positions.index(held) + 1 if frame.prev < held and held in positions else None


def _header(message: ConsumerRecord) -> bytes | None:
    for key, value in message.headers or ():
        if key == HEADER:
            return value
    return None


_KNOWN_TOPICS: set[str] = set()


def _known_topic(topic: str) -> bool:
    """Whether this version of the code can decode the event type (only successes are cached: a retry after an
    upgrade must look again)."""
    if topic in _KNOWN_TOPICS:
        return True
    try:
        resolve_topic(topic)
    except Exception:  # noqa: BLE001 - any failure to resolve means this version cannot decode the event
        return False
    _KNOWN_TOPICS.add(topic)
    return True


def make_consumer(bootstrap: str) -> KafkaConsumer:
    """Assign/seek only: no group, no committed offsets (the database holds the positions)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=200,  # frames: up to ~10k events per poll and transaction
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=30_000,
        consumer_timeout_ms=1000,
        reconnect_backoff_max_ms=1000,  # see make_producer: resume within a second of the broker's return
        enable_incremental_fetch_sessions=False,  # see sync.host: a drifted session stops a partition silently
        # Without fetch sessions every fetch names every partition (~2,000 for a 500-node process), and the broker
        # answers as soon as it has fetch_min_bytes: with the default of one byte, the beats of 500 children (one every
        # few seconds each) made an idle process fetch and decode everything ~20 times a second (15-19% of a core,
        # py-spy). The broker now gathers 64 KiB or waits 0.5 s: a trickle of events waits at most that per level,
        # a backlog does not wait at all.
        fetch_min_bytes=64 * 1024,
        fetch_max_wait_ms=500,
        metrics_enabled=False,  # its per-fetch bookkeeping cost an idle 200-node process more than its own work
    )
