"""Hardening of what the gateway serves (issue 13 §4), in process over SQLite stores:

- the files beside a node's log (tokens, views, recorded failures) are its owner's only: 0600 in folders of 0700;
- Swagger UI and ReDoc load only from the gateway (no CDN, no internet);
- every answer carries the security headers, and data is never cached;
- HEAD answers as GET without the body, OPTIONS with 204 and ``Allow``; a 405 names every method of its path;
- CORS is off unless ``YIPANQI_CORS_ORIGINS`` names origins;
- the dashboard keeps its token for the session only, and runs under its CSP (in headless Chromium, when there is one).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.files import private_dir, private_file, private_sqlite
from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from gateways.api import create_app
from gateways.api.devtools import free_port, issue_tokens, seed
from gateways.api.security import GatewaySettings, parse_origins
from gateways.api.storage import gateway_db
from projections.db import ProjectionDB
from sync.failures import record_failure

COUNTY, TOWN = "430525", "430525101"  # 洞口县 and 江口镇
STATIC = Path(__file__).resolve().parents[2] / "gateways" / "static"
OFFICE = "https://office.example"
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[tuple[str, str], str], StoreSettings]]:
    data = tmp_path_factory.mktemp("hardening")
    settings = StoreSettings(store="sqlite", data_dir=data / "var")
    hierarchy = Hierarchy.load()
    seed(settings, (COUNTY, TOWN), days=2, seed=5, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, (COUNTY,), ("viewer", "administrator"), hierarchy)
    app = create_app((COUNTY, TOWN), settings=settings, hierarchy=hierarchy, cors_origins=())
    with TestClient(app) as client:
        yield client, tokens, settings
    app.state.gateway.close()


@pytest.fixture(scope="module")
def client(world: tuple[TestClient, dict[tuple[str, str], str], StoreSettings]) -> TestClient:
    return world[0]


def bearer(world: tuple[TestClient, dict[tuple[str, str], str], StoreSettings], role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {world[1][(COUNTY, role)]}"}


# ------------------------------------------------------------------------------------------------------ file modes


def test_private_helpers_make_and_narrow(tmp_path: Path) -> None:
    before = mode(tmp_path)
    made = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", made)] == [0o700] * 3
    assert mode(tmp_path) == before  # an existing parent is left as it was
    f = private_file(made / "x")
    assert mode(f) == 0o600 and f.read_bytes() == b""
    f.write_bytes(b"kept")
    loose = made / "loose"
    loose.write_text("old")
    loose.chmod(0o644)
    made.chmod(0o755)
    private_dir(made)
    private_file(loose)
    private_file(f)
    assert (mode(made), mode(loose), mode(f)) == (0o700, 0o600, 0o600)
    assert f.read_bytes() == b"kept" and loose.read_text() == "old"  # narrowed, not emptied
    db = private_sqlite(tmp_path / "new" / "x.sqlite")
    assert (mode(db.parent), mode(db)) == (0o700, 0o600)


def test_tokens_views_and_failures_are_private(tmp_path: Path) -> None:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.by_code(TOWN))
    tokens = gateway_db(settings, node)
    tokens.issue(role="viewer", subject="tester")
    views = ProjectionDB(node, settings, hierarchy=hierarchy).open()
    try:
        with views.begin() as conn:  # a write: SQLite makes the -wal and -shm files
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x)")
        record_failure(settings, node.node_id, node.code, "n", RuntimeError("probe"))
        nodes = tmp_path / "var" / "nodes"
        assert mode(tmp_path / "var") == 0o700 and mode(nodes) == 0o700
        written = sorted(nodes.glob(f"{node.node_id}.*sqlite*"))
        assert {p.name.split(".", 1)[1] for p in written} >= {"gateway.sqlite", "views.sqlite", "views.sqlite-wal"}
        assert {p.name: oct(mode(p)) for p in written} == {p.name: oct(0o600) for p in written}
        failed = tmp_path / "var" / "failed"
        assert mode(failed) == 0o700 and mode(failed / f"{node.node_id}.json") == 0o600
    finally:
        views.dispose()


def test_an_earlier_versions_loose_views_file_is_narrowed(tmp_path: Path) -> None:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.by_code(COUNTY))
    path = ProjectionDB.sqlite_path(node.node_id, settings)
    path.parent.mkdir(mode=0o755)
    path.touch(mode=0o644)
    path.chmod(0o644)
    views = ProjectionDB(node, settings, hierarchy=hierarchy).open()
    views.dispose()
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)


def test_the_nodes_log_is_private(tmp_path: Path) -> None:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    hierarchy = Hierarchy.load()
    store = NodeStore(hierarchy.ref(hierarchy.by_code(TOWN)), settings)
    try:
        store.books.max_notification_id()
        path = settings.sqlite_path(store.node.node_id)
        assert mode(path.parent) == 0o700
        assert {p.name: oct(mode(p)) for p in path.parent.glob(f"{path.name}*")} == {
            p.name: oct(0o600) for p in path.parent.glob(f"{path.name}*")
        }
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------------------- docs


def _assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_nothing_from_elsewhere(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "cdn" not in page.lower() and "http://" not in page and "https://" not in page
    assets = _assets(page)
    assert assets and all(a.startswith("/static/docs/") for a in assets), assets
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000, asset
        assert got.headers["cache-control"] == "no-cache"  # kept by the browser, revalidated
    assert "openapi.json" in page and client.get("/openapi.json").status_code == 200


def test_docs_csp_allows_only_its_own_inline_script(client: TestClient) -> None:
    page = client.get("/docs")
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    csp = page.headers["content-security-policy"]
    assert f"'sha256-{digest}'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in csp
    redoc = client.get("/redoc").headers["content-security-policy"]
    assert "script-src 'self';" in redoc and "worker-src 'self' blob:" in redoc


# ----------------------------------------------------------------------------------------------- security headers


COMMON = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def _secure(r: Any, cache: str = "no-store") -> None:
    for name, value in COMMON.items():
        assert r.headers.get(name) == value, (r.request.url, name, r.headers)
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    assert r.headers.get("cache-control") == cache, (r.request.url, r.headers)


def test_every_answer_carries_the_security_headers(
    world: tuple[TestClient, dict[tuple[str, str], str], StoreSettings], client: TestClient
) -> None:
    answers = [
        client.get("/healthz"),
        client.get(f"/nodes/{COUNTY}/views/rollup", headers=bearer(world)),
        client.get(f"/nodes/{COUNTY}/sync/status"),  # 401
        client.get(f"/nodes/{COUNTY}/tokens", headers=bearer(world)),  # 403 for a viewer
        client.get("/no/such/route"),  # 404
        client.post(
            f"/nodes/{COUNTY}/stations", content=b"{", headers={**bearer(world), "Content-Type": "application/json"}
        ),  # 400
        client.put(f"/nodes/{COUNTY}/tokens"),  # 405
        client.get("/openapi.json"),
        client.get(f"/nodes/{COUNTY}/dashboard"),
        client.options("/healthz"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 403, 404, 400, 405, 200, 200, 204]
    for r in answers:
        _secure(r)
    _secure(client.get("/static/dashboard.js"), cache="no-cache")
    _secure(client.get("/static/vendor/echarts.min.js"), cache="no-cache")


def test_an_unexpected_failure_is_answered_with_the_headers_too(tmp_path: Path) -> None:
    hierarchy = Hierarchy.load()
    app = create_app((TOWN,), settings=StoreSettings(store="sqlite", data_dir=tmp_path), hierarchy=hierarchy, cors_origins=())

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("boom")

    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/boom")
        assert r.status_code == 503 and r.json()["error"] == "unavailable"
        _secure(r)
    finally:
        app.state.gateway.close()


def test_dashboard_csp_fits_the_page() -> None:
    """What the dashboard's CSP forbids, the page does not do: no inline script or handler, nothing from elsewhere."""
    html = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
    assert all(a.startswith(("/static/", "data:")) for a in _assets(html)), _assets(html)
    js = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    assert "http://" not in js and "https://" not in js and "eval(" not in js and "new Function" not in js


