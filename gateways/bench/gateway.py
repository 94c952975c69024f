"""``yipanqi bench gateway``: the gateway's throughput against a bare endpoint of the same server, same client.

Set-up (temporary, removed afterwards): SQLite stores with simulated activity of a slice of Hunan (province, two
prefectures, their counties and townships), replicated up the tree as the ingest does, so the province's log and
projection hold its subtree. One ``yipanqi serve`` process (uvicorn, one worker) serves the province and a
township. The load generator is a separate process on loopback (``python -m gateways.bench.gateway load``): a small
asyncio HTTP/1.1 keep-alive client, ``concurrency`` connections, each phase bounded in requests and in time.

Phases: ``bare`` (GET /healthz, a constant), ``command`` (POST a station visit at the township, each with its own
Idempotency-Key and natural key: every request records one event and its stored answer, concurrent ones sharing a
commit: ``gateways.api.commit``) and ``query`` (GET the province's rollup: every view of all of Hunan by region, as
the dashboard reads it; answers are cached until the projection moves, which is how the gateway serves it), in
alternating rounds whose ratios are taken within the round and reported as medians; then ``query_uncached`` (the
same rollup with a distinct as-of each time, so every request computes the views from the projection). The
gateway projects in a projector process beside it (``gateways.api.projection.Keeper``), as ``yipanqi serve`` does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PROVINCE = "430000"
TOWNSHIP = "430582204"  # 斫𥕢乡, under 邵东市 (邵阳市)
TREE = {
    "430582204": "430582",
    "430582101": "430582",
    "430525101": "430525",
    "430582": "430500",
    "430525": "430500",
    "430811": "430800",
    "430811201": "430811",
    "430500": PROVINCE,
    "430800": PROVINCE,
}


# ---------------------------------------------------------------------------------------------------- load process


async def _worker(
    host: str,
    port: int,
    requests: list[bytes],
    next_index: Callable[[], int | None],
    deadline: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            i = next_index()
            if i is None:
                return
            started = time.perf_counter()
            writer.write(requests[i])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _phase(host: str, port: int, requests: list[bytes], *, concurrency: int, seconds: float, warmup: int) -> dict[str, Any]:
    if warmup:
        await _phase(host, port, requests[:warmup], concurrency=1, seconds=seconds, warmup=0)
        requests = requests[warmup:]
    counter = {"next": 0}

    def next_index() -> int | None:
        i = counter["next"]
        if i >= len(requests):
            return None
        counter["next"] = i + 1
        return i

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(host, port, requests, next_index, deadline, latencies, statuses) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def load_main(spec_path: str) -> None:
    """The load process: runs the phases of a spec file, prints one JSON object."""
    spec = json.loads(Path(spec_path).read_text())
    out = {}
    for phase in spec["phases"]:
        requests = [_request(phase["method"], r["path"], r["headers"], r["body"].encode()) for r in phase["requests"]]
        out[phase["name"]] = asyncio.run(
            _phase(
                spec["host"],
                spec["port"],
                requests,
                concurrency=phase["concurrency"],
                seconds=phase["seconds"],
                warmup=phase["warmup"],
            )
        )
    print(json.dumps(out))


# ------------------------------------------------------------------------------------------------------ benchmark


def simulated_slice(settings: Any, hierarchy: Any, *, days: int, log: Callable[..., Any]) -> int:
    """The province, two prefectures and a few of their counties and townships, ``days`` of simulated activity,
    each log replicated up the tree as the ingest does; returns the events simulated."""
    from gateways.api.devtools import replicate_up, seed

    log(f"模拟数据 simulating {days} days of {len(TREE) + 1} nodes…")
    events = seed(settings, sorted({*TREE, PROVINCE}), days=days, seed=7, scale=0.1, hierarchy=hierarchy)
    replicate_up(settings, hierarchy, TREE)
    return int(events)


def _visit_requests(settings: Any, hierarchy: Any, token: str, count: int) -> list[dict[str, Any]]:
    """Station visits at the township, each unique (date and deputy on duty): every one records an event."""
    from domain.stations import Station
    from domain.store import NodeStore

    store = NodeStore(hierarchy.ref(hierarchy.by_code(TOWNSHIP)), settings)
    try:
        stations = []
        for n in store.iter_notifications():
            if n.topic.endswith("Station.Established"):
                station = store.get(n.originator_id)
                if isinstance(station, Station) and station.status.value == "open" and station.enrolled:
                    stations.append(station)
        combos = [(s.id, d) for s in stations for d, congress in s.enrolled.items() if congress == "township"]
    finally:
        store.close()
    if not combos:
        raise RuntimeError("the simulated township has no station with township deputies enrolled")
    out = []
    # every visit dated in the past (a date after tomorrow is refused), each (station, day, deputy) once
    first = date.today() - timedelta(days=count // len(combos) + 2)
    for i in range(count):
        station_id, deputy = combos[i % len(combos)]
        day = first + timedelta(days=i // len(combos))
        body = {
            "station_id": str(station_id),
            "visit_date": day.isoformat(),
            "deputy_ids": [str(deputy)],
            "people_received": 1 + i % 20,
        }
        out.append(
            {
                "path": f"/nodes/{TOWNSHIP}/visits",
                "headers": {"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{i}"},
                "body": json.dumps(body),
            }
        )
    return out


def run_gateway_benchmark(
    *,
    seconds: float = 8.0,
    requests: int = 4000,
    concurrency: int = 8,
    days: int = 30,
    rounds: int = 3,
    store: str = "sqlite",
    pg_dsn: str | None = None,
    log: Callable[..., Any] = print,
) -> dict[str, Any]:
    """``store``: the nodes' stores on ``sqlite`` (files in a temporary directory) or ``postgres`` (a throwaway
    database on ``pg_dsn``'s server, default the test server that ``deploy/postgres.sh`` starts)."""
    if store == "postgres":
        from gateways.bench.services import throwaway_database

        with throwaway_database(pg_dsn, log) as dsn:
            return _run(seconds, requests, concurrency, days, rounds, log, pg_dsn=dsn)
    return _run(seconds, requests, concurrency, days, rounds, log, pg_dsn=None)


