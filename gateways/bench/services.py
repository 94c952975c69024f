"""Services a benchmark starts for itself when not pointed at existing ones."""

from __future__ import annotations

import os
import subprocess
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
    """A fresh database on the given server (default: the test server, started by deploy/postgres.sh), dropped after."""
    server_dsn = server_dsn or os.environ.get("YIPANQI_TEST_PG_DSN") or _start_local_postgres(log)
    name = f"bench_{uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(server_dsn)._replace(path=f"/{name}"))
    finally:
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
