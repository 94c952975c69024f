"""The envelope that travels with each frame of stored events through Kafka, and the hash chain that links a stream.

A frame is one Kafka message carrying up to ``frame_events`` consecutive events of a relay's page: its value is the
events' stored bytes concatenated, each unchanged; its envelope goes in one binary header. The envelope names the
stream's origin node, the position published just before the frame's first event (``prev``: a receiver sees any
gap, even where the log's ids have holes), the origin log's head, the hash-chain link after the frame's last event
(the receiver recomputes the chain event by event and compares), and per event its position in the origin's log,
aggregate id, version, topic, length and the node whose own chain it is in (``domain.persistence.chain``: the
receiver numbers and links it on in that chain from the bytes it stores). A heartbeat frame (no events: "I have
published up to ``prev``") is still read where older relays left one; relays now say where they stand in a ``Beat``
on their own compacted beat topic, so the retained log holds events only.

Kafka's per-message cost (kafka-python's per-record Python work, paid at every hop) is what framing saves: see
``sync/TUNING.md``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple
from uuid import UUID

from domain.persistence import StreamPosition, SyncRecorder

HEADER = "yq"
GENESIS_LINK = "0" * 64
#: The envelope's first byte names its format. Format 1 (one event per message) had its kind (1 or 2) there and no
#: format byte, so frames started at 3; format 4 adds each event's chain. An older message is recognised, and parked
#: with a reason that says so.
FORMAT = 4
_FORMAT_1 = (1, 2)
_FORMAT_3 = 3
# format, kind, origin, prev, head, link after the last event, topics, chains, events
_FRAME = struct.Struct(">BB16sqq32sHHH")
_TOPIC = struct.Struct(">H")  # length of one distinct topic's UTF-8 name, followed by the name
_CHAIN = struct.Struct(">16s")  # one distinct chain's origin node
_ENTRY = struct.Struct(">q16sqIHH")  # position, originator id, version, length of its bytes, index into topics, chains
_UNCHAINED = 0xFFFF  # the chain index of an event stored before chaining began
_STEP = struct.Struct(">q16sq")  # what the chain commits to besides the topic and the bytes


class EnvelopeError(ValueError):
    """The header is missing or cannot be decoded, or disagrees with the value: the message is poison."""


class Kind(IntEnum):
    EVENTS = 1
    HEARTBEAT = 2  # "I have published up to ``prev``": lets an idle stream's receiver see what it is missing


class Entry(NamedTuple):
    """One event of a frame (a NamedTuple: one is made per event on the hot path, and it unpacks cheaply)."""

    position: int
    originator_id: bytes  # the aggregate id's 16 bytes, as on the wire and in the chain (no UUID object per event)
    originator_version: int
    topic: str
    length: int
    chain: bytes | None  # the node whose own chain the event is in (its id's 16 bytes); None: stored before chaining


@dataclass(frozen=True)
class Frame:
    kind: Kind
    origin: UUID
    prev: int  # the position published just before the first event (a heartbeat: the position published)
    head: int  # the origin log's last position when sent: how far behind the receiver is
    link: str  # hash-chain link after the last event, hex (a heartbeat: the link at ``prev``)
    entries: tuple[Entry, ...] = ()

    @property
    def last(self) -> int:
        return self.entries[-1].position if self.entries else self.prev

    def encode(self) -> bytes:
        topics = list(dict.fromkeys(e.topic for e in self.entries))
        index = {topic: i for i, topic in enumerate(topics)}
        chains = list(dict.fromkeys(e.chain for e in self.entries if e.chain is not None))
        chain_index: dict[bytes | None, int] = {chain: i for i, chain in enumerate(chains)}
        chain_index[None] = _UNCHAINED
        link = bytes.fromhex(self.link)
        parts = [
            _FRAME.pack(
                FORMAT, self.kind, self.origin.bytes, self.prev, self.head, link, len(topics), len(chains), len(self.entries)
            )
        ]
        for topic in topics:
            name = topic.encode()
            parts += (_TOPIC.pack(len(name)), name)
        parts += chains
        parts += (
            _ENTRY.pack(e.position, e.originator_id, e.originator_version, e.length, index[e.topic], chain_index[e.chain])
            for e in self.entries
        )
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes | None) -> Frame:
        if not data:
            raise EnvelopeError("no envelope header")
        if data[0] in _FORMAT_1:
            raise EnvelopeError("envelope format 1 (one event per message) is no longer read: upgrade the origin's sync")
        if data[0] == _FORMAT_3:
            raise EnvelopeError("envelope format 3 (events without their chain) is no longer read: upgrade the origin's sync")
        if data[0] != FORMAT:
            raise EnvelopeError(f"unknown envelope format {data[0]} (this version reads format {FORMAT})")
        if len(data) < _FRAME.size:
            raise EnvelopeError(f"envelope header of {len(data)} bytes, expected at least {_FRAME.size}")
        _, kind, origin, prev, head, link, topic_count, chain_count, count = _FRAME.unpack_from(data)
        try:
            topics, at = _topics(data, _FRAME.size, topic_count)
            chains: dict[int, bytes | None] = {i: data[at + 16 * i : at + 16 * i + 16] for i in range(chain_count)}
            chains[_UNCHAINED] = None
            at += chain_count * _CHAIN.size
            if len(data) - at != count * _ENTRY.size:
                raise EnvelopeError(f"envelope of {len(data)} bytes does not hold {count} events")
            entries = tuple(
                Entry(position, originator_id, version, topics[topic], length, chains[chain])
                for position, originator_id, version, length, topic, chain in _ENTRY.iter_unpack(data[at:])
            )
            frame = cls(Kind(kind), UUID(bytes=origin), prev, head, link.hex(), entries)
        except EnvelopeError:
            raise
        except (ValueError, IndexError, KeyError, struct.error) as e:
            raise EnvelopeError(f"envelope fields do not decode: {e}") from None
        frame._check_shape()
        return frame

    def _check_shape(self) -> None:
        if self.kind is Kind.HEARTBEAT and self.entries:
            raise EnvelopeError("a heartbeat with events")
        if self.kind is Kind.EVENTS and not self.entries:
            raise EnvelopeError("a frame without events")
        positions = [self.prev, *(e.position for e in self.entries)]
        if any(b <= a for a, b in zip(positions, positions[1:], strict=False)):
            raise EnvelopeError(f"positions out of order: {positions[:5]}…")

    def split(self, value: bytes | None) -> list[bytes]:
        """The events' stored bytes, cut out of the message value by the lengths the envelope lists."""
        value, listed = value or b"", sum(e.length for e in self.entries)
        if listed != len(value):
            raise EnvelopeError(f"the envelope lists {listed} bytes of events, the value has {len(value)}")
        parts, at = [], 0
        for entry in self.entries:
            parts.append(value[at : at + entry.length])
            at += entry.length
        return parts

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind.name.lower(),
            "origin": str(self.origin),
            "prev": self.prev,
            "head": self.head,
            "link": self.link,
            "events": [
                {
                    "position": e.position,
                    "originator_id": str(UUID(bytes=e.originator_id)),
                    "originator_version": e.originator_version,
                    "topic": e.topic,
                    "chain": str(UUID(bytes=e.chain)) if e.chain else None,
                }
                for e in self.entries
            ],
        }


