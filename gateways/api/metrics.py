"""The gateway's metrics (``prometheus-client``, served at ``/metrics``) and readiness (``/readyz``).

- ``yipanqi_http_request_duration_seconds{method, route, status}``: every answer's latency, by route template
  (commands are the POST routes): a histogram, so rates, counts and percentiles come from one series;
- ``yipanqi_token_refusals_total{status}``: requests refused for their token (401: none or not valid; 403: valid,
  but not for this node or act);
- ``yipanqi_projection_lag_events{node}``: events each hosted node's log holds beyond what its views have projected.

Each app has its own registry (tests make many apps in one process; a process serves one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateways.ops import Check

if TYPE_CHECKING:
    from gateways.api.context import Gateway, HostedNode

#: Latency buckets (seconds): a command takes a few milliseconds, an uncached province view up to a second or two.
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def ready_lag() -> int:
    """The projection lag (events) beyond which the gateway is not ready (``YIPANQI_READY_LAG``, default 10,000: a
    minute or so of a county's sync catching up; a view that far behind answers with stale numbers)."""
    return int(os.environ.get("YIPANQI_READY_LAG", "10000"))


class GatewayMetrics:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "yipanqi_http_request_duration_seconds",
            "应答耗时 (命令即 POST) seconds to answer, by route template (commands: POST)",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "yipanqi_token_refusals", "令牌被拒 requests refused for their token (401, 403)", ["status"], registry=self.registry
        )
        self.registry.register(_ProjectionLag(gateway))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)
        if status in (401, 403):
            self.refusals.labels(str(status)).inc()

    def checks(self) -> list[Check]:
        """``/readyz``: every hosted store answers, and every projection is within ``ready_lag`` of its log."""
        limit = ready_lag()
        return [check for hosted in list(self.gateway.nodes.values()) for check in _node_checks(hosted, limit)]


def _node_checks(hosted: HostedNode, limit: int) -> list[Check]:
    """A node's store and projection checks, from one reading of its log's position."""
    code = hosted.ref.code
    try:
        head = hosted.store.max_position()
    except Exception as e:  # noqa: BLE001 - any failure is the answer: not ready, and why
        found = f"{type(e).__name__}: {e}"
        return [Check(f"store {code}", False, found), Check(f"projection {code}", False, found)]
    lag = _lag(hosted, head)
    return [
        Check(f"store {code}", True, f"position {head}"),
        Check(f"projection {code}", lag <= limit, f"{lag} events behind its log (ready within {limit})"),
    ]


def _lag(hosted: HostedNode, head: int) -> int:
    """Events of the node's log its views have not projected (by the keeper's last reading of their position)."""
    return head - (hosted.views.known_position or 0)


class _ProjectionLag(Collector):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "yipanqi_projection_lag_events", "日志中尚未投影到视图的事件 events the views have not projected yet", labels=["node"]
        )
        for hosted in list(self.gateway.nodes.values()):
            try:
                family.add_metric([hosted.ref.code], _lag(hosted, hosted.store.max_position()))
            except Exception:  # noqa: BLE001, S112 - a store that does not answer has no lag to give: /readyz says why
                continue
        yield family


class MetricsMiddleware:
    """Times every HTTP answer (pure ASGI: no body buffering), labelled by the template of the route that answered
    (``unmatched``: none did)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's, complete by the first request
        self._paths: dict[Any, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["method"], self._template(scope), status, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(route.path)
        # Routes FastAPI matches itself (its /openapi.json, a mount) leave only the endpoint they matched.
        if self._paths is None:
            self._paths = {_endpoint(r): str(getattr(r, "path", "")) for r in self.routes if _endpoint(r) is not None}
        return self._paths.get(scope.get("endpoint"), "unmatched")


def _endpoint(route: BaseRoute) -> Any:
    return getattr(route, "endpoint", None) or getattr(route, "app", None)