def _run(
    seconds: float, requests: int, concurrency: int, days: int, rounds: int, log: Callable[..., Any], *, pg_dsn: str | None
) -> dict[str, Any]:
    from domain.hierarchy import Hierarchy
    from domain.store import StoreSettings
    from gateways.api.devtools import GatewayProcess, free_port, issue_tokens, store_env
    from gateways.api.storage import dispose_engines

    tmp = Path(tempfile.mkdtemp(prefix="yipanqi-bench-gateway-"))
    try:
        settings = (
            StoreSettings(store="postgres", pg_dsn=pg_dsn, data_dir=tmp / "var")
            if pg_dsn
            else StoreSettings(store="sqlite", data_dir=tmp / "var")
        )
        hierarchy = Hierarchy.load()
        events = simulated_slice(settings, hierarchy, days=days, log=log)
        tokens = issue_tokens(settings, [PROVINCE, TOWNSHIP], ["viewer", "recorder"], hierarchy)
        dispose_engines()
        per_phase = requests + 20  # the load process warms each phase up with 20 requests
        visits = _visit_requests(settings, hierarchy, tokens[(TOWNSHIP, "recorder")], per_phase * rounds)
        viewer = {"Authorization": f"Bearer {tokens[(PROVINCE, 'viewer')]}"}
        phases = _phases(visits, viewer, per_phase, rounds)
        port = free_port()
        for p in phases:
            p.update(concurrency=concurrency, seconds=seconds, warmup=20)
        spec = tmp / "spec.json"
        spec.write_text(json.dumps({"host": "127.0.0.1", "port": port, "phases": phases}))
        log(f"启动网关 starting `yipanqi serve` (uvicorn, 1 worker) on 127.0.0.1:{port}…")
        with GatewayProcess([PROVINCE, TOWNSHIP], store_env(settings), tmp / "gateway.log", port=port) as gateway:
            gateway.wait_ready(120)
            gateway.wait_projected(PROVINCE, tokens[(PROVINCE, "viewer")])
            log(
                f"负载 load: {rounds} rounds of bare, command, query; {concurrency} connections, "
                f"≤{requests} requests or ≤{seconds}s per phase, separate process…"
            )
            measured = _load(spec, timeout=len(phases) * (seconds + 60) + 60)
        summary = _summary(measured, rounds)
        summary["server"] = (
            f"uvicorn, 1 worker, {'PostgreSQL' if pg_dsn else 'SQLite'} stores; projections in a projector process beside it"
        )
        return {**summary, "concurrency": concurrency, "simulated_events": events}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _phases(visits: list[dict[str, Any]], viewer: dict[str, str], per_phase: int, rounds: int) -> list[dict[str, Any]]:
    """Bare, command and query alternate, ``rounds`` times: each ratio is taken within one round, so a burst of
    other work on the machine skews one round's pair, not the whole result. The uncached rollup comes last."""
    rollup = {"path": f"/nodes/{PROVINCE}/views/rollup", "headers": viewer, "body": ""}
    phases: list[dict[str, Any]] = []
    for r in range(rounds):
        phases += [
            {"name": f"bare#{r}", "method": "GET", "requests": [{"path": "/healthz", "headers": {}, "body": ""}] * per_phase},
            {"name": f"command#{r}", "method": "POST", "requests": visits[r * per_phase : (r + 1) * per_phase]},
            {"name": f"query#{r}", "method": "GET", "requests": [rollup] * per_phase},
        ]
    cut = date(2025, 1, 1)
    as_of = [{**rollup, "path": f"{rollup['path']}?as_of={(cut + timedelta(days=i)).isoformat()}"} for i in range(420)]
    return [*phases, {"name": "query_uncached", "method": "GET", "requests": as_of}]


