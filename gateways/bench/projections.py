"""``yipanqi bench projections``: rebuilding every view from a store of a million simulated events, against bare
reading and decoding of the same events; then every view of the province, timed now and as of a cut
(``view_timings``, which the whole-province benchmark calls too).

The store is built once per run in a temporary directory: the province's log after sync, holding a simulated
region (邵阳市 by default, with the province itself) — written straight into the province's store, as sync would
have copied it there. Decoding goes through the store's own mapper in both paths. The rebuild is the real one
(``projections.rebuild.rebuild``: aside, indexes, swap). Rates are wall-clock events per second; CPU seconds are
reported too, because a shared machine's load moves wall-clock numbers more than CPU time.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from domain.hierarchy import Hierarchy
from domain.simulation import simulate
from domain.store import NodeStore, StoreSettings
from gateways import heap
from projections import queries
from projections.db import ProjectionDB
from projections.rebuild import rebuild
from projections.schema import CLOCK_COLUMNS

BENCH_REGION = "430500"  # 邵阳市: 1 prefecture, 12 counties, ~200 township-level nodes
PROVINCE = "430000"
QUERY_ROUNDS = 20
AS_OF_SCOPES = ("as_of_occurred", "as_of_recorded", "as_of_known")
SAVE_EVERY = 5000  # events per transaction while building the store


def run_projections_benchmark(
    *,
    events: int = 1_000_000,
    region: str = BENCH_REGION,
    scale: float = 1.2,
    days: int = 1460,
    seed: int = 11,
    data_dir: Path | None = None,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    hierarchy = Hierarchy.load()
    with tempfile.TemporaryDirectory(prefix="yipanqi-bench-projections-") as tmp:
        settings = StoreSettings(store="sqlite", data_dir=data_dir or Path(tmp))
        province = hierarchy.ref(hierarchy.by_code(PROVINCE))
        started = time.perf_counter()
        written = _build_store_aside(settings, region, events=events, scale=scale, days=days, seed=seed, log=log)
        build_s = time.perf_counter() - started
        log(f"存储已生成 store built: {written:,} events in {build_s:.0f} s")
        store = NodeStore(province, settings)
        try:
            decode_1 = _decode(store)
            log(f"解码 decode: {decode_1['events_per_s']:,} events/s")
            gc.collect()
            cpu = time.process_time()
            rebuilt = rebuild(store, settings, hierarchy=hierarchy, log=log)
            rebuild_cpu = time.process_time() - cpu
            log(f"重建 rebuild: {rebuilt['events_per_s']:,} events/s ({rebuilt['seconds']} s)")
            decode_2 = _decode(store)
            log(f"解码 decode again: {decode_2['events_per_s']:,} events/s")
            decode_rate = statistics.mean([decode_1["events_per_s"], decode_2["events_per_s"]])
            db = ProjectionDB(province, settings, hierarchy=hierarchy)
            heap.settle()  # as a gateway does once started (``gateways.heap``)
            timings = view_timings(db, hierarchy)
            db.dispose()
        finally:
            store.close()
    p99 = {view: t["p99_ms"] for view, t in timings["now"].items()}
    as_of_p99 = max(t["p99_ms"] for scope in AS_OF_SCOPES for t in timings[scope].values())
    ratio = rebuilt["events_per_s"] / decode_rate
    return {
        "benchmark": "projections",
        "store": "sqlite",
        "region": region,
        "events": written,
        "build_store_s": round(build_s, 1),
        "rebuild_events_per_s": rebuilt["events_per_s"],
        "decode_events_per_s": round(decode_rate),
        "ratio": round(ratio, 3),
        "goal_ratio": 0.5,
        "query_p99_ms": max(p99.values()),
        "query_p99_ms_by_view": p99,
        "query_median_ms_by_view": {view: t["p50_ms"] for view, t in timings["now"].items()},
        "goal_query_p99_ms": 200,
        "as_of_query_p99_ms": as_of_p99,
        "goal_as_of_query_p99_ms": 1000,
        "view_timings": timings,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rebuild": rebuilt,
        "decode_runs_events_per_s": [decode_1["events_per_s"], decode_2["events_per_s"]],
        "decode_cpu_s": [decode_1["cpu_s"], decode_2["cpu_s"]],
        "rebuild_cpu_s": round(rebuild_cpu, 2),
        "ratio_by_cpu_time": round(statistics.mean([decode_1["cpu_s"], decode_2["cpu_s"]]) / rebuild_cpu, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # a shared machine's load moves wall-clock rates
        "ok": ratio >= 0.5 and max(p99.values()) <= 200 and as_of_p99 <= 1000,
    }


def _build_store_aside(
    settings: StoreSettings, region: str, *, events: int, scale: float, days: int, seed: int, log: Callable[[str], Any]
) -> int:
    """Build the store in a child process, so that the simulator's memory does not count in ``peak_rss_mb``."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_build_child, args=(child, settings, region, events, scale, days, seed))
    process.start()
    child.close()
    while True:
        message = parent.recv()
        if message[0] == "progress":
            log(f"  … {message[1]:,} events")
        elif message[0] == "done":
            process.join()
            return int(message[1])
        else:
            process.join()
            raise RuntimeError(message[1])


