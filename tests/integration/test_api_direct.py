"""Direct routes (``gateways.api.direct``) answer exactly as FastAPI's own handler does.

Every request below is sent twice to the same app: once through the direct route and once through FastAPI's general
handler (which a route falls back to while ``app.dependency_overrides`` is set, so an override of a function nobody
uses selects it). Both answers must be the same, status and body: the bad input of every kind (path, header, token,
query, JSON, content type, body fields; several at once, where the order of the errors counts), refusals by access
and by the domain, reads, and a command that records.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from fastapi.testclient import TestClient

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from gateways.api import create_app
from gateways.api import direct as direct_module
from gateways.api.devtools import issue_tokens, seed

COUNTY, TOWNSHIP = "430582", "430582204"
NIL = "00000000-0000-0000-0000-000000000000"
_keys = itertools.count(1)


def _unused() -> None:
    """Overridden by nothing and used by no route: overriding it only selects FastAPI's general handler."""


class Both:
    """Sends a request through the direct route and through FastAPI's handler, and counts the direct ones."""

    def __init__(self, client: TestClient, tokens: dict[tuple[str, str], str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.client = client
        self.tokens = tokens
        self.direct_solves = 0
        solve, read_body = direct_module._Plan.solve, direct_module._read_body

        def count(request: Any) -> None:  # a direct route reads the body or solves its plan, or both, per request
            if not request.scope.get("counted"):
                request.scope["counted"] = True
                self.direct_solves += 1

        async def counting_solve(plan: Any, request: Any, *args: Any) -> Any:
            count(request)
            return await solve(plan, request, *args)

        async def counting_read(request: Any, *args: Any) -> Any:
            count(request)
            return await read_body(request, *args)

        monkeypatch.setattr(direct_module._Plan, "solve", counting_solve)
        monkeypatch.setattr(direct_module, "_read_body", counting_read)

    def h(self, code: str, role: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(code, role)]}", **extra}

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        r = self.client.request(method, url, **kwargs)
        return r.status_code, r.json()

    def same(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        app = self.client.app
        before = self.direct_solves
        direct = self.send(method, url, **kwargs)
        assert self.direct_solves == before + 1, f"{method} {url} did not go through the direct route"
        app.dependency_overrides[_unused] = _unused  # type: ignore[attr-defined]
        try:
            general = self.send(method, url, **kwargs)
        finally:
            app.dependency_overrides.clear()  # type: ignore[attr-defined]
        assert self.direct_solves == before + 1, "FastAPI's handler was not selected"
        assert direct == general, f"{method} {url}: direct {direct} ≠ FastAPI {general}"
        return direct


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[tuple[str, str], str]]]:
    settings = StoreSettings(store="sqlite", data_dir=Path(tmp_path_factory.mktemp("direct")))
    hierarchy = Hierarchy.load()
    seed(settings, (COUNTY, TOWNSHIP), days=3, seed=5, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, (COUNTY, TOWNSHIP), ("recorder", "viewer"), hierarchy)
    app = create_app((COUNTY, TOWNSHIP), settings=settings, hierarchy=hierarchy)
    with TestClient(app) as client:
        yield client, tokens


@pytest.fixture
def both(world: tuple[TestClient, dict[tuple[str, str], str]], monkeypatch: pytest.MonkeyPatch) -> Both:
    return Both(*world, monkeypatch)


def _station_with_deputy(both: Both) -> tuple[str, str]:
    h = both.h(COUNTY, "recorder")
    n = next(_keys)
    c = both.client
    deputy = c.post(
        f"/nodes/{COUNTY}/deputies",
        json={"person_id": f"D{n:05d}", "name": f"代表{n}", "gender": "男", "grassroots": True},
        headers=h,
    ).json()["id"]
    for step, body in (("mandates", {"elected_by": "第1选区"}), ("credentials", {"passed": True})):
        r = c.post(f"/nodes/{COUNTY}/deputies/{deputy}/{step}", json={"congress": "county", "term": 18, **body}, headers=h)
        assert r.status_code == 200, r.text
    station = c.post(f"/nodes/{COUNTY}/stations", json={"name": f"联络站{n}", "address": "湖南省"}, headers=h).json()["id"]
    assert c.post(f"/nodes/{COUNTY}/stations/{station}/enrolments", json={"deputy_id": deputy}, headers=h).status_code == 200
    return station, deputy


