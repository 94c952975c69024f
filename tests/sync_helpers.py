"""What every sync test ends with: a check that nothing was lost and nothing duplicated, level by level.

A node's **own** events are those whose stored state names it as ``owner`` (the single-writer rule: only the owner
appends to an aggregate, and every event carries its owner). After sync, a node's log must hold exactly

    ⋃ own(n) for every node n of the topology within the node's subtree (itself included),

compared as sets of ``(aggregate id, version, topic, state bytes)``: a missing row is *lost*, a row twice in the log
or not expected there is *duplicated* / *extra*. On top of the sets, each child's stream must appear in the parent's
log in the child's own order (the relay publishes in log order and the ingest applies in order).

The check reads the stores themselves (SQLite files or PostgreSQL tables), never anything the sync code reports.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any
from uuid import UUID

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.personal import mask_name, mask_phone
from domain.simulation import simulate
from domain.store import NodeStore, NodeStores, StoreSettings
from domain.visits import StationVisit

Row = tuple[UUID, int, str, bytes]  # aggregate id, version, topic, state bytes

#: The four-level topology of the issue: 1 province, 2 prefectures, 3 counties, 5 township-level nodes.
PROVINCE = "430000"  # 湖南省
SHAOYANG, ZHANGJIAJIE = "430500", "430800"  # 邵阳市, 张家界市
DONGKOU, SHAODONG, WULINGYUAN = "430525", "430582", "430811"  # 洞口县, 邵东市 (邵阳); 武陵源区 (张家界)
WENCHANG_STREET = "430525001"  # 文昌街道 (a street: no congress of its own)
JIANGKOU = "430525101"  # 江口镇
ZHUOXI = "430582204"  # 斫𥕢乡 (a name outside the Basic Multilingual Plane)
XIEHE, ZHONGHU = "430811201", "430811202"  # 协合乡, 中湖乡 (武陵源区)
FOUR_LEVELS = (
    PROVINCE,
    SHAOYANG,
    ZHANGJIAJIE,
    DONGKOU,
    SHAODONG,
    WULINGYUAN,
    WENCHANG_STREET,
    JIANGKOU,
    ZHUOXI,
    XIEHE,
    ZHONGHU,
)
#: How the topology runs in the field: one ``yipanqi sync run`` process per level.
LAYOUT = {
    "townships": [WENCHANG_STREET, JIANGKOU, ZHUOXI, XIEHE, ZHONGHU],
    "counties": [DONGKOU, SHAODONG, WULINGYUAN],
    "prefectures": [SHAOYANG, ZHANGJIAJIE],
    "province": [PROVINCE],
}
SIM_START = date(2025, 3, 3)

#: Sync timers for tests: a snappier heartbeat and re-publish cadence than production's defaults, so a fault heals
#: within a test's few seconds (the logic is the same; only the timers are shorter).
FAST = {
    "YIPANQI_HEARTBEAT_S": "0.5",
    "YIPANQI_REPORT_S": "0.5",
    "YIPANQI_REPUBLISH_S": "1.0",
    "YIPANQI_STALL_S": "3",
    "YIPANQI_SILENT_S": "5",
    "YIPANQI_STATUS_S": "0.5",
    "YIPANQI_CHECK_S": "0.2",
    "YIPANQI_IDLE_POLL_MS": "200",
    "YIPANQI_LOG_JSON": "1",
}


def fast_settings(**overrides: Any) -> Any:
    """``SyncSettings`` with the FAST timers (what a test's own in-process hosts use)."""
    from sync.settings import SyncSettings

    timers = {k.removeprefix("YIPANQI_").lower(): v for k, v in FAST.items() if k != "YIPANQI_LOG_JSON"}
    return SyncSettings(**{**timers, **overrides})


@cache
def hunan() -> Hierarchy:
    return Hierarchy.load()


def ref(code: str) -> NodeRef:
    return hunan().ref(hunan().by_code(code))


def refs(codes: Iterable[str]) -> list[NodeRef]:
    """NodeRefs in simulation order (parents before children)."""
    return sorted((ref(c) for c in codes), key=lambda r: (r.level.depth, r.code))


def children_within(codes: Iterable[str]) -> Callable[[NodeRef], list[NodeRef]]:
    """A ``children`` function for SyncHost that sees only the topology's nodes."""
    members = {ref(c).node_id for c in codes}

    def children(node: NodeRef) -> list[NodeRef]:
        return [hunan().ref(d) for d in hunan().children(hunan().get(node.node_id)) if d.id in members]

    return children


def parent_of(node: NodeRef) -> NodeRef | None:
    up = hunan().parent(hunan().get(node.node_id))
    return hunan().ref(up) if up is not None else None


# ------------------------------------------------------------------------------------------------------ activity


class Activity:
    """Simulated activity of some nodes, saved batch by batch into their stores, resumable.

    One simulation run is a stream of batches (master data, then day by day); ``write`` saves the next part of it,
    so a test can write some activity before sync starts and more while it runs, all of one consistent run.
    """

    def __init__(
        self,
        settings: StoreSettings,
        codes: Sequence[str],
        *,
        days: int,
        seed: int,
        scale: float = 0.1,
        start: date = SIM_START,
    ) -> None:
        self.stores = NodeStores(settings)
        self.batches = simulate(refs(codes), days=days, start=start, seed=seed, scale=scale)
        self.written: Counter[str] = Counter()
        self.done = False

    def write(self, *, events: int | None = None, day: date | None = None) -> int:
        """Save batches until at least ``events`` more events are written, or the simulated ``day`` is reached, or
        the run ends (no argument: the whole rest). Returns the number of events written."""
        total = 0
        for batch in self.batches:
            if batch.aggregates:
                count = batch.events  # before saving: saving collects the pending events
                self.stores.open(batch.node).save_all(batch.aggregates)
                self.written[batch.node.code] += count
                total += count
            if (events is not None and total >= events) or (day is not None and batch.day is not None and batch.day >= day):
                return total
        self.done = True
        return total

    def write_until(self, code: str, events: int) -> int:
        """Save batches until ``code`` has at least ``events`` more events (or the run ends)."""
        target = self.written[code] + events
        total = 0
        while self.written[code] < target and not self.done:
            total += self.write(events=1)
        return total

    def close(self) -> None:
        self.stores.close()

    def __enter__(self) -> Activity:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_activity(
    settings: StoreSettings, codes: Sequence[str], *, days: int, seed: int, scale: float = 0.1, start: date = SIM_START
) -> Counter[str]:
    """Simulate the nodes' activity and save each batch into its node's store; returns events written per code."""
    with Activity(settings, codes, days=days, seed=seed, scale=scale, start=start) as activity:
        activity.write()
        return activity.written


# ------------------------------------------------------------------------------------------------------- checks


def owner_of(state: bytes) -> UUID:
    """The ``owner`` a stored event names (JSON state: ``{"owner": {"_type_": "uuid_hex", "_data_": ...}}``)."""
    owner = json.loads(state)["owner"]
    return UUID(owner["_data_"] if isinstance(owner, dict) else owner)


def log_rows(store: NodeStore) -> list[Row]:
    """The node's log in order, as rows."""
    return [(n.originator_id, n.originator_version, n.topic, bytes(n.state)) for n in store.iter_notifications()]


def digest(rows: Iterable[Row]) -> str:
    h = hashlib.sha256()
    for aggregate_id, version, topic, state in sorted(set(rows)):
        h.update(aggregate_id.bytes + version.to_bytes(8, "big") + topic.encode() + b"\0")
        h.update(hashlib.sha256(state).digest())
    return h.hexdigest()


@dataclass
class LevelReport:
    code: str
    expected: int
    held: int
    lost: list[Row] = field(default_factory=list)
    extra: list[Row] = field(default_factory=list)  # in the log but not in the subtree's own events
    duplicated: int = 0  # rows that occur more than once in the log
    out_of_order: list[str] = field(default_factory=list)  # children whose stream is not in the child's order
    expected_digest: str = ""
    held_digest: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.extra or self.duplicated or self.out_of_order)

    def __str__(self) -> str:
        head = f"{self.code}: expected {self.expected}, held {self.held}"
        if self.ok:
            return f"{head} ✓ ({self.held_digest[:12]})"
        parts = [f"lost {len(self.lost)}", f"extra {len(self.extra)}", f"duplicated {self.duplicated}"]
        if self.out_of_order:
            parts.append(f"out of order from {self.out_of_order}")
        sample = [f"{r[0]} v{r[1]} {r[2]}" for r in (self.lost[:2] + self.extra[:2])]
        return f"{head} ✗ {', '.join(parts)} e.g. {sample}"


