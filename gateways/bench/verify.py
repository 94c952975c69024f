"""``yipanqi bench verify``: checking a province-sized log against its hash chains, against a bare SHA-256 pass over
the same stored bytes.

The store is the province's log after sync, built as ``bench projections`` builds it (a simulated region under the
province, a million events by default, in a temporary directory). Ours: ``NodeStore.verify`` (every event read with
its chain column, its link recomputed, checked against the stored one and the heads). Bare: the same
events' stored bytes read in the same pages, in the same order, with one ``hashlib.sha256`` each. Medians of three
alternating rounds; ``ratio`` = ours / bare in events per second (goal ≥ 0.5).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from gateways.bench.projections import BENCH_REGION, PROVINCE, _build_store_aside

ROUNDS = 3
PAGE = 5000  # what NodeStore.verify reads per page


def run_verify_benchmark(
    *,
    events: int = 1_000_000,
    region: str = BENCH_REGION,
    scale: float = 1.2,
    days: int = 1460,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    hierarchy = Hierarchy.load()
    with tempfile.TemporaryDirectory(prefix="yipanqi-bench-verify-") as tmp:
        settings = StoreSettings(store="sqlite", data_dir=Path(tmp))
        written = _build_store_aside(settings, region, events=events, scale=scale, days=days, seed=11, log=log)
        log(f"存储已生成 store built: {written:,} events")
        store = NodeStore(hierarchy.ref(hierarchy.by_code(PROVINCE)), settings)
        try:
            ours, bare, sizes = [], [], 0
            for n in range(ROUNDS):
                started = time.perf_counter()
                check = store.verify(batch=PAGE)
                ours.append(check.events / (time.perf_counter() - started))
                if not check.ok:
                    raise RuntimeError(f"the freshly built store does not verify: {check}")
                rate, sizes = _bare(store)
                bare.append(rate)
                log(f"第 {n + 1} 轮 round {n + 1}: verify {ours[-1]:,.0f} events/s, bare sha256 {bare[-1]:,.0f} events/s")
        finally:
            store.close()
    ours_rate, bare_rate = statistics.median(ours), statistics.median(bare)
    return {
        "benchmark": "verify",
        "events": check.events,
        "chains": len(check.chains),
        "stored_bytes": sizes,
        "verify_events_per_s": round(ours_rate),
        "bare_sha256_events_per_s": round(bare_rate),
        "ratio": round(ours_rate / bare_rate, 3),
        "runs": {"verify": [round(r) for r in ours], "bare": [round(r) for r in bare]},
        "moves": (
            "ours: every event of the province's SQLite log read in pages of 5,000 with its chain column, its link "
            "recomputed (one sha256) and compared; bare: the same events' stored bytes read in the same pages, one sha256 each"
        ),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "ok": ours_rate / bare_rate >= 0.5,
    }


def _bare(store: NodeStore) -> tuple[float, int]:
    """Events per second of reading every stored event's bytes in pages and hashing each once; the bytes read."""
    connection = store.recorder.datastore.pool.get_connection()  # type: ignore[attr-defined]
    raw = connection._sqlite_conn
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    started, count, size, start = time.perf_counter(), 0, 0, 1
    sha256 = hashlib.sha256
    try:
        while True:
            page = raw.execute(
                f"SELECT rowid, state FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT ?", (start, PAGE)
            ).fetchall()
            if not page:
                break
            for _, state in page:
                sha256(state).digest()
                size += len(state)
            count += len(page)
            start = page[-1][0] + 1
    finally:
        store.recorder.datastore.pool.put_connection(connection)  # type: ignore[attr-defined]
    return count / (time.perf_counter() - started), size
