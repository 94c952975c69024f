"""One process's sync work: the relays and ingests of every node it hosts, on one producer and two consumers.

A county usually hosts its townships; a prefecture's process may host its whole region (~200 nodes). Each hosted
node relays its log up to its parent's ingest and ingests its children's streams, so every level holds its subtree
and forwards it. Per hosted node the cost is memory for its positions, not a thread or a client of its own.

The loop does work only where there is some: a relay reads its log when it may have something new (see
``sync.relay``), a downward sender when its node's logs grew, and the consumer waits up to ``idle_poll_ms`` once
everything is caught up, so an idle process sleeps. Once a second it watches every stream: a stream behind and not
moving for ``stall_s`` is ``stalled`` and recovered step by step (re-seek and re-request, then a new consumer),
loudly, until it moves; every ``report_s`` each relay says in its beat how far it has published and how its
subtree's streams stand (``sync.health``).

The consumer does not use incremental fetch sessions (KIP-227): with them, a fetch session whose broker-side offset
for a partition drifts from the client's (kafka-python issue #2575) makes the broker serve the same stale records to
a client that discards them, and that partition stops without an error. Every fetch names every partition and its
offset instead: a few kilobytes per request.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar
from uuid import UUID

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from domain.base import NodeRef
from domain.persistence import StreamPosition
from domain.persistence.keys import KeyFileError, key_path
from domain.store import NodeStore, ReferenceStore
from sync.downward import DownwardReceiver, DownwardSender
from sync.envelope import initial_position, republish_request
from sync.failures import StoreFailure, is_store_damage, record_failure
from sync.health import StreamState
from sync.ingest import Inbound, Ingest, make_consumer
from sync.lease import NodeLeases
from sync.relay import ACTIVE_S, Relay, make_producer, warm_metadata
from sync.settings import SyncSettings, TopicPlan
from sync.topics import ensure_topics, node_topics

UP = "up"
CONTROL_POLL_S = 0.2
HOUSEKEEPING_S = 1.0
ROUND_S = 0.2  # the longest a round spends on relays (or senders) before it reads the consumer again
T = TypeVar("T")


class SyncHost:
    def __init__(
        self,
        *,
        bootstrap: str,
        stores: Sequence[NodeStore],
        children: Callable[[NodeRef], Sequence[NodeRef]],
        parent: Callable[[NodeRef], NodeRef | None],
        settings: SyncSettings | None = None,
        is_within: Callable[[UUID, UUID], bool] | None = None,
    ) -> None:
        self.settings = settings or SyncSettings()
        self.plan = TopicPlan(self.settings.topic_prefix)
        self.bootstrap = bootstrap
        self.log = structlog.get_logger().bind(host=True)
        self.leases = NodeLeases(stores)
        self.stores = {s.node.node_id: s for s in stores}
        kids = {s.node.node_id: list(children(s.node)) for s in stores}
        topics = node_topics(self.plan, {*self.stores, *(k.node_id for ks in kids.values() for k in ks)})
        ensure_topics(bootstrap, topics, self.settings)
        self.topics = sorted(topics)
        self.producer = make_producer(bootstrap, self.settings)
        warm_metadata(self.producer, self.topics)
        self.consumer = make_consumer(bootstrap)
        self.control = make_consumer(bootstrap)
        self.references: dict[UUID, ReferenceStore] = {}
        self.keys: dict[UUID, tuple[tuple[int, int], Ed25519PrivateKey]] = {}
        self.failures: dict[UUID, StoreFailure] = {}
        self.next_seal = time.monotonic() + self.settings.seal_s
        self.relays: dict[UUID, Relay] = {}
        self.ingests: dict[UUID, Ingest] = {}
        self.senders: dict[UUID, DownwardSender] = {}
        self.receivers: dict[UUID, DownwardReceiver] = {}
        self.within = is_within or _hierarchy_within()
        for store in stores:
            try:
                self._host(store, kids[store.node.node_id], parent(store.node) is not None)
            except Exception as e:
                if not is_store_damage(e):
                    raise
                self._fail(store.node.node_id, e, reassign=False)
        self._index()
        self._assign()
        control = [TopicPartition(self.plan.control(node), 0) for node in self.stores]
        self.control.assign(control)
        self.control.seek_to_end(*control)
        now = time.monotonic()
        self.next_control = self.next_housekeeping = self.next_silence_check = now
        self.last_moved = self.last_round = now
        # Events each hosted node published up (its relay) and took in from its children (its ingest), since start:
        # the metrics' counters (``sync.metrics``).
        self.events_out: Counter[UUID] = Counter()
        self.events_in: Counter[UUID] = Counter()
        self.last_renewal = float("-inf")

    # ---------------------------------------------------------------------------------------------- set-up

    def _host(self, store: NodeStore, kids: Sequence[NodeRef], has_parent: bool) -> None:
        """The relay, ingest, sender and receiver of one node, as it has a parent and children here."""
        node = store.node.node_id
        self.references[node] = ReferenceStore(store.node, store.settings)
        try:
            self._key(store)  # made and registered where missing
        except KeyFileError as e:
            self.log.error("sync.key_unusable", node=str(node), error=str(e))  # it syncs; its chain goes unsealed
        if has_parent:
            self.relays[node] = self._relay(store)
            self.receivers[node] = DownwardReceiver(
                reference=self.references[node],
                books=store.books,
                consumer=self.consumer,
                topic=self.plan.down(node),  # type: ignore[arg-type]
            )
        if kids:
            self.ingests[node] = self._ingest(store, kids)
            self.senders[node] = self._sender(store, kids, self.within)

    def _index(self) -> None:
        """Whose turn it is among the relays and senders, and which node's ingest or receiver each topic feeds."""
        self.relay_turns = Turns(list(self.relays.values()), lambda relay, now: relay.due(now))
        self.sender_turns = Turns(list(self.senders), lambda node, now: node in self.senders and self.senders[node].due(now))
        self.owner = {tp.topic: node for node, ingest in self.ingests.items() for tp in ingest.partitions()}
        self.down = {r.partition.topic: node for node, r in self.receivers.items()}

    def _key(self, store: NodeStore) -> Ed25519PrivateKey:
        """The node's signing key, read again when its file changed (`yipanqi node rotate-key` while sync runs)."""
        node = store.node.node_id
        path = key_path(store.settings.data_dir, node)
        stamp = _stamp(path)
        cached = self.keys.get(node)
        if cached is None or cached[0] != stamp:
            key = store.signing_key()
            self.keys[node] = (_stamp(path), key)
            return key
        return cached[1]

    def _guarded(self, node: UUID, work: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        """``work(*args, **kwargs)`` for one node (what it returns, 0 for None); a damaged store fails that node
        alone (it is left out from then on), anything else is raised as before."""
        if node not in self.stores:
            return 0
        try:
            return work(*args, **kwargs) or 0
        except Exception as e:
            if not is_store_damage(e):
                raise
            self._fail(node, e)
            return 0

    def _fail(self, node: UUID, error: BaseException, *, reassign: bool = True) -> None:
        """Stop serving a node whose store is damaged: said in the log with the node and the file, kept where `sync
        status` reads it; every other node goes on."""
        store = self.stores.pop(node)
        failure = record_failure(store.settings, node, store.node.code, store.name, error)
        self.failures[node] = failure
        self.log.error("sync.node_failed", node=str(node), code=store.node.code, file=failure.where, error=failure.error)
        for served in (self.relays, self.ingests, self.senders, self.receivers, self.keys):
            served.pop(node, None)  # type: ignore[attr-defined]
        reference = self.references.pop(node, None)
        for closing in (reference, store):
            try:
                if closing is not None:
                    closing.close()
            except Exception:  # noqa: BLE001, S110 - a damaged store may not even close cleanly
                pass
        if reassign:
            self._index()
            self._assign()

    def _relay(self, store: NodeStore) -> Relay:
        node = store.node.node_id
        return Relay(
            origin=node,
            source=store.books,
            books=store.books,
            producer=self.producer,
            topic=self.plan.up(node),
            beat_topic=self.plan.beat(node),
            stream=UP,
            settings=self.settings,
        )

    def _ingest(self, store: NodeStore, kids: Sequence[NodeRef]) -> Ingest:
        books = store.books
        inbound = [
            Inbound(
                stream=str(kid.node_id),
                topic=self.plan.up(kid.node_id),
                beat_topic=self.plan.beat(kid.node_id),
                origin=kid.node_id,
                control_topic=self.plan.control(kid.node_id),
                remote_stream=UP,
                position=initial_position(books, str(kid.node_id)),
            )
            for kid in kids
        ]
        return Ingest(
            node=store.node.node_id,
            target=books,
            inbound=inbound,
            consumer=self.consumer,
            producer=self.producer,
            settings=self.settings,
        )

    def _sender(self, store: NodeStore, kids: Sequence[NodeRef], within: Callable[[UUID, UUID], bool]) -> DownwardSender:
        children = tuple(k.node_id for k in kids)
        return DownwardSender(
            store=store,
            reference=self.references[store.node.node_id],
            # Cached: the hierarchy is loaded once per process, and walking it for every routing event cost a parent
            # as much CPU as ingesting (measured with `bench sync`).
            child_of=functools.cache(functools.partial(_child_containing, within, children)),
            children=children,
            producer=self.producer,
            topic_for=self.plan.down,
            settings=self.settings,
        )

    def _assign(self) -> None:
        """Every stream, beat and down partition on the one consumer, each at where its books say to start."""
        partitions = [tp for ingest in self.ingests.values() for tp in ingest.partitions()]
        self.consumer.assign(partitions + [r.partition for r in self.receivers.values()])
        for ingest in self.ingests.values():
            ingest.seek_all()
        for receiver in self.receivers.values():
            receiver.seek()

    # ---------------------------------------------------------------------------------------------- the loop

    def run_once(self) -> int:
        """One round: relays publish, ingests apply what arrived, senders send replicas, relays obey requests."""
        now = time.monotonic()
        self._renew_producer_if_broken()
        moved = self.relay_turns.serve(now, self._publish)
        busy = moved or any(relay.dirty for relay in self.relays.values())
        active = now - self.last_moved < ACTIVE_S
        self._fetch_wait(self.settings.fetch_wait_ms if active or busy else self.settings.idle_fetch_wait_ms)
        wait = self.settings.poll_ms if active else self.settings.idle_poll_ms
        records = self.consumer.poll(timeout_ms=0 if busy else min(wait, self._until_due(now)))
        moved += self._dispatch(records)
        now = time.monotonic()
        moved += self.sender_turns.serve(now, lambda node: self._guarded(node, self._send, node))
        if now >= self.next_control:
            self.next_control = now + CONTROL_POLL_S
            self._obey_control()
        if now >= self.next_housekeeping:
            self.next_housekeeping = now + HOUSEKEEPING_S
            self._housekeeping(now)
        if moved:
            self.last_moved = now
        self.last_round = now
        return moved

    def _publish(self, relay: Relay) -> int:
        sent = self._guarded(relay.origin, relay.run_once)
        self.events_out[relay.origin] += sent
        return sent

    def _fetch_wait(self, ms: int) -> None:
        """How long the broker holds the next fetch for 64 KiB (``fetch_min_bytes``): ``fetch_wait_ms`` while anything
        moves, ``idle_fetch_wait_ms`` once all is caught up. Every fetch names every partition (~2,000 for a 500-node
        process) and decodes the answer for each: at 0.5 s an idle 215-node process spent 5.4 % of a core, at 2 s
        2.1 %; the first events after a quiet spell wait up to that long at each level, then the host is active again.
        kafka-python reads the fetcher's own copy of its configuration for each request (pinned version: 3.0.12)."""
        config = self.consumer._fetcher.config
        if config["fetch_max_wait_ms"] != ms:
            config["fetch_max_wait_ms"] = ms

    def _until_due(self, now: float) -> int:
        """Milliseconds until the next relay or sender wants to look at its log (the poll wakes for messages)."""
        nexts = [r.next_check for r in self.relays.values()] + [s.next_check for s in self.senders.values()]
        return max(0, int((min(nexts, default=now + 1) - now) * 1000))

    def _dispatch(self, records: dict[TopicPartition, Any]) -> int:
        by_ingest: dict[UUID, dict[TopicPartition, Any]] = {}
        moved = 0
        for tp, messages in records.items():
            if tp.topic in self.owner:
                by_ingest.setdefault(self.owner[tp.topic], {})[tp] = messages
            elif tp.topic in self.down:
                node = self.down[tp.topic]
                moved += self._guarded(node, self.receivers[node].handle, messages)
                if node in self.senders:
                    self.senders[node].dirty = True  # replicas from above may be for its children too
        for node, ingest in list(self.ingests.items()):
            applied = self._guarded(node, ingest.handle, by_ingest.get(node, {}))
            if applied:
                moved += applied
                self.events_in[node] += applied
                if node in self.relays:
                    self.relays[node].dirty = True  # forward at once
                self.senders[node].dirty = True
        return moved

    def _send(self, node: UUID) -> int:
        return self.senders[node].run_once(self._resends(node))

    def _resends(self, node: UUID) -> dict[UUID, str]:
        """Children of ``node`` that ask in their beat for every replica again."""
        ingest = self.ingests.get(node)
        return {s.origin: s.resend for s in ingest.inbound.values() if s.resend} if ingest else {}

    def run(self, *, until: Callable[[], bool]) -> None:
        while not until():
            self.run_once()

    # ------------------------------------------------------------------------------------- watching and health

    def _housekeeping(self, now: float) -> None:
        self.release_retried()
        due = [(ingest, stream, step) for ingest in self.ingests.values() for stream, step in ingest.watch(now)]
        if due:
            self._recover(due)
        if now >= self.next_silence_check:
            self.next_silence_check = now + self.settings.stall_s
            self._check_silent()
        for node, each in list(self.ingests.items()):
            self._guarded(node, each.save_status, now)
        if now >= self.next_seal:
            self.next_seal = now + self.settings.seal_s
            self._seal()
        for node, relay in list(self.relays.items()):
            ingest, receiver = self.ingests.get(node), self.receivers.get(node)
            health = (lambda i=ingest: i.health().encode()) if ingest else (lambda: None)
            resend = receiver.resend if receiver else None
            self._guarded(
                node, lambda relay=relay, health=health, resend=resend: relay.beat(now, health=health, resend=resend) or 0
            )

    def _seal(self) -> None:
        """A signed checkpoint of each hosted node's own chain that moved since its last one (``domain.keys``)."""
        for node, store in list(self.stores.items()):
            try:
                seq = store.seal(self._key(store))
            except Exception as e:  # noqa: BLE001 - one node's failure to seal must not stop the others' sync
                if is_store_damage(e):
                    self._fail(node, e)
                else:
                    self.log.warning("sync.seal_failed", node=str(node), error=repr(e))
                continue
            if seq is not None:
                self.log.debug("sync.sealed", node=str(node), seq=seq)

    def _recover(self, due: list[tuple[Ingest, Inbound, int]]) -> None:
        """Stalled streams' recovery, one step per ``stall_s`` a stream stays stalled: read it again from the position
        held and ask the child to publish again from it; then a new consumer (a new connection and fetch state for
        every partition). Partitions beyond their end are looked for once per round, not once per stream."""
        renew = ""
        for ingest, stream, step in due:
            self.log.warning("sync.recover", node=str(ingest.node), stream=stream.stream, step=step, reason=stream.reason)
            ingest.request_republish(stream)  # at every step: a request can be lost with a broker's data
            if step == 1:
                ingest.seek(stream)
            else:
                renew = f"stream {stream.stream} stalled: {stream.reason}"
        if renew:
            self._renew_consumer(renew)
        else:
            self._reseek_beyond_end()

    def _check_silent(self) -> None:
        """Silent streams whose topics hold messages this consumer has not received are stalled, not silent: the
        consumer is renewed. A topic that now ends before where the consumer stands was made anew: read it again."""
        silent = {
            TopicPartition(topic, 0): (ingest, s)
            for ingest in self.ingests.values()
            for s in ingest.inbound.values()
            if s.state is StreamState.SILENT
            for topic in (s.topic, s.beat_topic)
        }
        if not silent:
            return
        ends = self._end_offsets(self.consumer, list(silent))
        if ends is None:
            return
        positions = fetch_positions(self.consumer)
        stuck = ""
        for tp, (ingest, stream) in silent.items():
            end, at = ends.get(tp), positions.get(tp)
            if end is None or at is None:
                continue
            if end < at:
                self.log.warning("consumer.reseek", topic=tp.topic, position=at, end=end)
                self.consumer.seek_to_beginning(tp)
            elif end > at:
                stuck = f"{tp.topic} holds messages up to offset {end}, this consumer is at {at}"
                ingest.stall_found(stream, stuck)
                self.log.warning("consumer.stuck", topic=tp.topic, end=end, **fetch_state(self.consumer, tp))
        if stuck:
            self._renew_consumer(stuck)

    def _renew_consumer(self, why: str) -> None:
        """A new consumer for every partition, each sought where the books say (at most once per ``stall_s``)."""
        now = time.monotonic()
        if now - self.last_renewal < self.settings.stall_s:
            return
        self.last_renewal = now
        self.log.warning("consumer.renewed", reason=why)
        old, self.consumer = self.consumer, make_consumer(self.bootstrap)
        readers: list[Ingest | DownwardReceiver] = [*self.ingests.values(), *self.receivers.values()]
        for client in readers:
            client.consumer = self.consumer
        with contextlib.suppress(Exception):
            old.close()
        self._assign()
        self._reseek_beyond_end()

    def retry_parked(self) -> list[str]:
        return [stream for ingest in self.ingests.values() for stream in ingest.retry_parked()]

    def statuses(self) -> dict[str, list[dict[str, Any]]]:
        """Each hosting node's streams as its ingest sees them. Safe to call from another thread (the metrics'): it
        reads copies of the host's tables."""
        return {str(node_id): list(ingest.statuses()) for node_id, ingest in list(self.ingests.items())}

    # ------------------------------------------------------------------------------------------- broker faults

    def _renew_producer_if_broken(self) -> None:
        """An idempotent producer whose broker lost its state (restarted empty) can fail for good: kafka-python's
        producer-id reset is refused (tansu answers InitProducerId with an error) and every later send fails. The
        positions are in the databases, so a new producer simply takes over; the relays publish again from them."""
        manager = getattr(self.producer, "_transaction_manager", None)
        if manager is None or not manager.has_fatal_error():
            return
        self.log.warning("producer.renewed", error=repr(manager.last_error))
        broken, self.producer = self.producer, make_producer(self.bootstrap, self.settings)
        warm_metadata(self.producer, self.topics)
        writers: list[Relay | Ingest | DownwardSender] = [*self.relays.values(), *self.ingests.values(), *self.senders.values()]
        for client in writers:
            client.producer = self.producer
        with contextlib.suppress(Exception):
            broken.close(timeout=0)

    def _reseek_beyond_end(self) -> None:
        """A partition read beyond its end was deleted and made anew (the broker lost everything). Apache Kafka says
        so (offset out of range) and the consumer resets itself; the embedded tansu broker returns nothing, which
        would leave this process waiting until the new topic outgrew the old offset. Read such partitions from the
        beginning: the databases hold the positions, and the ingests skip what they hold. (Asked when recovering a
        stalled stream: one request for the end of every partition.)"""
        for consumer in (self.consumer, self.control):
            assigned = list(consumer.assignment())
            ends = self._end_offsets(consumer, assigned)
            if ends is None:
                continue
            positions = fetch_positions(consumer)
            for tp in assigned:
                end, position = ends.get(tp), positions.get(tp)
                if end is not None and position is not None and position > end:
                    self.log.warning("consumer.reseek", topic=tp.topic, position=position, end=end)
                    consumer.seek_to_beginning(tp)

    def _end_offsets(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int] | None:
        """The partitions' end offsets, or None (logged) when the broker could not say: kafka-python 3.0.12 raises
        KeyError for a partition missing from the answer (a topic deleted meanwhile), which once ended a process."""
        try:
            return consumer.end_offsets(partitions)  # type: ignore[no-any-return]
        except (KafkaError, KeyError) as e:
            self.log.warning("sync.end_offsets_failed", error=repr(e))
            return None

    def _obey_control(self) -> None:
        # At most every CONTROL_POLL_S: a poll of kafka-python's consumer costs ~2 ms of CPU even when empty, which
        # was 5% of a busy level's CPU when done every round; a re-publish request waits a little longer instead.
        for tp, messages in self.control.poll(timeout_ms=0).items():
            node_id = UUID(tp.topic.rsplit(".", 1)[1])
            for message in messages:
                try:
                    request = json.loads(message.value)
                    relay = self.relays.get(node_id)
                    if relay is not None and request.get("kind") == "republish" and request["stream"] == UP:
                        rewind = functools.partial(
                            relay.rewind, int(request["from"]), str(request["link"]), by=str(request.get("by"))
                        )
                        self._guarded(node_id, lambda rewind=rewind: rewind() or 0)
                        relay.dirty = True
                except (ValueError, KeyError, TypeError) as e:
                    self.log.warning("control.bad_request", node=str(node_id), error=repr(e))

    def release_retried(self) -> None:
        """Streams whose parked messages an operator released (`yipanqi sync retry`) ask for them again."""
        for stream in self.retry_parked():
            self.log.info("ingest.retry", stream=stream)

    def close(self) -> None:
        for ingest in self.ingests.values():
            ingest.save_status(time.monotonic(), force=True)
        for client in (self.consumer, self.control):
            client.close()
        self.producer.close(timeout=5)
        for reference in self.references.values():
            reference.close()
        self.leases.release()


class Turns(Generic[T]):
    """Whose turn it is among the hosted nodes' relays (or senders): a round serves those that are due, in rotation,
    until ``ROUND_S`` is spent, and the next round starts after the last one served. A node with a large backlog
    publishes a page per turn instead of its whole log, and the ingests get the loop back within a round: when
    500 relays published their whole logs in one round, a process left its consumer unread for minutes."""

    def __init__(self, items: list[T], due: Callable[[T, float], bool]) -> None:
        self.items = items
        self.due = due
        self.next = 0

    def serve(self, now: float, run: Callable[[T], int]) -> int:
        moved, deadline, count = 0, time.monotonic() + ROUND_S, len(self.items)
        for k in range(count):
            i = (self.next + k) % count
            if self.due(self.items[i], now):
                moved += run(self.items[i])
                if time.monotonic() > deadline:
                    self.next = (i + 1) % count
                    break
        return moved


def fetch_positions(consumer: KafkaConsumer) -> dict[TopicPartition, int | None]:
    """Where the consumer will fetch each assigned partition next. ``KafkaConsumer.position`` validates every
    assigned partition on each call, so asking it for each of a thousand partitions cost a host seconds of its loop
    (py-spy, a 550-node process): this reads the subscription's state once (kafka-python 3.0.12 internals, pinned)."""
    out: dict[TopicPartition, int | None] = {}
    for tp, state in list(consumer._subscription.assignment.items()):  # type: ignore[attr-defined]
        out[tp] = state.position.offset if state.has_valid_position else None
    return out


def fetch_state(consumer: KafkaConsumer, tp: TopicPartition) -> dict[str, Any]:
    """Why the consumer may not be fetching ``tp``, from its fetcher's own state (kafka-python 3.0.12 internals,
    pinned): logged with a stuck stream so that a stall says what the client believed at the time."""
    state = consumer._subscription.assignment.get(tp)  # type: ignore[attr-defined]
    if state is None:
        return {"assigned": False}
    fetcher, cluster = consumer._fetcher, consumer._manager.cluster  # type: ignore[attr-defined]
    leader = cluster.leader_for_partition(tp)
    position = state.position
    return {
        "leader": leader,
        "leader_epoch": cluster.leader_epoch_for_partition(tp),
        "position": None if position is None else position.offset,
        "record_epoch": None if position is None else position.leader_epoch,
        "fetchable": state.is_fetchable(),
        "paused": state.paused,
        "awaiting_validation": state.awaiting_validation,
        "awaiting_reset": state.awaiting_reset,
        "highwater": state.highwater,
        "pending_fetch": leader in fetcher._nodes_with_pending_fetch_requests,
        "buffered": tp in {f.topic_partition for f in fetcher._completed_fetches.copy()},
    }


def send_republish(settings: SyncSettings, node_id: UUID, position: StreamPosition, *, by: str, stream: str = UP) -> None:
    """Ask a running relay to publish again after ``position`` (what the receiver or an operator holds)."""
    request = republish_request(stream, position.position, position.link, by=by)
    producer = make_producer(settings.kafka, settings)
    try:
        producer.send(TopicPlan(settings.topic_prefix).control(node_id), value=request, partition=0)
        producer.flush()
    finally:
        producer.close(timeout=5)


def _stamp(path: Path) -> tuple[int, int]:
    """What changes when a key file is replaced (a rotation renames the old one and writes a new one)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (stat.st_ino, stat.st_mtime_ns)


def _child_containing(within: Callable[[UUID, UUID], bool], children: tuple[UUID, ...], node: UUID) -> UUID | None:
    return next((child for child in children if within(node, child)), None)


def _hierarchy_within() -> Callable[[UUID, UUID], bool]:
    from domain.hierarchy import Hierarchy

    hierarchy = Hierarchy.load()
    return lambda node, region: node in hierarchy and hierarchy.is_within(node, region)
