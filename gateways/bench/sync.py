"""``yipanqi bench sync``: the whole township → county → prefecture → province path vs bare kafka-python.

One run, one broker (``--kafka``, else ``YIPANQI_KAFKA``, else the embedded broker started here):

1. **Record** ``events`` simulated events into several township stores under one county (邵东市), before any sync.
2. **Raw**: bare kafka-python produces the same number of messages as there are events, of the same sizes (each
   event's stored bytes, with the envelope header a frame of that one event would carry), to one single-partition
   topic with the relay's producer settings (acks=all, idempotent, same linger, batch and compression), then
   consumes them with assign/seek. The pipeline itself frames up to ``frame_events`` events per message; the
   events per message its relays actually sent are read back from their topics (``events_per_message``).
3. **Pipeline**: one ``yipanqi sync run`` process per level (townships, county, prefecture, province), each with
   this run's own ``YIPANQI_TOPIC_PREFIX`` and ``YIPANQI_DATA_DIR``, so the stages pipeline across the cores as
   they would on separate machines. Timed from the moment the township process is ready to relay until the
   province's log holds all events.
4. **Lag**: the townships then record new simulated activity at a steady rate (default 500 events/s), one
   aggregate per transaction. The writer notes the wall time right after each commit returns; a poller reads the
   province's log every few milliseconds and notes when each (aggregate id, version) first becomes visible there.
   Lag = visible at the province − committed at the township (both over-estimate by at most a poll interval).
5. **Check**: the province's log, and every intermediate level's, against the union of the township logs and the
   levels' own events at and below it (their keys' registrations and chain checkpoints) by (aggregate id, version,
   state bytes): ``lost`` and ``duplicated`` must be 0.

``peak_rss_mb`` and ``cpu_s`` are read per process from ``/proc/<pid>`` just before it is stopped.

For tuning: ``YIPANQI_BENCH_PROFILE=county,prefecture`` runs those levels under cProfile (``<level>.prof``) and
``YIPANQI_BENCH_KEEP=1`` keeps the run's directory (stores, process logs, profiles) instead of deleting it.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from kafka import TopicPartition

from domain.base import DutyAggregate, NodeRef
from domain.hierarchy import Hierarchy
from domain.simulation import simulate
from domain.store import NodeStore, StoreSettings
from gateways.bench.raw import produce_then_consume
from gateways.bench.services import PROJECT_ROOT
from gateways.bench.usage import cpu_s, delete_topics, describe_broker, machine_cpu, status_mb
from sync.brokers import EmbeddedBroker
from sync.envelope import GENESIS_LINK, HEADER, Entry, Frame, Kind
from sync.ingest import make_consumer
from sync.settings import SyncSettings, TopicPlan

COUNTY = "430582"  # 邵东市
PREFECTURE = "430500"  # 邵阳市
PROVINCE = "430000"  # 湖南省
_START = date(2025, 1, 1)
_SIM_YEARS = 10
_EVENTS_PER_TOWN_YEAR = 700  # at scale 1 (measured ~800): sizes the simulation so it does not run dry
_READY = "syncing"  # `yipanqi sync run` prints "同步运行中 syncing N nodes via …" just before it starts its loop
_POLL_S = 0.005  # the lag poller's period: lags are over-estimated by at most this
_PIPELINE_POLL_S = 0.02  # the throughput watcher's: ≤ 0.02 s on a run of many seconds, and it leaves the cores alone


@dataclass
class Level:
    name: str
    codes: list[str]
    proc: subprocess.Popen[bytes] | None = None
    out: Path | None = None
    ready_at: float = 0.0
    rss_mb: float = 0.0
    cpu_s: float = 0.0


@dataclass
class Writer:
    """The townships' own activity: the simulator, saved one node batch (or one aggregate) per transaction."""

    stores: dict[UUID, NodeStore]
    batches: Iterator[Any]
    pending: list[tuple[NodeRef, DutyAggregate]] = field(default_factory=list)
    written: int = 0

    def _refill(self) -> bool:
        for batch in self.batches:
            if batch.aggregates:
                self.pending = [(batch.node, a) for a in batch.aggregates]
                return True
        return False

    def record_bulk(self, events: int) -> None:
        """Record until ``events`` are written, whole batches at a time while they fit."""
        while self.written < events:
            if not self.pending and not self._refill():
                raise RuntimeError(f"the simulator produced only {self.written} events")
            node = self.pending[0][0]
            room = events - self.written
            take: list[DutyAggregate] = []
            count = 0
            while self.pending and self.pending[0][0] == node and count < room:
                aggregate = self.pending.pop(0)[1]
                take.append(aggregate)
                count += len(aggregate.pending_events)
            self.stores[node.node_id].save_all(take)
            self.written += count

    def record_one(self) -> list[tuple[str, int]] | None:
        """Save the next aggregate's new events in one transaction; returns their keys, or None when dry."""
        if not self.pending and not self._refill():
            return None
        node, aggregate = self.pending.pop(0)
        keys = [(aggregate.id.hex, e.originator_version) for e in aggregate.pending_events]
        self.stores[node.node_id].save_all([aggregate])
        self.written += len(keys)
        return keys