def _build_child(pipe: Any, settings: StoreSettings, region: str, events: int, scale: float, days: int, seed: int) -> None:
    try:
        hierarchy = Hierarchy.load()
        store = NodeStore(hierarchy.ref(hierarchy.by_code(PROVINCE)), settings)
        try:
            written = _build_store(
                store,
                hierarchy,
                region,
                events=events,
                scale=scale,
                days=days,
                seed=seed,
                log=lambda text: pipe.send(("progress", int(text.split()[1].replace(",", "")))),
            )
        finally:
            store.close()
        pipe.send(("done", written))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        pipe.send(("error", repr(e)))
    finally:
        pipe.close()


def _build_store(
    store: NodeStore,
    hierarchy: Hierarchy,
    region: str,
    *,
    events: int,
    scale: float,
    days: int,
    seed: int,
    log: Callable[[str], Any],
) -> int:
    """The province's log after sync: the province's own activity and the region's, until ``events`` are written."""
    root = hierarchy.by_code(region)
    nodes = [hierarchy.ref(d) for d in (*hierarchy.ancestors(root), *hierarchy.subtree(root))]
    written = 0
    pending: dict[int, Any] = {}
    count = 0
    next_report = 100_000
    for batch in simulate(nodes, days=days, start=date(2022, 1, 3), seed=seed, scale=scale):
        for aggregate in batch.aggregates:
            pending.setdefault(id(aggregate), aggregate)
        count += batch.events
        if count >= SAVE_EVERY:
            written += sum(len(a.pending_events) for a in pending.values())
            store.save_all(list(pending.values()))
            pending.clear()
            count = 0
            if written >= next_report:
                log(f"  … {written:,} events")
                next_report += 100_000
            if written >= events:
                break
    else:
        if pending:
            written += sum(len(a.pending_events) for a in pending.values())
            store.save_all(list(pending.values()))
    if written < events:
        raise RuntimeError(f"the simulation gave only {written:,} events; raise --days or --scale")
    return written


def _decode(store: NodeStore) -> dict[str, Any]:
    """Bare reading and decoding of every event of the store, through the store's mapper."""
    to_domain_event = store.mapper.to_domain_event
    recorder = store.recorder
    started, cpu = time.perf_counter(), time.process_time()
    n = 0
    position = 0
    while True:
        page = recorder.select_notifications(start=position + 1, limit=5000)
        for notification in page:
            to_domain_event(notification)
        n += len(page)
        if len(page) < 5000:
            break
        position = page[-1].id
    seconds = time.perf_counter() - started
    return {"events": n, "events_per_s": round(n / seconds), "cpu_s": round(time.process_time() - cpu, 2)}


#: The views the gateway serves and the dashboard reads, as the province asks for them (first page of each list).
VIEWS: dict[str, Callable[[ProjectionDB, queries.Scope], Any]] = {
    "coverage": queries.coverage,
    "stations": queries.stations,
    "suggestions": queries.suggestions,
    "livelihood": queries.livelihood,
    "duty": queries.duty_ranking,
    "regions": queries.regions,
    "rollup": queries.rollup,
}


def view_timings(db: ProjectionDB, hierarchy: Hierarchy, *, runs: int = QUERY_ROUNDS, as_of: str | None = None) -> dict[str, Any]:
    """Every view of the node's projection (its whole region, the latest year with activity), timed ``runs`` times
    now and as of a time by each clock: per view the median and p99 of the wall-clock milliseconds, and the median
    CPU milliseconds of this process (a shared machine's load moves the former, hardly the latter).

    Uncached: each run makes its scope and computes the view from the database (nothing keeps answers between runs;
    the node dimension is kept per database while its hierarchy stays the same, as in the gateway). The first run of
    each view and scope is not counted (it fills the page cache). The as-of cuts are ``as_of`` (a date or time) by
    each clock (recorded, occurred, known), or by default the middle of each clock's span in the projection (a world
    on either side); their year is the current one.
    """
    cuts = {clock: as_of or _middle(db, column) for clock, column in CLOCK_COLUMNS.items()}
    year = queries.make_scope(db, hierarchy=hierarchy).year  # as of a cut, the same year as now
    scopes = {
        "now": {},
        "as_of_occurred": {"as_of": cuts["occurred"], "by": "occurred", "year": year},
        "as_of_recorded": {"as_of": cuts["recorded"], "by": "recorded", "year": year},
        "as_of_known": {"as_of": cuts["known"], "by": "known", "year": year},
    }
    out: dict[str, Any] = {"runs": runs, "as_of": cuts, "load_average": [round(x, 2) for x in os.getloadavg()]}
    for label, asked in scopes.items():
        out[label] = {name: _timed(db, hierarchy, view, asked, runs) for name, view in VIEWS.items()}
    return out


def _timed(
    db: ProjectionDB, hierarchy: Hierarchy, view: Callable[..., Any], asked: dict[str, Any], runs: int
) -> dict[str, float]:
    walls, cpus = [], []
    for n in range(runs + 1):
        started, cpu = time.perf_counter(), time.process_time()
        view(db, queries.make_scope(db, hierarchy=hierarchy, **asked))
        if n:
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
    walls.sort()
    return {
        "p50_ms": round(statistics.median(walls), 1),
        "p99_ms": round(walls[min(len(walls) - 1, int(0.99 * len(walls)))], 1),
        "cpu_p50_ms": round(statistics.median(cpus), 1),
    }


def _middle(db: ProjectionDB, clock: str) -> str:
    """The middle of the span of the projection's contacts by one clock (an as-of cut with a world on each side)."""
    import sqlalchemy as sa

    from projections import schema
    from projections.timeutil import iso

    column = schema.contacts.c[clock]
    with db.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
    return iso((first + last) // 2) or date.today().isoformat() if first is not None else date.today().isoformat()
