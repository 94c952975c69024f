"""Each origin's hash chain over its own events, kept beside them at every level.

The node that records an event (its *origin*) numbers its own events 1, 2, … (``seq``) and links each to the one
before: ``link = sha256(previous link ‖ origin ‖ seq ‖ aggregate id ‖ version ‖ topic ‖ NUL ‖ stored bytes)``. The link
is written in the event's own row (one column ``chain``: origin ‖ seq ‖ link, 56 bytes, added to the library's
table) with the event,
at the origin when the event is recorded and at every level above when it is replicated (each level recomputes it
from the bytes it stores; the envelope only says which origin an event is from). The same event so has the same
(origin, seq, link) in every store that holds it: a changed byte, a row deleted, inserted or moved in any store
shows against the store's own links, against the origin's signed checkpoints and against the level above.

Events stored before chaining began have no link (``None`` origin): they are counted, not verified.

A checkpoint (``domain.keys``: the origin's signature of its chain's link before the checkpoint) is checked as its
chain row is made: a store whose own chain contradicts it refuses to store it (``ChainContradiction``).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any
from uuid import UUID

from domain.keys import CHECKPOINT_TOPIC

#: The link before an origin's first event.
GENESIS = bytes(32)

_LINK = struct.Struct(">16sq16sq")  # origin, seq, aggregate id, version (then the topic, a NUL, the stored bytes)

#: An event as the recorders insert it: originator id, version, topic, stored bytes (``domain.persistence.EventRow``).
EventRow = tuple[Any, int, str, bytes]


@dataclass(frozen=True)
class Head:
    """The last link of one origin's chain in a store: ``seq`` events of that origin are held, ending with ``link``."""

    origin: bytes  # the origin node's id, 16 bytes
    seq: int
    link: bytes
    sealed: int = 0  # the seq of the origin's last checkpoint in this chain (0: none yet)


#: One event's place in its origin's chain as kept in its row (the ``chain`` column): origin ‖ seq ‖ link.
_PLACE = struct.Struct(">16sq32s")


#: An event's ``chain`` column from its origin, seq and link.
packed = _PLACE.pack


def place(chain: bytes | None) -> tuple[bytes, int, bytes] | tuple[None, None, None]:
    """An event's origin, seq and link from its ``chain`` column (None three times: stored before chaining)."""
    return (None, None, None) if chain is None else _PLACE.unpack(chain)


#: What a checkpoint says of the chain before it: the seq and link it signed.
Claim = tuple[int, bytes]


class ChainContradiction(Exception):
    """A checkpoint that this store's own chain contradicts: the ``index``-th event of the insert (nothing of the
    insert is stored)."""

    def __init__(self, index: int, origin: bytes, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.origin, self.seq, self.reason = index, origin, seq, reason


def claim(state: bytes) -> Claim:
    """What a checkpoint's stored bytes say it signed (a claim no chain holds, if they do not decode)."""
    try:
        body = json.loads(state)
        return int(body["seq"]), bytes.fromhex(body["link"])
    except (ValueError, KeyError, TypeError):
        return -1, b""


def id_bytes(originator_id: UUID | str | bytes) -> bytes:
    """An aggregate id's 16 bytes, however a row carries it (UUID, 32 hex digits, canonical text, bytes)."""
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    if isinstance(originator_id, bytes):
        return originator_id
    return bytes.fromhex(originator_id if len(originator_id) == 32 else originator_id.replace("-", ""))


def link(prev: bytes, origin: bytes, seq: int, originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The link after an event: one SHA-256 over the link before it, its place (origin, seq) and the event itself
    (aggregate id, version, topic, stored bytes)."""
    return sha256(b"".join((prev, _LINK.pack(origin, seq, originator_id, version), topic.encode(), b"\0", state))).digest()


class Chainer:
    """Links the events of one insert as they go in (one hash each, while the store holds its write lock and the heads
    it read are the latest): each of the given origin (None: left unchained; by default all the store's own),
    numbered on from its origin's head. A checkpoint that the chain contradicts raises ``ChainContradiction``."""

    def __init__(self, heads: dict[bytes, Head], own: bytes, origins: Sequence[bytes | None] | None) -> None:
        self._seq = {origin: head.seq for origin, head in heads.items()}
        self._link = {origin: head.link for origin, head in heads.items()}
        self._sealed = {origin: head.sealed for origin, head in heads.items()}
        self._moved_from = dict(self._seq)
        self._own, self._origins = own, origins
        self._index = 0  # how many rows were added

    def add(self, row: EventRow) -> bytes | None:
        """The row's ``chain`` column (its origin's chain moved on by it; None: left unchained)."""
        index = self._index
        self._index = index + 1
        origin = self._own if self._origins is None else self._origins[index]
        if origin is None:
            return None
        seq, prev = self._seq.get(origin, 0) + 1, self._link.get(origin, GENESIS)
        originator_id, version, topic, state = row
        if topic == CHECKPOINT_TOPIC:
            self._check(index, origin, seq, prev, state)
            self._sealed[origin] = seq
        oid = originator_id.bytes if type(originator_id) is UUID else id_bytes(originator_id)
        after = link(prev, origin, seq, oid, version, topic, state)
        self._seq[origin], self._link[origin] = seq, after
        return packed(origin, seq, after)

    def hex_rows(self, rows: Iterable[EventRow]) -> Iterator[tuple[str, int, str, bytes, bytes | None]]:
        """The rows as SQLite stores them (the aggregate id as 32 hex digits) with their ``chain`` column, linked
        as they are consumed (they may be lazy: each row is held only while it goes in).

        A node's own events, the common case (every command, every simulated day), are linked in one loop here,
        without a call per row besides the hash: the same links as ``add`` (``tests/unit/test_chain.py``)."""
        if self._origins is not None:
            add = self.add
            for row in rows:
                oid = row[0]
                yield (oid.hex if type(oid) is UUID else oid, row[1], row[2], row[3], add(row))
            return
        origin = self._own
        seq, prev, index = self._seq.get(origin, 0), self._link.get(origin, GENESIS), self._index
        pack, place_of, join = _LINK.pack, _PLACE.pack, b"".join
        try:
            for oid, version, topic, state in rows:
                seq += 1
                if topic == CHECKPOINT_TOPIC:
                    self._check(index, origin, seq, prev, state)
                    self._sealed[origin] = seq
                index += 1
                raw = oid.int.to_bytes(16, "big") if type(oid) is UUID else id_bytes(oid)
                prev = sha256(join((prev, pack(origin, seq, raw, version), topic.encode(), b"\0", state))).digest()
                yield (raw.hex() if type(oid) is UUID else oid, version, topic, state, place_of(origin, seq, prev))
        finally:  # the rows linked so far: an insert that fails is rolled back, and its chainer dropped
            self._seq[origin], self._link[origin], self._index = seq, prev, index

    @staticmethod
    def _check(index: int, origin: bytes, seq: int, prev: bytes, state: bytes) -> None:
        claimed = claim(state)
        if claimed != (seq - 1, prev):
            signed, held = f"seq {claimed[0]}, link {claimed[1].hex()[:16]}…", f"seq {seq - 1}, link {prev.hex()[:16]}…"
            raise ChainContradiction(index, origin, seq, f"the checkpoint at seq {seq} signs {signed}; this store holds {held}")

    def heads(self) -> list[Head]:
        """The heads that moved."""
        return [
            Head(origin, seq, self._link[origin], self._sealed.get(origin, 0))
            for origin, seq in self._seq.items()
            if self._moved_from.get(origin) != seq
        ]
