"""``yipanqi bench province``: all of Hunan from empty stores through sync on Apache Kafka, then checked, projected
and queried at the province. The last line of output is one JSON object.

**Layout** (a real deployment's): the province and the 14 prefectures on PostgreSQL (one database, tables per node),
the 122 counties and 1,947 township-level units in SQLite files (``YIPANQI_STORE_LEVELS``). **Topology**: one
``yipanqi sync run`` process for the province, and ``--processes`` (default 4) for the prefectures' regions, each
hosting whole regions (a prefecture with its counties and townships), balanced by node count (~520 nodes each). On
a throwaway Apache Kafka broker (deploy/kafka.sh) unless ``--kafka`` names one, and a throwaway database on the
test PostgreSQL (deploy/postgres.sh) unless ``--pg-dsn`` names a server.

1. **Simulate** ``--days`` of activity at ``--scale`` into every node's store (``yipanqi simulate``'s path).
2. **Sync**: start the processes; time from start until every level holds its subtree's events (counted from the
   stores every few seconds). Then ``--idle`` seconds with nothing to do: each process's CPU while idle.
3. **Raw**: bare kafka-python on the same broker moves the province's first ``--raw-events`` events, produce then
   consume on one topic, (a) one message per event (its stored bytes and the header a frame of one event carries:
   what ``bench sync`` calls raw) and (b) in the pipeline's own frames of ``frame_events``.
4. **Verify**, by each node's own SQL, never the sync code's bookkeeping: every row of every store hashed; a node's
   own rows (its ``owner``) summed per node; each node must hold exactly the sum over its subtree (count and
   multiset digest); ``lost`` and ``duplicated`` (rows against distinct (aggregate, version)) over all levels.
5. **Project** the province (``projections update``, in a process of its own: its peak RSS counts).
6. **Query** the province's views for the current year and as of mid-year, uncached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from rich.console import Console

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.levels import Level
from domain.persistence import LogRow
from domain.store import NodeStore, NodeStores, StoreSettings
from gateways import heap
from gateways.bench.raw import produce_then_consume
from gateways.bench.services import throwaway_database, throwaway_kafka
from gateways.bench.usage import cpu_s, delete_topics, describe_broker, status_mb
from gateways.recording import record_simulation
from sync.envelope import GENESIS_LINK, Entry, Frame, Kind
from sync.settings import SyncSettings

PROVINCE = "430000"
QUERY_RUNS = 10  # runs per view and clock (p99 of 10 is their slowest)
START = date(2025, 1, 1)
LAYOUT = "province=postgres,prefecture=postgres"
_OWNER = b'"owner":{"_type_":"uuid_hex","_data_":"'
_POLL_S = 10.0


@dataclass
class Proc:
    name: str
    codes: list[str]
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    usage: dict[str, float] = field(default_factory=dict)


def run_province_benchmark(
    *,
    region: str = PROVINCE,
    scale: float = 1.0,
    days: int = 365,
    seed: int = 1,
    processes: int = 4,
    kafka: str | None = None,
    pg_dsn: str | None = None,
    raw_events: int = 200_000,
    idle_s: float = 30.0,
    dashboard_runs: int = 3,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    hierarchy = Hierarchy.load()
    root = hierarchy.resolve(region)
    nodes = [hierarchy.ref(d) for d in (*hierarchy.ancestors(root), *hierarchy.subtree(root))]
    nodes.sort(key=lambda n: (n.level.depth, n.code))
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "province", "region": region, "scale": scale, "days": days, "nodes": len(nodes)}
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="yipanqi-bench-province-"))
        if not os.environ.get("YIPANQI_BENCH_KEEP"):
            stack.callback(shutil.rmtree, tmp, True)
        bootstrap, broker_pid = (kafka, None) if kafka else stack.enter_context(throwaway_kafka(log))
        dsn = stack.enter_context(throwaway_database(pg_dsn, log))
        prefix = f"bench-{uuid4().hex[:8]}"
        stack.callback(delete_topics, bootstrap, prefix)
        broker = describe_broker(bootstrap, started=broker_pid is not None)
        broker.setdefault("pid", broker_pid)
        result["broker"] = broker
        settings = StoreSettings(store="sqlite", data_dir=tmp / "data", pg_dsn=dsn, store_levels=LAYOUT)
        env = _env(settings, bootstrap, prefix)
        procs = _topology(hierarchy, nodes, processes)
        result["layout"] = {"postgres": ["province", "prefecture"], "sqlite": ["county", "township"]}
        result["processes"] = {p.name: len(p.codes) for p in procs}
        result["topics"] = 4 * len(nodes)
        log(f"{len(nodes)} 个节点 nodes, {len(procs)} 个同步进程 processes, {result['topics']} topics; data in {tmp}")

        result.update(_simulate(hierarchy, root, nodes, settings, days=days, seed=seed, scale=scale))
        own = _held_counts(settings, nodes)
        events = sum(own.values())
        result["events"] = events
        result.update(_sync(hierarchy, nodes, own, procs, env, tmp, broker.get("pid"), idle_s, log))
        log(f"  {json.dumps({k: result[k] for k in ('events', 'simulate_s', 'sync_s', 'idle_cpu_percent')}, ensure_ascii=False)}")
        sync_s = result["sync_s"]
        result["pipeline_events_per_s"] = round(events / sync_s)
        result.update(_raw(bootstrap, settings, nodes[0], prefix, raw_events, log))
        result["ratio"] = round(result["pipeline_events_per_s"] / result["raw"]["events_per_s"], 3)
        result["ratio_frames"] = round(result["pipeline_events_per_s"] / result["raw_frames"]["events_per_s"], 3)
        log(f"  {json.dumps({k: result[k] for k in ('pipeline_events_per_s', 'ratio', 'ratio_frames')})}")
        result["check"] = _verify(hierarchy, nodes, settings, log)
        log(f"  {json.dumps(result['check'], ensure_ascii=False)}")
        result["lost"], result["duplicated"] = result["check"]["lost"], result["check"]["duplicated"]
        result["disk_mb"] = _disk(settings, nodes)
        result.update(_project_and_query(nodes[0], settings, days, log))
        result["dashboard"] = _dashboard(settings, hierarchy, nodes[0], dashboard_runs, tmp, log)
        result["peak_rss_mb"] = {p.name: p.usage.get("rss_mb", 0.0) for p in procs}
        if broker.get("pid"):
            result["peak_rss_mb"]["broker"] = status_mb(int(broker["pid"]), "VmHWM")
        result["peak_rss_mb"]["bench"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        result["wall_s"] = round(time.perf_counter() - started, 1)  # all of it but removing the throwaway broker and data
    return result


# ------------------------------------------------------------------------------------------------------ set-up


def _env(settings: StoreSettings, bootstrap: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIPANQI_")}
    env.update(
        YIPANQI_STORE="sqlite",
        YIPANQI_STORE_LEVELS=LAYOUT,
        YIPANQI_DATA_DIR=str(settings.data_dir),
        YIPANQI_PG_DSN=str(settings.pg_dsn),
        YIPANQI_KAFKA=bootstrap,
        YIPANQI_TOPIC_PREFIX=prefix,
        YIPANQI_LOG_JSON="1",
        YIPANQI_LOG_LEVEL="WARNING",
    )
    return env


def _topology(hierarchy: Hierarchy, nodes: Sequence[NodeRef], processes: int) -> list[Proc]:
    """The province in one process; whole prefectures' regions (the prefecture with its counties and townships) in
    the others, the largest regions first into the least loaded process."""
    regions: dict[str, list[str]] = {}
    for n in nodes:
        if n.level is not Level.PROVINCE:
            regions.setdefault(n.code[:4], []).append(n.code)
    lower = [Proc(f"regions-{i + 1}", []) for i in range(max(1, min(processes, len(regions))))]
    for codes in sorted(regions.values(), key=len, reverse=True):
        min(lower, key=lambda p: len(p.codes)).codes.extend(codes)
    return [Proc("province", [n.code for n in nodes if n.level is Level.PROVINCE]), *(p for p in lower if p.codes)]


def _simulate(
    hierarchy: Hierarchy, root: Any, nodes: list[NodeRef], settings: StoreSettings, *, days: int, seed: int, scale: float
) -> dict[str, Any]:
    console = Console(stderr=True)
    started = time.perf_counter()
    with NodeStores(settings) as stores:
        recording = record_simulation(
            hierarchy, root, stores, days=days, start=START, seed=seed, scale=scale, console=console, nodes=nodes
        )
    wall = time.perf_counter() - started
    return {"simulate_s": round(wall, 1), "simulate_events_per_s": round(recording.stats.total / wall)}


# -------------------------------------------------------------------------------------------------------- sync


#: At most this many windows of ``--idle`` seconds to measure idle CPU in.
IDLE_WINDOWS = 4


def _sync(
    hierarchy: Hierarchy,
    nodes: list[NodeRef],
    own: dict[UUID, int],
    procs: list[Proc],
    env: dict[str, str],
    tmp: Path,
    broker_pid: Any,
    idle_s: float,
    log: Callable[[str], Any],
) -> dict[str, Any]:
    expected = {n.node_id: _subtree_sum(hierarchy, n, own) for n in nodes}
    settings = StoreSettings(
        store="sqlite", data_dir=Path(env["YIPANQI_DATA_DIR"]), pg_dsn=env["YIPANQI_PG_DSN"], store_levels=LAYOUT
    )
    started = time.perf_counter()
    try:
        for proc in procs:
            _spawn(proc, env, tmp)
        total = sum(expected.values())
        while True:
            time.sleep(_POLL_S)
            _check_alive(procs)
            held = _held_counts(settings, nodes, exact=False)
            done = sum(min(held[n], expected[n]) for n in expected)
            short = [n for n in expected if held[n] < expected[n]]
            if not short:  # confirm by counting
                held = _held_counts(settings, nodes)
                short = [n for n in expected if held[n] < expected[n]]
            elapsed = time.perf_counter() - started
            log(f"  同步 sync: {done:,} / {total:,} events held over all levels, {len(short)} nodes short · {elapsed:.0f} s")
            if not short:
                break
            for proc in procs:
                proc.usage["rss_mb"] = max(proc.usage.get("rss_mb", 0.0), status_mb(proc.popen.pid, "VmHWM"))  # type: ignore[union-attr]
        sync_s = time.perf_counter() - started
        health = _settled_health(env, len(nodes) - 1, log)
        windows = _idle_windows(procs, idle_s, log)
        for proc in procs:
            proc.usage["rss_mb"] = status_mb(proc.popen.pid, "VmHWM")  # type: ignore[union-attr]
            proc.usage["cpu_s"] = round(cpu_s(proc.popen), 1)
    finally:
        _stop_all(procs)
    return {
        "sync_s": round(sync_s, 1),
        "sync_cpu_s": {p.name: p.usage.get("cpu_s") for p in procs},
        "idle_cpu_percent": windows[-1],
        "idle_cpu_windows": windows,
        "idle_cpu_note": (
            f"CPU of each process (100 = one core) over consecutive windows of {idle_s:g} s after every level held "
            f"everything (at most {IDLE_WINDOWS}, until the total stops falling); idle_cpu_percent is the last window"
        ),
        "broker_cpu_s": round(cpu_s(int(broker_pid)), 1) if broker_pid else None,
        "health": health,
    }


def _idle_windows(procs: list[Proc], idle_s: float, log: Callable[[str], Any]) -> list[dict[str, float]]:
    """Each process's CPU over consecutive windows of ``idle_s``: right after the last event arrived, work that
    follows it (replicas going down, positions and reports saved) still runs, so one window would not show idle."""
    windows: list[dict[str, float]] = []
    while len(windows) < IDLE_WINDOWS:
        before = {p.name: cpu_s(p.popen) for p in procs}
        time.sleep(idle_s)
        windows.append({p.name: round(100 * (cpu_s(p.popen) - before[p.name]) / idle_s, 2) for p in procs})
        log(f"  空闲 idle CPU % over {idle_s:g} s: {json.dumps(windows[-1])}")
        if len(windows) > 1 and sum(windows[-1].values()) > 0.8 * sum(windows[-2].values()):
            break
    return windows


def _subtree_sum(hierarchy: Hierarchy, node: NodeRef, own: dict[UUID, Any]) -> Any:
    return sum(own[d.id] for d in hierarchy.subtree(hierarchy.get(node.node_id)) if d.id in own)


def _spawn(proc: Proc, env: dict[str, str], tmp: Path) -> None:
    proc.log = tmp / f"{proc.name}.log"
    args = [sys.executable, "-m", "gateways.cli", "sync", "run"]
    for code in proc.codes:
        args += ["--node", code]
    with open(proc.log, "wb") as out:
        proc.popen = subprocess.Popen(args, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def _check_alive(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.popen is not None and proc.popen.poll() is not None:
            tail = "\n".join(proc.log.read_text(errors="replace").splitlines()[-25:]) if proc.log else ""
            raise RuntimeError(f"sync process {proc.name} exited with {proc.popen.returncode}:\n{tail}")


def _stop_all(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.popen is not None and proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        if proc.popen is not None:
            try:
                proc.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=10)


def _settled_health(env: dict[str, str], streams: int, log: Callable[[str], Any], timeout_s: float = 120.0) -> dict[str, Any]:
    """The province's view of its subtree once the beats have carried the last states up: until every stream of the
    simulated region follows (or ``timeout_s``), and how long that took after every level held everything."""
    started = time.perf_counter()
    while True:
        health = _subtree_health(env)
        waited = time.perf_counter() - started
        if health["by_state"].get("following", 0) >= streams or waited > timeout_s:
            log(f"  辖区同步健康 subtree health after {waited:.0f} s: {health['verdict']}")
            return {**health, "settled_after_s": round(waited, 1)}
        time.sleep(2)


def _subtree_health(env: dict[str, str]) -> dict[str, Any]:
    """What the province says of every stream of its subtree, read by `yipanqi sync status --subtree` itself."""
    out = subprocess.run(
        [sys.executable, "-m", "gateways.cli", "sync", "status", "--node", PROVINCE, "--subtree", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    (summary,) = json.loads(out)
    return {k: summary[k] for k in ("streams", "following", "all_following", "verdict", "by_state")}


def _held_counts(settings: StoreSettings, nodes: Sequence[NodeRef], *, exact: bool = True) -> dict[UUID, int]:
    """Events each node's log holds, read from the SQLite files directly and the PostgreSQL tables in one connection:
    counted, or (``exact=False``, the cheap look while waiting) the last notification id, which a failed insert on
    PostgreSQL can leave above the count."""
    counts: dict[UUID, int] = {}
    sqlite_query = "SELECT count(*) FROM stored_events" if exact else "SELECT max(rowid) FROM stored_events"
    pg_query = 'SELECT count(*) FROM "{}"' if exact else 'SELECT max(notification_id) FROM "{}"'
    pg = [n for n in nodes if settings.backend(n.level) == "postgres"]
    for node in nodes:
        if settings.backend(node.level) == "sqlite":
            conn = sqlite3.connect(f"file:{settings.sqlite_path(node.node_id)}?mode=ro", uri=True)
            try:
                counts[node.node_id] = conn.execute(sqlite_query).fetchone()[0] or 0
            finally:
                conn.close()
    if pg:
        with psycopg.connect(str(settings.pg_dsn), autocommit=True) as pg_conn:
            for node in pg:
                row = pg_conn.execute(pg_query.format(f"n{node.node_id.hex}_events")).fetchone()  # type: ignore[arg-type]
                counts[node.node_id] = (row[0] if row else 0) or 0
    return counts


# --------------------------------------------------------------------------------------------------------- raw


def _raw(
    bootstrap: str, settings: StoreSettings, province: NodeRef, prefix: str, limit: int, log: Callable[[str], Any]
) -> dict[str, Any]:
    """Bare kafka-python moving the province's first ``limit`` events: one message per event, then in frames."""
    sync = SyncSettings()
    rows = _province_rows(settings, province, limit)
    singles = [(row[4], _frame(province.node_id, [row], row[0] - 1)) for row in rows]
    frames = []
    for start in range(0, len(rows), sync.frame_events):
        chunk = rows[start : start + sync.frame_events]
        frames.append((b"".join(r[4] for r in chunk), _frame(province.node_id, chunk, chunk[0][0] - 1)))
    moved = f"{len(rows):,} events of the province's log, {sum(len(r[4]) for r in rows):,} stored bytes"
    log(f"裸 Kafka raw kafka-python: {moved}, one message per event, then {len(frames):,} frames…")
    single = _produce_consume(bootstrap, sync, f"{prefix}.raw", singles, len(rows))
    framed = _produce_consume(bootstrap, sync, f"{prefix}.raw-frames", frames, len(rows))
    return {
        "raw": {
            **single,
            "moves": f"{moved}: one message per event (stored bytes + a one-event frame header), produce then consume",
        },
        "raw_frames": {**framed, "moves": f"{moved}: the pipeline's frames of {sync.frame_events} events, produce then consume"},
    }


