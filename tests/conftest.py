"""Shared fixtures: a real PostgreSQL server and a Kafka broker for the tests that need them.

Locally, missing infrastructure skips PostgreSQL tests and falls back to the
embedded tansu broker for Kafka tests, so `pytest` works on a bare machine.
Under CI (CI=true) the same situations fail loudly: CI must exercise the real
PostgreSQL and Apache Kafka that `deploy/postgres.sh` and `deploy/kafka.sh` start.
"""

from __future__ import annotations

import os
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sync.brokers import BrokerNotFound, EmbeddedBroker, broker_reachable, wait_for_broker

PG_ENV = "YIPANQI_TEST_PG_DSN"
KAFKA_ENV = "YIPANQI_TEST_KAFKA"
KAFKA_SH = Path(__file__).resolve().parent.parent / "deploy" / "kafka.sh"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing(reason: str) -> None:
    """Fail under CI (silently skipped infrastructure is how CI lies), skip elsewhere."""
    if _in_ci():
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """DSN of a PostgreSQL server whose role may CREATE DATABASE."""
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        _missing(f"{PG_ENV} is not set; run `bash deploy/postgres.sh start && source .run/pg.env`")
    assert dsn is not None
    return dsn


def _url(params: dict[str, Any], dbname: str) -> str:
    user = quote(str(params.get("user") or ""), safe="")
    password = params.get("password")
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host = str(params.get("host") or "localhost")
    extra = {k: v for k, v in params.items() if k not in {"user", "password", "host", "port", "dbname"}}
    if host.startswith("/"):  # Unix socket directory: must go in the query string
        extra["host"] = host
        host = ""
    port = f":{params['port']}" if params.get("port") and host else ""
    query = f"?{urlencode(extra)}" if extra else ""
    return f"postgresql://{auth}{host}{port}/{quote(dbname, safe='')}{query}"


@pytest.fixture
def pg_database(pg_dsn: str) -> Iterator[dict[str, Any]]:
    """A fresh, empty database for one test, dropped afterwards.

    Yields ``dsn`` (a postgresql:// URL) and its parts ``host``, ``port``,
    ``user``, ``password``, ``dbname`` (eventsourcing's POSTGRES_* settings want parts).
    """
    params = conninfo_to_dict(pg_dsn)
    name = f"yipanqi_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    try:
        yield {
            "dsn": _url(params, name),
            "host": str(params.get("host") or "localhost"),
            "port": int(params.get("port") or 5432),
            "user": params.get("user"),
            "password": params.get("password"),
            "dbname": name,
        }
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            # Pools or leaked connections of the test would block DROP DATABASE.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class BrokerControl:
    """The session's Kafka broker, with the two faults tests inflict on it: ``restart()`` and ``wipe()``.

    - ``apache``: the ``deploy/kafka.sh`` broker. ``restart()`` is stop + start (the data survives);
      ``wipe()`` is ``deploy/kafka.sh wipe`` (every topic deleted, and a new cluster id).
    - ``embedded``: the tansu broker with memory storage. Its ``restart()`` comes back empty, so ``restart()``
      and ``wipe()`` are the same fault (``keeps_data`` is False).
    - ``external``: some other cluster named by ``$YIPANQI_TEST_KAFKA``; tests cannot restart or wipe it.
    """

    def __init__(self, bootstrap: str, kind: str, embedded: EmbeddedBroker | None = None) -> None:
        self.bootstrap = bootstrap
        self.kind = kind
        self._embedded = embedded

    @property
    def keeps_data(self) -> bool:
        """Whether ``restart()`` keeps the topics (Apache Kafka) or loses them (tansu's memory storage)."""
        return self.kind == "apache"

    @property
    def can_restart(self) -> bool:
        return self.kind in ("apache", "embedded")

    def restart(self) -> None:
        if self.kind == "apache":
            _kafka_sh("stop")
            _kafka_sh("start")
        elif self._embedded is not None:
            self._embedded.restart()
        else:
            _missing(f"cannot restart the external Kafka broker at {self.bootstrap}")
        wait_for_broker(self.bootstrap, timeout=60)

    def stop(self) -> None:
        """Stop the broker (``start()`` brings it back; Apache Kafka keeps its data, tansu does not)."""
        if self.kind == "apache":
            _kafka_sh("stop")
        elif self._embedded is not None:
            self._embedded.stop()
        else:
            _missing(f"cannot stop the external Kafka broker at {self.bootstrap}")

    def start(self) -> None:
        if self.kind == "apache":
            _kafka_sh("start")
        elif self._embedded is not None:
            self._embedded.start()
        wait_for_broker(self.bootstrap, timeout=60)

    def wipe(self) -> None:
        """The broker loses everything: every topic is gone."""
        if self.kind == "apache":
            _kafka_sh("wipe")
        elif self._embedded is not None:
            self._embedded.restart()
        else:
            _missing(f"cannot wipe the external Kafka broker at {self.bootstrap}")
        wait_for_broker(self.bootstrap, timeout=60)

    def __repr__(self) -> str:
        return f"BrokerControl({self.kind}, {self.bootstrap})"


