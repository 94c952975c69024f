"""Personal data of the public, sealed at a township, travels up four levels through a real broker as masked text and
ciphertext: no store, view database or Kafka topic anywhere holds it in clear; the township's office opens it; an
erasure there (``yipanqi privacy erase``) makes it unreadable everywhere at once while every count, chain and
verification stays as it was. SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from domain.base import Attribution, Role
from domain.store import StoreSettings
from domain.visits import StationVisit
from projections.timeutil import CST
from sync.settings import SyncSettings
from tests.sync_helpers import PROVINCE, WULINGYUAN, XIEHE, ZHANGJIAJIE, ZHONGHU, Activity, ref

pytestmark = pytest.mark.kafka

CODES = (PROVINCE, ZHANGJIAJIE, WULINGYUAN, XIEHE, ZHONGHU)
LEVELS = (XIEHE, WULINGYUAN, ZHANGJIAJIE, PROVINCE)
PHONE, ID_NUMBER, NAME, LANDLINE = "13974401234", "430821198807071234", "孙二娘", "8221234"
MASKED = b"139****1234"
NEEDLES = [s.encode() for s in (PHONE, ID_NUMBER, NAME, LANDLINE, "139 7440 1234", "430821 19880707 1234")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path / "var")


def _files(data_dir: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            yield str(path), path.read_bytes()


def _postgres(dsn: str | None) -> Iterator[tuple[str, bytes]]:
    if dsn is None:
        return
    pg_dump = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    dump = subprocess.run([pg_dump, "--data-only", "--no-owner", dsn], capture_output=True, check=True, timeout=300)
    # bytea columns (the events' states) are dumped as hex: searched decoded.
    decoded = b"\0".join(bytes.fromhex(h.decode()) for h in re.findall(rb"\\x((?:[0-9a-f]{2})+)", dump.stdout))
    yield "pg_dump", dump.stdout + b"\0" + decoded


def _kafka(sync: SyncSettings) -> Iterator[tuple[str, bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=sync.kafka, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        topics = [t for t in consumer.topics() if t.startswith(sync.topic_prefix)]
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        chunks = []
        while any(consumer.position(p) < ends[p] for p in parts):
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                chunks += [r.value or b"" for r in records] + [b"".join(v for _, v in r.headers) for r in records]
        assert topics and chunks, "nothing to search in the broker"
        yield f"kafka ({len(topics)} topics, {len(chunks)} parts)", b"\0".join(chunks)
    finally:
        consumer.close()


def _clear_text(settings: StoreSettings, sync: SyncSettings) -> list[str]:
    """Where any of the needles is found in clear: every file under the data directory (SQLite stores, their WAL,
    views, key files), the whole PostgreSQL database, every message of the test's topics."""
    places = [*_files(settings.data_dir), *_postgres(settings.pg_dsn), *_kafka(sync)]
    # The search can find what is there: the masked phone is in the broker and in the stores.
    assert MASKED in places[-1][1] and any(MASKED in data for _, data in places[:-1])
    return [f"{where}: {n.decode()}" for where, data in places for n in NEEDLES if n in data]


def _visits(procs: Any, node: str) -> Any:
    answer = json.loads(
        procs.cli("report", "stations", "--node", node, "--region", XIEHE, "--year", "2025", "--format", "json").stdout
    )
    return answer["totals"]


def test_personal_data_travels_sealed_and_one_erasure_reaches_every_copy(
    settings: StoreSettings, processes: Any, ledger_for: Any, sync_settings: SyncSettings
) -> None:
    with Activity(settings, CODES[1:], days=8, seed=61, scale=0.1) as activity:
        activity.write()
        township = activity.stores.open(ref(XIEHE))
        station = next(n.originator_id for n in township.iter_notifications() if n.topic.endswith("Station.Established"))
        deputy = next(iter(township.get(station).enrolled))
        clerk = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 9, 10, 0, tzinfo=CST))
        visit = StationVisit.record_visit(
            ref(XIEHE), clerk, station=township.get(station), visit_date=date(2025, 3, 9), deputy_ids=[deputy], people_received=1
        )
        visit.raise_issue(
            clerk,
            summary=f"{NAME}反映: 回电 139 7440 1234 或 (0744){LANDLINE}, 身份证 430821 19880707 1234",
            category="民政",
            raised_by_name=NAME,
            raised_by_phone=PHONE,
        )
        township.save_all([visit])
    ledger = ledger_for(settings, CODES)
    procs = processes(settings)
    procs.start("xiehe", [XIEHE]).wait_ready(60)
    procs.start("above", [ZHONGHU, WULINGYUAN, ZHANGJIAJIE, PROVINCE]).wait_ready(60)
    ledger.wait_converged(120, why=procs.tails)
    before = {level: _visits(procs, level) for level in LEVELS}  # views made at every level
    assert len({json.dumps(v, sort_keys=True) for v in before.values()}) == 1, before

    assert not _clear_text(settings, sync_settings)  # sealed before its bytes were formed: nowhere in clear
    origin = ledger.stores.open(ref(XIEHE))
    issue = origin.history(visit.id)[1]
    opened, status = origin.reveal(issue)
    assert (status, opened.raised_by_phone, opened.raised_by_name) == ("opened", PHONE, NAME)
    province_copy = ledger.stores.open(ref(PROVINCE)).history(visit.id)[1]
    assert ledger.stores.open(ref(PROVINCE)).reveal(province_copy)[1] == "sealed"  # no key above the origin
    assert province_copy.raised_by_phone == "139****1234"

    backup = b"".join(data for _, data in [*_files(settings.data_dir), *_postgres(settings.pg_dsn)])  # a backup
    erased = procs.cli("privacy", "erase", "--node", XIEHE, "--person", "+86 139-7440-1234", "--reason", "本人申请删除", "--json")
    report = json.loads(erased.stdout)
    assert (report["events"], report["already"]) == (1, False)
    ledger.wait_converged(120, why=procs.tails)  # the erasure's own event travels up too
    assert origin.reveal(origin.history(visit.id)[1])[1] == "erased"
    assert not _clear_text(settings, sync_settings)
    assert {level: _visits(procs, level) for level in LEVELS} == before  # every count as it was
    procs.cli("projections", "rebuild", "--node", PROVINCE, timeout=300)  # a rebuild needs no key either
    assert _visits(procs, PROVINCE) == before[PROVINCE]
    assert not [n for n in NEEDLES if n in backup]  # the copy taken before the erasure held no clear text either
    for level in LEVELS:
        verified = procs.cli("verify", "--node", level, check=False)
        assert verified.returncode == 0, (level, verified.stdout, verified.stderr)
        assert ledger.stores.open(ref(level)).contains(visit.id)
    status_json = json.loads(procs.cli("privacy", "status", "--node", XIEHE, "--json").stdout)
    assert status_json["erasures"] == 1 and status_json["keys_live"] == status_json["keys_used"] - 1
    assert not procs.dead(), procs.dead()
