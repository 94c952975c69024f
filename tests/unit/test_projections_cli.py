"""``yipanqi report`` and ``yipanqi projections``: the views in Chinese tables, JSON and CSV, and clear errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from gateways.cli import app
from tests.unit.test_projections_reference import SMALL_TREE, write_simulation


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hunan = Hierarchy.load()
    path = tmp_path_factory.mktemp("cli")
    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    store = NodeStore(nodes[0], StoreSettings(store="sqlite", data_dir=path))
    write_simulation(store, nodes, days=60, start=date(2025, 1, 2), seed=8, scale=0.2)
    store.close()
    NodeStore(nodes[2], StoreSettings(store="sqlite", data_dir=path)).close()  # 武陵源区's (empty) store
    return path


def run(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(
        app, list(args), env={"YIPANQI_DATA_DIR": str(data_dir), "YIPANQI_STORE": "sqlite", "COLUMNS": "200"}
    )


def test_coverage_table_in_chinese_then_json_and_csv(data_dir: Path) -> None:
    table = run(data_dir, "report", "coverage", "--limit", "3")
    assert table.exit_code == 0, table.output
    assert "一盘棋指标" in table.output and "代表为群众办实事" in table.output and "未覆盖名单" in table.output
    as_json = run(data_dir, "report", "coverage", "--format", "json", "--no-update")
    data = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert {t["key"] for t in data["targets"]} >= {"practical_deed", "sc_face_to_face", "opinions"}
    assert data["scope"]["region_code"] == "430000" and data["scope"]["year"] == 2025
    csv = run(data_dir, "report", "stations", "--region", "430811", "--format", "csv", "--no-update")
    assert csv.exit_code == 0 and csv.stdout.startswith("# 分地区 by region\n")
    assert "接待次数" in csv.stdout.splitlines()[1]


def test_every_view_renders(data_dir: Path) -> None:
    for view in ("stations", "suggestions", "livelihood", "duty", "regions"):
        result = run(data_dir, "report", view, "--region", "430811", "--no-update")
        assert result.exit_code == 0, (view, result.output)
    ranking = json.loads(run(data_dir, "report", "duty", "--format", "json", "--no-update").stdout.splitlines()[-1])
    person = ranking["deputies"]["items"][-1]["person_id"]
    record = run(data_dir, "report", "duty", "--deputy", person, "--no-update")
    assert record.exit_code == 0 and "履职档案" in record.output and "代表资格" in record.output
    as_of = run(data_dir, "report", "suggestions", "--as-of", "2025-02-01", "--by", "occurred", "--no-update")
    assert as_of.exit_code == 0 and "截至 as of 2025-02-01T23:59:59+08:00" in as_of.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "everything"), "unknown view 'everything'"),
        (("report", "coverage", "--as-of", "2025-13-45"), "--as-of"),
        (("report", "coverage", "--by", "whenever"), "--by must be recorded, occurred or known"),
        (("report", "coverage", "--node", "430811", "--region", "430500"), "outside the subtree of 武陵源区"),
        (("report", "coverage", "--region", "999999"), "unknown"),
        (("report", "coverage", "--format", "xml"), "--format must be table, json or csv"),
        (("report", "coverage", "--node", "430100"), "has no store"),
        (("report", "duty", "--deputy", "nobody-at-all"), "no deputy"),
        (("report", "coverage", "--target", "happiness"), "unknown target"),
    ],
)
def test_bad_input_is_refused_clearly(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = run(data_dir, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_projections_rebuild_and_status(data_dir: Path) -> None:
    rebuilt = run(data_dir, "projections", "rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    result = json.loads(rebuilt.stdout.strip().splitlines()[-1])
    assert result["node"] == "430000" and result["events"] > 1000 and result["problems"] == {}
    status = run(data_dir, "projections", "status")
    assert status.exit_code == 0 and f"position {result['position']:,} of {result['position']:,}" in " ".join(
        status.output.split()
    )
    updated = run(data_dir, "projections", "update")
    assert updated.exit_code == 0 and '"read": 0' in " ".join(updated.output.split())


def test_terms_and_former_codes(data_dir: Path) -> None:
    """A term is its congress's calendar years; a division found by a former code is the same division (its facts keep
    its stable id, whatever its code became)."""
    from projections import queries
    from projections.db import ProjectionDB

    hunan = Hierarchy.load()
    settings = StoreSettings(store="sqlite", data_dir=data_dir)
    db = ProjectionDB(hunan.ref(hunan.by_code("430000")), settings, hierarchy=hunan).open()
    term = queries.make_scope(db, region="430811", term=18, hierarchy=hunan)
    assert (term.first_year, term.last_year, term.year, term.congress) == (2022, 2026, 2025, "county")
    provincial = queries.make_scope(db, term=14, hierarchy=hunan)
    assert (provincial.first_year, provincial.last_year) == (2023, 2027)
    assert queries.make_scope(db, region="430521", hierarchy=hunan).region_code == "430582"  # 邵东县 → 邵东市
    with pytest.raises(queries.QueryError, match="not in the 18th term"):
        queries.make_scope(db, region="430811", term=18, year=2030, hierarchy=hunan)
    db.dispose()


def test_the_year_bounds_the_stations_and_prints_as_a_year(data_dir: Path) -> None:
    """``--year`` bounds the stations view (the simulated stations are established in 2025: none was open at the
    end of 2024), and a year prints as 2025, never "2,025", in tables and in CSV."""

    def stations(year: str) -> Any:
        result = run(data_dir, "report", "stations", "--year", year, "--format", "json", "--no-update")
        return json.loads(result.stdout.strip().splitlines()[-1])["totals"]

    assert stations("2024")["stations"] == 0 < stations("2025")["stations"]
    table = run(data_dir, "report", "livelihood", "--no-update")
    assert table.exit_code == 0 and "分年度" in table.output
    assert "2025" in table.output and "2,025" not in table.output
    csv = run(data_dir, "report", "livelihood", "--format", "csv", "--no-update").stdout.splitlines()
    by_year = csv[csv.index("# 分年度 by year") + 2 :]
    assert by_year[0].startswith("2025,"), by_year
