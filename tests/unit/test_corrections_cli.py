"""``yipanqi correct`` and ``yipanqi void``: the domain's corrections and voids from the command line, into the owner
office's store; refusals say the rule and record nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from typer.testing import CliRunner

from domain.base import Attribution, Role
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.suggestions import Suggestion
from domain.visits import StationVisit
from gateways.cli import app

TOWN = "430582204"
BY = Attribution("clerk", Role.RECORDER, datetime(2025, 3, 10, 9, tzinfo=timezone(timedelta(hours=8))))


def run(data_dir: Path, *args: str) -> Any:
    env = {"YIPANQI_DATA_DIR": str(data_dir), "YIPANQI_STORE": "sqlite", "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def test_correct_and_void_from_the_command_line(tmp_path: Path) -> None:
    hunan = Hierarchy.load()
    town = hunan.ref(hunan.by_code(TOWN))
    store = NodeStore(town, StoreSettings(store="sqlite", data_dir=tmp_path))
    station = Station.establish(town, BY, name="联络站")
    station.enrol(BY, deputy_id=UUID(int=1), deputy_name="李桂花", congress="township")
    visit = StationVisit.record_visit(
        town, BY, station=station, visit_date=date(2025, 3, 8), deputy_ids=[UUID(int=1)], people_received=3
    )
    project = LivelihoodProject.propose(town, BY, year=2025, title="路灯", category="民生")
    project.list_as_candidate(BY, estimate_wan=Decimal(1500))
    suggestion = Suggestion.submit(
        town,
        BY,
        number="1",
        congress="township",
        term=18,
        session=4,
        title="修渠",
        content="……",
        category="农业",
        lead_deputy_id=UUID(int=1),
    )
    suggestion.assign(BY, lead_unit="水利站", due_on=date(2025, 6, 1))
    store.save(station, visit, project, suggestion)

    done = run(
        tmp_path, "correct", str(visit.id), "--node", TOWN, "--fact", "visit", "--set", "people_received=30", "--reason", "录错"
    )
    assert done.exit_code == 0 and "已更正" in done.output, done.output
    money = ["--fact", "candidate", "--set", "estimate_wan=150.5", "--reason", "1500 应为 150.5 万元"]
    assert run(tmp_path, "correct", str(project.id), "--node", TOWN, *money).exit_code == 0
    due = ["--fact", "assignment", "--set", "due_on=2025-04-30", "--set", "lead_unit=农业综合服务中心", "--reason", "有误"]
    assert run(tmp_path, "correct", str(suggestion.id), "--node", TOWN, *due).exit_code == 0
    early = ["--fact", "assignment", "--set", "due_on=2025-01-01", "--reason", "有误"]
    refused = run(tmp_path, "correct", str(suggestion.id), "--node", TOWN, *early)
    assert refused.exit_code == 2 and "must be after the assignment" in refused.output, refused.output
    refused = run(tmp_path, "correct", str(visit.id), "--node", TOWN, "--fact", "visit", "--set", "visit_date=x", "--reason", "x")
    assert refused.exit_code == 2 and "visit_date of a visit cannot be corrected" in refused.output
    assert run(tmp_path, "void", str(visit.id), "--node", TOWN, "--reason", "登记有误").exit_code == 0
    again = run(tmp_path, "void", str(visit.id), "--node", TOWN, "--reason", "again")
    assert again.exit_code == 2 and "已作废" in again.output

    assert store.get(visit.id).people_received == 30 and store.get(visit.id).void_reason == "登记有误"
    assert store.get(project.id).estimate_wan == Decimal("150.50")
    corrected = store.get(suggestion.id)
    assert (corrected.due_on, corrected.lead_unit) == (date(2025, 4, 30), "农业综合服务中心")
    assert [type(e).__name__ for e in store.history(visit.id)] == ["Recorded", "Corrected", "Voided"]
    store.close()
