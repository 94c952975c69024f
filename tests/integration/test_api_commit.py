"""The command path under concurrency (real SQLite stores, the app in process): group commit, idempotency answers
written with the events, answers kept by an earlier version, and revocation from another process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError

from domain.base import Attribution, Role
from domain.hierarchy import Hierarchy
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from gateways.api import create_app
from gateways.api.auth import AuthError, TokenVerifier
from gateways.api.commit import GroupCommit, Queued
from gateways.api.devtools import ROOT, issue_tokens, seed
from gateways.api.models import VisitRecord
from gateways.api.storage import dispose_engines, gateway_db

TOWNSHIP = "430582204"
_BY = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 1, 9, 30, tzinfo=UTC))


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[tuple[Any, StoreSettings, Hierarchy, dict[tuple[str, str], str]]]:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    seed(settings, [TOWNSHIP], days=3, seed=5, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, [TOWNSHIP], ["recorder", "auditor"], hierarchy)
    app = create_app([TOWNSHIP], settings=settings, hierarchy=hierarchy)
    yield app, settings, hierarchy, tokens
    app.state.gateway.close()
    dispose_engines()


def _h(tokens: dict[tuple[str, str], str], key: str | None = None, role: str = "recorder") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[(TOWNSHIP, role)]}", **({"Idempotency-Key": key} if key else {})}


def _station_and_deputy(app: Any) -> tuple[UUID, UUID]:
    store: NodeStore = app.state.gateway.nodes[next(iter(app.state.gateway.nodes))].store
    for n in store.iter_notifications():
        if n.topic.endswith("Station.Established"):
            station = store.get(n.originator_id)
            for deputy, congress in station.enrolled.items():
                if congress == "township":
                    return station.id, deputy
    raise AssertionError("the simulated township has no station with a township deputy")


async def _gather(app: Any, requests: list[tuple[str, dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await asyncio.gather(*(client.post(path, json=body, headers=h) for path, body, h in requests))


def _count_groups(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the groups the node's committer writes (one transaction each)."""
    commits: GroupCommit = next(iter(app.state.gateway.nodes.values())).commits
    sizes: list[int] = []
    write = commits._append

    def counted(group: Any) -> None:
        sizes.append(len(group))
        write(group)

    monkeypatch.setattr(commits, "_append", counted)
    return sizes