def _topics(data: bytes, at: int, count: int) -> tuple[list[str], int]:
    topics = []
    for _ in range(count):
        (size,) = _TOPIC.unpack_from(data, at)
        at += _TOPIC.size
        name = data[at : at + size]
        if len(name) != size:
            raise EnvelopeError(f"envelope topic of {len(name)} bytes, header says {size}")
        topics.append(name.decode())
        at += size
    return topics, at


def chain(prev_link: str, position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> str:
    """The next link: commits to the whole stream so far, so a re-published stream must match byte for byte."""
    return step(bytes.fromhex(prev_link), position, originator_id.bytes, version, topic, state).hex()


def step(prev: bytes, position: int, originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """``chain`` on raw digests and id bytes: a frame's links are chained event by event without conversions."""
    return hashlib.sha256(b"".join((prev, _STEP.pack(position, originator_id, version), topic.encode(), state))).digest()


def links(prev: bytes, entries: Sequence[Entry], states: Sequence[bytes]) -> Iterator[bytes]:
    """The link after each event, starting from ``prev``."""
    for entry, state in zip(entries, states, strict=True):
        prev = step(prev, entry.position, entry.originator_id, entry.originator_version, entry.topic, state)
        yield prev


def heartbeat(origin: UUID, position: int, head: int, link: str) -> Frame:
    return Frame(Kind.HEARTBEAT, origin, position, head, link)


@dataclass(frozen=True)
class Beat:
    """A node's heartbeat, on its compacted beat topic (the latest one is kept): how far its relay has published, its
    log's head, its subtree's sync health, and whether it asks its parent for every replica again."""

    origin: UUID
    published: int  # the relay's published position: the parent should hold this much
    head: int  # the node's log head: the parent holds everything once it holds this and the relay caught up
    at: str  # when it was sent (ISO, the sender's clock)
    health: dict[str, Any] | None = None  # ``sync.health.Health.encode()`` of the node's subtree
    resend: str | None = None  # set while the node's reference store is new: "send me every replica again"

    def encode(self) -> bytes:
        body = {"origin": self.origin.hex, "published": self.published, "head": self.head, "at": self.at}
        if self.health is not None:
            body["health"] = self.health
        if self.resend:
            body["resend"] = self.resend
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> Beat:
        try:
            body = json.loads(value or b"")
            return cls(
                UUID(body["origin"]),
                int(body["published"]),
                int(body["head"]),
                str(body["at"]),
                body.get("health"),
                body.get("resend"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise EnvelopeError(f"not a beat: {e!r}") from None


def republish_request(stream: str, position: int, link: str, *, by: str) -> bytes:
    """A control message: "publish ``stream`` again after ``position``, whose link is ``link``"."""
    return json.dumps({"kind": "republish", "stream": stream, "from": position, "link": link, "by": by}).encode()


def initial_position(books: SyncRecorder, stream: str) -> StreamPosition:
    """A stream's position as ``books`` keep it; the start of the stream while none is kept."""
    return books.positions().get(stream) or StreamPosition(stream, 0, GENESIS_LINK)
