"""What the gateway adds to every answer, and how it answers HEAD, OPTIONS and other origins (issue 13 §4).

- ``SecureAnswers`` wraps the whole app, outside Starlette's own error middleware, so that every answer (a 404, a
  413, an unexpected failure's 503 too) carries the security headers: a Content-Security-Policy fit for the
  dashboard (scripts and styles from the gateway itself, data fetched from it only, no framing), nosniff, DENY,
  no referrer, and ``Cache-Control: no-store`` on everything but the static files (``no-cache``: a browser keeps
  them and asks whether they changed). A route that sets its own CSP or Cache-Control keeps it (the API docs
  pages: ``docs_routes``). HEAD is answered as GET without the body, on every GET route; a 405 names all the
  methods of its path.
- ``AnswerOptions``: OPTIONS on a path the gateway serves is answered 204 with ``Allow``; a CORS preflight is
  answered by Starlette's ``CORSMiddleware`` before it, when other origins are allowed.
- ``GatewaySettings.cors_origins`` (``YIPANQI_CORS_ORIGINS``): the origins whose pages may call the API from a
  browser, comma-separated; empty (the default): none, only the gateway's own pages.
- ``docs_routes``: Swagger UI (``/docs``) and ReDoc (``/redoc``) from the assets the ``fastapi-offline`` package
  ships, under ``/static/docs``: they load nothing from the internet, so they work on an intranet.

Pure ASGI (no ``BaseHTTPMiddleware``): a few header tuples per answer, nothing else on the busy path.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard: its script, ECharts and its stylesheet come from /static; it fetches the node's views from the same
# gateway. Styles may also be inline: ECharts' tooltips and the dashboard's bars are HTML with style attributes
# (browsers before CSP 3's style-src-attr, still on many office desktops, know no narrower way to allow only those).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The API docs: Swagger UI starts from one inline script (allowed by its hash, per page), ReDoc renders its styles
# inline and searches in a worker it makes from a blob.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
STATIC_PREFIX = "/static/"
DOCS_ASSETS = "/static/docs"

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_DATA = (*_COMMON, (b"content-security-policy", CSP.encode()), (b"cache-control", b"no-store"))
_STATIC = (*_COMMON, (b"content-security-policy", CSP.encode()), (b"cache-control", b"no-cache"))
_PROBED = ("GET", "POST", "PUT", "PATCH", "DELETE")


class GatewaySettings(BaseSettings):
    """The gateway's HTTP settings from the environment (prefix ``YIPANQI_``, or ``yipanqi.env``)."""

    model_config = SettingsConfigDict(env_prefix="YIPANQI_", env_file="yipanqi.env", extra="ignore")

    cors_origins: str = Field(
        default="",
        description="origins allowed to call the API from a browser, comma-separated (https://host[:port]); empty: none",
    )

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        parse_origins(value)
        return value

    def origins(self) -> list[str]:
        return parse_origins(self.cors_origins)


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


def parse_origins(value: str | Iterable[str]) -> list[str]:
    """``https://a.example, http://10.0.0.5:8080`` → the origins (a trailing slash dropped); ``*``: any origin.
    Anything else (a path, no scheme) is refused with the item named."""
    items = value.split(",") if isinstance(value, str) else list(value)
    origins = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        origin = item.rstrip("/")
        if origin != "*" and not _ORIGIN.match(origin):
            raise ValueError(
                f"YIPANQI_CORS_ORIGINS item {item!r}: expected an origin, scheme://host[:port] (http or https, no path), or *"
            )
        origins.append(origin)
    return origins


# ----------------------------------------------------------------------------------------------- methods of a path


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """The methods the app answers on the request's path (HEAD with GET, OPTIONS always); empty: no such path.

    Each method is tried against the routes as Starlette routes a request (FastAPI keeps included routers as
    routes of their own: a route's ``methods`` is not visible from the app's list); a mount (the static files)
    answers GET and HEAD."""
    base = {
        "type": "http",
        "path": scope["path"],
        "root_path": scope.get("root_path", ""),
        "headers": scope.get("headers", []),
        "query_string": b"",
    }
    methods = []
    for method in _PROBED:
        probe = {**base, "method": method}
        for route in routes:
            match, _ = route.matches(probe)
            if match == Match.FULL:
                if isinstance(route, Mount):
                    return ["GET", "HEAD", "OPTIONS"]
                methods.append(method)
                break
    if not methods:
        return []
    if "GET" in methods:
        methods.insert(1, "HEAD")
    return [*methods, "OPTIONS"]


class AnswerOptions:
    """OPTIONS on a path the app serves: 204 with ``Allow`` (a path nobody serves goes on, to its 404)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes, scope)
            if methods:
                allow = ", ".join(methods).encode()
                await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


class SecureAnswers:
    """The security headers on every answer, HEAD as GET without the body, and a complete ``Allow`` on a 405."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:  # a copy: the server keeps its own scope, and so still sends no body for a HEAD
            scope = {**scope, "method": "GET"}
        added = _STATIC if scope["path"].startswith(STATIC_PREFIX) else _DATA

        async def secured(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in added if header[0] not in present)
                if message["status"] == 405:
                    methods = allowed_methods(self.routes, scope)
                    if methods:
                        headers = [h for h in headers if h[0].lower() != b"allow"]
                        headers.append((b"allow", ", ".join(methods).encode()))
                message = {**message, "headers": headers}
            elif head and kind == "http.response.body":
                if message.get("more_body", False):
                    return  # the body of a GET is not sent for a HEAD; its Content-Length is
                message = {"type": kind, "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, secured)


class HardenedFastAPI(FastAPI):
    """FastAPI with ``SecureAnswers`` around its whole stack, Starlette's error middleware included (a failure's
    answer passes through it too)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecureAnswers(super().build_middleware_stack(), self.router.routes)


# --------------------------------------------------------------------------------------------------------- the docs


def docs_assets() -> Path:
    """Swagger UI's and ReDoc's files, as the ``fastapi-offline`` package ships them."""
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    body = bytes(page.body).decode()
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    page.headers["Content-Security-Policy"] = DOCS_CSP.format(scripts=hashes)
    return page


def docs_routes(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from local assets; the app must be made with ``docs_url=None`` and
    ``redoc_url=None``. Mount before ``/static``."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets()), name="docs-assets")

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")
        return f"{root}{app.openapi_url}", f"{root}{DOCS_ASSETS}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        openapi, assets = urls(request)
        parameters: dict[str, Any] = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}  # no online validator
        return _with_csp(
            get_swagger_ui_html(
                openapi_url=openapi,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=f"{assets}/favicon.png",
                swagger_ui_parameters=parameters,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        openapi, assets = urls(request)
        return _with_csp(
            get_redoc_html(
                openapi_url=openapi,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{assets}/redoc.standalone.js",
                redoc_favicon_url=f"{assets}/favicon.png",
                with_google_fonts=False,
            )
        )