def test_concurrent_commands_share_commits_and_a_refused_one_spoils_nothing(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, _, _, tokens = world
    station, deputy = _station_and_deputy(app)
    sizes = _count_groups(app, monkeypatch)
    visit = {"station_id": str(station), "deputy_ids": [str(deputy)], "people_received": 2}
    requests = [
        (f"/nodes/{TOWNSHIP}/visits", {**visit, "visit_date": f"2026-02-{d:02d}"}, _h(tokens, f"v{d}")) for d in range(1, 21)
    ]
    requests.insert(
        7,
        (f"/nodes/{TOWNSHIP}/visits", {**visit, "visit_date": "2026-03-01", "deputy_ids": [str(UUID(int=7))]}, _h(tokens, "bad")),
    )
    answers = asyncio.run(_gather(app, requests))
    assert [r.status_code for r in answers] == [201] * 7 + [404] + [201] * 13
    assert sum(sizes) == len(requests) and len(sizes) < len(requests)  # some commits were shared
    store: NodeStore = next(iter(app.state.gateway.nodes.values())).store
    for r in answers:
        if r.status_code == 201:
            assert store.get(UUID(r.json()["id"])).version == 1
    recorder = next(r for r in gateway_db(world[1], store.node).list_tokens() if r.role == "recorder")
    assert store.recorder.answer(recorder.token_id, "bad").status == 404  # type: ignore[attr-defined]  # stored too


def test_concurrent_steps_on_one_aggregate_see_each_other(world: Any) -> None:
    """Each decision reads committed state: a second step on an aggregate a queued command changed waits for it."""
    app, _, _, tokens = world
    station, deputy = _station_and_deputy(app)
    (visit,) = asyncio.run(
        _gather(
            app,
            [
                (
                    f"/nodes/{TOWNSHIP}/visits",
                    {"station_id": str(station), "visit_date": "2026-04-01", "deputy_ids": [str(deputy)], "people_received": 1},
                    _h(tokens),
                )
            ],
        )
    )
    vid = visit.json()["id"]
    issue = {"summary": "路灯不亮", "category": "市政"}
    answers = asyncio.run(
        _gather(app, [(f"/nodes/{TOWNSHIP}/visits/{vid}/issues", issue, _h(tokens, f"i{i}")) for i in range(8)])
    )
    assert sorted(r.json()["number"] for r in answers) == list(range(1, 9))
    assert {r.json()["version"] for r in answers} == set(range(2, 10))


def test_concurrent_retries_record_once_and_all_get_the_first_answer(world: Any) -> None:
    app, _, _, tokens = world
    station, deputy = _station_and_deputy(app)
    body = {"station_id": str(station), "visit_date": "2026-05-01", "deputy_ids": [str(deputy)], "people_received": 4}
    answers = asyncio.run(_gather(app, [(f"/nodes/{TOWNSHIP}/visits", body, _h(tokens, "same")) for _ in range(6)]))
    assert {r.status_code for r in answers} == {201} and len({r.content for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 5
    vid = answers[0].json()["id"]
    issue = {"summary": "排水不畅", "category": "市政"}
    first, *again = asyncio.run(
        _gather(app, [(f"/nodes/{TOWNSHIP}/visits/{vid}/issues", issue, _h(tokens, "one")) for _ in range(4)])
    )
    assert first.json()["number"] == 1 and all(a.content == first.content for a in again)
    store: NodeStore = next(iter(app.state.gateway.nodes.values())).store
    assert store.get(UUID(vid)).version == 2  # recorded once, however the retries were interleaved


def test_a_retry_of_a_committed_answer_is_not_decided_again(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry of an answer this process committed is answered from memory: it is not decided again, and its stored
    answer does not collide inside a group of other commands (which would write that group command by command)."""
    from gateways.api.context import Command

    app, _, _, tokens = world
    station, deputy = _station_and_deputy(app)
    visit = {"station_id": str(station), "deputy_ids": [str(deputy)], "people_received": 3}
    first = {**visit, "visit_date": "2026-06-01"}
    (answer,) = asyncio.run(_gather(app, [(f"/nodes/{TOWNSHIP}/visits", first, _h(tokens, "june-1"))]))
    decided: list[str | None] = []
    decide = Command._decide

    def counted(self: Command, *args: Any) -> Any:
        decided.append(self.key)
        return decide(self, *args)

    monkeypatch.setattr(Command, "_decide", counted)
    sizes = _count_groups(app, monkeypatch)
    others = [
        (f"/nodes/{TOWNSHIP}/visits", {**visit, "visit_date": f"2026-06-{d:02d}"}, _h(tokens, f"june-{d}")) for d in (2, 3, 4)
    ]
    retry = (f"/nodes/{TOWNSHIP}/visits", first, _h(tokens, "june-1"))
    answers = asyncio.run(_gather(app, [others[0], retry, *others[1:]]))
    assert [r.status_code for r in answers] == [201] * 4
    assert answers[1].content == answer.content and answers[1].headers["idempotent-replayed"] == "true"
    assert sorted(decided) == ["june-2", "june-3", "june-4"]  # the retry was not decided
    # Each command written once: a group failing on a collision would have been written again command by command.
    assert sum(sizes) == 3, sizes
    changed = {**first, "people_received": 4}  # the same key with another request is still refused
    (refused,) = asyncio.run(_gather(app, [(f"/nodes/{TOWNSHIP}/visits", changed, _h(tokens, "june-1"))]))
    assert refused.status_code == 422 and refused.json()["field"] == "Idempotency-Key"


def test_a_group_whose_commit_fails_is_written_command_by_command(tmp_path: Path) -> None:
    """A version taken meanwhile by another writer fails only the command that wrote it."""
    hierarchy = Hierarchy.load()
    store = NodeStore(hierarchy.ref(hierarchy.by_code(TOWNSHIP)), StoreSettings(store="sqlite", data_dir=tmp_path))
    try:
        taken = Station.establish(store.node, _BY, name="已有联络站")
        store.save_all([taken])
        clash = Station.establish(store.node, _BY, name="已有联络站")  # the same natural id, version 1 again
        fresh = [Station.establish(store.node, _BY, name=f"新联络站{i}") for i in range(3)]
        group = [_queued(store, a) for a in (fresh[0], clash, fresh[1], fresh[2])]
        commits = GroupCommit(store)

        async def commit_all() -> list[Any]:
            return await asyncio.gather(*(commits.commit(q) for q in group), return_exceptions=True)

        results = asyncio.run(commit_all())
        assert [type(r) for r in results] == [type(None), IntegrityError, type(None), type(None)]
        assert all(store.contains(a.id) for a in fresh) and store.count_events() == 4
    finally:
        store.close()


def test_answers_kept_by_an_earlier_version_are_replayed(tmp_path: Path) -> None:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    ref = hierarchy.ref(hierarchy.by_code(TOWNSHIP))
    node = ref.node_id
    tokens = issue_tokens(settings, [TOWNSHIP], ["recorder"], hierarchy)
    token_id = gateway_db(settings, ref).list_tokens()[0].token_id
    old = sa.create_engine(f"sqlite:///{tmp_path / 'nodes' / f'{node}.gateway.sqlite'}")
    body = {"station_id": str(UUID(int=1)), "visit_date": "2026-01-01", "deputy_ids": [str(UUID(int=2))], "people_received": 1}
    request_hash = _request_hash("POST", f"/nodes/{TOWNSHIP}/visits", body)
    with old.begin() as conn:  # the table as the earlier version created it, with one answer
        conn.exec_driver_sql(
            "CREATE TABLE gateway_idempotency (principal VARCHAR(16), key VARCHAR(200), request_hash VARCHAR(64), "
            "state VARCHAR(10), status_code INTEGER, body TEXT, created_at VARCHAR(40), PRIMARY KEY (principal, key))"
        )
        conn.exec_driver_sql(
            "INSERT INTO gateway_idempotency VALUES (?, 'old-key', ?, 'done', 201, ?, '2025-01-01T00:00:00+00:00')",
            (token_id, request_hash, json.dumps({"id": "从前的应答"}, ensure_ascii=False)),
        )
    old.dispose()
    dispose_engines()
    app = create_app([TOWNSHIP], settings=settings, hierarchy=hierarchy)
    try:
        (r,) = asyncio.run(_gather(app, [(f"/nodes/{TOWNSHIP}/visits", body, _h(tokens, "old-key"))]))
        assert (r.status_code, r.json(), r.headers["idempotent-replayed"]) == (201, {"id": "从前的应答"}, "true")
        assert not sa.inspect(gateway_db(settings, ref).engine).has_table("gateway_idempotency")  # handed over once
    finally:
        app.state.gateway.close()
        dispose_engines()


def test_a_revocation_from_another_process_takes_effect_within_the_cache_time(tmp_path: Path) -> None:
    """``yipanqi token revoke`` in another process: a running gateway refuses the token once its cached answer
    expires (``YIPANQI_TOKEN_CACHE_S``, 5 s by default; 2 s here)."""
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    token, record = gateway_db(settings, hierarchy.ref(hierarchy.by_code(TOWNSHIP))).issue(role="viewer", subject="临时")
    verifier = TokenVerifier(hierarchy, settings, cache_s=2.0)
    assert verifier.verify(token).token_id == record.token_id  # cached from now on, for 2 s
    env = {**os.environ, "PYTHONPATH": str(ROOT), "YIPANQI_STORE": "sqlite", "YIPANQI_DATA_DIR": str(tmp_path)}
    cli = [sys.executable, "-m", "gateways.cli", "token", "revoke", "--node", TOWNSHIP, "--id", record.token_id]
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=120)
    revoked_at = time.monotonic()
    while time.monotonic() - revoked_at < 2.5:
        try:
            verifier.verify(token)
        except AuthError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the revoked token was still accepted 2.5 s after the revocation")
    dispose_engines()


def _queued(store: NodeStore, aggregate: Any) -> Queued:
    return Queued(store.take_rows([aggregate]), 201, b"{}", None, frozenset({aggregate.id}))


def _request_hash(method: str, path: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(f"{method} {path}\n{VisitRecord.model_validate(body).model_dump_json()}".encode()).hexdigest()