def _load(spec: Path, *, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, "-m", "gateways.bench.gateway", "load", str(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _summary(measured: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Medians over the rounds: of each phase's rps and p99, and of the ratios taken within each round."""
    kinds = ("bare", "command", "query")
    per_round = [{k: measured[f"{k}#{r}"] for k in kinds} for r in range(rounds)]

    def median_of(kind: str, figure: str) -> float:
        return round(statistics.median(r[kind][figure] for r in per_round), 2)

    def ratios(kind: str) -> list[float]:
        return [round(r[kind]["rps"] / r["bare"]["rps"], 3) if r["bare"]["rps"] else 0.0 for r in per_round]

    uncached = measured["query_uncached"]
    failures = {k: {s: n for s, n in v["statuses"].items() if s not in ("200", "201")} for k, v in measured.items()}
    if any(failures.values()):  # a refused request costs less than a recorded one: its rate would flatter us
        raise RuntimeError(f"requests were refused, so the figures would not measure the work: {failures}")
    return {
        "command_rps": median_of("command", "rps"),
        "command_p99_ms": median_of("command", "p99_ms"),
        "query_rps": median_of("query", "rps"),
        "query_p99_ms": median_of("query", "p99_ms"),
        "bare_rps": median_of("bare", "rps"),
        "command_ratio": statistics.median(ratios("command")),
        "query_ratio": statistics.median(ratios("query")),
        "rounds": {
            "command_ratio": ratios("command"),
            "query_ratio": ratios("query"),
            "bare_rps": [r["bare"]["rps"] for r in per_round],
        },
        "query_uncached_rps": uncached["rps"],
        "query_uncached_p99_ms": uncached["p99_ms"],
        "command_p50_ms": median_of("command", "p50_ms"),
        "query_p50_ms": median_of("query", "p50_ms"),
        "bare_p99_ms": median_of("bare", "p99_ms"),
        "requests": {k: v["requests"] for k, v in measured.items()},
        "load_avg": [round(x, 2) for x in os.getloadavg()],  # the machine's load: other jobs skew every figure
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "load":
        load_main(sys.argv[2])
    else:
        print("usage: python -m gateways.bench.gateway load SPEC.json", file=sys.stderr)
        sys.exit(2)
