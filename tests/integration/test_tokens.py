"""``yipanqi token issue|role|revoke``: every act on a credential is an event in the node's own log, written before the
token table changes; a token issued by an earlier version gets its issue recorded on the first act; bad input is
refused with the rule and changes nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from domain.tokens import AccessToken, access_token_id
from gateways.api.storage import gateway_db
from gateways.cli import app
from tests.integration.conftest import TOWNSHIP


def run(settings: StoreSettings, *args: str) -> Any:
    env = {"YIPANQI_DATA_DIR": str(settings.data_dir), "YIPANQI_STORE": settings.store, "COLUMNS": "200"}
    if settings.pg_dsn:
        env["YIPANQI_PG_DSN"] = settings.pg_dsn
    return CliRunner().invoke(app, ["token", *args], env=env)


def events_of(settings: StoreSettings, token_id: str) -> list[Any]:
    hunan = Hierarchy.load()
    node = hunan.ref(hunan.resolve(TOWNSHIP))
    store = NodeStore(node, settings)
    try:
        return list(store.events.get(access_token_id(node.node_id, token_id)))
    finally:
        store.close()


def test_issue_role_change_and_revoke_are_events_of_the_node(settings: StoreSettings) -> None:
    issued = run(
        settings, "issue", "--node", TOWNSHIP, "--role", "recorder", "--subject", "录入员 李华", "--by", "王明", "--json"
    )
    assert issued.exit_code == 0, issued.output
    token_id = json.loads(issued.output)["token_id"]
    assert run(settings, "role", "--node", TOWNSHIP, "--id", token_id, "--role", "auditor", "--by", "王明").exit_code == 0
    revoked = run(settings, "revoke", "--node", TOWNSHIP, "--id", token_id, "--reason", "离岗", "--by", "王明")
    assert revoked.exit_code == 0, revoked.output
    events = events_of(settings, token_id)
    assert [type(e).__name__ for e in events] == ["Issued", "RoleChanged", "Revoked"]
    assert {(e.actor, e.role, e.token) for e in events} == {("王明", "administrator", "")}
    assert (events[0].token_role, events[0].subject, events[1].token_role, events[2].reason) == (
        "recorder",
        "录入员 李华",
        "auditor",
        "离岗",
    )
    hunan = Hierarchy.load()
    row = gateway_db(settings, hunan.ref(hunan.resolve(TOWNSHIP))).get(token_id)
    assert row is not None and row.role == "auditor" and row.revoked_at is not None
    again = run(settings, "revoke", "--node", TOWNSHIP, "--id", token_id)
    assert again.exit_code == 2 and "令牌已吊销" in again.output
    assert len(events_of(settings, token_id)) == 3
    # ... and the audit names each act, its issuer and the token's id
    env = {"YIPANQI_DATA_DIR": str(settings.data_dir), "YIPANQI_STORE": settings.store, "YIPANQI_PG_DSN": settings.pg_dsn or ""}
    audit = CliRunner().invoke(
        app, ["audit", "--node", TOWNSHIP, "--type", "AccessToken", "--format", "csv", "--no-bom"], env=env
    )
    assert audit.exit_code == 0, audit.output
    rows = list(csv.DictReader(io.StringIO(audit.stdout)))
    assert [(r["label"], r["actor"], r["role"]) for r in rows] == [
        ("签发令牌", "王明", "administrator"),
        ("变更令牌角色", "王明", "administrator"),
        ("吊销令牌", "王明", "administrator"),
    ]


def test_a_token_issued_before_tokens_were_recorded_gets_its_issue_recorded(settings: StoreSettings) -> None:
    hunan = Hierarchy.load()
    node = hunan.ref(hunan.resolve(TOWNSHIP))
    _, old = gateway_db(settings, node).issue(role="viewer", subject="老令牌")  # as an earlier version issued them
    assert events_of(settings, old.token_id) == []
    assert run(settings, "revoke", "--node", TOWNSHIP, "--id", old.token_id, "--by", "王明").exit_code == 0
    issued, revoked = events_of(settings, old.token_id)
    assert (issued.actor, issued.token_role, issued.subject, issued.occurred_at) == ("system", "viewer", "老令牌", old.created_at)
    assert (revoked.actor, type(revoked)) == ("王明", AccessToken.Revoked)


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["issue", "--role", "deputy", "--subject", "00000000-0000-0000-0000-000000000007", "--force"], "--by names the person"),
        (["issue", "--role", "boss", "--subject", "x"], "--role must be one of"),
        (["role", "--id", "ffffffffffff", "--role", "viewer"], "no token ffffffffffff"),
        (["revoke", "--id", "ffffffffffff"], "no token ffffffffffff"),
        (["issue", "--role", "viewer", "--subject", "x", "--by", "x" * 101], "--by must be at most 100 characters"),
    ],
)
def test_bad_acts_are_refused_and_record_nothing(settings: StoreSettings, args: list[str], rule: str) -> None:
    result = run(settings, args[0], "--node", TOWNSHIP, *args[1:])
    assert result.exit_code == 2 and rule in " ".join(result.output.split()), result.output
    hunan = Hierarchy.load()
    node = hunan.ref(hunan.resolve(TOWNSHIP))
    store = NodeStore(node, settings)
    try:
        assert store.max_position() in (0, None) or not any(
            n.topic.startswith("domain.tokens:") for n in store.recorder.select_notifications(start=1, limit=100)
        )
    finally:
        store.close()
    assert gateway_db(settings, node).list_tokens() == []


def test_a_deputy_credential_names_its_issuer(settings: StoreSettings, tmp_path: Path) -> None:
    deputy = "00000000-0000-0000-0000-000000000007"
    result = run(
        settings, "issue", "--node", TOWNSHIP, "--role", "deputy", "--subject", deputy, "--force", "--by", "李主任", "--json"
    )
    assert result.exit_code == 0, result.output
    (issued,) = events_of(settings, json.loads(result.output)["token_id"])
    assert (issued.token_role, issued.subject, issued.actor) == ("deputy", deputy, "李主任")
