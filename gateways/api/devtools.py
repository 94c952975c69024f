"""Helpers shared by the gateway's tests and its benchmark: simulated stores, tokens, a gateway in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from domain.files import private_file
from domain.hierarchy import Hierarchy
from domain.simulation import simulate
from domain.store import NodeStore, NodeStores, StoreSettings
from gateways.api.storage import gateway_db

ROOT = Path(__file__).resolve().parents[2]


def seed(
    settings: StoreSettings,
    codes: Sequence[str],
    *,
    days: int,
    seed: int = 0,
    scale: float = 0.1,
    start: date = date(2025, 3, 3),
    hierarchy: Hierarchy | None = None,
) -> int:
    """Simulated activity of the nodes, saved into their stores; returns the number of events."""
    h = hierarchy or Hierarchy.load()
    refs = sorted((h.ref(h.by_code(c)) for c in codes), key=lambda r: (r.level.depth, r.code))
    total = 0
    with NodeStores(settings) as stores:
        for batch in simulate(refs, days=days, start=start, seed=seed, scale=scale):
            total += batch.events
            stores.open(batch.node).save_all(batch.aggregates)
    return total


def issue_tokens(
    settings: StoreSettings, codes: Iterable[str], roles: Iterable[str], hierarchy: Hierarchy | None = None
) -> dict[tuple[str, str], str]:
    """One token per (node code, role), subject ``<role>@<code>``."""
    h = hierarchy or Hierarchy.load()
    tokens = {}
    for code in codes:
        db = gateway_db(settings, h.ref(h.by_code(code)))
        for role in roles:
            tokens[(code, role)], _ = db.issue(role=role, subject=f"{role}@{code}")
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def replicate_up(settings: StoreSettings, hierarchy: Hierarchy, tree: dict[str, str]) -> None:
    """What sync's ingest does, without a broker: each child's log (``tree``: child code -> parent code), verbatim,
    into its parent's, deepest first; rows the parent holds already are left out."""
    for child in sorted(tree, key=len, reverse=True):
        src = NodeStore(hierarchy.ref(hierarchy.by_code(child)), settings)
        dst = NodeStore(hierarchy.ref(hierarchy.by_code(tree[child])), settings)
        try:
            held = {(n.originator_id, n.originator_version) for n in dst.iter_notifications()}
            rows = [
                (n.originator_id, n.originator_version, n.topic, n.state)
                for n in src.iter_notifications()
                if (n.originator_id, n.originator_version) not in held
            ]
            if rows:
                dst.recorder.insert_rows(rows)  # type: ignore[attr-defined]
        finally:
            src.close()
            dst.close()


def store_env(settings: StoreSettings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIPANQI_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "YIPANQI_STORE": settings.store,
            "YIPANQI_DATA_DIR": str(settings.data_dir),
            "YIPANQI_LOG_JSON": "1",
        }
    )
    if settings.pg_dsn:
        env["YIPANQI_PG_DSN"] = settings.pg_dsn
    if settings.store_levels:
        env["YIPANQI_STORE_LEVELS"] = settings.store_levels
    env.update(extra or {})
    return env


class GatewayProcess:
    """``yipanqi serve`` in a subprocess on a free loopback port, its output in a log file."""

    def __init__(self, codes: Sequence[str], env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.codes = tuple(codes)
        self.port = port or free_port()
        self.log = log
        args = [sys.executable, "-m", "gateways.cli", "serve", "--port", str(self.port)]
        for code in codes:
            args += ["--node", code]
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(private_file(log), "wb") as out:  # a gateway's log names token subjects and nodes
            self.popen = subprocess.Popen(args, cwd=str(log.parent), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 60.0) -> GatewayProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"gateway {self.codes} exited with {self.popen.returncode}:\n{self.output()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway {self.codes} not ready after {timeout}s:\n{self.output()[-4000:]}")

    def wait_projected(self, code: str, token: str, timeout: float = 120.0) -> GatewayProcess:
        """Until the node's read models hold its whole log (the gateway projects in a process of its own)."""
        deadline = time.monotonic() + timeout
        status: Any = None
        while time.monotonic() < deadline:
            r = httpx.get(f"{self.url}/nodes/{code}/sync/status", headers={"Authorization": f"Bearer {token}"}, timeout=60)
            status = r.json() if r.status_code == 200 else r.text
            if r.status_code == 200 and status["projected"] == status["head"]:
                return self
            time.sleep(0.5)
        raise RuntimeError(f"the read models of {code} did not catch up with its log in {timeout}s: {status}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
