"""Tamper evidence across four levels (township → county → prefecture → province), two `yipanqi sync run`
processes, a real broker, SQLite and PostgreSQL stores.

- Every level verifies (`yipanqi verify --json`): each origin's chain intact, the township's sealed by its own
  signed checkpoints, also after the township rotated its key while syncing; the township's log is its county's
  copy (`verify --deep`).
- A township event changed after it was replicated: the township's own check names it (bytes changed at its
  position), and so does the comparison with the county's copy (`--deep`); the county's copy is intact. Published
  again (`sync backfill --from 0`), the re-sent event differs from the county's copy: the county marks that stream
  diverged (never "already held"), the other township's stream goes on.
- The county's copy changed and its chain recomputed to agree with itself: only the township's signed checkpoint can
  tell, and does (seal contradicted); the province's copy is intact.
- A row of the province's copy deleted: the province's check names it, and so does the prefecture's comparison with
  its parent's copy (`--deep`).
- An event forged into the township's stream by a process that is not the township (a valid envelope that follows on
  from what the county holds): once the township's own stream goes on, its events differ from what the county took,
  and the stream is marked diverged.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from domain.store import StoreSettings
from sync.envelope import HEADER, Entry, Frame, Kind, links
from sync.settings import SyncSettings, TopicPlan
from tests.sync_helpers import PROVINCE, SIM_START, WULINGYUAN, XIEHE, ZHANGJIAJIE, ZHONGHU, Activity, ref, wait_for
from tests.tamper import Tamper

pytestmark = pytest.mark.kafka

CODES = (PROVINCE, ZHANGJIAJIE, WULINGYUAN, XIEHE, ZHONGHU)
FAST_SEALS = {"YIPANQI_SEAL_S": "1"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path / "var")


def verified(procs: Any, code: str) -> tuple[int, dict[str, Any]]:
    answer = procs.cli("verify", "--node", code, "--json", check=False, timeout=120)
    return answer.returncode, json.loads(answer.stdout)


def chain_of(result: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in result["chains"] if c["code"] == code)


def county_streams(procs: Any) -> dict[str, dict[str, Any]]:
    rows = json.loads(procs.cli("sync", "status", "--node", WULINGYUAN, "--json").stdout)
    return {row["child"]: row for row in rows}


def township_sealed_everywhere(procs: Any, head: int) -> bool:
    """Every level intact, with the township's chain sealed up to ``head`` (or up to the event before it, when that
    is the checkpoint itself)."""
    for code in (XIEHE, WULINGYUAN, PROVINCE):
        rc, result = verified(procs, code)
        if rc != 0 or chain_of(result, XIEHE)["sealed"] < head - 1:
            return False
    return True


def start(settings: StoreSettings, processes: Any, ledger_for: Any, activity: Activity) -> tuple[Any, Any]:
    activity.write(day=SIM_START + timedelta(days=10))
    ledger = ledger_for(settings, CODES)
    procs = processes(settings)
    # one after the other: PostgreSQL stores opened at the same instant race on the library's CREATE FUNCTION
    procs.start("xiehe", [XIEHE], extra_env=FAST_SEALS).wait_ready(60)
    procs.start("above", [ZHONGHU, WULINGYUAN, ZHANGJIAJIE, PROVINCE], extra_env=FAST_SEALS).wait_ready(60)
    ledger.wait_converged(90, why=procs.tails)
    return procs, ledger


def test_a_changed_event_is_found_where_it_was_changed_and_its_resend_diverges_only_its_stream(
    settings: StoreSettings, processes: Any, ledger_for: Any
) -> None:
    with Activity(settings, CODES[1:], days=30, seed=67, scale=0.1) as activity:
        run(settings, processes, ledger_for, activity)


def run(settings: StoreSettings, processes: Any, ledger_for: Any, activity: Activity) -> None:
    procs, ledger = start(settings, processes, ledger_for, activity)
    township = ledger.stores.open(ref(XIEHE))
    head = township.books.chain_heads()[1][ref(XIEHE).node_id.bytes].seq
    wait_for(lambda: township_sealed_everywhere(procs, head), 60, "the township's chain sealed at every level", why=procs.tails)

    # The township rotates its key while its sync runs: its next checkpoints are signed with the new one.
    procs.cli("node", "rotate-key", XIEHE)
    activity.write(day=SIM_START + timedelta(days=15))
    ledger.wait_converged(90, why=procs.tails)
    head = township.books.chain_heads()[1][ref(XIEHE).node_id.bytes].seq
    wait_for(lambda: township_sealed_everywhere(procs, head), 60, "sealed with the new key at every level", why=procs.tails)

    deep = json.loads(procs.cli("verify", "--node", XIEHE, "--deep", "--json").stdout)["parent"]
    assert deep["ok"] and deep["code"] == WULINGYUAN and deep["compared"] > 0, deep

    # One event of the township changed after replication.
    own = [r[0] for r in township.books.chained_rows(1, 100_000) if r[5] == ref(XIEHE).node_id.bytes]
    victim = own[len(own) // 2]
    Tamper(township).change_byte(victim)
    rc, result = verified(procs, XIEHE)
    first = chain_of(result, XIEHE)["first"]
    assert rc == 1 and (first["kind"], first["position"]) == ("bytes_changed", victim), result
    assert verified(procs, WULINGYUAN)[0] == 0
    answer = procs.cli("verify", "--node", XIEHE, "--deep", "--json", check=False)
    deep = json.loads(answer.stdout)["parent"]
    assert answer.returncode == 1 and (deep["first"]["kind"], deep["first"]["position"]) == ("bytes_changed", victim), deep

    procs.cli("sync", "backfill", "--node", XIEHE, "--from", "0")
    xiehe, zhonghu = str(ref(XIEHE)), str(ref(ZHONGHU))
    wait_for(lambda: county_streams(procs)[xiehe]["state"] == "diverged", 60, "the stream diverged", why=procs.tails)
    reason = county_streams(procs)[xiehe]["reason"]
    assert "hash chain mismatch" in reason and "differs from the copy held here" in reason, reason
    activity.write_until(ZHONGHU, 20)
    zhonghu_lost = lambda: [r for r in ledger.report().levels[PROVINCE].lost if ledger.owner(r) == ref(ZHONGHU).node_id]  # noqa: E731
    wait_for(lambda: not zhonghu_lost(), 60, "中湖乡's new events at the province", why=procs.tails)
    assert county_streams(procs)[zhonghu]["state"] == "following"
    assert verified(procs, WULINGYUAN)[0] == 0 and verified(procs, PROVINCE)[0] == 0

    # The county's copy changed too, and its chain recomputed so that the county agrees with itself.
    county = ledger.stores.open(ref(WULINGYUAN))
    copy = next(r[0] for r in county.books.chained_rows(1, 100_000) if r[5] == ref(XIEHE).node_id.bytes and r[6] == 3)
    tamper = Tamper(county)
    tamper.change_byte(copy)
    tamper.rechain(county, ref(XIEHE).node_id.bytes)
    rc, result = verified(procs, WULINGYUAN)
    assert rc == 1 and chain_of(result, XIEHE)["first"]["kind"] == "seal_contradicted", result
    assert all(c["ok"] for c in result["chains"] if c["code"] != XIEHE)
    assert verified(procs, PROVINCE)[0] == 0

    # The province's copy: one of the township's events deleted. The province's own check names it, the prefecture's
    # comparison with its parent's copy too; the prefecture itself is intact.
    province = ledger.stores.open(ref(PROVINCE))
    gone = next(r[0] for r in province.books.chained_rows(1, 1_000_000) if r[5] == ref(XIEHE).node_id.bytes and r[6] == 5)
    Tamper(province).delete(gone)
    rc, result = verified(procs, PROVINCE)
    assert rc == 1 and chain_of(result, XIEHE)["first"]["kind"] == "row_missing", result
    assert all(c["ok"] for c in result["chains"] if c["code"] != XIEHE)
    answer = procs.cli("verify", "--node", ZHANGJIAJIE, "--deep", "--json", check=False)
    assert answer.returncode == 1 and not json.loads(answer.stdout)["parent"]["ok"], answer.stdout
    assert verified(procs, ZHANGJIAJIE)[0] == 0
    assert not procs.dead(), procs.dead()


def test_an_event_forged_into_a_townships_stream_diverges_it_once_the_township_goes_on(
    settings: StoreSettings, sync_settings: SyncSettings, processes: Any, ledger_for: Any
) -> None:
    with Activity(settings, CODES[1:], days=30, seed=68, scale=0.1) as activity:
        forge(settings, sync_settings, processes, ledger_for, activity)


def forge(settings: StoreSettings, sync_settings: SyncSettings, processes: Any, ledger_for: Any, activity: Activity) -> None:
    procs, ledger = start(settings, processes, ledger_for, activity)
    procs.procs[0].stop()  # the township's sync: the forger publishes in its place
    county = ledger.stores.open(ref(WULINGYUAN))
    held = county.books.positions()[str(ref(XIEHE).node_id)]
    topic = county.books.chained_rows(1, 1)[0][3]  # a type the county knows
    state = b'{"owner":"%s","title":"forged"}' % ref(XIEHE).node_id.hex.encode()
    entry = Entry(held.position + 1, uuid.uuid4().bytes, 1, topic, len(state), ref(XIEHE).node_id.bytes)
    [link] = links(bytes.fromhex(held.link), [entry], [state])
    frame = Frame(Kind.EVENTS, ref(XIEHE).node_id, held.position, held.position + 1, link.hex(), (entry,))
    producer = KafkaProducer(bootstrap_servers=sync_settings.kafka, acks="all")
    up = TopicPlan(sync_settings.topic_prefix).up(ref(XIEHE).node_id)
    producer.send(up, value=state, headers=[(HEADER, frame.encode())], partition=0)
    producer.flush()
    producer.close()
    wait_for(lambda: county.books.positions()[str(ref(XIEHE).node_id)].position == held.position + 1, 30, "the forgery taken")

    activity.write_until(XIEHE, 10)
    procs.start("xiehe", [XIEHE], extra_env=FAST_SEALS).wait_ready(60)
    xiehe = str(ref(XIEHE))
    wait_for(lambda: county_streams(procs)[xiehe]["state"] == "diverged", 60, "the stream diverged", why=procs.tails)
    assert f"position {held.position + 1}" in county_streams(procs)[xiehe]["reason"]
    assert county_streams(procs)[str(ref(ZHONGHU))]["state"] == "following"
    assert not procs.dead(), procs.dead()
