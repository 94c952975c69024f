"""The downward sender under a broker that does not take its replicas: none is lost, none is marked sent unsent.

Real SQLite stores (a county whose log holds its townships' events, as after sync) and a producer that fails when
told to; no broker."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from kafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from domain.store import NodeStore, ReferenceStore, StoreSettings
from sync.downward import DownwardSender
from sync.host import _child_containing, _hierarchy_within
from sync.settings import SyncSettings
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHONGHU, FailedAck, RecordingProducer, ref, write_activity

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


class BrokerGone(RecordingProducer):
    """Takes nothing while ``failing``: every acknowledgement fails, or the send itself raises."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error: Exception | None = error

    def send(self, topic: str, value: bytes | None = None, headers: Any = None, partition: int | None = None, **kw: Any) -> Any:
        if isinstance(self.error, KafkaTimeoutError):
            raise self.error
        if self.error is not None:
            return FailedAck(self.error)
        return super().send(topic, value, headers, partition, **kw)


def county_after_sync(tmp_path: Path) -> tuple[NodeStore, ReferenceStore, StoreSettings]:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    write_activity(settings, CODES, days=20, seed=9, scale=1.0)
    county = NodeStore(ref(WULINGYUAN), settings)
    for code in (XIEHE, ZHONGHU):  # what sync's ingest does: the child's log, verbatim, into the county's
        child = NodeStore(ref(code), settings)
        county.recorder.insert_rows(  # type: ignore[attr-defined]
            [(n.originator_id, n.originator_version, n.topic, n.state) for n in child.iter_notifications()]
        )
        child.close()
    return county, ReferenceStore(ref(WULINGYUAN), settings), settings


def sender(county: NodeStore, reference: ReferenceStore, producer: Any) -> DownwardSender:
    children = tuple(ref(c).node_id for c in (XIEHE, ZHONGHU))
    return DownwardSender(
        store=county,
        reference=reference,
        child_of=functools.cache(functools.partial(_child_containing, _hierarchy_within(), children)),
        children=children,
        producer=producer,
        topic_for=lambda child: f"t.down.{child}",
        settings=SyncSettings(),
    )


def drain(down: DownwardSender) -> int:
    sent = 0
    while True:
        sent += down.run_once()
        if not down.dirty:
            return sent


def test_replicas_the_broker_did_not_take_go_again_and_are_not_marked_sent(tmp_path: Path) -> None:
    county, reference, _ = county_after_sync(tmp_path)
    try:
        healthy = RecordingProducer()
        expected = drain(sender(county, reference, healthy))
        assert expected > 10  # the townships need some of the county's deputies
        county.recorder.drop_state("sent", "")  # type: ignore[attr-defined]

        for error in (NotLeaderForPartitionError(), KafkaTimeoutError()):
            producer = BrokerGone(error)
            down = sender(county, reference, producer)
            assert drain(down) == 0  # the broker took nothing: nothing counts as sent…
            assert not county.recorder.state("sent")  # type: ignore[attr-defined]
            producer.error = None  # …and once it is back, the next check sends every replica
            assert down.run_once() == expected, f"not sent again after {error!r}"
            assert len(producer.sent) == expected
            assert down.run_once() == 0  # and then nothing twice
            county.recorder.drop_state("sent", "")  # type: ignore[attr-defined]
    finally:
        county.close()
        reference.close()
