"""The 一盘棋 dashboard in headless Chromium (Debian's package, driven over the CDP by Playwright's Python client):
the province's page loads with data for all of Hunan, every chart renders, clicking a region drills down, the as-of
date picker re-reads the views, and a screenshot is saved (under the test's tmp dir, and ``var/dashboard.png``).

The gateway runs as ``yipanqi serve`` (uvicorn) in a subprocess over SQLite stores holding simulated activity of
three prefectures' worth of nodes, replicated up the tree as the ingest does (verbatim rows).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from gateways.api.devtools import ROOT, GatewayProcess, issue_tokens, replicate_up, seed, store_env
from gateways.bench.dashboard import NoBrowser, browser_page, chromium_executable

PROVINCE = "430000"
TREE = {  # child -> parent, bottom-up
    "430582204": "430582",
    "430582101": "430582",
    "430525101": "430525",
    "430811201": "430811",
    "430811202": "430811",
    "430582": "430500",
    "430525": "430500",
    "430811": "430800",
    "430121": "430100",
    "430500": PROVINCE,
    "430800": PROVINCE,
    "430100": PROVINCE,
}
CODES = sorted({*TREE, PROVINCE})
CHARTS = ("chart-coverage", "chart-regions", "chart-stations", "chart-suggestions", "chart-livelihood", "chart-sync")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("dashboard")
    settings = StoreSettings(store="sqlite", data_dir=data / "var")
    hierarchy = Hierarchy.load()
    seed(settings, CODES, days=75, seed=11, scale=0.08, hierarchy=hierarchy)
    replicate_up(settings, hierarchy, TREE)
    tokens = issue_tokens(settings, [PROVINCE], ["viewer"], hierarchy)
    gateway = GatewayProcess([PROVINCE], store_env(settings), data / "gateway.log").wait_ready()
    try:
        gateway.wait_projected(PROVINCE, tokens[(PROVINCE, "viewer")])
        yield {"url": gateway.url, "token": tokens[(PROVINCE, "viewer")], "dir": data}
    finally:
        gateway.stop()


@pytest.fixture
def page(served: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    pytest.importorskip("playwright.sync_api")
    try:
        executable = chromium_executable()
    except NoBrowser as e:  # installing it needs root
        pytest.skip(str(e))
    with browser_page(tmp_path / "profile", executable) as pg:  # a fresh profile for each test
        yield pg


def loads(page: Any) -> int:
    return int(page.evaluate("window.yipanqiDashboard ? window.yipanqiDashboard.state.loads : 0"))


def chart_series(page: Any, chart_id: str) -> dict[str, Any]:
    return page.evaluate(
        """(id) => {
            const el = document.getElementById(id);
            const c = echarts.getInstanceByDom(el);
            const canvas = el.querySelector('canvas');
            const opt = c.getOption();
            return {points: opt.series.reduce((n, s) => n + s.data.length, 0),
                    width: canvas ? canvas.width : 0, height: canvas ? canvas.height : 0,
                    categories: opt.xAxis && opt.xAxis[0] ? opt.xAxis[0].data : opt.yAxis[0].data};
        }""",
        chart_id,
    )


def test_province_dashboard_loads_renders_drills_down_and_is_saved(page: Any, served: dict[str, Any], tmp_path: Path) -> None:
    page.goto(f"{served['url']}/nodes/{PROVINCE}/dashboard#token={served['token']}")
    page.wait_for_function("() => window.yipanqiDashboard && window.yipanqiDashboard.state.loads >= 1", timeout=60_000)
    assert page.locator("#node-name").inner_text() == "湖南省"
    assert "token=" not in page.url  # the token left the address bar
    kpis = page.locator("#kpis .kpi").all_inner_texts()
    assert len(kpis) == 9 and any("进站接待" in k for k in kpis)
    visits = page.evaluate("window.yipanqiDashboard.data.stations.totals.visits")
    assert visits > 0, "the province sees the visits recorded in its subtree"

    # Every chart rendered on a canvas, with data; the regional ones list all 14 prefectures of Hunan.
    for chart_id in CHARTS:
        info = chart_series(page, chart_id)
        assert info["width"] > 100 and info["height"] > 100 and info["points"] > 0, (chart_id, info)
    stations = chart_series(page, "chart-stations")
    assert len(stations["categories"]) == 14 and "邵阳市" in stations["categories"]
    assert page.locator("#behind tbody tr").count() == 8  # one row per target, with the regions furthest behind
    # No sync ran here (the logs were copied up): the streams were never heard from, so the health is not 全部正常,
    # and it counts every stream of the subtree (townships' included), per prefecture.
    health = next(k for k in kpis if "同步健康" in k)
    subtree = page.evaluate("window.yipanqiDashboard.sync.subtree")
    assert "全部正常" not in health and f"{subtree['streams']} 条流异常" in health.replace(",", ""), health
    assert subtree["streams"] >= len(TREE) and subtree["following"] == 0, subtree
    assert len(chart_series(page, "chart-sync")["categories"]) == len(subtree["regions"]) > 0
    assert page.locator("#sync-problems li").count() == 8

    shot = tmp_path / "dashboard-province.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000

    # Drill down: a real mouse click on 邵阳市's bar in the stations chart.
    page.locator("#chart-stations").scroll_into_view_if_needed()
    box = page.locator("#chart-stations").bounding_box()
    x, y = page.evaluate(
        """() => {
            const c = window.yipanqiDashboard.charts['chart-stations'];
            const names = c.getOption().xAxis[0].data;
            const i = names.indexOf('邵阳市');
            const top = Math.max(...c.getOption().series.map(s => s.data[i] || 0));
            return c.convertToPixel({seriesIndex: 0}, [i, Math.max(top / 2, 0)]);
        }"""
    )
    before = loads(page)
    page.mouse.click(box["x"] + x, box["y"] + y - 2)
    page.wait_for_function(f"() => window.yipanqiDashboard.state.loads > {before}", timeout=30_000)
    assert page.evaluate("window.yipanqiDashboard.state.region") == "430500"
    assert page.locator("#node-name").inner_text() == "邵阳市"
    assert page.locator("#crumbs").inner_text().replace("\n", "") == "湖南省›邵阳市"
    counties = chart_series(page, "chart-stations")["categories"]
    assert "邵东市" in counties and "长沙市" not in counties
    page.screenshot(path=str(tmp_path / "dashboard-shaoyang.png"), full_page=True)

    # Back up through the breadcrumb, then an as-of date: the views are read as they stood then.
    before = loads(page)
    page.locator("#crumbs a", has_text="湖南省").click()
    page.wait_for_function(f"() => window.yipanqiDashboard.state.loads > {before}", timeout=30_000)
    assert page.locator("#node-name").inner_text() == "湖南省"
    before = loads(page)
    page.fill("#asof", "2025-03-20")
    page.dispatch_event("#asof", "change")
    page.wait_for_function(f"() => window.yipanqiDashboard.state.loads > {before}", timeout=30_000)
    assert "截至" in page.locator("#status").inner_text() and "2025-03-20" in page.locator("#status").inner_text()
    then = page.evaluate("window.yipanqiDashboard.data.stations.totals.visits")
    assert 0 <= then < visits
    # By known time (时钟: 按知悉时间): what the province held that day. It came to hold all of this today.
    before = loads(page)
    page.select_option("#clock", "known")
    page.wait_for_function(f"() => window.yipanqiDashboard.state.loads > {before}", timeout=30_000)
    assert "按知悉时间" in page.locator("#status").inner_text()
    assert page.evaluate("window.yipanqiDashboard.data.stations.totals.visits") == 0
    assert not page.errors, page.errors  # type: ignore[attr-defined]

    # For a person to look at: the province's page as it first loaded.
    out = ROOT / "var"
    out.mkdir(exist_ok=True)
    shutil.copy(shot, out / "dashboard.png")


def test_dashboard_without_a_token_asks_for_one(page: Any, served: dict[str, Any]) -> None:
    page.goto(f"{served['url']}/nodes/{PROVINCE}/dashboard")
    page.wait_for_selector("#login:not([hidden])", timeout=30_000)
    assert "令牌" in page.locator("#status").inner_text()
    page.fill("#token-input", "yq_wrong")
    page.click("#token-save")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('令牌无效')", timeout=30_000)
    page.fill("#token-input", served["token"])
    page.click("#token-save")
    page.wait_for_function("() => window.yipanqiDashboard.state.loads >= 1", timeout=60_000)
    assert page.locator("#node-name").inner_text() == "湖南省"


def test_regions_ranked_worst_first_paged_and_every_child_in_the_drill_box(page: Any, served: dict[str, Any]) -> None:
    page.goto(f"{served['url']}/nodes/{PROVINCE}/dashboard#token={served['token']}")
    page.wait_for_function("() => window.yipanqiDashboard && window.yipanqiDashboard.state.loads >= 1", timeout=60_000)
    # All 14 prefectures ranked by their average coverage, worst first, ten to a page; those with no deputies
    # recorded (this seed covers three prefectures) last and unranked.
    rows = page.locator("#ranking tbody tr")
    assert rows.count() == 10 and page.locator("#rank-page").inner_text() == "第 1 / 2 页"
    ranks = page.locator("#ranking tbody tr td:first-child").all_inner_texts()
    with_data = [int(n) for n in ranks if n != "—"]
    assert with_data == list(range(1, len(with_data) + 1)) and 0 < len(with_data) < 10
    rates = page.locator("#ranking tbody td.rate").all_inner_texts()[: len(with_data)]
    assert [float(t.rstrip("%")) for t in rates] == sorted(float(t.rstrip("%")) for t in rates), rates
    assert "无代表数据" in page.locator("#ranking-note").inner_text()
    page.click("#rank-next")
    assert rows.count() == 4 and page.locator("#rank-page").inner_text() == "第 2 / 2 页"
    assert page.locator("#rank-next").is_disabled() and not page.locator("#rank-prev").is_disabled()
    assert set(page.locator("#ranking tbody tr td:first-child").all_inner_texts()) == {"—"}
    page.click("#rank-prev")

    # The drill-down box lists every prefecture; picking one drills down, and so does a name in the ranking.
    options = page.locator("#drill option").all_inner_texts()
    assert len(options) == 15 and any("邵阳市" in o for o in options)
    before = loads(page)
    page.select_option("#drill", "430500")
    page.wait_for_function(f"() => window.yipanqiDashboard.state.loads > {before}", timeout=30_000)
    assert page.locator("#node-name").inner_text() == "邵阳市"
    assert page.locator("#rank-page").inner_text().startswith("第 1 /")  # the ranking starts again at its first page
    county = page.locator("#ranking tbody a").first
    name = county.inner_text()
    before = loads(page)
    county.click()
    page.wait_for_function(f"() => window.yipanqiDashboard.state.loads > {before}", timeout=30_000)
    assert page.locator("#node-name").inner_text() == name
    assert page.locator("#crumbs").inner_text().replace("\n", "") == f"湖南省›邵阳市›{name}"
    assert not page.errors, page.errors  # type: ignore[attr-defined]
