"""Each origin's hash chain over its own events, kept beside them at every level.

The node that records an event (its *origin*) numbers its own events 1, 2, … (``seq``) and links each to the one
before: ``link = sha256(previous link ‖ origin ‖ seq ‖ digest)``, where ``digest`` commits to the event itself
(aggregate id, version, topic and stored bytes). The link is written beside the event in the event's transaction,
at the origin when the event is recorded and at every level above when it is replicated (each level recomputes it
from the bytes it stores; the envelope only says which origin an event is from). The same event so has the same
(origin, seq, link) in every store that holds it: a changed byte, a row deleted, inserted or moved in any store
shows against the store's own links, against the origin's signed checkpoints and against the level above.

Events stored before chaining began have no link (``None`` origin): they are counted, not verified.

A checkpoint (``domain.keys``: the origin's signature of its chain's link before the checkpoint) is checked as its
chain row is made: a store whose own chain contradicts it refuses to store it (``ChainContradiction``).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.keys import CHECKPOINT_TOPIC

#: The link before an origin's first event.
GENESIS = bytes(32)

_EVENT = struct.Struct(">16sq")  # aggregate id, version (then the topic, a NUL, the stored bytes)
_LINK = struct.Struct(">16sq")  # origin, seq (between the previous link and the digest)


@dataclass(frozen=True)
class Head:
    """The last link of one origin's chain in a store: ``seq`` events of that origin are held, ending with ``link``."""

    origin: bytes  # the origin node's id, 16 bytes
    seq: int
    link: bytes


#: One event's place in its origin's chain, as kept beside it: notification id, origin, seq, link.
ChainRow = tuple[int, bytes, int, bytes]

#: What a checkpoint says of the chain before it: the seq and link it signed.
Claim = tuple[int, bytes]


class ChainContradiction(Exception):
    """A checkpoint that this store's own chain contradicts: the ``index``-th event of the insert (nothing of the
    insert is stored)."""

    def __init__(self, index: int, origin: bytes, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.origin, self.seq, self.reason = index, origin, seq, reason


def claim(topic: str, state: bytes) -> Claim | None:
    """A checkpoint's claim (None for any other event)."""
    if topic != CHECKPOINT_TOPIC:
        return None
    try:
        body = json.loads(state)
        return int(body["seq"]), bytes.fromhex(body["link"])
    except (ValueError, KeyError, TypeError):
        return -1, b""  # contradicts every chain


def id_bytes(originator_id: UUID | str | bytes) -> bytes:
    """An aggregate id's 16 bytes, however a row carries it (UUID, 32 hex digits, canonical text, bytes)."""
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    if isinstance(originator_id, bytes):
        return originator_id
    return bytes.fromhex(originator_id.replace("-", ""))


def digest(originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """What a link commits to of one event: its aggregate, version, topic and stored bytes."""
    return hashlib.sha256(b"".join((_EVENT.pack(originator_id, version), topic.encode(), b"\0", state))).digest()


def link(prev: bytes, origin: bytes, seq: int, event_digest: bytes) -> bytes:
    return hashlib.sha256(b"".join((prev, _LINK.pack(origin, seq), event_digest))).digest()


class Chaining:
    """What an insert's chain rows are made of, gathered as its rows go in: each event's digest, the checkpoints'
    claims, and the events' origins (None: all the recording node's own)."""

    def __init__(self, origins: Sequence[bytes | None] | None = None) -> None:
        self.digests: list[bytes] = []
        self.claims: dict[int, Claim] = {}
        self.origins = origins

    def add(self, originator_id: UUID | str | bytes, version: int, topic: str, state: bytes) -> None:
        found = claim(topic, state)
        if found is not None:
            self.claims[len(self.digests)] = found
        self.digests.append(digest(id_bytes(originator_id), version, topic, state))


def extend(
    heads: dict[bytes, Head],
    ids: Sequence[int],
    digests: Sequence[bytes],
    origins: Iterable[bytes | None],
    claims: dict[int, Claim],
) -> list[ChainRow]:
    """The chain rows of newly stored events (``ids`` with their ``digests``, each of the given origin; ``None``: an
    event that came without one, left unchained), each origin numbered on from its head; ``heads`` are moved on.
    ``claims``: the checkpoints among them, by index; one that the chain contradicts raises ``ChainContradiction``."""
    rows: list[ChainRow] = []
    for index, (position, event_digest, origin) in enumerate(zip(ids, digests, origins, strict=True)):
        if origin is None:
            continue
        head = heads.get(origin)
        seq, prev = (head.seq + 1, head.link) if head else (1, GENESIS)
        claimed = claims.get(index)
        if claimed is not None and claimed != (seq - 1, prev):
            signed, held = f"seq {claimed[0]}, link {claimed[1].hex()[:16]}…", f"seq {seq - 1}, link {prev.hex()[:16]}…"
            reason = f"the checkpoint at seq {seq} signs {signed}; this store holds {held}"
            raise ChainContradiction(index, origin, seq, reason)
        after = link(prev, origin, seq, event_digest)
        heads[origin] = Head(origin, seq, after)
        rows.append((position, origin, seq, after))
    return rows
