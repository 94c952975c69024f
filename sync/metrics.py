"""Prometheus metrics of a sync process, read from its host at each scrape (``prometheus-client``).

Nothing is counted twice or kept aside: the streams' lag and state are the ingests' own (``SyncHost.statuses``), the
events in and out are the host's counters. Nodes are labelled by their division code (``node`` hosts, ``child``
publishes). A scrape runs on the metrics server's thread and only reads.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from uuid import UUID

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sync.health import STATES
from sync.host import SyncHost


class SyncCollector(Collector):
    """The metrics of one ``SyncHost``; ``code`` names a node by its division code."""

    def __init__(self, host: SyncHost, code: Callable[[UUID], str]) -> None:
        self.host, self.code = host, code

    def collect(self) -> Iterator[Metric]:
        host, code = self.host, self.code
        lag_events = GaugeMetricFamily(
            "yipanqi_sync_stream_lag_events",
            "子节点已发布而本节点未收的事件 events the child published that the node lacks",
            labels=["node", "child"],
        )
        lag_s = GaugeMetricFamily(
            "yipanqi_sync_stream_lag_seconds",
            "最早未收事件等待的秒数 seconds since the stream last applied while behind",
            labels=["node", "child"],
        )
        state = GaugeMetricFamily(
            "yipanqi_sync_stream_state", "每条流的状态 (值为 1) each stream's state (value 1)", labels=["node", "child", "state"]
        )
        per_state: Counter[str] = Counter({s: 0 for s in STATES})
        for node, rows in host.statuses().items():
            label = code(UUID(node))
            for s in rows:
                child = code(UUID(s["origin"]))
                lag_events.add_metric([label, child], s["lag_events"])
                lag_s.add_metric([label, child], s["lag_s"])
                state.add_metric([label, child, s["state"]], 1)
                per_state[s["state"]] += 1
        streams = GaugeMetricFamily(
            "yipanqi_sync_streams",
            "按状态计的流数 (parked 搁置, gap 即 halted 中止, diverged 分叉) streams per state (gap: halted)",
            labels=["state"],
        )
        for name, count in sorted(per_state.items()):
            streams.add_metric([name], count)
        yield from (lag_events, lag_s, state, streams)
        yield _counter("yipanqi_sync_events_out", "向上发布的事件 events published up", host.events_out, code)
        yield _counter("yipanqi_sync_events_in", "从下级收入的事件 events taken in from children", host.events_in, code)
        yield GaugeMetricFamily("yipanqi_sync_hosted_nodes", "本进程承载的节点 nodes hosted", value=len(host.stores))
        yield GaugeMetricFamily(
            "yipanqi_sync_failed_nodes", "存储损坏而停同步的节点 nodes left out (damaged store)", value=len(host.failures)
        )
        yield GaugeMetricFamily(
            "yipanqi_sync_last_round_age_seconds",
            "主循环上一轮至今的秒数 seconds since the main loop last turned",
            value=round(time.monotonic() - host.last_round, 3),
        )


def _counter(name: str, documentation: str, counts: Counter[UUID], code: Callable[[UUID], str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=["node"])
    for node, count in list(counts.items()):
        family.add_metric([code(node)], count)
    return family


def sync_registry(host: SyncHost, code: Callable[[UUID], str]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncCollector(host, code))
    return registry
