"""运维端点 / what an orchestrator and a Prometheus server read from every process, without a token.

- ``/healthz``: alive (the process answers, and its main loop turned recently);
- ``/readyz``: ready to serve (each check named, with what it found): 200 when every check passes, else 503;
- ``/metrics``: the process's metrics in the Prometheus text format (``prometheus-client``).

The gateway serves them among its routes (``gateways.api.app``); a sync process, which has no web server, serves
them from ``OpsServer``, a small WSGI server on a thread of its own (``yipanqi sync run --metrics-port``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from domain.levels import Level
from domain.store import StoreSettings

DATABASE_RETRY_S = 5.0  # between tries while the database does not answer


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, and what it found (said in the answer either way)."""

    name: str
    ok: bool
    detail: str = ""


def readiness(checks: Sequence[Check]) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``/readyz``: 200 and ``ready`` when every check passes, else 503."""
    ready = all(c.ok for c in checks)
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return (200 if ready else 503), body


def safely(name: str, check: Callable[[], str]) -> Check:
    """A check that passes unless ``check`` raises; its detail is what it returned, or the error."""
    try:
        return Check(name, True, check())
    except Exception as e:  # noqa: BLE001 - any failure is the answer: not ready, and why
        return Check(name, False, f"{type(e).__name__}: {e}")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes every few seconds would flood the process's log; structlog says what matters."""


class OpsServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` of a process without a web server, on a daemon thread.

    ``alive`` and ``checks`` are called on the server's thread at each request: they read the process's state, they
    must not change it."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        alive: Callable[[], Check],
        checks: Callable[[], Iterable[Check]],
    ) -> None:
        self.registry, self.alive, self.checks = registry, alive, checks
        self._server: WSGIServer = make_server(host, port, self._app, handler_class=_Quiet)
        self.port = self._server.server_port  # port 0: the one the system chose
        self._thread = threading.Thread(target=self._server.serve_forever, name="yipanqi-ops", daemon=True)

    def __enter__(self) -> OpsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _answer(start_response, 405, {"error": f"{method} is not allowed here", "rule": "GET or HEAD"})
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store")])
            return [generate_latest(self.registry)]
        if path == "/healthz":
            check = self.alive()
            return _answer(
                start_response, 200 if check.ok else 503, {"status": "ok" if check.ok else "stuck", "detail": check.detail}
            )
        if path == "/readyz":
            status, body = readiness(list(self.checks()))
            return _answer(start_response, status, body)
        return _answer(start_response, 404, {"error": f"no such path {path}", "rule": "/healthz, /readyz or /metrics"})


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def _answer(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    start_response(
        f"{status} {_REASONS[status]}", [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]
    )
    return [json.dumps(body, ensure_ascii=False).encode()]


def await_database(
    settings: StoreSettings, levels: Iterable[Level], until: Callable[[], bool], *, every: float = DATABASE_RETRY_S
) -> bool:
    """Wait until the PostgreSQL server of the hosted levels answers, saying so at each retry (a process started
    before its database, or while it restarts, waits instead of failing); True at once where every hosted level
    keeps its stores in SQLite files; False if told to stop first."""
    dsn = settings.pg_dsn
    if not dsn or all(settings.backend(level) != "postgres" for level in set(levels)):
        return True
    log = structlog.get_logger("ops").bind(database=_where(dsn))
    return wait_for(lambda: _database_error(dsn), log, "ops.database", until, every=every)


def wait_for(
    answers: Callable[[], str | None],
    log: Any,
    event: str,
    until: Callable[[], bool],
    *,
    every: float,
    say: Callable[[int], None] | None = None,
) -> bool:
    """Try ``answers`` (None: it answered; else why not) every ``every`` seconds until it answers, logging
    ``<event>_unreachable`` at each failed try (and ``say``-ing it on the console) and ``<event>_reachable`` once
    it answers after a wait; False if ``until`` says stop first."""
    started = time.monotonic()
    while (error := answers()) is not None:
        waited = round(time.monotonic() - started)
        log.warning(f"{event}_unreachable", waited_s=waited, retry_in_s=every, error=error)
        if say is not None:
            say(waited)
        retry = time.monotonic() + every
        while time.monotonic() < retry:
            if until():
                return False
            time.sleep(0.2)
    if time.monotonic() - started > 1:
        log.info(f"{event}_reachable", waited_s=round(time.monotonic() - started))
    return True


def _database_error(dsn: str) -> str | None:
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as e:
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return None


def _where(dsn: str) -> str:
    """The server a DSN names, without its password (for the log)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