def _province_rows(settings: StoreSettings, province: NodeRef, limit: int) -> list[LogRow]:
    store = NodeStore(province, settings)
    try:
        return store.recorder.select_rows(1, limit)  # type: ignore[attr-defined, no-any-return]
    finally:
        store.close()


def _frame(origin: UUID, rows: Sequence[LogRow], prev: int) -> bytes:
    entries = tuple(Entry(pos, oid, v, topic, len(state), chain) for pos, oid, v, topic, state, chain in rows)
    return Frame(Kind.EVENTS, origin, prev, rows[-1][0], GENESIS_LINK, entries).encode()


def _produce_consume(
    bootstrap: str, settings: SyncSettings, topic: str, messages: list[tuple[bytes, bytes]], events: int
) -> dict[str, Any]:
    produce_s, consume_s = produce_then_consume(bootstrap, settings, topic, messages)
    return {
        "messages": len(messages),
        "events_per_s": round(events / (produce_s + consume_s)),
        "produce_s": round(produce_s, 1),
        "consume_s": round(consume_s, 1),
    }


# ------------------------------------------------------------------------------------------------------ verify


def _verify(hierarchy: Hierarchy, nodes: list[NodeRef], settings: StoreSettings, log: Callable[[str], Any]) -> dict[str, Any]:
    """Every store read by its own SQL: rows, distinct (aggregate, version), a multiset digest of all rows and of each
    owner's rows. A node must hold exactly the union of its subtree's own rows."""
    log("核对 verifying every level by its own SQL…")
    started = time.perf_counter()
    held: dict[UUID, tuple[int, int, int]] = {}  # node -> (rows, distinct, digest of all rows)
    own: dict[UUID, tuple[int, int]] = {}  # owner -> (rows, digest) as recorded at the owner itself
    for node in nodes:
        rows, digest, mine = 0, 0, [0, 0]
        for oid, version, topic, state in _rows(settings, node):
            h = _hash(oid, version, topic, state)
            rows, digest = rows + 1, (digest + h) % 2**256
            if _owned_by(state, node.node_id):
                mine[0], mine[1] = mine[0] + 1, (mine[1] + h) % 2**256
        held[node.node_id] = (rows, _distinct(settings, node), digest)
        own[node.node_id] = (mine[0], mine[1])
    lost = duplicated = 0
    bad = []
    for node in nodes:
        subtree = [d.id for d in hierarchy.subtree(hierarchy.get(node.node_id)) if d.id in own]
        want_rows = sum(own[m][0] for m in subtree)
        want = sum(own[m][1] for m in subtree) % 2**256
        rows, distinct, digest = held[node.node_id]
        duplicated += rows - distinct
        lost += max(0, want_rows - distinct)
        if (distinct, digest) != (want_rows, want) or rows != distinct:
            bad.append(f"{node.name}({node.code}): holds {rows} rows ({distinct} distinct), expected {want_rows}")
    return {
        "lost": lost,
        "duplicated": duplicated,
        "levels_exact": not bad,
        "not_exact": bad[:20],
        "rows_read": sum(h[0] for h in held.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "how": "each store's own SQL: every row hashed (aggregate id, version, topic, state bytes); per node the "
        "multiset digest and count must equal the sum over its subtree of each node's own rows",
    }


def _rows(settings: StoreSettings, node: NodeRef) -> Iterator[tuple[str, int, str, bytes]]:
    query = "SELECT originator_id, originator_version, topic, state FROM {}"
    if settings.backend(node.level) == "sqlite":
        conn = sqlite3.connect(f"file:{settings.sqlite_path(node.node_id)}?mode=ro", uri=True)
        try:
            for oid, version, topic, state in conn.execute(query.format("stored_events")):
                yield UUID(oid).hex, version, topic, bytes(state)
        finally:
            conn.close()
        return
    with psycopg.connect(str(settings.pg_dsn)) as pg_conn, pg_conn.cursor(name="rows") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query.format(f'"n{node.node_id.hex}_events"'))
        for oid, version, topic, state in cursor:
            yield oid.hex, version, topic, bytes(state)


