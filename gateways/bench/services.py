"""Services a benchmark starts for itself when not pointed at existing ones."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse
from uuid import uuid4

import psycopg

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def throwaway_database(server_dsn: str | None, log: Callable[[str], Any]) -> Iterator[str]:
    """A fresh database on the given server (default: the test server, started by deploy/postgres.sh), dropped after
    (kept with ``YIPANQI_BENCH_KEEP=1``)."""
    server_dsn = server_dsn or os.environ.get("YIPANQI_TEST_PG_DSN") or _start_local_postgres(log)
    name = f"bench_{uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunparse(urlparse(server_dsn)._replace(path=f"/{name}"))
    try:
        yield dsn
    finally:
        if os.environ.get("YIPANQI_BENCH_KEEP"):
            log(f"保留数据库 database kept (YIPANQI_BENCH_KEEP): {dsn}")
        else:
            with psycopg.connect(server_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _start_local_postgres(log: Callable[[str], Any]) -> str:
    script = PROJECT_ROOT / "deploy" / "postgres.sh"
    log("启动临时 PostgreSQL starting a throwaway PostgreSQL (deploy/postgres.sh start)…")
    out = subprocess.run(["bash", str(script), "start"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("export YIPANQI_TEST_PG_DSN="):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise RuntimeError(f"deploy/postgres.sh start printed no DSN: {out!r}")


@contextmanager
def throwaway_kafka(log: Callable[[str], Any], *, heap: str = "1g") -> Iterator[tuple[str, int | None]]:
    """An Apache Kafka broker of its own (deploy/kafka.sh, fetched from Maven Central the first time), on free
    ports and in a directory removed after: (bootstrap, pid)."""
    state = Path(tempfile.mkdtemp(prefix="yipanqi-bench-kafka-"))
    env = {
        **os.environ,
        "YIPANQI_KAFKA_STATE": str(state),
        "YIPANQI_KAFKA_PORT": str(_free_port()),
        "YIPANQI_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "YIPANQI_KAFKA_HEAP": heap,
    }
    script = str(PROJECT_ROOT / "deploy" / "kafka.sh")
    log(f"启动 Apache Kafka starting a throwaway Apache Kafka broker (deploy/kafka.sh, heap {heap})…")
    subprocess.run(["bash", script, "fetch"], check=True, env=env)
    subprocess.run(["bash", script, "start"], check=True, env=env, stdout=subprocess.DEVNULL)
    try:
        pid = int((state / "kafka.pid").read_text().strip())
        yield f"127.0.0.1:{env['YIPANQI_KAFKA_PORT']}", pid
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