def _kafka_sh(command: str) -> None:
    result = subprocess.run(["bash", str(KAFKA_SH), command], capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"deploy/kafka.sh {command} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def _is_deploy_broker(bootstrap: str) -> bool:
    """Whether ``bootstrap`` is the broker deploy/kafka.sh runs (so tests may stop, start and wipe it)."""
    port = os.environ.get("YIPANQI_KAFKA_PORT", "19092")
    if bootstrap.strip() not in {f"127.0.0.1:{port}", f"localhost:{port}"}:
        return False
    status = subprocess.run(["bash", str(KAFKA_SH), "status"], capture_output=True, text=True, timeout=30)
    return status.returncode == 0


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[BrokerControl]:
    """The session's Kafka broker: $YIPANQI_TEST_KAFKA (Apache Kafka from deploy/kafka.sh), else embedded tansu."""
    configured = os.environ.get(KAFKA_ENV)
    if configured and broker_reachable(configured, timeout=10.0):
        yield BrokerControl(configured, "apache" if _is_deploy_broker(configured) else "external")
        return
    if _in_ci():
        what = f"{KAFKA_ENV}={configured} does not answer" if configured else f"{KAFKA_ENV} is not set"
        pytest.fail(f"CI=true: {what}; CI must run on Apache Kafka (`bash deploy/kafka.sh start`)", pytrace=False)

    note = f"{KAFKA_ENV}={configured} does not answer; " if configured else ""
    message = (
        f"{note}Kafka tests run on the EMBEDDED tansu broker, not Apache Kafka "
        f"(for the real thing: `bash deploy/kafka.sh start && source .run/kafka.env`)"
    )
    try:
        broker = EmbeddedBroker()
    except BrokerNotFound as exc:
        pytest.skip(f"{note}no Kafka broker: {exc}")
    warnings.warn(message, UserWarning, stacklevel=1)
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print(f"\n*** {message} ***")
    else:
        print(f"\n*** {message} ***")
    with broker:
        yield BrokerControl(broker.bootstrap, "embedded", broker)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: BrokerControl) -> str:
    """Bootstrap address of a Kafka broker: $YIPANQI_TEST_KAFKA, else an embedded tansu broker."""
    return kafka_broker.bootstrap


# ------------------------------------------------------------------------------------------------ sync fixtures


@pytest.fixture
def topic_prefix(kafka_bootstrap: str) -> Iterator[str]:
    """A topic prefix of this test alone (SyncSettings(topic_prefix=...), $YIPANQI_TOPIC_PREFIX for processes);
    the test's topics are deleted afterwards so a long session does not pile up thousands of partitions."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    _delete_topics(kafka_bootstrap, prefix)


def _delete_topics(bootstrap: str, prefix: str) -> None:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    except Exception:  # noqa: BLE001 - the broker may be down after a fault test; its topics go with it
        return
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
        if mine:
            admin.delete_topics(mine, timeout_ms=10_000)
    except Exception:  # noqa: BLE001 - best effort clean-up
        pass
    finally:
        admin.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Any:
    from domain.store import StoreSettings

    return StoreSettings(store="sqlite", data_dir=tmp_path / "var")


@pytest.fixture
def sync_settings(kafka_bootstrap: str, topic_prefix: str) -> Any:
    from tests.sync_helpers import fast_settings

    return fast_settings(kafka=kafka_bootstrap, topic_prefix=topic_prefix)