def _distinct(settings: StoreSettings, node: NodeRef) -> int:
    query = "SELECT count(*) FROM (SELECT DISTINCT originator_id, originator_version FROM {}) AS d"
    if settings.backend(node.level) == "sqlite":
        conn = sqlite3.connect(f"file:{settings.sqlite_path(node.node_id)}?mode=ro", uri=True)
        try:
            return int(conn.execute(query.format("stored_events")).fetchone()[0])
        finally:
            conn.close()
    with psycopg.connect(str(settings.pg_dsn)) as pg_conn:
        return int(pg_conn.execute(query.format(f'"n{node.node_id.hex}_events"')).fetchone()[0])  # type: ignore[index]


def _hash(oid: str, version: int, topic: str, state: bytes) -> int:
    return int.from_bytes(hashlib.sha256(b"%s|%d|%s|" % (oid.encode(), version, topic.encode()) + state).digest(), "big")


def _owned_by(state: bytes, node: UUID) -> bool:
    at = state.find(_OWNER)
    return at >= 0 and state[at + len(_OWNER) : at + len(_OWNER) + 32] == node.hex.encode()


def _disk(settings: StoreSettings, nodes: list[NodeRef]) -> dict[str, float]:
    """Megabytes per level: SQLite files (logs, reference stores, views), PostgreSQL tables with their indexes."""
    sizes: dict[str, float] = {}
    with psycopg.connect(str(settings.pg_dsn), autocommit=True) as conn:
        for node in nodes:
            if settings.backend(node.level) == "sqlite":
                size = sum(p.stat().st_size for p in settings.sqlite_path(node.node_id).parent.glob(f"{node.node_id}*"))
            else:
                row = conn.execute(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c WHERE c.relkind = 'r' "
                    "AND (c.relname LIKE %s OR c.relname LIKE %s)",
                    (f"n{node.node_id.hex}_%", f"r{node.node_id.hex}_%"),
                ).fetchone()
                size = int(row[0]) if row else 0
            sizes[node.level.value] = sizes.get(node.level.value, 0.0) + size / 2**20
    return {level: round(mb, 1) for level, mb in sizes.items()}


