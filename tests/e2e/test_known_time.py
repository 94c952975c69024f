"""What each level knew, and when: a station recorded at a township whose sync is held back is known there at once,
and to its county and the province only once sync has carried it up. Asked afterwards what they knew at a time in
between, the levels above say "not yet" by known time, while by recorded time (the township's clock) they would
claim it. Four levels, two ``yipanqi sync run`` processes, a real broker, the views through ``yipanqi report``; SQLite
and PostgreSQL stores."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.base import Attribution, Role
from domain.stations import Station
from domain.store import StoreSettings
from projections.timeutil import CST
from tests.sync_helpers import PROVINCE, WULINGYUAN, XIEHE, ZHANGJIAJIE, ZHONGHU, Activity, ref

pytestmark = pytest.mark.kafka

CODES = (PROVINCE, ZHANGJIAJIE, WULINGYUAN, XIEHE, ZHONGHU)


def stations(procs: Any, node: str, as_of: datetime, by: str) -> int:
    """The township's stations in 2025 as ``node``'s projection says they stood at ``as_of`` by the clock ``by``."""
    args = ["report", "stations", "--node", node, "--region", XIEHE, "--year", "2025", "--format", "json"]
    result = procs.cli(*args, "--as-of", as_of.isoformat(), "--by", by, timeout=120)
    answer = json.loads(result.stdout)
    assert answer["scope"]["by"] == by
    return int(answer["totals"]["stations"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path / "unused")


def test_a_held_back_township_is_known_above_only_once_sync_carries_it(
    settings: StoreSettings, processes: Any, ledger_for: Any
) -> None:
    with Activity(settings, CODES[1:], days=10, seed=41, scale=0.1) as activity:
        activity.write()
    ledger = ledger_for(settings, CODES)
    procs = processes(settings)
    # one after the other: PostgreSQL stores opened at the same instant race on the library's CREATE FUNCTION
    township_sync = procs.start("xiehe", [XIEHE]).wait_ready(60)
    procs.start("above", [ZHONGHU, WULINGYUAN, ZHANGJIAJIE, PROVINCE]).wait_ready(60)
    ledger.wait_converged(90, why=procs.tails)
    township_sync.stop()  # held back: the township records, nothing goes up

    township = ledger.stores.open(ref(XIEHE))
    before = datetime.now(UTC)
    time.sleep(0.002)  # SQLite keeps known time in milliseconds: a save within before's millisecond would precede it
    by = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 5, 9, 0, tzinfo=CST))
    station = Station.establish(ref(XIEHE), by, name="知悉测试联络站", address="协合乡人民政府")
    [position] = township.save_all([station])
    time.sleep(0.5)
    cut = datetime.now(UTC)  # the township holds the station; its county and the province do not
    time.sleep(0.5)
    assert stations(procs, XIEHE, cut, "known") == stations(procs, XIEHE, before, "known") + 1  # known there at once

    procs.start("xiehe", [XIEHE])  # released
    ledger.wait_converged(90, why=procs.tails)
    after = datetime.now(UTC)
    for level in (WULINGYUAN, PROVINCE):
        # the level's own ledger: it came to hold the station after the cut (the township: before)
        store = ledger.stores.open(ref(level))
        [held] = [n.id for n in store.iter_notifications() if n.originator_id == station.id]
        [known_above], [known_below] = store.known_at([held]), township.known_at([position])
        assert known_below is not None and known_above is not None and known_below < cut < known_above < after
        claimed = stations(procs, level, cut, "recorded")  # the township's clock: recorded before the cut
        assert stations(procs, level, cut, "known") == claimed - 1, level  # but not known here then
        assert stations(procs, level, after, "known") == claimed, level  # known once sync carried it
    assert not procs.dead(), procs.dead()
