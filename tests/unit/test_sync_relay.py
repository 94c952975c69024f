"""The relay's retry rule, on an in-memory log and a producer that fails when told to (pure logic, no broker)."""

from __future__ import annotations

import uuid
from typing import Any

from kafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from domain.persistence import LogRow, StreamPosition
from sync.envelope import HEADER, Frame
from sync.relay import Relay
from sync.settings import SyncSettings
from tests.sync_helpers import FailedAck, RecordingProducer


class MemoryLog:
    """A node's log that nobody writes to while the test runs: its data version never changes."""

    def __init__(self, count: int) -> None:
        rows = range(1, count + 1)
        self.rows: list[LogRow] = [(i, uuid.uuid4().bytes, 1, "domain.x:X.Happened", b'{"n":%d}' % i, None) for i in rows]

    def select_rows(self, start: int, limit: int) -> list[LogRow]:
        return [r for r in self.rows if r[0] >= start][:limit]

    def max_notification_id(self) -> int | None:
        return self.rows[-1][0] if self.rows else None

    def data_version(self) -> int:
        return 7


class Books:
    def __init__(self) -> None:
        self.saved: dict[str, StreamPosition] = {}

    def positions(self) -> dict[str, StreamPosition]:
        return dict(self.saved)

    def save_position(self, position: StreamPosition) -> None:
        self.saved[position.stream] = position


class FlakyProducer(RecordingProducer):
    """Fails the sends of its first ``failures`` rounds: raised by ``send`` or by the acknowledgement."""

    def __init__(self, failures: list[Exception | None]) -> None:
        super().__init__()
        self.failures = failures

    def send(self, topic: str, value: bytes | None = None, headers: Any = None, partition: int | None = None, **kw: Any) -> Any:
        error = self.failures[0] if self.failures else None
        if isinstance(error, KafkaTimeoutError):
            self.failures.pop(0)  # the round ends here
            raise error
        if error is not None:
            return FailedAck(error)
        return super().send(topic, value, headers, partition, **kw)

    def flush(self, timeout: float | None = None) -> None:
        if self.failures:
            self.failures.pop(0)


def relay(log: MemoryLog, books: Books, producer: Any) -> Relay:
    return Relay(
        origin=uuid.uuid4(),
        source=log,
        books=books,  # type: ignore[arg-type]
        producer=producer,
        topic="t.up.x",
        beat_topic="t.beat.x",
        stream="up",
        settings=SyncSettings(relay_batch=50, frame_events=10),
    )


def test_a_failed_publish_is_tried_again_though_the_log_did_not_change() -> None:
    """The broker refused the page (it lost its data: not the leader, or no metadata at all); nobody records anything
    afterwards. The relay must publish the page at its next check anyway, from the position it had before."""
    for error in (NotLeaderForPartitionError(), KafkaTimeoutError()):
        log, books = MemoryLog(23), Books()
        producer = FlakyProducer([error])
        r = relay(log, books, producer)
        assert r.run_once() == 0
        assert "up" not in books.saved  # nothing advanced
        assert r.run_once() == 23, f"not tried again after {error!r}"
        frames = [Frame.decode(dict(m.headers)[HEADER]) for m in producer.sent]
        assert [e.position for f in frames for e in f.entries] == list(range(1, 24))
        assert frames[0].prev == 0 and books.saved["up"].position == 23
        assert r.run_once() == 0  # and once published, an unchanged log is not read again
        assert len(producer.sent) == len(frames)
