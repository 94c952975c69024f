"""Shared fixtures: a real PostgreSQL server and a Kafka broker for the tests that need them.

Locally, missing infrastructure skips PostgreSQL tests and falls back to the
embedded tansu broker for Kafka tests, so `pytest` works on a bare machine.
Under CI (CI=true) the same situations fail loudly: CI must exercise the real
PostgreSQL and Apache Kafka that `deploy/postgres.sh` and `deploy/kafka.sh` start.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sync.brokers import BrokerNotFound, EmbeddedBroker, broker_reachable

PG_ENV = "YIPANQI_TEST_PG_DSN"
KAFKA_ENV = "YIPANQI_TEST_KAFKA"


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


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """Bootstrap address of a Kafka broker: $YIPANQI_TEST_KAFKA, else an embedded tansu broker."""
    configured = os.environ.get(KAFKA_ENV)
    if configured and broker_reachable(configured, timeout=10.0):
        yield configured
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
        yield broker.bootstrap