def run_sync_benchmark(
    *,
    events: int,
    kafka: str | None,
    townships: int,
    lag_seconds: float,
    lag_rate: float,
    overrides: dict[str, str],
    log: Callable[[str], Any],
) -> dict[str, Any]:
    os.environ.update(overrides)  # the raw producer here and the sync processes use the same settings
    settings = SyncSettings()
    bootstrap = kafka if kafka is not None else settings.kafka
    tmp = Path(tempfile.mkdtemp(prefix="yipanqi-bench-sync-"))
    prefix = f"bench-{uuid4().hex[:10]}"
    result: dict[str, Any] = {"benchmark": "sync", "events": events}
    with contextlib.ExitStack() as stack:
        if not os.environ.get("YIPANQI_BENCH_KEEP"):
            stack.callback(shutil.rmtree, tmp, True)
        if bootstrap:
            broker = describe_broker(bootstrap, started=False)
        else:
            log("未指定 Kafka: 启动内嵌 tansu broker (no --kafka / YIPANQI_KAFKA: starting the embedded broker)")
            embedded = stack.enter_context(EmbeddedBroker())
            bootstrap = embedded.bootstrap
            broker = describe_broker(bootstrap, started=True)
            broker["pid"] = embedded._proc.pid if embedded._proc else None
        stack.callback(delete_topics, bootstrap, prefix)
        result["broker"] = broker
        result["settings"] = {
            "compression": settings.compression,
            "linger_ms": settings.linger_ms,
            "batch_bytes": settings.batch_bytes,
            "relay_batch": settings.relay_batch,
            "frame_events": settings.frame_events,
            "frame_bytes": settings.frame_bytes,
            "poll_ms": settings.poll_ms,
        }
        log(f"broker: {broker['kind']} at {bootstrap}; topic prefix {prefix}; data in {tmp}")

        hierarchy = Hierarchy.load()
        towns = [d for d in hierarchy.children(hierarchy.by_code(COUNTY)) if hierarchy.ref(d).has_congress][:townships]
        town_refs = [hierarchy.ref(d) for d in towns]
        store_settings = StoreSettings(store="sqlite", data_dir=tmp / "data")
        stores = {ref.node_id: NodeStore(ref, store_settings) for ref in town_refs}
        for store in stores.values():
            stack.callback(store.close)
        for code in (COUNTY, PREFECTURE, PROVINCE):
            NodeStore(hierarchy.ref(hierarchy.by_code(code)), store_settings).close()  # created before any process
        wanted = events + int(lag_rate * lag_seconds)
        scale = max(1.0, wanted * 1.3 / (_EVENTS_PER_TOWN_YEAR * len(towns) * _SIM_YEARS))
        writer = Writer(stores, iter(simulate(town_refs, days=365 * _SIM_YEARS, start=_START, seed=11, scale=scale)))

        log(f"记录 recording {events:,} simulated events into {len(towns)} township stores (scale {scale:.2f})…")
        started = time.perf_counter()
        writer.record_bulk(events)
        events = writer.written
        result["events"] = events
        log(f"  {events:,} events in {time.perf_counter() - started:.1f} s")
        messages = _messages(stores.values())
        result["event_bytes_mean"] = round(statistics.mean(len(v) for v, _ in messages), 1)
        result["header_bytes_mean"] = round(statistics.mean(len(h) for _, h in messages), 1)
        result["townships"] = [ref.code for ref in town_refs]

        log(f"裸 Kafka raw kafka-python: produce then consume {len(messages):,} messages…")
        machine0 = machine_cpu()
        result.update(_raw(bootstrap, settings, f"{prefix}.raw", messages))
        machine = machine_cpu()
        result["machine_busy_raw"] = round((machine[0] - machine0[0]) / max(1e-9, machine[1] - machine0[1]), 3)
        del messages
        log(f"  produce {result['raw_produce_per_s']:,}/s, consume {result['raw_consume_per_s']:,}/s")

        env = {
            **os.environ,
            "YIPANQI_STORE": "sqlite",
            "YIPANQI_DATA_DIR": str(tmp / "data"),
            "YIPANQI_TOPIC_PREFIX": prefix,
            "YIPANQI_KAFKA": bootstrap,
            "YIPANQI_LOG_JSON": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }
        levels = [
            Level("province", [PROVINCE]),
            Level("prefecture", [PREFECTURE]),
            Level("county", [COUNTY]),
            Level("townships", [ref.code for ref in town_refs]),
        ]
        stack.callback(_stop_all, levels)
        codes = {
            name: hierarchy.by_code(code).id
            for name, code in (("county", COUNTY), ("prefecture", PREFECTURE), ("province", PROVINCE))
        }
        paths = {name: store_settings.sqlite_path(node) for name, node in codes.items()}
        watch = {name: _Reader(path) for name, path in paths.items()}
        for reader in watch.values():
            stack.callback(reader.close)

        log("流水线 pipeline: one `yipanqi sync run` process per level…")
        for level in levels[:3]:
            _spawn(level, env, tmp, bootstrap)
        for level in levels[:3]:
            _wait_ready(level)
        _spawn(levels[3], env, tmp, bootstrap)
        spawned = time.monotonic()
        _wait_ready(levels[3])
        t0 = levels[3].ready_at
        cpu0 = _cpu_snapshot(levels, broker.get("pid"))
        machine0 = machine_cpu()
        done: dict[str, float] = {}
        last_report = time.monotonic()
        deadline = t0 + max(600.0, events / 200)
        while len(done) < 3:
            for name, reader in watch.items():
                if name not in done and reader.max_id() >= events:
                    done[name] = time.monotonic() - t0
            _check_alive(levels)
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"pipeline did not finish: {', '.join(f'{n} {r.max_id()}' for n, r in watch.items())}")
            if now - last_report > 5:
                last_report = now
                log("  " + ", ".join(f"{n} {r.max_id():,}" for n, r in watch.items()) + f" after {now - t0:.0f} s")
            time.sleep(_PIPELINE_POLL_S)
        elapsed = done["province"]
        result["pipeline_s"] = round(elapsed, 3)
        result["pipeline_level_done_s"] = {name: round(s, 3) for name, s in done.items()}
        result["township_startup_s"] = round(t0 - spawned, 3)
        result["pipeline_events_per_s"] = round(events / elapsed)
        result["ratio"] = round(result["pipeline_events_per_s"] / result["raw_events_per_s"], 3)
        cpu = _cpu_snapshot(levels, broker.get("pid"))
        result["cpu_s_pipeline"] = {name: round(cpu[name] - cpu0[name], 2) for name in cpu if name in cpu0}
        if broker.get("pid") and "broker" not in result["cpu_s_pipeline"]:
            result["broker_restarted"] = True  # someone restarted the broker meanwhile: its CPU is not counted
        result["cpu_us_per_event"] = round(sum(result["cpu_s_pipeline"].values()) / events * 1e6, 1)
        # What each level could do with a core to itself (one machine per level, as in production).
        result["stage_events_per_cpu_s"] = {
            level.name: round(events / max(1e-9, result["cpu_s_pipeline"].get(level.name, 0.0))) for level in levels
        }
        result["cpu_busy_pipeline"] = round(sum(result["cpu_s_pipeline"].values()) / (elapsed * (os.cpu_count() or 1)), 3)
        machine = machine_cpu()
        # Everything the machine did meanwhile, ours included: well above cpu_busy_pipeline means someone else ran.
        result["machine_busy_pipeline"] = round((machine[0] - machine0[0]) / max(1e-9, machine[1] - machine0[1]), 3)
        log(f"  {events:,} events at the province in {elapsed:.1f} s: {result['pipeline_events_per_s']:,}/s")
        plan = TopicPlan(prefix)
        up_topics = {
            "townships": [plan.up(ref.node_id) for ref in town_refs],
            "county": [plan.up(hierarchy.ref(hierarchy.by_code(COUNTY)).node_id)],
            "prefecture": [plan.up(hierarchy.ref(hierarchy.by_code(PREFECTURE)).node_id)],
        }
        result["events_per_message"] = _events_per_message(bootstrap, up_topics)
        log(f"  events per message: {result['events_per_message']}")

        log(f"延迟 lag: townships record {lag_rate:g} events/s for {lag_seconds:g} s…")
        result.update(_lag(writer, watch["province"], lag_rate, lag_seconds, levels))
        log(f"  p50 {result['lag_p50_ms']} ms, p99 {result['lag_p99_ms']} ms over {result['lag_events']:,} events")

        for level in levels:
            _read_usage(level)
        result["peak_rss_mb"] = {level.name: level.rss_mb for level in levels}
        result["peak_rss_mb"]["bench"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if broker.get("pid") and Path(f"/proc/{broker['pid']}").exists():
            result["peak_rss_mb"]["broker"] = status_mb(broker["pid"], "VmHWM")
        result["cpu_s"] = {level.name: level.cpu_s for level in levels}
        _stop_all(levels)

        log("核对 checking every level against the union of the township logs and its own events…")
        union = Counter(row for store in stores.values() for row in _rows(store.recorder))
        for reader in watch.values():
            reader.close()
        levels_check, below = {}, Counter(union)
        for name, path in paths.items():  # bottom-up: each level holds the levels below and its own events
            below += Counter(_rows_sqlite(path, own=codes[name]))  # its key's registration, its checkpoints
            held = Counter(_rows_sqlite(path))
            levels_check[name] = {"lost": sum((below - held).values()), "duplicated": sum((held - below).values())}
        result["lost"] = levels_check["province"]["lost"]
        result["duplicated"] = levels_check["province"]["duplicated"]
        result["levels_check"] = levels_check
        result["total_events"] = sum(union.values())
        result["goals"] = {"ratio": 0.5, "lag_p99_ms": 2000}
        result["ok"] = (
            result["ratio"] >= 0.5
            and result["lag_p99_ms"] is not None
            and result["lag_p99_ms"] <= 2000
            and all(v["lost"] == 0 and v["duplicated"] == 0 for v in levels_check.values())
        )
    return result


# ------------------------------------------------------------------------------------------------------- raw


def _messages(stores: Sequence[NodeStore] | Any) -> list[tuple[bytes, bytes]]:
    """Every recorded event's stored bytes with the envelope header it would have alone in a message (one event per
    message, as the raw ceiling is defined; the link is a dummy of its real length)."""
    out = []
    for store in stores:
        prev = 0
        for n in store.iter_notifications(batch=5000):
            entry = Entry(n.id, n.originator_id.bytes, n.originator_version, n.topic, len(n.state), store.node.node_id.bytes)
            out.append((n.state, Frame(Kind.EVENTS, store.node.node_id, prev, n.id, GENESIS_LINK, (entry,)).encode()))
            prev = n.id
    return out


def _raw(bootstrap: str, settings: SyncSettings, topic: str, messages: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    produce_s, consume_s = produce_then_consume(bootstrap, settings, topic, messages)
    n = len(messages)
    return {
        "raw_events_per_s": round(n / (produce_s + consume_s)),
        "raw_produce_per_s": round(n / produce_s),
        "raw_consume_per_s": round(n / consume_s),
    }


def _events_per_message(bootstrap: str, levels: dict[str, list[str]]) -> dict[str, float | None]:
    """Events per frame each level's relay sent during the pipeline phase (read back from its topics)."""
    consumer = make_consumer(bootstrap)
    out: dict[str, float | None] = {}
    try:
        for level, topics in levels.items():
            frames = events = 0
            for topic in topics:
                tp = TopicPartition(topic, 0)
                consumer.assign([tp])
                consumer.seek_to_beginning(tp)
                end, deadline = consumer.end_offsets([tp])[tp], time.monotonic() + 60
                while consumer.position(tp) < end and time.monotonic() < deadline:
                    for record in consumer.poll(timeout_ms=500).get(tp, []):
                        frame = Frame.decode(dict(record.headers)[HEADER])
                        frames, events = frames + bool(frame.entries), events + len(frame.entries)
            out[level] = round(events / frames, 1) if frames else None
    finally:
        consumer.close()
    return out


# ------------------------------------------------------------------------------------------------------- lag


class _Reader:
    """A read-only look at a node's SQLite log from outside its process."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA query_only = 1")

    def max_id(self) -> int:
        return self.conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0

    def since(self, position: int) -> list[tuple[int, str, int]]:
        return self.conn.execute(
            "SELECT rowid, originator_id, originator_version FROM stored_events WHERE rowid > ? ORDER BY rowid", (position,)
        ).fetchall()

    def close(self) -> None:
        self.conn.close()


def _lag(writer: Writer, province: _Reader, rate: float, seconds: float, levels: list[Level]) -> dict[str, Any]:
    committed: dict[tuple[str, int], float] = {}
    seen: dict[tuple[str, int], float] = {}
    position = province.max_id()
    start_count = writer.written
    started = time.monotonic()
    next_poll = started
    dry = False

    def poll() -> None:
        nonlocal position
        rows = province.since(position)
        if rows:
            now = time.time()
            for _rowid, originator_id, version in rows:
                seen.setdefault((originator_id, version), now)
            position = rows[-1][0]

    while True:
        now = time.monotonic()
        if now >= next_poll:
            poll()
            next_poll = now + _POLL_S
        if now - started >= seconds or dry:
            break
        due = started + (writer.written - start_count) / rate
        if now >= due:
            keys = writer.record_one()
            if keys is None:
                dry = True
                continue
            at = time.time()
            for key in keys:
                committed[key] = at
        else:
            time.sleep(max(0.0, min(due, next_poll) - time.monotonic()))
    write_s = time.monotonic() - started
    deadline = time.monotonic() + 120
    while len([k for k in committed if k in seen]) < len(committed) and time.monotonic() < deadline:
        _check_alive(levels)
        poll()
        time.sleep(_POLL_S)
    lags = sorted((seen[k] - t) * 1000 for k, t in committed.items() if k in seen)
    missing = len(committed) - len(lags)

    def pct(p: float) -> float | None:
        if not lags:
            return None
        return round(lags[min(len(lags) - 1, max(0, math.ceil(p / 100 * len(lags)) - 1))], 1)

    return {
        "lag_events": len(committed),
        "lag_rate_per_s": round(len(committed) / write_s, 1),
        "lag_p50_ms": pct(50),
        "lag_p90_ms": pct(90),
        "lag_p99_ms": pct(99),
        "lag_max_ms": round(lags[-1], 1) if lags else None,
        "lag_not_arrived": missing,
    }


# ------------------------------------------------------------------------------------------------ processes


def _spawn(level: Level, env: dict[str, str], tmp: Path, bootstrap: str) -> None:
    level.out = tmp / f"{level.name}.log"
    cmd = [sys.executable, "-m", "gateways.cli", "sync", "run", "--kafka", bootstrap]
    if level.name in os.environ.get("YIPANQI_BENCH_PROFILE", "").split(","):  # for tuning: cProfile that level
        cmd[1:1] = ["-m", "cProfile", "-o", str(tmp / f"{level.name}.prof")]
    for code in level.codes:
        cmd += ["--node", code]
    with open(level.out, "wb") as out:
        level.proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(level: Level, timeout: float = 120.0) -> None:
    assert level.proc is not None and level.out is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _READY in level.out.read_text(errors="replace"):
            level.ready_at = time.monotonic()
            return
        if level.proc.poll() is not None:
            break
        time.sleep(0.01)
    raise RuntimeError(f"`sync run` for the {level.name} did not start:\n{_tail(level)}")


def _check_alive(levels: list[Level]) -> None:
    for level in levels:
        if level.proc is not None and level.proc.poll() is not None:
            raise RuntimeError(f"the {level.name} sync process exited with {level.proc.returncode}:\n{_tail(level)}")


def _tail(level: Level, lines: int = 25) -> str:
    try:
        return "\n".join(level.out.read_text(errors="replace").splitlines()[-lines:]) if level.out else ""
    except OSError:
        return ""


def _read_usage(level: Level) -> None:
    if level.proc is not None and level.proc.poll() is None:
        level.rss_mb = status_mb(level.proc.pid, "VmHWM")
        level.cpu_s = round(cpu_s(level.proc), 2)


def _cpu_snapshot(levels: list[Level], broker_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of each sync process, the broker (when its pid is known) and this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = {level.name: cpu_s(level.proc) for level in levels if level.proc}
    if broker_pid and Path(f"/proc/{broker_pid}").exists():
        cpu["broker"] = cpu_s(broker_pid)
    cpu["bench"] = usage.ru_utime + usage.ru_stime
    return cpu


def _stop_all(levels: list[Level]) -> None:
    for level in levels:
        if level.proc is not None and level.proc.poll() is None:
            level.proc.send_signal(signal.SIGTERM)
    for level in levels:
        if level.proc is None:
            continue
        try:
            level.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            level.proc.kill()
            level.proc.wait(timeout=10)


# ----------------------------------------------------------------------------------------------------- check


def _rows(recorder: Any) -> Iterator[tuple[str, int, bytes]]:
    start = 1
    while True:
        page = recorder.select_notifications(start=start, limit=5000)
        for n in page:
            yield (n.originator_id.hex, n.originator_version, bytes(n.state))
        if len(page) < 5000:
            return
        start = page[-1].id + 1


def _rows_sqlite(path: Path, own: UUID | None = None) -> Iterator[tuple[str, int, bytes]]:
    """The events of a level's SQLite log (``own``: only those in that node's own chain)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    where, params = ("WHERE substr(chain, 1, 16) = ?", (own.bytes,)) if own else ("", ())
    try:
        rows = conn.execute(f"SELECT originator_id, originator_version, state FROM stored_events {where}", params)
        for originator_id, version, state in rows:
            yield (UUID(originator_id).hex, version, bytes(state))
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------- broker
