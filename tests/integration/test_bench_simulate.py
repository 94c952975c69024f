"""``yipanqi bench simulate`` on a small region: the command's path and the bulk append of the same run, in one
JSON object whose figures agree with each other."""

from __future__ import annotations

from gateways.bench.simulate import run_simulate_benchmark


def test_the_benchmark_reports_the_run_the_bulk_append_and_their_ratio() -> None:
    logged: list[str] = []
    result = run_simulate_benchmark(region="430811", days=30, scale=0.5, seed=2, sample=1000, log=logged.append)
    assert result["benchmark"] == "simulate" and result["region"] == "430811" and result["nodes"] == 5
    assert result["events"] == result["recording"]["events"] > 1000
    events, wall = result["events"], result["wall_s"]  # wall rounded to 0.01 s
    assert events / (wall + 0.005) - 1 <= result["events_per_s"] <= events / (wall - 0.005) + 1
    assert set(result["cpu_s"]) == {"recording_process", "simulator_process"}
    assert 1000 <= result["bulk"]["events"] < 3000 and result["bulk_append_events_per_s"] > 0
    assert result["ratio"] == round(result["events_per_s"] / result["bulk_append_events_per_s"], 3)
    assert result["ok"] is (result["ratio"] >= 0.5) and result["goal_ratio"] == 0.5
    assert result["bytes_written"] > 0 and result["stores_bytes"] > 0 and result["peak_rss_mb"] > 0
    assert result["recording"]["transactions"] >= result["nodes"]
    assert len(logged) == 2
