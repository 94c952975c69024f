"""Running gateways (``yipanqi serve``, uvicorn subprocesses) on the multi-level topology, with ``yipanqi sync run``
processes on a real broker between the levels:

- a visit recorded at a township over HTTP appears in the province's queries after sync (aggregate, list, views);
- a county deputy enrolled at a township station becomes recordable there once the county's replica came down;
- a token of one county can neither write nor read another county's data (a matrix over roles and levels);
- idempotent retries, sequential and concurrent, record nothing twice;
- personal data of the public is masked everywhere but for the recording office.

Topology: 湖南省 430000 › 邵阳市 430500 › 邵东市 430582 (斫𥕢乡 430582204) and 洞口县 430525 (江口镇 430525101).
Gateways: the province with its prefecture in one process; each county with its township in another.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from gateways.api.devtools import GatewayProcess, issue_tokens, seed, store_env
from tests.sync_helpers import wait_for

PROVINCE, SHAOYANG, SHAODONG, ZHUOXI, DONGKOU, JIANGKOU = "430000", "430500", "430582", "430582204", "430525", "430525101"
CODES = (PROVINCE, SHAOYANG, SHAODONG, ZHUOXI, DONGKOU, JIANGKOU)
ROLES = ("recorder", "viewer", "auditor", "administrator")
GATEWAYS = {"top": (PROVINCE, SHAOYANG), "shaodong": (SHAODONG, ZHUOXI), "dongkou": (DONGKOU, JIANGKOU)}
SYNC = {"townships": (ZHUOXI, JIANGKOU), "counties": (SHAODONG, DONGKOU), "top": (SHAOYANG, PROVINCE)}


class Cluster:
    def __init__(self, gateways: dict[str, GatewayProcess], tokens: dict[tuple[str, str], str]) -> None:
        self.gateways = gateways
        self.tokens = tokens
        self.client = httpx.Client(timeout=30.0)

    def url(self, code: str) -> str:
        name = next(n for n, codes in GATEWAYS.items() if code in codes)
        return self.gateways[name].url

    def h(self, who: tuple[str, str], key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, code: str, path: str, who: tuple[str, str], **params: Any) -> httpx.Response:
        return self.client.get(f"{self.url(code)}/nodes/{code}{path}", headers=self.h(who), params=params)

    def post(
        self, code: str, path: str, body: dict[str, Any], who: tuple[str, str] | None = None, key: str | None = None
    ) -> httpx.Response:
        return self.client.post(f"{self.url(code)}/nodes/{code}{path}", json=body, headers=self.h(who or (code, "recorder"), key))


def start_gateways(settings: StoreSettings, logs: Any) -> dict[str, GatewayProcess]:
    env = store_env(settings)
    gateways = {name: GatewayProcess(codes, env, logs / f"{name}.log") for name, codes in GATEWAYS.items()}
    try:
        for g in gateways.values():
            g.wait_ready()
    except BaseException:
        for g in gateways.values():
            g.stop()
        raise
    return gateways


@pytest.fixture
def synced(sqlite_settings: StoreSettings, processes: Any, tmp_path: Any) -> Iterator[Cluster]:
    """Gateways and sync processes (one per level) on a real broker."""
    hierarchy = Hierarchy.load()
    seed(sqlite_settings, CODES, days=3, seed=21, scale=0.05, hierarchy=hierarchy)
    procs = processes(sqlite_settings)
    # Tokens: one through the CLI (what an operator does), the rest directly.
    issued = json.loads(
        procs.cli("token", "issue", "--node", ZHUOXI, "--role", "recorder", "--subject", "乡人大录入员", "--json").stdout
    )
    assert issued["token"].startswith("yq_") and issued["role"] == "recorder"
    listed = json.loads(procs.cli("token", "list", "--node", ZHUOXI, "--json").stdout)
    assert [t["token_id"] for t in listed] == [issued["token_id"]] and "token" not in listed[0]
    tokens = issue_tokens(sqlite_settings, CODES, ROLES, hierarchy)
    tokens[(ZHUOXI, "recorder")] = issued["token"]
    for name, codes in SYNC.items():
        procs.start(name, codes)
    gateways = start_gateways(sqlite_settings, tmp_path / "gateways")
    try:
        for proc in procs.procs:
            proc.wait_ready(60)
        c = Cluster(gateways, tokens)
        yield c
        c.client.close()
        assert not procs.dead(), procs.dead()
    finally:
        for g in gateways.values():
            g.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The same gateways over the same kind of stores, without sync (access and retries need no broker)."""
    data = tmp_path_factory.mktemp("gateways")
    settings = StoreSettings(store="sqlite", data_dir=data / "var")
    hierarchy = Hierarchy.load()
    seed(settings, CODES, days=3, seed=22, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, CODES, ROLES, hierarchy)
    gateways = start_gateways(settings, data / "logs")
    c = Cluster(gateways, tokens)
    try:
        yield c
    finally:
        c.client.close()
        for g in gateways.values():
            g.stop()


