"""Poison messages: parked with their reason, only that child halts, the others go on; `yipanqi sync retry` resumes.

Two kinds of poison in a township's stream to its county:

- a message whose envelope header does not decode (here: a real header cut short, produced with raw kafka-python);
- an event whose topic names a class this version of the code does not know: the township runs a newer version
  with a new aggregate (``Petition``, in a module the county's code lacks), recorded between known events so that
  it travels in the middle of a frame. The county applies the frame's events before it and parks it; the
  "upgrade" puts the module on the county process's path, and `yipanqi sync retry` then lets the stream go on.

Either way the county keeps following its other township meanwhile, the status says which child is parked and why,
and after the retry every level ends with exactly its subtree's own events.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from domain.base import Attribution, Role
from domain.store import NodeStore, StoreSettings
from sync.envelope import HEADER
from sync.settings import SyncSettings, TopicPlan
from tests.e2e.conftest import ROOT
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHONGHU, Activity, Ledger, ref, wait_for

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)
NEW_MODULE = "yipanqi_next_petitions"
NEW_CODE = textwrap.dedent(
    '''
    """A newer version's aggregate: a petition (信访件) recorded at a township."""
    from typing import Any
    from uuid import UUID

    from domain.base import Attribution, DutyAggregate, NodeRef, natural_id


    class Petition(DutyAggregate):
        label = "petition"

        class Filed(DutyAggregate.Created):
            title: str

        def __init__(self, owner: UUID, title: str, **_: Any) -> None:
            super().__init__(owner)
            self.title = title

        @classmethod
        def file(cls, owner: NodeRef, by: Attribution, *, title: str) -> "Petition":
            return cls.start(cls.Filed, natural_id("petition", owner.node_id, title), owner.node_id, by, title=title)
    '''
)


def status_rows(procs: Any) -> dict[str, dict[str, Any]]:
    rows = json.loads(procs.cli("sync", "status", "--node", WULINGYUAN, "--json").stdout)
    return {row["child"]: row for row in rows}


def county_lacks_only(ledger: Ledger, code: str) -> bool:
    """The county holds everything of its own and of its other children; only ``code``'s newest events are missing."""
    level = ledger.report().levels[WULINGYUAN]
    assert not (level.extra or level.duplicated or level.out_of_order), level
    return bool(level.lost) and {ledger.code_of[ledger.owner(row)] for row in level.lost} == {code}


def start_county_and_townships(store: StoreSettings, processes: Any, activity: Activity, upgrade: Path) -> Any:
    activity.write(events=1500)
    procs = processes(store)
    procs.start("townships", [XIEHE, ZHONGHU])
    procs.start("county", [WULINGYUAN], extra_env={"PYTHONPATH": f"{ROOT}:{upgrade}"})
    for proc in procs.procs:
        proc.wait_ready(60)
    return procs


def test_undecodable_envelope_is_parked_and_only_that_child_halts(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings, processes: Any, ledger_for: Any, tmp_path: Path
) -> None:
    ledger = ledger_for(sqlite_settings, CODES)
    topic = TopicPlan(sync_settings.topic_prefix).up(ref(XIEHE).node_id)
    with Activity(sqlite_settings, CODES, days=40, seed=41, scale=1.0) as activity:
        procs = start_county_and_townships(sqlite_settings, processes, activity, tmp_path)
        ledger.wait_converged(60, why=procs.tails)

        # A message with a header cut short, in the middle of 协合乡's stream.
        consumer = KafkaConsumer(bootstrap_servers=sync_settings.kafka, enable_auto_commit=False)
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        real = next(m for batch in consumer.poll(timeout_ms=5000).values() for m in batch)
        consumer.close()
        header = dict(real.headers)[HEADER]
        producer = KafkaProducer(bootstrap_servers=sync_settings.kafka, acks="all")
        producer.send(topic, value=real.value, headers=[(HEADER, header[: len(header) // 2])], partition=0)
        producer.flush()
        producer.close()

        activity.write_until(XIEHE, 30)  # 协合乡's new events queue up behind the poison; the others flow
        activity.write_until(ZHONGHU, 30)
        wait_for(lambda: county_lacks_only(ledger, XIEHE), 30, "the county to follow all but 协合乡", why=ledger.report)
        rows = status_rows(procs)
        parked = rows[str(ref(XIEHE))]
        assert parked["state"] == "parked" and "undecodable envelope" in parked["reason"], parked
        assert rows[str(ref(ZHONGHU))]["state"] == "following" and rows[str(ref(ZHONGHU))]["lag_events"] == 0

        released = procs.cli("sync", "retry", "--node", WULINGYUAN).stdout
        assert "undecodable envelope" in released
        activity.write()
    ledger.wait_converged(60, why=procs.tails)
    ledger.assert_nothing_lost_nothing_duplicated()
    assert status_rows(procs)[str(ref(XIEHE))]["state"] == "following"
    assert not procs.dead(), procs.dead()


def test_unknown_event_type_is_parked_until_upgrade_and_retry(
    sqlite_settings: StoreSettings, processes: Any, ledger_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer, upgrade = tmp_path / "newer", tmp_path / "upgrade"  # the township's code; the county's path (empty)
    newer.mkdir()
    upgrade.mkdir()
    (newer / f"{NEW_MODULE}.py").write_text(NEW_CODE)
    monkeypatch.syspath_prepend(str(newer))  # this test process plays the newer township
    monkeypatch.setitem(sys.modules, NEW_MODULE, None)  # so that it is removed again afterwards
    del sys.modules[NEW_MODULE]
    petitions = importlib.import_module(NEW_MODULE)

    ledger = ledger_for(sqlite_settings, CODES)
    with Activity(sqlite_settings, CODES, days=40, seed=42, scale=1.0) as activity:
        procs = start_county_and_townships(sqlite_settings, processes, activity, upgrade)
        ledger.wait_converged(60, why=procs.tails)

        # 协合乡 records a petition, a type the county's version does not know, between known ones; its relay is
        # stopped meanwhile, so that the petition goes out in the middle of a frame.
        procs.procs[0].stop()
        activity.write_until(XIEHE, 5)
        clerk = Attribution("clerk-430811201-01", Role.RECORDER, datetime(2025, 4, 2, 9, 0, tzinfo=UTC))
        petition = petitions.Petition.file(ref(XIEHE), clerk, title="关于协合乡张家界大峡谷景区周边道路拥堵的信访")
        township = NodeStore(ref(XIEHE), sqlite_settings)
        township.save(petition)
        at = township.max_position()
        township.close()
        activity.write_until(XIEHE, 30)
        activity.write_until(ZHONGHU, 30)
        procs.start("townships", [XIEHE, ZHONGHU]).wait_ready(60)

        wait_for(lambda: county_lacks_only(ledger, XIEHE), 30, "the county to follow all but 协合乡", why=ledger.report)
        rows = status_rows(procs)
        parked = rows[str(ref(XIEHE))]
        topic = f"{NEW_MODULE}:Petition.Filed"
        assert parked["state"] == "parked" and f"unknown event type {topic}" in parked["reason"], parked
        assert parked["reason"].startswith(f"@{at}: ") and parked["position"] == at - 1, parked  # parked at the petition
        logs = ledger.logs()
        assert [r for r in logs[WULINGYUAN] if ledger.owner(r) == ref(XIEHE).node_id] == logs[XIEHE][: at - 1]
        assert rows[str(ref(ZHONGHU))]["state"] == "following" and rows[str(ref(ZHONGHU))]["lag_events"] == 0
        assert not any(row[0] == petition.id for row in ledger.logs()[WULINGYUAN])

        # Retrying before the upgrade parks it again, with the same reason.
        procs.cli("sync", "retry", "--node", WULINGYUAN)
        wait_for(lambda: status_rows(procs)[str(ref(XIEHE))]["state"] == "parked", 30, "parked again")

        shutil.copy(newer / f"{NEW_MODULE}.py", upgrade / f"{NEW_MODULE}.py")  # the upgrade
        procs.cli("sync", "retry", "--node", WULINGYUAN)
        activity.write()
    ledger.wait_converged(60, why=procs.tails)
    ledger.assert_nothing_lost_nothing_duplicated()
    assert status_rows(procs)[str(ref(XIEHE))]["state"] == "following"
    [(_, version, stored_topic, state)] = [row for row in ledger.logs()[WULINGYUAN] if row[0] == petition.id]
    assert (version, stored_topic) == (1, topic) and "大峡谷" in state.decode()  # verbatim
    assert not procs.dead(), procs.dead()
