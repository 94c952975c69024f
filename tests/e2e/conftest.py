"""Multi-process sync: ``yipanqi sync run`` processes on a real broker, started, killed and restarted by the tests.

``SyncProcesses`` starts each process with one test's settings in its environment (data directory or PostgreSQL
database, topic prefix, bootstrap address), keeps its output in a file under the test's tmp_path (shown when a test
fails), and stops whatever is still running at the end of the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from domain.store import StoreSettings
from sync.settings import SyncSettings
from tests.sync_helpers import FAST, Ledger

ROOT = Path(__file__).resolve().parents[2]
READY = "同步运行中"  # `sync run` prints this once its host is up (topics made, partitions assigned)


class SyncProcess:
    def __init__(self, name: str, codes: Sequence[str], popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.codes, self.popen, self.log = name, tuple(codes), popen, log
        self.started = time.monotonic()
        self.terminated = False
        self.killed = False

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ready(self) -> bool:
        return READY in self.output()

    def wait_ready(self, timeout: float = 30.0) -> SyncProcess:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.output()[-4000:]}")
            time.sleep(0.05)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.killed = True
        if self.alive:
            self.popen.send_signal(sig)
        self.popen.wait(timeout=30)

    def terminate(self) -> None:
        if self.alive and not self.terminated:
            self.terminated = True
            self.popen.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM: the process finishes its round and closes its clients."""
        if self.alive:
            self.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


class SyncProcesses:
    """``yipanqi sync run --node ...`` processes of one test."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[SyncProcess] = []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, codes: Sequence[str], *, extra_env: dict[str, str] | None = None) -> SyncProcess:
        log = self.logs / f"{name}.{sum(p.name == name for p in self.procs)}.log"
        args = [sys.executable, "-m", "gateways.cli", "sync", "run"]
        for code in codes:
            args += ["--node", code]
        args += ["--kafka", self.env["YIPANQI_KAFKA"]]
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                args, cwd=self.logs, env={**self.env, **(extra_env or {})}, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        proc = SyncProcess(name, codes, popen, log)
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another ``yipanqi`` command (status, retry, backfill) with the test's settings."""
        result = subprocess.run(
            [sys.executable, "-m", "gateways.cli", *args],
            cwd=self.logs,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"yipanqi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def stop_all(self) -> None:
        for proc in self.procs:  # all at once, then wait for each
            proc.terminate()
        for proc in self.procs:
            proc.stop()

    def dead(self) -> list[str]:
        """Processes that exited without being told to: a crash is a failure even if the logs converge later."""
        return [
            f"{p.name} ({p.popen.returncode})"
            for p in self.procs
            if p.popen.returncode not in (None, 0) and not p.killed and not (p.terminated and p.popen.returncode == -15)
        ]

    def tails(self, lines: int = 30) -> str:
        out = []
        for proc in self.procs:
            text = proc.output().splitlines()[-lines:]
            out.append(f"--- {proc.log.name} ({'alive' if proc.alive else proc.popen.returncode}) ---\n" + "\n".join(text))
        return "\n".join(out)


def process_env(store: StoreSettings, sync: SyncSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIPANQI_")}
    env.update(FAST)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "YIPANQI_KAFKA": sync.kafka,
            "YIPANQI_TOPIC_PREFIX": sync.topic_prefix,
            "YIPANQI_STORE": store.store,
            "YIPANQI_DATA_DIR": str(store.data_dir),
        }
    )
    if store.pg_dsn:
        env["YIPANQI_PG_DSN"] = store.pg_dsn
    return env


@pytest.fixture
def processes(request: pytest.FixtureRequest, tmp_path: Path, sync_settings: SyncSettings) -> Iterator[Any]:
    """Factory: ``processes(store_settings)`` → SyncProcesses for this test; all stopped at the end, and their
    output printed if the test failed."""
    made: list[SyncProcesses] = []

    def make(store: StoreSettings) -> SyncProcesses:
        procs = SyncProcesses(process_env(store, sync_settings), tmp_path / "procs")
        made.append(procs)
        return procs

    yield make
    for procs in made:
        procs.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for procs in made:
            print(procs.tails(60))
    else:  # told to stop (SIGTERM), every process finishes its round and exits cleanly
        unclean = [bad for procs in made for bad in procs.dead()]
        assert not unclean, f"processes that did not exit cleanly: {unclean}\n" + "\n".join(p.tails(60) for p in made)


@pytest.fixture
def ledger_for() -> Iterator[Any]:
    opened: list[Ledger] = []

    def make(store: StoreSettings, codes: Sequence[str]) -> Ledger:
        ledger = Ledger(store, codes)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