def township_station(c: Cluster) -> tuple[str, dict[str, str]]:
    items = c.get(ZHUOXI, "/lists/stations", (ZHUOXI, "viewer")).json()["items"]
    station = items[0]["id"]
    enrolled = c.get(ZHUOXI, f"/aggregates/{station}", (ZHUOXI, "viewer")).json()["data"]["enrolled"]
    return station, enrolled


@pytest.mark.kafka
def test_record_at_a_township_see_it_at_the_province(synced: Cluster) -> None:
    c = synced
    station, enrolled = township_station(c)
    township_deputies = [d for d, congress in enrolled.items() if congress == "township"][:2]
    county_deputies = [d for d, congress in enrolled.items() if congress == "county"]
    assert township_deputies, enrolled

    # The province's stations view for the township before anything new (the projection catches up in the background).
    def visits_at_province() -> int | None:
        r = c.get(PROVINCE, "/views/stations", (PROVINCE, "viewer"), region=ZHUOXI)
        return r.json()["totals"]["visits"] if r.status_code == 200 else None

    body = {"station_id": station, "visit_date": "2025-03-05", "deputy_ids": township_deputies, "people_received": 9}
    r = c.post(ZHUOXI, "/visits", body, key="visit-2025-03-05")
    assert r.status_code == 201, r.text
    visit = r.json()["id"]
    r = c.post(
        ZHUOXI,
        f"/visits/{visit}/issues",
        {
            "summary": "村道塌方, 请回电 13807391234",
            "category": "交通",
            "raised_by_name": "欧阳娟",
            "raised_by_phone": "13807391234",
        },
    )
    assert r.status_code == 200 and r.json()["number"] == 1

    # After sync: the province's log holds the visit, its views count it, its lists show it.
    seen = wait_for(
        lambda: (
            c.get(PROVINCE, f"/aggregates/{visit}", (PROVINCE, "viewer")).json()
            if c.get(PROVINCE, f"/aggregates/{visit}", (PROVINCE, "viewer")).status_code == 200
            else None
        ),
        90,
        "the visit at the province",
        poll=0.5,
    )
    assert seen["owner_name"] == "斫𥕢乡(430582204)" and seen["version"] >= 1
    full = wait_for(
        lambda: (lambda j: j if j["version"] == 2 else None)(
            c.get(PROVINCE, f"/aggregates/{visit}", (PROVINCE, "administrator")).json()
        ),
        90,
        "both events at the province",
        poll=0.5,
    )
    issue = full["data"]["issues"][0]
    assert full["masked"] and issue["raised_by_phone"] == "138****1234" and "13807391234" not in issue["summary"]
    wait_for(lambda: (visits_at_province() or 0) >= 1, 90, "the province's view to count the visit", poll=0.5)
    listed = c.get(PROVINCE, "/lists/visits", (PROVINCE, "viewer"), region=ZHUOXI, limit=200).json()["items"]
    assert visit in {i["id"] for i in listed}
    rollup = c.get(PROVINCE, "/views/rollup", (PROVINCE, "viewer")).json()
    assert {r["code"] for r in rollup["regions"]["children"]} >= {"430100", "430500"}
    shaoyang = next(r for r in rollup["stations"]["by_region"] if r["code"] == SHAOYANG)
    assert shaoyang["visits"] >= 1

    # The recording office sees the personal data; its county (after sync) and the province do not.
    mine = c.get(ZHUOXI, f"/aggregates/{visit}", (ZHUOXI, "recorder")).json()
    assert not mine["masked"] and mine["data"]["issues"][0]["raised_by_phone"] == "13807391234"
    county = wait_for(
        lambda: (lambda r: r.json() if r.status_code == 200 else None)(
            c.get(SHAODONG, f"/aggregates/{visit}", (SHAODONG, "administrator"))
        ),
        90,
        "the visit at the county",
        poll=0.5,
    )
    assert county["masked"]

    # Sync status, as the province's office reads it: its prefecture followed, nothing outstanding.
    def settled() -> Any:
        rows = c.get(PROVINCE, "/sync/status", (PROVINCE, "viewer")).json()["children"]
        row = next(r for r in rows if r["child"] == "邵阳市(430500)")
        return row if (row["state"], row["lag_events"]) == ("following", 0) else None

    assert wait_for(settled, 90, "the province to follow 邵阳市", poll=0.5)["position"] > 0

    # A county deputy enrolled at the township's station: recordable there once the county's replica came down.
    if county_deputies:
        attempt = {"station_id": station, "visit_date": "2025-03-06", "deputy_ids": county_deputies[:1], "people_received": 2}
        r = wait_for(
            lambda: (lambda r: r if r.status_code == 201 else None)(c.post(ZHUOXI, "/visits", attempt)),
            90,
            "the county deputy's replica at the township",
            poll=0.5,
        )
        assert r.json()["kind"] == "visit"


