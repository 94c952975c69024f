"""Corrections (更正) and voids (作废) travel up like any event: a township voids a contact recorded in error and
corrects another's public count; once sync has carried them, its county and the province say what the township says,
and as of a time between, by the recorded clock, every level still counts the voided contact (what was believed
then); by the occurred clock, none ever did. Four levels, two ``yipanqi sync run`` processes, a real broker, the
views through ``yipanqi report``; SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.base import Attribution, Role
from domain.contacts import ContactActivity
from domain.store import StoreSettings
from projections.timeutil import CST
from tests.sync_helpers import PROVINCE, WULINGYUAN, XIEHE, ZHANGJIAJIE, ZHONGHU, Activity, ref

pytestmark = pytest.mark.kafka

CODES = (PROVINCE, ZHANGJIAJIE, WULINGYUAN, XIEHE, ZHONGHU)
LEVELS = (XIEHE, WULINGYUAN, PROVINCE)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path / "unused")


def opinions(procs: Any, node: str, as_of: datetime | None = None, by: str = "recorded") -> tuple[int, int]:
    """The township's opinions raised and handled in 2025, as ``node``'s projection says (now, or at ``as_of``)."""
    args = ["report", "coverage", "--node", node, "--region", XIEHE, "--year", "2025", "--target", "opinions"]
    when = [] if as_of is None else ["--as-of", as_of.isoformat(), "--by", by]
    answer = json.loads(procs.cli(*args, *when, "--format", "json", timeout=120).stdout)
    [block] = answer["targets"]
    return int(block["raised"]), int(block["handled"])


def test_a_void_and_a_correction_at_a_township_are_followed_at_every_level(
    settings: StoreSettings, processes: Any, ledger_for: Any
) -> None:
    with Activity(settings, CODES[1:], days=10, seed=47, scale=0.1) as activity:
        activity.write()
    ledger = ledger_for(settings, CODES)
    procs = processes(settings)
    # one after the other: PostgreSQL stores opened at the same instant race on the library's CREATE FUNCTION
    procs.start("xiehe", [XIEHE]).wait_ready(60)
    procs.start("above", [ZHONGHU, WULINGYUAN, ZHANGJIAJIE, PROVINCE]).wait_ready(60)
    ledger.wait_converged(90, why=procs.tails)
    base = {level: opinions(procs, level) for level in LEVELS}
    assert len(set(base.values())) == 1, base  # every level says what the township says

    township = ledger.stores.open(ref(XIEHE))
    deputy = next(n.originator_id for n in township.iter_notifications() if n.topic.endswith("Deputy.Registered"))
    clerk = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 6, 9, 0, tzinfo=CST))
    recorded = []
    for title in ("为民办实事: 修缮村道", "为民办实事: 修缮村道 (重复录入)"):
        contact = ContactActivity.record_contact(
            ref(XIEHE),
            clerk,
            kind="practical_deed",
            channel="visit",
            title=title,
            held_on=date(2025, 3, 6),
            organiser_kind="deputy",
            organiser="代表",
            deputy_ids=[deputy],
            public_count=3,
        )
        contact.raise_opinion(clerk, text="村道破损, 雨天难行", deputy_id=deputy)
        contact.handle_opinion(clerk, number=1, handling="explained")
        recorded.append(contact)
    township.save_all(recorded)
    ledger.wait_converged(90, why=procs.tails)
    raised, handled = base[XIEHE]
    assert {opinions(procs, level) for level in LEVELS} == {(raised + 2, handled + 2)}
    time.sleep(0.5)
    believed = datetime.now(UTC)  # every level holds both contacts
    time.sleep(0.5)

    kept, twice = recorded
    now = Attribution("clerk-01", Role.RECORDER, datetime.now(CST))
    twice.void(ref(XIEHE), now, reason="登记有误: 重复录入")
    kept.correct(ref(XIEHE), now, fact="record", changes={"public_count": 30}, reason="30 录成了 3")
    township.save_all([twice, kept])
    ledger.wait_converged(90, why=procs.tails)
    for level in LEVELS:
        assert opinions(procs, level) == (raised + 1, handled + 1), level  # the void followed, at every level
        assert opinions(procs, level, believed) == (raised + 2, handled + 2), level  # what was believed then
        assert opinions(procs, level, believed, "occurred") == (raised + 1, handled + 1), level  # it never was
        stored = ledger.stores.open(ref(level)).get(kept.id)
        assert (stored.public_count, stored.version) == (30, kept.version), level
    assert not procs.dead(), procs.dead()