def test_bad_input_of_every_kind_is_answered_alike(both: Both) -> None:
    station, deputy = _station_with_deputy(both)
    visit = {"station_id": station, "visit_date": "2025-04-01", "deputy_ids": [deputy], "people_received": 3}
    h = both.h(COUNTY, "recorder")
    url = f"/nodes/{COUNTY}/visits"
    cases: list[tuple[int, dict[str, Any]]] = [
        (401, {"json": visit}),  # no token
        (401, {"json": visit, "headers": {"Authorization": "Bearer yq_nonsense"}}),
        (401, {"json": visit, "headers": {"Authorization": "Basic abc"}}),
        (403, {"json": visit, "headers": both.h(COUNTY, "viewer")}),  # a viewer may not write
        (403, {"json": visit, "headers": both.h(TOWNSHIP, "recorder")}),  # nor another node's recorder
        (422, {"json": visit, "headers": {**h, "Idempotency-Key": "k" * 201}}),
        (422, {"json": visit, "headers": {**h, "Idempotency-Key": ""}}),
        (400, {"content": b"{not json", "headers": {**h, "Content-Type": "application/json"}}),
        (400, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),  # malformed before the token
        (400, {"content": b"\x80", "headers": {**h, "Content-Type": "application/json"}}),  # not text
        (422, {"content": '{"a": 1}'.encode("utf-16"), "headers": {**h, "Content-Type": "application/json"}}),
        (422, {"content": b'{"a": NaN}', "headers": {**h, "Content-Type": "application/json"}}),
        (422, {"content": b'{"a": 1}', "headers": h}),  # no content type: the body is not read as JSON
        (422, {"content": b"{}", "headers": {**h, "Content-Type": "text/plain"}}),
        (422, {"content": b"", "headers": {**h, "Content-Type": "application/json"}}),  # no body
        (413, {"content": [b"x" * 600_000] * 2, "headers": {**h, "Content-Type": "application/json"}}),  # streamed
        (422, {"json": [visit], "headers": h}),
        (422, {"json": "visit", "headers": h}),
        (422, {"json": {**visit, "colour": "red"}, "headers": h}),
        (422, {"json": {**visit, "visit_date": "x", "people_received": -1, "deputy_ids": []}, "headers": h}),
        (422, {"json": {k: v for k, v in visit.items() if k != "station_id"}, "headers": h}),
        (422, {"json": {**visit, "station_id": "not-a-uuid"}, "headers": h}),
        (422, {"json": visit, "headers": h, "params": {"page": "2"}}),  # no such query parameter
        (404, {"json": {**visit, "station_id": NIL}, "headers": h}),
        (404, {"json": {**visit, "deputy_ids": [NIL]}, "headers": h}),
        (422, {"json": {**visit, "visit_date": "2025-04-02", "deputy_ids": [deputy, deputy]}, "headers": h}),
    ]
    for status, kwargs in cases:
        answer = both.same("POST", url, **kwargs)
        assert answer[0] == status, kwargs
        assert status != 413 or answer[1]["rule"].endswith("(1,048,576 bytes)")
    for code in ("43", "999999"):  # a malformed code with a bad body: path and body errors together, in order
        assert both.same("POST", f"/nodes/{code}/visits", json={"visit_date": "x"}, headers=h)[0] in (404, 422)
    paths = [
        (422, f"/nodes/{COUNTY}/visits/not-a-uuid/close", {}),
        (404, f"/nodes/{COUNTY}/visits/{NIL}/close", {}),
        (422, f"/nodes/{COUNTY}/visits/{NIL}/issues/0/resolve", {"outcome": "x"}),
        (422, f"/nodes/{COUNTY}/visits/not-a-uuid/issues/0/resolve", {}),
        (409, f"/nodes/{COUNTY}/stations/{station}/enrolments", {"deputy_id": deputy}),  # enrolled already
        (403, f"/nodes/{COUNTY}/suggestions/{NIL}/evaluation", {"evaluation": "satisfied"}),  # only the lead deputy
    ]
    for status, path, body in paths:
        assert both.same("POST", path, json=body, headers=h)[0] == status, path


