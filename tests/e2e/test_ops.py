"""A sync process as an operator runs it (issue 14 §2), on the session's Kafka broker:

- hosted as a topology file's process names it, it serves ``/metrics`` (per-stream lag and state, events in and
  out, counted from what it did), ``/healthz`` and ``/readyz`` without a token;
- SIGTERM ends it within a few seconds, its transaction finished (nothing lost: every level still exact);
- started before its PostgreSQL server answers, it waits and says so at each retry, then syncs once it does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from domain.store import StoreSettings
from tests.e2e.conftest import process_env
from tests.integration.test_gateway_ops import sample
from tests.sync_helpers import SIM_START, WULINGYUAN, XIEHE, ZHONGHU, Activity, Ledger, fast_settings

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - a local test URL
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateways.cli", *args],
            env={**env, "YIPANQI_LOG_JSON": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_sync_process_serves_its_metrics_and_stops_cleanly_on_sigterm(
    sqlite_settings: StoreSettings, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    activity = Activity(sqlite_settings, CODES, days=10, seed=31, scale=0.2)
    activity.write(day=SIM_START + timedelta(days=5))
    port = free_port()
    topology = tmp_path / "topology.toml"
    topology.write_text(f'[process.wly]\nrole = "sync"\nnodes = {list(CODES)!r}\nmetrics_port = {port}\n'.replace("'", '"'))
    env = process_env(sqlite_settings, fast_settings(kafka=kafka_bootstrap, topic_prefix=topic_prefix))
    log = tmp_path / "sync.log"
    proc = start(["sync", "run", "--topology", str(topology), "--process", "wly"], env, log)
    try:
        Ledger(sqlite_settings, CODES).wait_converged(90, why=lambda: log.read_text()[-2000:])
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # the ingest's view of its streams follows the stores within a round or two
            status, text = fetch(f"{base}/metrics")
            assert status == 200
            following = sample(text, "yipanqi_sync_streams", state="following")
            if following == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert following == 2, text
        for child in (XIEHE, ZHONGHU):
            assert sample(text, "yipanqi_sync_stream_lag_events", node=WULINGYUAN, child=child) == 0
            assert sample(text, "yipanqi_sync_stream_state", node=WULINGYUAN, child=child, state="following") == 1
            published = sample(text, "yipanqi_sync_events_out_total", node=child)
            assert published is not None and published > 0
        taken = sample(text, "yipanqi_sync_events_in_total", node=WULINGYUAN)
        assert taken == sum(sample(text, "yipanqi_sync_events_out_total", node=c) or 0 for c in (XIEHE, ZHONGHU))
        assert sample(text, "yipanqi_sync_hosted_nodes") == 3
        assert fetch(f"{base}/healthz")[0] == 200
        status, body = fetch(f"{base}/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"]["broker"]["ok"] and json.loads(body)["checks"]["stores"]["detail"] == "3 of 3 open"
        assert fetch(f"{base}/nope")[0] == 404
        activity.write()  # more work arrives; SIGTERM lands while the process may be in the middle of it
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()[-2000:]
        assert time.monotonic() - sent < 10
        assert "sync.stopped" in log.read_text()
    finally:
        activity.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # Nothing was lost by the stop: another run takes up from the saved positions and every level is exact.
    again = start(["sync", "run", *[a for c in CODES for a in ("--node", c)]], env, tmp_path / "again.log")
    try:
        Ledger(sqlite_settings, CODES).wait_converged(90, why=lambda: (tmp_path / "again.log").read_text()[-2000:])
    finally:
        again.terminate()
        again.wait(30)


class _Gate:
    """A TCP port that refuses connections until opened, then forwards each to the real server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: socket.socket | None = None

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.mark.postgres
def test_a_sync_process_started_before_its_database_waits_for_it(
    pg_database: dict[str, Any], kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    gate = _Gate((pg_database["host"], pg_database["port"]))
    params = conninfo_to_dict(pg_database["dsn"])
    dsn = f"postgresql://{params['user']}:{params['password']}@127.0.0.1:{gate.port}/{params['dbname']}"
    real = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"], data_dir=tmp_path / "var")
    with Activity(real, CODES, days=5, seed=37, scale=0.2) as activity:
        activity.write()
    gated = StoreSettings(store="postgres", pg_dsn=dsn, data_dir=tmp_path / "var")
    env = process_env(gated, fast_settings(kafka=kafka_bootstrap, topic_prefix=topic_prefix))
    log = tmp_path / "sync.log"
    proc = start(["sync", "run", *[a for c in CODES for a in ("--node", c)]], {**env, "YIPANQI_PG_POOL_SIZE": "2"}, log)
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("ops.database_unreachable") < 2:  # it waited through one retry
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        gate.open()
        Ledger(real, CODES).wait_converged(90, why=lambda: log.read_text()[-2000:])
        assert proc.poll() is None and "ops.database_reachable" in log.read_text()
        assert f":{params['password']}@" not in log.read_text()  # the log names the server, never the password
    finally:
        proc.terminate()
        proc.wait(30)
        gate.close()


def test_a_gateway_answers_readiness_then_stops_cleanly_on_sigterm(sqlite_settings: StoreSettings, tmp_path: Path) -> None:
    """``yipanqi serve`` as its systemd unit runs it: ready once its stores and projections answer; SIGTERM ends it
    (and its projector process) within a few seconds, exit status 0."""
    with Activity(sqlite_settings, CODES, days=3, seed=41, scale=0.2) as activity:
        activity.write()
    port = free_port()
    topology = tmp_path / "topology.toml"
    topology.write_text(f'[process.gw]\nrole = "serve"\nregion = "{WULINGYUAN}"\nport = {port}\n')
    env = {k: v for k, v in process_env(sqlite_settings, fast_settings(kafka="")).items() if k != "YIPANQI_KAFKA"}
    log = tmp_path / "serve.log"
    proc = start(["serve", "--topology", str(topology), "--process", "gw"], env, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = fetch(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status, body = 0, ""
            if status == 200:
                break
            assert proc.poll() is None and time.monotonic() < deadline, (body, log.read_text()[-2000:])
            time.sleep(0.3)
        assert json.loads(body)["status"] == "ready"
        lags = []  # the projector catches up with what was recorded before the gateway started: the lag falls to 0
        while not lags or lags[-1] != 0:
            lags.append(sample(fetch(f"http://127.0.0.1:{port}/metrics")[1], "yipanqi_projection_lag_events", node=WULINGYUAN))
            assert time.monotonic() < deadline + 30, lags
            time.sleep(0.3)
        assert lags[0] is not None and lags[0] > 0
        children = [
            int(p)
            for p in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
        ]
        assert children, "the gateway runs its projector in a child process"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down (lifespan: the projector is stopped), then exits by the signal it caught, as a service
        # manager expects (systemd counts SIGTERM as a clean stop).
        assert proc.wait(15) in (0, -signal.SIGTERM), log.read_text()[-2000:]
        assert time.monotonic() - sent < 10
        gone_by = time.monotonic() + 5  # its children (the projector, multiprocessing's resource tracker) end with it
        while (left := [c for c in children if _alive(c)]) and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert not left, subprocess.run(
            ["ps", "-o", "pid,stat,args", "-p", ",".join(map(str, left))], capture_output=True, text=True
        ).stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
