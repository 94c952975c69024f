"""A prefecture's whole region in one process, at the size CI can run: 张家界市 (78 nodes: 4 counties, 73 township-level
units) hosted by one ``yipanqi sync run``, the province by another, every topic created by the two processes at once
while relays publish. Every level ends with exactly its subtree's events; the province knows how every stream of
the region stands (its health came up in the beats), and a county whose subtree is all here says "全部正常"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.store import StoreSettings
from tests.sync_helpers import PROVINCE, ZHANGJIAJIE, Activity, Ledger, hunan, wait_for

pytestmark = pytest.mark.kafka

REGION = [d.code for d in hunan().subtree(hunan().by_code(ZHANGJIAJIE))]
WULINGYUAN = "430811"  # 武陵源区: all four of its township-level units are in the region


def subtree(procs: Any, code: str) -> dict[str, Any]:
    (summary,) = json.loads(procs.cli("sync", "status", "--node", code, "--subtree", "--json").stdout)
    return summary


def test_a_region_of_78_nodes_in_one_process_converges_and_reports_its_health(
    sqlite_settings: StoreSettings, processes: Any, ledger_for: Any
) -> None:
    assert len(REGION) == 78
    codes = [PROVINCE, *REGION]
    ledger: Ledger = ledger_for(sqlite_settings, codes)
    procs = processes(sqlite_settings)
    with Activity(sqlite_settings, codes, days=30, seed=78, scale=0.1) as activity:
        activity.write(events=3000)
        procs.start("region", REGION)
        procs.start("province", [PROVINCE])
        activity.write(events=3000)  # while the processes create their topics and start publishing
        activity.write()
        ledger.wait_converged(120, why=procs.tails)
    ledger.assert_nothing_lost_nothing_duplicated()

    def region_row() -> dict[str, Any] | None:
        summary = subtree(procs, PROVINCE)
        row = next(r for r in summary["regions"] if r["code"] == ZHANGJIAJIE)
        return summary if row["streams"] == row["following"] == 77 else None

    summary = wait_for(region_row, 60, "every stream of 张家界 following, as the province knows it", why=procs.tails)
    province_row = next(r for r in summary["regions"] if r["code"] == PROVINCE)
    assert province_row["streams"] == 14 and province_row["following"] == 1, province_row  # 13 prefectures not running
    assert not summary["all_following"] and "全部正常" not in summary["verdict"], summary["verdict"]
    assert summary["streams"] == 2083  # every stream of Hunan: what nobody reports on is unknown, not left out

    county = wait_for(lambda: (s := subtree(procs, WULINGYUAN))["all_following"] and s, 30, "武陵源区 all following")
    assert county["verdict"].startswith("全部正常") and county["streams"] == 4
    assert not procs.dead(), procs.dead()
