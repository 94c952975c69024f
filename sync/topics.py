"""The topics a set of nodes needs, created up front and waited for: a relay never publishes to a topic the broker
has not finished creating (its send would block on metadata, and with it every other node the process hosts).

Creating thousands of topics takes a loaded broker minutes, and processes hosting neighbouring levels create some of
the same ones at the same time: creation goes in chunks, "already exists" is success, and the host waits until every
topic has a leader, saying how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from uuid import UUID

import structlog
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from sync.settings import SyncSettings, TopicPlan

#: Beats and replicas: only the latest per key matters (a node's beat, a deputy's whole history).
COMPACTED = {"cleanup.policy": "compact", "segment.ms": "600000", "min.cleanable.dirty.ratio": "0.1"}
CHUNK = 200
log = structlog.get_logger()


def node_topics(plan: TopicPlan, nodes: Iterable[UUID]) -> dict[str, dict[str, str]]:
    """Every topic of these nodes, with the configs it is created with."""
    topics: dict[str, dict[str, str]] = {}
    for node in nodes:
        topics[plan.up(node)] = {}
        topics[plan.control(node)] = {}
        topics[plan.beat(node)] = COMPACTED
        topics[plan.down(node)] = COMPACTED
    return topics


def ensure_topics(bootstrap: str, topics: dict[str, dict[str, str]], settings: SyncSettings, *, timeout_s: float = 600) -> int:
    """Create the missing ones (one partition each) and wait until all of them have a leader; returns how many were
    created. Raises ``TimeoutError`` naming what is still missing after ``timeout_s``."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000)
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
        for start in range(0, len(missing), CHUNK):
            _create(admin, missing[start : start + CHUNK], topics, settings.replication)
            log.info("topics.created", done=min(start + CHUNK, len(missing)), of=len(missing))
        _wait(admin, missing, topics, settings.replication, timeout_s)
        return len(missing)
    finally:
        admin.close()


def _create(admin: KafkaAdminClient, names: list[str], topics: dict[str, dict[str, str]], replication: int) -> None:
    if not names:
        return
    new = [NewTopic(name, num_partitions=1, replication_factor=replication, topic_configs=topics[name]) for name in names]
    try:
        response = admin.create_topics(new, timeout_ms=60_000, raise_errors=False)
    except KafkaError as e:  # the request as a whole (a timeout): what was created stays, the wait tells the rest
        log.warning("topics.create_failed", error=repr(e), topics=len(names))
        return
    for topic in response.get("topics", []):
        code = topic.get("error_code", 0)
        if code and code != TopicAlreadyExistsError.errno:
            log.warning("topics.create_refused", topic=topic.get("name"), error_code=code, message=topic.get("error_message"))


def _wait(
    admin: KafkaAdminClient, names: list[str], topics: dict[str, dict[str, str]], replication: int, timeout_s: float
) -> None:
    """Until every one has a leader; a topic the broker still does not list (its creation failed) is created again."""
    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while pending:
        chunk = pending[:CHUNK]
        try:
            admin.wait_for_topics(chunk, timeout_ms=30_000)
            pending = pending[CHUNK:]
        except KafkaError as e:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} topics still have no leader after {timeout_s:.0f} s, e.g. {chunk[0]}") from e
            log.info("topics.waiting", pending=len(pending))
            _create(admin, sorted(set(chunk) - set(admin.list_topics())), topics, replication)
