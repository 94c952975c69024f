"""The envelope that travels with each stored event through Kafka, and the hash chain that links a stream.

The event's stored bytes go as the message value, unchanged; the envelope goes in one binary header. It names the
stream's origin node, the position the event was read from in the origin's log and the position published just
before it (so a receiver sees any gap, even where the log's ids have holes), the event's aggregate id, version and
topic, and a hash-chain link over everything published so far (so a receiver sees any divergence).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from enum import IntEnum
from uuid import UUID

HEADER = "yq"
GENESIS_LINK = "0" * 64
_FIXED = struct.Struct(">B16sqqq16sq32sH")  # kind, origin, position, prev, head, originator_id, version, link, topic len


class EnvelopeError(ValueError):
    """The header is missing or cannot be decoded: the message is poison."""


class Kind(IntEnum):
    EVENT = 1
    HEARTBEAT = 2  # "I have published up to ``position``": lets an idle stream's receiver see what it is missing


@dataclass(frozen=True)
class Envelope:
    kind: Kind
    origin: UUID
    position: int
    prev: int
    head: int  # the origin log's last position when sent: how far behind the receiver is
    originator_id: UUID
    originator_version: int
    topic: str
    link: str

    def encode(self) -> bytes:
        topic = self.topic.encode()
        return (
            _FIXED.pack(
                self.kind,
                self.origin.bytes,
                self.position,
                self.prev,
                self.head,
                self.originator_id.bytes,
                self.originator_version,
                bytes.fromhex(self.link),
                len(topic),
            )
            + topic
        )

    @classmethod
    def decode(cls, data: bytes | None) -> Envelope:
        if not data or len(data) < _FIXED.size:
            raise EnvelopeError(f"envelope header of {len(data or b'')} bytes, expected at least {_FIXED.size}")
        kind, origin, position, prev, head, originator_id, version, link, topic_len = _FIXED.unpack_from(data)
        topic = data[_FIXED.size :]
        if len(topic) != topic_len:
            raise EnvelopeError(f"envelope topic of {len(topic)} bytes, header says {topic_len}")
        try:
            return cls(
                Kind(kind),
                UUID(bytes=origin),
                position,
                prev,
                head,
                UUID(bytes=originator_id),
                version,
                topic.decode(),
                link.hex(),
            )
        except (ValueError, UnicodeDecodeError) as e:
            raise EnvelopeError(f"envelope fields do not decode: {e}") from None

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.name.lower(),
            "origin": str(self.origin),
            "position": self.position,
            "prev": self.prev,
            "head": self.head,
            "originator_id": str(self.originator_id),
            "originator_version": self.originator_version,
            "topic": self.topic,
            "link": self.link,
        }


def chain(prev_link: str, position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> str:
    """The next link: commits to the whole stream so far, so a re-published stream must match byte for byte."""
    digest = hashlib.sha256(bytes.fromhex(prev_link))
    digest.update(struct.pack(">q16sq", position, originator_id.bytes, version))
    digest.update(topic.encode())
    digest.update(state)
    return digest.hexdigest()


def heartbeat(origin: UUID, position: int, head: int, link: str) -> Envelope:
    return Envelope(Kind.HEARTBEAT, origin, position, position, head, UUID(int=0), 0, "", link)


def republish_request(stream: str, position: int, link: str, *, by: str) -> bytes:
    """A control message: "publish ``stream`` again after ``position``, whose link is ``link``"."""
    return json.dumps({"kind": "republish", "stream": stream, "from": position, "link": link, "by": by}).encode()