# ------------------------------------------------------------------------------------------------ HEAD and OPTIONS


def test_head_answers_as_get_without_a_body(
    world: tuple[TestClient, dict[tuple[str, str], str], StoreSettings], client: TestClient
) -> None:
    for path, headers in (
        ("/healthz", {}),
        (f"/nodes/{COUNTY}/views/rollup", bearer(world)),
        (f"/nodes/{COUNTY}/dashboard", {}),
        ("/static/dashboard.js", {}),
        ("/docs", {}),
        ("/openapi.json", {}),
    ):
        got, head = client.get(path, headers=headers), client.head(path, headers=headers)
        assert got.status_code == head.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == str(len(got.content)), path
    assert client.head(f"/nodes/{COUNTY}/views/rollup").status_code == 401  # the same checks as GET
    assert client.head("/no/such/route").status_code == 404


def test_options_and_405_name_the_paths_methods(client: TestClient) -> None:
    r = client.options("/healthz")
    assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS" and r.content == b""
    assert client.options(f"/nodes/{COUNTY}/tokens").headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert client.options(f"/nodes/{COUNTY}/stations").headers["allow"] == "POST, OPTIONS"
    assert client.options("/static/dashboard.js").headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.options("/no/such/route").status_code == 404
    r = client.delete(f"/nodes/{COUNTY}/tokens")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    r = client.head(f"/nodes/{COUNTY}/stations")
    assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"


# ---------------------------------------------------------------------------------------------------------- CORS