@dataclass
class Report:
    levels: dict[str, LevelReport]
    own: dict[str, int]  # own events per code

    @property
    def ok(self) -> bool:
        return all(level.ok for level in self.levels.values())

    @property
    def lost(self) -> int:
        return sum(len(level.lost) for level in self.levels.values())

    @property
    def duplicated(self) -> int:
        return sum(level.duplicated + len(level.extra) for level in self.levels.values())

    def __str__(self) -> str:
        return "\n".join(str(level) for level in self.levels.values()) + f"\nown events: {self.own}"


class Ledger:
    """Reads the topology's stores and compares every level's log with its subtree's own events."""

    def __init__(self, settings: StoreSettings, codes: Iterable[str]) -> None:
        self.settings = settings
        self.codes = tuple(codes)
        self.nodes = {c: ref(c) for c in self.codes}
        self.code_of = {r.node_id: c for c, r in self.nodes.items()}
        self.stores = NodeStores(settings)
        self._owners: dict[UUID, UUID] = {}

    def owner(self, row: Row) -> UUID:
        """The row's owner (cached per aggregate: an aggregate has one owner, named by each of its events)."""
        owner = self._owners.get(row[0])
        if owner is None:
            owner = self._owners[row[0]] = owner_of(row[3])
        return owner

    def close(self) -> None:
        self.stores.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def subtree(self, code: str) -> list[str]:
        """The topology's nodes at or below ``code``."""
        return [c for c in self.codes if hunan().is_within(self.nodes[c], self.nodes[code])]

    def logs(self) -> dict[str, list[Row]]:
        return {c: log_rows(self.stores.open(r)) for c, r in self.nodes.items()}

    def report(self, logs: dict[str, list[Row]] | None = None) -> Report:
        logs = logs if logs is not None else self.logs()
        own: dict[str, set[Row]] = {c: set() for c in self.codes}
        foreign: list[str] = []
        for code, rows in logs.items():
            for row in rows:
                owner = self.code_of.get(self.owner(row))
                if owner is None:
                    foreign.append(f"{code}: {row[0]} v{row[1]} owned by a node outside the topology")
                elif owner == code:
                    own[code].add(row)
        assert not foreign, foreign[:5]
        levels = {}
        for code, rows in logs.items():
            expected = set().union(*(own[c] for c in self.subtree(code)))
            held = set(rows)
            level = LevelReport(
                code,
                expected=len(expected),
                held=len(rows),
                lost=sorted(expected - held),
                extra=sorted(held - expected),
                duplicated=len(rows) - len(held),
                expected_digest=digest(expected),
                held_digest=digest(held),
            )
            for child in self._children(code):
                members = {self.nodes[c].node_id for c in self.subtree(child)}
                here = [r for r in rows if self.owner(r) in members]
                there = [r for r in logs[child] if self.owner(r) in members]
                if here != there[: len(here)]:  # a prefix while catching up; the whole stream once converged
                    level.out_of_order.append(child)
            levels[code] = level
        return Report(levels, {c: len(v) for c, v in own.items()})

    def _children(self, code: str) -> list[str]:
        parent = self.nodes[code].node_id
        return [c for c, r in self.nodes.items() if (p := parent_of(r)) is not None and p.node_id == parent]

    def wait_converged(self, timeout: float, *, poll: float = 0.25, why: Callable[[], str] | None = None) -> Report:
        """Poll until every level holds exactly its subtree's own events; fail with the last report."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.report()
            if report.ok or time.monotonic() > deadline:
                break
            time.sleep(poll)
        if not report.ok:
            raise AssertionError(f"no convergence within {timeout}s:\n{report}\n{why() if why else ''}")
        return report

    def assert_nothing_lost_nothing_duplicated(self, *, at_least: dict[str, int] | None = None) -> Report:
        """The final check of every sync test: each level equals the union of its subtree's own events."""
        report = self.report()
        assert report.ok, f"\n{report}"
        assert report.lost == 0 and report.duplicated == 0
        for code in self.codes:  # no vacuous pass: every node wrote something of its own
            assert report.own[code] >= (at_least or {}).get(code, 1), f"{code} has only {report.own[code]} own events"
        for code, level in report.levels.items():
            assert level.held_digest == level.expected_digest, code
        return report


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.1, why: Callable[[], Any] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})\n{why() if why else ''}")
        time.sleep(poll)


