"""``yipanqi bench dashboard``: the 一盘棋 dashboard rendered in headless Chromium, against the same page drawn from
the same answers served by a bare FastAPI app.

Our path: a running gateway with its view-answer cache off (``YIPANQI_VIEW_CACHE=0``), so each load computes the
rollup and the subtree's sync health from the projection; each run is a fresh browser profile (nothing cached by
the browser either), timed from navigation to the page's first load drawn (every chart set, two animation frames).
The ceiling: a bare FastAPI app (uvicorn, one worker, like the gateway) serving the same static files and, at the
same addresses, the answer bytes our gateway gave in the first run, read from memory: the browser fetches, parses
and draws the same bytes. ``ratio`` = ceiling median / ours median (1.0: the queries cost nothing).

Set-up when no node is given: the gateway benchmark's slice of Hunan (simulated, replicated up as the ingest does).
``--node`` with the usual store settings (``YIPANQI_*``) measures an existing node instead, e.g. the province left
by ``YIPANQI_BENCH_KEEP=1 yipanqi bench province``; ``bench province`` runs this on its province at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 1900}
LOADED = (
    "() => window.yipanqiDashboard && (window.yipanqiDashboard.state.loads >= 1 || window.yipanqiDashboard.state.errors >= 1)"
)
TWO_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(null))))"


class NoBrowser(RuntimeError):
    """Headless Chromium is not installed here and cannot be (installing it needs root)."""


def chromium_executable() -> str:
    """Debian's chromium with CJK fonts (``deploy/chromium.sh`` installs what is missing when run as root);
    raises ``NoBrowser`` saying what is missing otherwise."""
    result = subprocess.run(["bash", str(ROOT / "deploy" / "chromium.sh")], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise NoBrowser(f"no chromium: {result.stderr.strip()[-500:]}")
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def browser_page(profile: Path, executable: str) -> Iterator[Any]:
    """A page of headless Chromium in a fresh persistent profile (nothing cached), page errors kept in ``.errors``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=executable,
            headless=True,
            args=LAUNCH_ARGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            locale="zh-CN",
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.errors = errors  # type: ignore[attr-defined]
            yield page
        finally:
            context.close()


