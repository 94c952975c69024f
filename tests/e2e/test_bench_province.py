"""`yipanqi bench province`, scaled down to a size CI runs: one prefecture's region under the province, on the
test broker and a throwaway database of the test server. Every level must hold exactly its subtree's events by its
own SQL, and the JSON must carry every figure the full run reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateways.bench.province import run_province_benchmark

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_a_scaled_down_province_run_is_exact_and_reports_everything(kafka_bootstrap: str, pg_dsn: str) -> None:
    result: dict[str, Any] = run_province_benchmark(
        region="430800",  # 张家界市: 78 nodes, with the province above them
        scale=0.05,
        days=15,
        processes=2,
        kafka=kafka_bootstrap,
        pg_dsn=pg_dsn,
        raw_events=2_000,
        idle_s=3,
        dashboard_runs=1,
        log=print,
    )
    assert json.loads(json.dumps(result)) == result  # the command prints it as one JSON line
    assert result["nodes"] == 79 and result["topics"] == 4 * 79
    assert result["events"] > 1_000
    assert (result["lost"], result["duplicated"]) == (0, 0), result["check"]
    assert result["check"]["levels_exact"], result["check"]["not_exact"]
    assert result["check"]["rows_read"] >= result["events"]
    assert result["pipeline_events_per_s"] > 0 and result["ratio"] > 0 and result["ratio_frames"] > 0
    assert result["processes"] == {"province": 1, "regions-1": 78}  # one prefecture's region: one process for it
    assert result["health"]["by_state"]["following"] >= 78, result["health"]  # the region's 77 and the prefecture's
    assert result["health"]["settled_after_s"] < 60
    for clock in ("now", "as_of_occurred", "as_of_recorded", "as_of_known"):
        assert set(result["queries"][clock]) == {"coverage", "stations", "suggestions", "livelihood", "duty", "regions", "rollup"}
    assert result["project_s"] >= 0 and result["projected_events"] >= result["events"] and result["project_peak_rss_mb"] > 0
    assert set(result["disk_mb"]) == {"province", "prefecture", "county", "township"}
    assert all(mb > 0 for mb in result["peak_rss_mb"].values())
    dashboard = result["dashboard"]
    if "skipped" not in dashboard:  # headless Chromium is there (deploy/chromium.sh): the province's page rendered
        assert dashboard["render_ms"]["median"] > 0 and dashboard["bare_render_ms"]["median"] > 0 and dashboard["ratio"] > 0
        assert dashboard["answers_bytes"] > 1_000