def iter_batches(records: dict[Any, list[Any]]) -> Iterator[Any]:
    for messages in records.values():
        yield from messages


# ------------------------------------------------------------------------------------------------- kafka fakes


@dataclass
class Sent:
    """One message a relay or an ingest handed to the producer."""

    topic: str
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None


class _Done:
    def __init__(self, value: Any = None) -> None:
        self.value = value

    def get(self, timeout: float | None = None) -> Any:
        return self.value

    def is_done(self) -> bool:
        return True


class RecordingProducer:
    """Stands in for KafkaProducer: records what is sent, acknowledges everything at once."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def send(self, topic: str, value: bytes | None = None, headers: Any = None, partition: int | None = None, **_: Any) -> _Done:
        self.sent.append(Sent(topic, value or b"", list(headers or []), partition))
        return _Done()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


class FailedAck:
    """The future of a send the broker refused."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> Any:
        raise self.error


class ThreadHost:
    """A ``SyncHost`` run by a thread of the test: ``call`` runs a function inside its loop, between two rounds (a
    consumer is not thread-safe), and returns what it returned."""

    def __init__(self, settings: StoreSettings, codes: Sequence[str], topology: Sequence[str], sync: Any) -> None:
        from sync.host import SyncHost

        self.stores = [NodeStore(r, settings) for r in refs(codes)]
        self.host = SyncHost(
            bootstrap=sync.kafka, stores=self.stores, children=children_within(topology), parent=parent_of, settings=sync
        )
        self.calls: queue.Queue[tuple[Callable[[Any], Any], queue.Queue[Any]]] = queue.Queue()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.host.run(until=self._between_rounds)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)

    def _between_rounds(self) -> bool:
        while not self.calls.empty():
            fn, answer = self.calls.get()
            answer.put(fn(self.host))
        return self.stop.is_set()

    def call(self, fn: Callable[[Any], Any], timeout: float = 30) -> Any:
        answer: queue.Queue[Any] = queue.Queue()
        self.calls.put((fn, answer))
        return answer.get(timeout=timeout)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.host.close()
        for store in self.stores:
            store.close()


def as_stored(aggregate: Any) -> Any:
    """A simulated aggregate as its store gives it back: the names and phones of the public its visits' issues hold
    masked (``domain.privacy``: stored sealed)."""
    if isinstance(aggregate, StationVisit):
        for issue in aggregate.issues:
            issue.update(raised_by_name=mask_name(issue["raised_by_name"]), raised_by_phone=mask_phone(issue["raised_by_phone"]))
    return aggregate
