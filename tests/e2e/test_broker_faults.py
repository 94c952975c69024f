"""The broker fails under a running four-level topology: restarted, or wiped of every topic. Nothing is lost.

The node logs are the system of record; Kafka is only the transport. A restart interrupts publishing and fetching
(nodes keep recording meanwhile); a wipe also loses every message and every offset, so relays and ingests must
notice on their own (gaps, heartbeats, re-publish requests) that the parents lack what was in flight, with no
operator action. On the embedded broker a restart loses everything too, so both tests are wipes there.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from domain.store import NodeStore, StoreSettings
from sync.brokers import BrokerNotFound, EmbeddedBroker
from sync.host import SyncHost
from tests.conftest import BrokerControl
from tests.e2e.conftest import process_env
from tests.sync_helpers import (
    FOUR_LEVELS,
    LAYOUT,
    PROVINCE,
    SIM_START,
    WULINGYUAN,
    XIEHE,
    ZHONGHU,
    Activity,
    Ledger,
    Row,
    children_within,
    fast_settings,
    parent_of,
    refs,
)

pytestmark = pytest.mark.kafka


def start_four_levels(store: StoreSettings, processes: Any, activity: Activity) -> Any:
    activity.write(day=SIM_START + timedelta(days=6))
    procs = processes(store)
    for name, codes in LAYOUT.items():
        procs.start(name, codes)
    for proc in procs.procs:
        proc.wait_ready(60)
    activity.write(day=SIM_START + timedelta(days=12))
    return procs


def province_log(ledger: Ledger) -> list[Row]:
    return ledger.logs()[PROVINCE]


def test_broker_restart_loses_nothing(
    kafka_broker: BrokerControl, sqlite_settings: StoreSettings, processes: Any, ledger_for: Any
) -> None:
    if not kafka_broker.can_restart:
        pytest.skip(f"cannot restart {kafka_broker}")
    ledger = ledger_for(sqlite_settings, FOUR_LEVELS)
    with Activity(sqlite_settings, FOUR_LEVELS, days=30, seed=21, scale=0.1) as activity:
        procs = start_four_levels(sqlite_settings, processes, activity)
        ledger.wait_converged(60, why=procs.tails)
        before = province_log(ledger)

        activity.write(day=SIM_START + timedelta(days=16))  # in flight when the broker goes down
        kafka_broker.stop()
        activity.write(day=SIM_START + timedelta(days=22))  # every node keeps recording while it is down
        time.sleep(2)  # the processes run into the outage: failed sends, failed fetches, reconnect attempts
        kafka_broker.start()
        activity.write()
    t = time.monotonic()
    ledger.wait_converged(120, why=procs.tails)  # recovery is by stall detection: a few stall_s steps per level
    print(f"converged {time.monotonic() - t:.1f}s after the broker came back")
    ledger.assert_nothing_lost_nothing_duplicated()
    after = province_log(ledger)
    assert after[: len(before)] == before  # the province's log only grew
    assert not procs.dead(), procs.dead()


def test_broker_wiped_of_every_topic_loses_nothing(
    kafka_broker: BrokerControl, sqlite_settings: StoreSettings, processes: Any, ledger_for: Any
) -> None:
    if not kafka_broker.can_restart:
        pytest.skip(f"cannot wipe {kafka_broker}")
    ledger = ledger_for(sqlite_settings, FOUR_LEVELS)
    with Activity(sqlite_settings, FOUR_LEVELS, days=30, seed=22, scale=0.1) as activity:
        procs = start_four_levels(sqlite_settings, processes, activity)
        ledger.wait_converged(60, why=procs.tails)
        before = province_log(ledger)

        # Activity keeps being written while the broker is wiped: some of it is published (and lost with the
        # broker's data) before the wipe, some while it is down, some after it comes back empty.
        writer = threading.Thread(target=lambda: [activity.write(events=60) or time.sleep(0.5) for _ in range(12)])
        writer.start()
        kafka_broker.wipe()
        writer.join()
        activity.write()
    t = time.monotonic()
    ledger.wait_converged(120, why=procs.tails)  # recovery is by stall detection: a few stall_s steps per level
    print(f"converged {time.monotonic() - t:.1f}s after the broker came back")
    report = ledger.assert_nothing_lost_nothing_duplicated()
    after = province_log(ledger)
    assert after[: len(before)] == before
    assert report.levels[PROVINCE].held == sum(report.own.values())
    assert not procs.dead(), procs.dead()


def test_embedded_broker_restarted_empty_heals_without_help(sqlite_settings: StoreSettings, topic_prefix: str) -> None:
    """Whatever broker the session uses, the embedded one's own way of losing everything: after its restart the
    producers' ids are unknown (kafka-python's idempotent producer fails for good) and consumers sit beyond the
    end of the new, empty topics without being told (tansu reports no out-of-range). One host process for a county
    and its townships must heal by itself."""
    try:
        broker = EmbeddedBroker().start()
    except BrokerNotFound as e:
        pytest.skip(str(e))
    codes = (WULINGYUAN, XIEHE, ZHONGHU)
    settings = fast_settings(kafka=broker.bootstrap, topic_prefix=topic_prefix)
    stores = [NodeStore(r, sqlite_settings) for r in refs(codes)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        host = SyncHost(
            bootstrap=broker.bootstrap, stores=stores, children=children_within(codes), parent=parent_of, settings=settings
        )
        try:
            host.run(until=stop.is_set)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
        finally:
            host.close()

    ledger = Ledger(sqlite_settings, codes)
    try:
        with Activity(sqlite_settings, codes, days=40, seed=23, scale=1.0) as activity:
            activity.write(events=1500)
            server = threading.Thread(target=serve, daemon=True)
            server.start()
            ledger.wait_converged(60)
            activity.write(events=200)  # partly in flight when the broker forgets everything
            broker.restart()
            activity.write()
            ledger.wait_converged(60, why=lambda: f"host errors: {errors}")
        ledger.assert_nothing_lost_nothing_duplicated()
        assert not errors, errors
    finally:
        stop.set()
        server.join(30)
        ledger.close()
        for store in stores:
            store.close()
        broker.close()


def test_a_sync_process_started_before_its_broker_waits_for_it(
    sqlite_settings: StoreSettings, topic_prefix: str, tmp_path: Any
) -> None:
    """`yipanqi sync run` started while its broker does not answer says so at each retry and keeps waiting (it used
    to exit with a traceback after 30 s); once the broker is up it syncs everything."""
    with socket.socket() as s:  # a port nothing listens on yet
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    bootstrap = f"127.0.0.1:{port}"
    codes = (WULINGYUAN, XIEHE, ZHONGHU)
    with Activity(sqlite_settings, codes, days=10, seed=29, scale=0.2) as activity:
        activity.write()
    env = process_env(sqlite_settings, fast_settings(kafka=bootstrap, topic_prefix=topic_prefix))
    log = tmp_path / "sync.log"
    args = [sys.executable, "-m", "gateways.cli", "sync", "run", *[a for c in codes for a in ("--node", c)], "--kafka", bootstrap]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env={**env, "YIPANQI_LOG_JSON": "1"}, stdout=out, stderr=subprocess.STDOUT)
    broker = None
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("sync.broker_unreachable") < 2:  # two tries: it waited through one retry
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        try:
            broker = EmbeddedBroker(port).start()
        except BrokerNotFound as e:
            pytest.skip(str(e))
        Ledger(sqlite_settings, codes).wait_converged(90, why=lambda: log.read_text()[-2000:])
        assert proc.poll() is None and "sync.broker_reachable" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)
        if broker is not None:
            broker.stop()