def test_a_county_token_cannot_touch_another_county(cluster: Cluster) -> None:
    c = cluster
    hierarchy = Hierarchy.load()
    for token_code, role, target in itertools.product(CODES, ROLES, CODES):
        who = (token_code, role)
        within = hierarchy.is_within(hierarchy.by_code(target), hierarchy.by_code(token_code))
        read = c.get(target, "/lists/stations", who)
        assert read.status_code == (200 if within else 403), (who, target, read.text)
        write = c.post(target, "/stations", {"name": " "}, who)
        may_write = role in ("recorder", "administrator") and token_code == target
        assert write.status_code == (422 if may_write else 403), (who, target, write.text)
        if not within:
            assert "reads only its own subtree" in read.json()["rule"]
    # The two counties, explicitly: neither reads nor writes the other, nor the other's township.
    for mine, theirs in ((SHAODONG, DONGKOU), (DONGKOU, SHAODONG), (SHAODONG, JIANGKOU), (DONGKOU, ZHUOXI)):
        for role in ROLES:
            assert c.get(theirs, "/sync/status", (mine, role)).status_code == 403
            assert (
                c.post(theirs, "/livelihood-projects", {"year": 2025, "title": "x", "category": "y"}, (mine, role)).status_code
                == 403
            )


def test_idempotent_retries_over_http(cluster: Cluster) -> None:
    c = cluster
    station, enrolled = township_station(c)
    deputy = next(d for d, congress in enrolled.items() if congress == "township")
    body = {"station_id": station, "visit_date": "2025-03-09", "deputy_ids": [deputy], "people_received": 4}

    def send(_: int) -> httpx.Response:
        with httpx.Client(timeout=30.0) as client:
            return client.post(
                f"{c.url(ZHUOXI)}/nodes/{ZHUOXI}/visits", json=body, headers=c.h((ZHUOXI, "recorder"), "retry-0309")
            )

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1, [a.text for a in answers]
    created = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    again = send(0)  # after the first answer is stored, every retry gets it
    assert again.status_code == 201 and again.json()["id"] in created and again.headers["idempotent-replayed"] == "true"
    history = c.get(ZHUOXI, f"/aggregates/{again.json()['id']}/history", (ZHUOXI, "auditor")).json()["events"]
    assert len(history) == 1  # recorded once
    other = c.client.post(
        f"{c.url(ZHUOXI)}/nodes/{ZHUOXI}/visits",
        json={**body, "people_received": 5},
        headers=c.h((ZHUOXI, "recorder"), "retry-0309"),
    )
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"


def _projectors(gateway: int) -> set[int]:
    """The gateway's projector processes (multiprocessing's spawned children; not its resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            spawned = b"spawn_main" in (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == gateway and spawned:
            found.add(int(entry.name))
    return found


def test_views_stay_current_when_the_projector_dies(cluster: Cluster) -> None:
    """The gateway projects in a child process; killed, it is started again and the views catch up."""
    c = cluster
    gateway = c.gateways["shaodong"].popen.pid
    projector = wait_for(lambda: _projectors(gateway), 90, "the projector process", poll=0.5)

    def visits() -> int:
        return int(c.get(ZHUOXI, "/views/stations", (ZHUOXI, "viewer")).json()["totals"]["visits"])

    def settled() -> tuple[int] | None:
        seen = visits()
        time.sleep(1.5)  # longer than the projector's round: nothing moved meanwhile
        return (seen,) if visits() == seen else None

    (before,) = wait_for(settled, 90, "a settled projection", poll=0.5)
    for pid in projector:
        os.kill(pid, signal.SIGKILL)
    station, enrolled = township_station(c)
    deputy = next(d for d, congress in enrolled.items() if congress == "township")
    body = {"station_id": station, "visit_date": "2025-03-11", "deputy_ids": [deputy], "people_received": 2}
    assert c.post(ZHUOXI, "/visits", body, key="after-projector-kill").status_code == 201
    wait_for(lambda: visits() == before + 1, 90, "the new visit in the township's views", poll=0.5)
    restarted = _projectors(gateway)
    assert restarted and restarted.isdisjoint(projector)