def render_once(url: str, executable: str, tmp: Path, answers: dict[str, bytes] | None = None) -> float:
    """Milliseconds from navigation to the dashboard's first load drawn, in a fresh profile. ``answers`` (when given)
    collects the body of every data request by its path and query, for the bare server to serve."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=tmp))
    try:
        with browser_page(profile, executable) as page:
            responses: list[Any] = []
            if answers is not None:
                page.on("response", lambda r: responses.append(r) if "/nodes/" in r.url and "/dashboard" not in r.url else None)
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_function(LOADED, timeout=120_000, polling="raf")
            page.evaluate(TWO_FRAMES)
            elapsed = (time.perf_counter() - started) * 1000
            state = page.evaluate("window.yipanqiDashboard.state")
            if state["errors"] or page.errors:  # type: ignore[attr-defined]
                raise RuntimeError(f"the dashboard failed to load: {page.locator('#status').inner_text()} {page.errors}")  # type: ignore[attr-defined]
            for r in responses:
                path = r.url.split("://", 1)[1].split("/", 1)[1]
                answers[f"/{path}"] = r.body()  # type: ignore[index]
        return elapsed
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def measure(gateway_url: str, code: str, token: str, *, runs: int, tmp: Path, log: Callable[..., Any] = print) -> dict[str, Any]:
    """Our gateway's dashboard against the bare server's, ``runs`` renders each, alternating (noise falls on both)."""
    executable = chromium_executable()
    page = f"/nodes/{code}/dashboard#token={token}"
    answers: dict[str, bytes] = {}
    render_once(gateway_url + page, executable, tmp, answers)  # warms the OS's page cache and the browser binary
    spec = tmp / "bare-answers.json"
    spec.write_text(json.dumps({"answers": {k: v.decode() for k, v in answers.items()}}, ensure_ascii=False))
    ours: list[float] = []
    bare: list[float] = []
    with _bare_server(spec, tmp) as bare_url:
        render_once(bare_url + page, executable, tmp)
        for i in range(runs):
            ours.append(render_once(gateway_url + page, executable, tmp))
            bare.append(render_once(bare_url + page, executable, tmp))
            log(f"  render {i + 1}/{runs}: ours {ours[-1]:.0f} ms, bare {bare[-1]:.0f} ms")
    return {
        "node": code,
        "runs": runs,
        "render_ms": _stats(ours),
        "bare_render_ms": _stats(bare),
        "ratio": round(statistics.median(bare) / statistics.median(ours), 3),
        "answers_bytes": sum(len(v) for v in answers.values()),
        "bare_moves": "the same page, static files and answer bytes (rollup and sync status) from memory, uvicorn",
        "browser": "headless Chromium (Debian), fresh profile per run, viewport 1440x1900",
    }


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median": round(statistics.median(ordered), 1), "min": round(ordered[0], 1), "max": round(ordered[-1], 1)}


@contextmanager
def _bare_server(spec: Path, tmp: Path) -> Iterator[str]:
    from gateways.api.devtools import free_port

    port = free_port()
    log = tmp / "bare-dashboard.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "gateways.bench.dashboard", "serve", str(spec), str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_up(url, popen, log)
        yield url
    finally:
        popen.terminate()
        popen.wait(10)


def _wait_up(url: str, popen: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"bare dashboard server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/static/dashboard.js", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"bare dashboard server not up: {log.read_text(errors='replace')[-2000:]}")


def bare_app(answers: dict[str, str]) -> Any:
    """The ceiling's server: the dashboard's page and static files, and the recorded answers at their addresses."""
    from gateways.api.app import STATIC

    page = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    bodies = {k: v.encode() for k, v in answers.items()}
    app = FastAPI()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/nodes/{code}/dashboard")
    def dashboard(code: str) -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/nodes/{rest:path}")
    def answer(rest: str, request: Request) -> Response:
        key = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        body = bodies.get(key)
        return Response(body, media_type="application/json") if body is not None else Response(status_code=404)

    return app


def _serve(spec: str, port: str) -> None:
    import uvicorn

    answers = json.loads(Path(spec).read_text())["answers"]
    uvicorn.run(bare_app(answers), host="127.0.0.1", port=int(port), log_level="warning", workers=1)


def run_dashboard_benchmark(
    *, node: str | None = None, runs: int = 5, days: int = 60, log: Callable[..., Any] = print
) -> dict[str, Any]:
    """On ``node``'s existing stores (settings from the environment), or on a simulated slice of Hunan."""
    from domain.hierarchy import Hierarchy
    from domain.store import StoreSettings

    tmp = Path(tempfile.mkdtemp(prefix="yipanqi-bench-dashboard-"))
    try:
        hierarchy = Hierarchy.load()
        if node is None:
            from gateways.bench.gateway import PROVINCE, simulated_slice

            settings = StoreSettings(store="sqlite", data_dir=tmp / "var")
            node = PROVINCE
            simulated_slice(settings, hierarchy, days=days, log=log)
        else:
            settings = StoreSettings()
        return {"benchmark": "dashboard", **measure_node(settings, hierarchy, node, runs=runs, tmp=tmp, log=log)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure_node(
    settings: Any, hierarchy: Any, node: str, *, runs: int, tmp: Path, log: Callable[..., Any] = print
) -> dict[str, Any]:
    """``node``'s dashboard served by ``yipanqi serve`` (answer cache off) on ``settings``' stores, against bare."""
    from gateways.api.devtools import GatewayProcess, issue_tokens, store_env

    token = issue_tokens(settings, [node], ["viewer"], hierarchy)[(node, "viewer")]
    env = store_env(settings, {"YIPANQI_VIEW_CACHE": "0"})
    log(f"启动网关 starting `yipanqi serve --node {node}` with its answer cache off…")
    with GatewayProcess([node], env, tmp / "gateway.log") as gateway:
        gateway.wait_ready(120)
        gateway.wait_projected(node, token, timeout=3600)
        log(f"渲染 rendering the dashboard {runs} times each, ours and bare…")
        return measure(gateway.url, node, token, runs=runs, tmp=tmp, log=log)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        _serve(sys.argv[2], sys.argv[3])
    else:
        print("usage: python -m gateways.bench.dashboard serve ANSWERS.json PORT", file=sys.stderr)
        sys.exit(2)