def test_cors_is_off_by_default(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YIPANQI_CORS_ORIGINS", raising=False)
    assert GatewaySettings(_env_file=None).origins() == []  # type: ignore[call-arg]
    preflight = {"Origin": OFFICE, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    r = client.options("/healthz", headers=preflight)
    assert r.status_code == 204 and not any(h.startswith("access-control-") for h in r.headers)
    r = client.get("/healthz", headers={"Origin": OFFICE})
    assert not any(h.startswith("access-control-") for h in r.headers)


def test_cors_origins_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIPANQI_CORS_ORIGINS", f" {OFFICE}/ , http://10.0.0.5:8080")
    hierarchy = Hierarchy.load()
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    seed(settings, (TOWN,), days=1, seed=2, scale=0.05, hierarchy=hierarchy)
    tokens = issue_tokens(settings, (TOWN,), ("viewer",), hierarchy)
    app = create_app((TOWN,), settings=settings, hierarchy=hierarchy)
    try:
        with TestClient(app) as c:
            preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
            r = c.options(f"/nodes/{TOWN}/views/rollup", headers={"Origin": OFFICE, **preflight})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == OFFICE
            assert "authorization" in r.headers["access-control-allow-headers"].lower()
            assert "access-control-allow-credentials" not in r.headers  # bearer tokens, no cookies
            _secure(r)
            r = c.options(f"/nodes/{TOWN}/views/rollup", headers={"Origin": "https://elsewhere.example", **preflight})
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
            r = c.get(
                f"/nodes/{TOWN}/views/rollup",
                headers={"Origin": "http://10.0.0.5:8080", "Authorization": f"Bearer {tokens[(TOWN, 'viewer')]}"},
            )
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://10.0.0.5:8080"
            r = c.get("/healthz", headers={"Origin": "https://elsewhere.example"})
            assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
            assert c.options("/healthz").status_code == 204  # not a preflight: answered as without CORS
    finally:
        app.state.gateway.close()


@pytest.mark.parametrize("bad", ["office.example", "https://office.example/api", "ftp://x", "https://a b"])
def test_a_malformed_origin_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="YIPANQI_CORS_ORIGINS"):
        parse_origins(bad)
    with pytest.raises(ValueError, match="YIPANQI_CORS_ORIGINS"):
        GatewaySettings(cors_origins=bad)
    assert parse_origins("") == [] and parse_origins("*") == ["*"]


# ------------------------------------------------------------------------------------------------ the dashboard


def test_the_dashboard_keeps_its_token_for_the_session_only() -> None:
    js = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    assert "localStorage.setItem" not in js and "localStorage.getItem" not in js
    assert "sessionStorage.setItem(tokenKey" in js and "localStorage.removeItem" in js


class _Served:
    """The app under uvicorn in a thread, on a loopback port (for the browser)."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_pages_run_under_their_csp_in_a_browser(tmp_path: Path) -> None:
    """Swagger UI, ReDoc and the dashboard in headless Chromium: they render, nothing is blocked by the CSP, nothing
    is fetched from elsewhere, and the dashboard's token is in sessionStorage, not localStorage."""
    pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no chromium (deploy/chromium.sh installs it)")
    from gateways.bench.dashboard import browser_page

    hierarchy = Hierarchy.load()
    settings = StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    seed(settings, (COUNTY, TOWN), days=3, seed=7, scale=0.05, hierarchy=hierarchy)
    token = issue_tokens(settings, (COUNTY,), ("viewer",), hierarchy)[(COUNTY, "viewer")]
    app = create_app((COUNTY, TOWN), settings=settings, hierarchy=hierarchy, cors_origins=())
    try:
        with _Served(app) as url, browser_page(tmp_path / "profile", executable) as page:
            problems: list[str] = []
            answered: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: answered.append(r.url))
            page.goto(f"{url}/docs")
            page.wait_for_selector(".swagger-ui .opblock", timeout=60_000)
            page.goto(f"{url}/redoc")
            page.wait_for_selector("[role=search], .menu-content", timeout=60_000)
            page.goto(f"{url}/nodes/{COUNTY}/dashboard#token={token}")
            page.wait_for_function("() => window.yipanqiDashboard && window.yipanqiDashboard.state.loads >= 1", timeout=60_000)
            stored = page.evaluate("(k) => [sessionStorage.getItem(k), localStorage.getItem(k)]", f"yipanqi.token.{COUNTY}")
            assert stored == [token, None]
            assert page.evaluate("window.yipanqiDashboard.state.errors") == 0
            # ReDoc's sidebar shows Redocly's logo from its CDN, and hides it when it cannot load: the CSP stops it
            blocked = [p for p in problems if ("Content Security Policy" in p or "Refused" in p) and REDOCLY_LOGO not in p]
            assert not blocked, blocked
            assert not page.errors, page.errors  # type: ignore[attr-defined]
            assert all(u.startswith((url, "data:", "blob:")) for u in answered), [u for u in answered if not u.startswith(url)]
    finally:
        app.state.gateway.close()