# ----------------------------------------------------------------------------------------- projection, queries


def _project_and_query(province: NodeRef, settings: StoreSettings, days: int, log: Callable[[str], Any]) -> dict[str, Any]:
    """The province's projection and queries in a process of their own: its peak RSS is theirs alone."""
    log("投影 projecting the province, then its queries…")
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    as_of = (START + timedelta(days=max(1, days // 2))).isoformat()
    process = context.Process(target=_project_child, args=(child, province, settings, as_of))
    process.start()
    child.close()
    outcome = parent.recv()
    process.join()
    if "error" in outcome:
        raise RuntimeError(outcome["error"])
    return outcome  # type: ignore[no-any-return]


def _dashboard(
    settings: StoreSettings, hierarchy: Hierarchy, province: NodeRef, runs: int, tmp: Path, log: Callable[[str], Any]
) -> dict[str, Any]:
    """The province's dashboard rendered in headless Chromium (``gateways.bench.dashboard``), or why it was not."""
    from gateways.bench.dashboard import NoBrowser, measure_node

    try:
        return measure_node(settings, hierarchy, province.code, runs=runs, tmp=tmp, log=log)
    except NoBrowser as e:
        log(f"  看板未测 dashboard not measured: {e}")
        return {"skipped": str(e)}


def _project_child(pipe: Any, province: NodeRef, settings: StoreSettings, as_of: str) -> None:
    try:
        from gateways.bench.projections import view_timings
        from projections.db import ProjectionDB
        from projections.rebuild import update

        hierarchy = Hierarchy.load()
        store = NodeStore(province, settings)
        try:
            started = time.perf_counter()
            projected = update(store, settings, hierarchy=hierarchy)
            project_s = time.perf_counter() - started
            db = ProjectionDB(province, settings, hierarchy=hierarchy)
            heap.settle()  # as a gateway does once started (``gateways.heap``)
            queries = view_timings(db, hierarchy, runs=QUERY_RUNS, as_of=as_of)
            db.dispose()
        finally:
            store.close()
        rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        pipe.send(
            {
                "project_s": round(project_s, 1),
                "projected_events": projected.read,
                "project_events_per_s": round(projected.read / project_s) if project_s else None,
                "queries": queries,
                "project_peak_rss_mb": rss,
            }
        )
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        pipe.send({"error": repr(e)})
    finally:
        pipe.close()