def test_reads_and_a_recorded_command_are_answered_alike(both: Both) -> None:
    h = both.h(COUNTY, "viewer")
    for path, params, status in (
        ("/views/rollup", {}, 200),
        ("/views/duty-ranking", {"limit": 3}, 200),
        ("/views/stations", {"region": TOWNSHIP}, 200),
        ("/views/suggestions", {"offset": 0, "limit": 5}, 200),
        ("/views/suggestions", {"limit": 0}, 422),
        ("/views/livelihood", {"year": 1999}, 422),
        ("/views/regions", {"region": "430103"}, 403),  # outside the subtree
        ("/views/regions", {"colour": "red"}, 422),
    ):
        assert both.same("GET", f"/nodes/{COUNTY}{path}", params=params, headers=h)[0] == status, (path, params)
    # A command that records: the same answer but for its new id (each handler records a visit of its own).
    station, deputy = _station_with_deputy(both)
    answers = []
    for day, general in (("2025-05-01", False), ("2025-05-02", True)):
        body = {"station_id": station, "visit_date": day, "deputy_ids": [deputy], "people_received": 1}
        if general:
            both.client.app.dependency_overrides[_unused] = _unused  # type: ignore[attr-defined]
        try:
            status, answer = both.send("POST", f"/nodes/{COUNTY}/visits", json=body, headers=both.h(COUNTY, "recorder"))
        finally:
            both.client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
        assert status == 201
        answers.append({k: v for k, v in answer.items() if k != "id"})
    assert answers[0] == answers[1]


def _sync_dependency() -> int:
    return 1


_fallbacks = APIRouter(route_class=direct_module.DirectRoute)


@_fallbacks.get("/sync")
async def _with_sync(n: Annotated[int, Depends(_sync_dependency)]) -> Response:
    return Response(str(n))


@_fallbacks.get("/list")
async def _with_list(tag: Annotated[list[str], Query()] = []) -> Response:  # noqa: B006 - FastAPI's idiom
    return Response(",".join(tag))


@_fallbacks.get("/sequence")
async def _with_sequence(tag: Annotated[Sequence[str], Query()] = ()) -> Response:
    return Response(",".join(tag))


@_fallbacks.get("/model")
async def _with_model() -> dict[str, int]:
    return {"n": 1}


@_fallbacks.get("/plain")
async def _plain(n: int = 2) -> Response:
    return Response(str(n))


def test_routes_outside_the_subset_keep_fastapis_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallbacks: a sync dependency, list and sequence parameters and an endpoint whose answer FastAPI serialises are served
    by FastAPI's handler, and answered as FastAPI answers them; a plain route is compiled."""
    app = FastAPI()
    app.include_router(_fallbacks)
    both = Both(TestClient(app), {}, monkeypatch)
    with both.client as client:
        assert client.get("/sync").text == "1"
        assert client.get("/list", params={"tag": ["a", "b"]}).text == "a,b"
        assert client.get("/sequence", params={"tag": ["a", "b"]}).text == "a,b"
        assert client.get("/model").json() == {"n": 1}
        assert both.direct_solves == 0
        assert client.get("/plain", params={"n": 3}).text == "3" and both.direct_solves == 1
        assert client.get("/plain", params={"n": "x"}).status_code == 422
