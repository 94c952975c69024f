"""Verify a log against the hash chains kept beside it (``domain.persistence.chain``): pure, over its rows.

Each origin's chain is recomputed from the stored bytes, in log order, and compared with the stored links and the
store's chain heads. Per chain the first difference is named with its kind:

- ``bytes_changed``: an event's bytes (or aggregate, version, topic) no longer match its link;
- ``row_missing``: a seq is skipped (an event deleted), or the head says more events were held;
- ``row_inserted``: a seq appears twice, or an event without a chain row follows chained ones;
- ``order_changed``: an event comes after one of its origin's later events (rows moved or swapped);
- ``seal_contradicted``: a checkpoint (``domain.keys``) signs another link than the chain holds before it;
- ``bad_signature``: a checkpoint or a key rotation whose signature the origin's key does not verify (forged).

An origin's key is the first one its chain registers (trust on first use, as every level above learns it from the
log); a later key counts only when the key before it endorsed it. ``sealed`` is the last seq of each chain that a
valid checkpoint vouches for: up to there no level in between can have changed the origin's events unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.keys import CHECKPOINT_TOPIC, REGISTERED_TOPIC, ROTATED_TOPIC, endorsement_message, seal_message, signed_by
from domain.persistence import ChainedRow, LogPageRow
from domain.persistence.chain import GENESIS, Head, id_bytes, link, packed, place

_KEY_TOPICS = frozenset((CHECKPOINT_TOPIC, REGISTERED_TOPIC, ROTATED_TOPIC))


class Difference(StrEnum):
    BYTES_CHANGED = "bytes_changed"
    ROW_MISSING = "row_missing"
    ROW_INSERTED = "row_inserted"
    ORDER_CHANGED = "order_changed"
    SEAL_CONTRADICTED = "seal_contradicted"
    BAD_SIGNATURE = "bad_signature"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Difference.BYTES_CHANGED: "内容被改动",
    Difference.ROW_MISSING: "记录缺失",
    Difference.ROW_INSERTED: "记录被插入",
    Difference.ORDER_CHANGED: "顺序被改动",
    Difference.SEAL_CONTRADICTED: "与签名检查点不符",
    Difference.BAD_SIGNATURE: "签名无效",
}


@dataclass(frozen=True)
class Finding:
    """One difference: where in the log (notification id; 0 at the end of the log), which seq of the chain."""

    kind: Difference
    position: int
    seq: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "label": self.kind.label,
            "position": self.position,
            "seq": self.seq,
            "detail": self.detail,
        }


@dataclass
class ChainCheck:
    """What was found of one origin's chain."""

    origin: bytes
    events: int = 0
    last_seq: int = 0  # the highest seq read in order
    last_link: bytes = GENESIS
    findings: list[Finding] = field(default_factory=list)
    skipped: dict[int, int] = field(default_factory=dict)  # seq not seen yet → where the chain jumped past it
    mismatched: list[_Mismatch] = field(default_factory=list)  # links that did not match, for ``_moved``
    keys: dict[str, bytes] = field(default_factory=dict)  # the origin's trusted keys, by key id
    current_key: str = ""
    sealed: int = 0  # the last seq a valid checkpoint signed

    @property
    def first(self) -> Finding | None:
        return min(self.findings, key=lambda f: (f.position or 1 << 62, f.seq)) if self.findings else None


@dataclass
class Verification:
    """A log checked against its chains: events read, how many were stored before chaining began, per origin what
    was found, and any event that has no chain row though chaining had begun."""

    events: int = 0
    unchained: int = 0
    chains: dict[bytes, ChainCheck] = field(default_factory=dict)
    strays: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.strays and not any(c.findings for c in self.chains.values())

    def add_page(self, rows: Iterable[LogPageRow]) -> None:
        """Check rows as a backend returns them: an event whose link, origin and seq are as expected takes the short
        way (one hash, one comparison); any other goes through ``add``, which says what differs."""
        chains, add, fromhex = self.chains, self.add, bytes.fromhex
        for row in rows:
            position, originator_id, version, topic, state, chain = row
            if chain is None or topic in _KEY_TOPICS:
                add((position, id_bytes(originator_id), version, topic, state, *place(chain)))
                continue
            origin = chain[:16]
            check = chains.get(origin)
            oid = fromhex(originator_id) if type(originator_id) is str else id_bytes(originator_id)
            if check is not None and not check.skipped:
                seq, prev = check.last_seq + 1, check.last_link
                after = link(prev, origin, seq, oid, version, topic, state)
                if packed(origin, seq, after) == chain:
                    check.last_seq, check.last_link = seq, after
                    check.events += 1
                    self.events += 1
                    continue
            add((position, oid, version, topic, state, *place(chain)))

    def add(self, row: ChainedRow) -> None:
        position, originator_id, version, topic, state, origin, seq, stored = row
        self.events += 1
        if origin is None or seq is None or stored is None:
            if self.chains:
                detail = f"event {UUID(bytes=originator_id)} v{version} has no chain row, yet chaining had begun"
                self.strays.append(Finding(Difference.ROW_INSERTED, position, 0, detail))
            else:
                self.unchained += 1
            return
        chain = self.chains.get(origin) or self.chains.setdefault(origin, ChainCheck(origin))
        chain.events += 1
        expected = chain.last_seq + 1
        if seq == expected:
            if link(chain.last_link, origin, seq, originator_id, version, topic, state) != stored:
                chain.mismatched.append(_Mismatch(position, seq, chain.last_link, (originator_id, version, topic, state), stored))
            if topic in _KEY_TOPICS:
                _key_event(chain, position, seq, topic, state)
        elif seq > expected:
            for skipped in range(expected, seq):
                chain.skipped[skipped] = position
        else:
            jumped = chain.skipped.pop(seq, None)
            if jumped is None:
                chain.findings.append(Finding(Difference.ROW_INSERTED, position, seq, f"seq {seq} appears again"))
            else:
                detail = f"seq {seq} comes after later events (first out of order at position {jumped})"
                chain.findings.append(Finding(Difference.ORDER_CHANGED, jumped, seq, detail))
            return
        chain.last_seq, chain.last_link = seq, stored

    def finish(self, heads: Mapping[bytes, Head]) -> Verification:
        """Close the check: skipped seqs never seen are missing rows; the heads must end where the chains do."""
        for chain in self.chains.values():
            chain.findings += _moved(chain.origin, chain.mismatched)
            chain.mismatched.clear()
            for seq, position in sorted(chain.skipped.items()):
                chain.findings.append(Finding(Difference.ROW_MISSING, position, seq, f"seq {seq} is not in the log"))
            chain.skipped.clear()
        for origin, head in heads.items():
            chain = self.chains.get(origin) or self.chains.setdefault(origin, ChainCheck(origin))
            if head.seq > chain.last_seq:
                detail = f"the chain head says {head.seq} events, the log ends at seq {chain.last_seq}"
                chain.findings.append(Finding(Difference.ROW_MISSING, 0, chain.last_seq + 1, detail))
            elif head.seq < chain.last_seq:
                detail = f"the log goes on to seq {chain.last_seq}, the chain head ends at {head.seq}"
                chain.findings.append(Finding(Difference.ROW_INSERTED, 0, head.seq + 1, detail))
            elif head.link != chain.last_link:
                detail = f"the chain head's link at seq {head.seq} differs from the stored one"
                chain.findings.append(Finding(Difference.BYTES_CHANGED, 0, head.seq, detail))
        for origin, chain in self.chains.items():
            if origin not in heads and chain.events:
                detail = "events of a chain this store never wrote a head for"
                chain.findings.append(Finding(Difference.ROW_INSERTED, 0, 1, detail))
        return self


def _key_event(chain: ChainCheck, position: int, seq: int, topic: str, state: bytes) -> None:
    """A key registration, rotation or checkpoint in its origin's own chain, at ``seq`` (the link before it is
    ``chain.last_link``)."""
    try:
        body = json.loads(state)
        if topic == CHECKPOINT_TOPIC:
            claimed, claimed_link = int(body["seq"]), bytes.fromhex(body["link"])
            current = body["key_id"] == chain.current_key  # a rotated-out key signs nothing more
            public = chain.keys.get(body["key_id"]) if current else None
            message = seal_message(chain.origin, claimed, claimed_link)
            if public is None or not signed_by(public, message, bytes.fromhex(body["signature"])):
                why = f"key {body['key_id']}" if current else f"key {body['key_id']}, not the origin's current key"
                detail = f"the checkpoint's signature does not verify with {why}"
                chain.findings.append(Finding(Difference.BAD_SIGNATURE, position, seq, detail))
            elif (claimed, claimed_link) != (seq - 1, chain.last_link):
                detail = f"the checkpoint signs seq {claimed}, the chain holds seq {seq - 1} before it, with another link"
                chain.findings.append(Finding(Difference.SEAL_CONTRADICTED, position, seq, detail))
            else:
                chain.sealed = claimed
            return
        public, new_id = bytes.fromhex(body["public_key"]), str(body["key_id"])
        if topic == REGISTERED_TOPIC and not chain.keys:
            chain.keys[new_id], chain.current_key = public, new_id
            return
        endorsed = topic == ROTATED_TOPIC and chain.current_key in chain.keys
        message = endorsement_message(chain.origin, public)
        if endorsed and signed_by(chain.keys[chain.current_key], message, bytes.fromhex(body["endorsement"])):
            chain.keys[new_id], chain.current_key = public, new_id
            return
        detail = "a key the origin's current key did not endorse"
    except (ValueError, KeyError, TypeError) as e:
        detail = f"a key event that does not decode ({e!r})"
    chain.findings.append(Finding(Difference.BAD_SIGNATURE, position, seq, detail))


@dataclass(frozen=True)
class _Mismatch:
    position: int
    seq: int
    prev: bytes  # the stored link before it
    event: tuple[bytes, int, str, bytes]  # aggregate id, version, topic, stored bytes
    stored: bytes


#: At most this many mismatched links of one chain are paired up to tell moved events from changed ones.
_PAIRS_UP_TO = 64


def _moved(origin: bytes, mismatched: list[_Mismatch]) -> list[Finding]:
    """The findings of the links that did not match: two events whose bytes each match the other's link were
    swapped (``order_changed``); any other has had its bytes changed."""
    found: list[Finding] = []
    paired: set[int] = set()
    if len(mismatched) <= _PAIRS_UP_TO:
        for i, a in enumerate(mismatched):
            for b in mismatched[i + 1 :]:
                if (
                    a.seq not in paired
                    and b.seq not in paired
                    and link(a.prev, origin, a.seq, *b.event) == a.stored
                    and link(b.prev, origin, b.seq, *a.event) == b.stored
                ):
                    paired |= {a.seq, b.seq}
                    detail = f"the events at positions {a.position} and {b.position} (seq {a.seq}, {b.seq}) were swapped"
                    found.append(Finding(Difference.ORDER_CHANGED, a.position, a.seq, detail))
    detail = "the stored bytes do not match the link"
    found += [Finding(Difference.BYTES_CHANGED, m.position, m.seq, detail) for m in mismatched if m.seq not in paired]
    return found


@dataclass
class ParentCheck:
    """A node's log against its parent's copy (``verify --deep``): up to the position the parent holds of it, each
    event must be there byte for byte. Events after that position are not yet replicated (counted, not judged)."""

    held: int  # the position of this node's log the parent holds
    compared: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def compare(self, rows: Iterable[LogPageRow], theirs: Mapping[tuple[bytes, int], bytes]) -> None:
        for position, originator_id, version, _, state, chain in rows:
            self.compared += 1
            copy = theirs.get((id_bytes(originator_id), version))
            if copy == state:
                continue
            seq = place(chain)[1] or 0
            if copy is None:
                self.findings.append(
                    Finding(Difference.ROW_MISSING, position, seq, "the parent holds this position, not this event")
                )
            else:
                self.findings.append(Finding(Difference.BYTES_CHANGED, position, seq, "the parent's copy differs"))


def verify_rows(rows: Iterable[LogPageRow], heads: Mapping[bytes, Head]) -> Verification:
    """Check ``rows`` (a whole log, in order, as a backend returns them) against their chains and the ``heads``."""
    verification = Verification()
    verification.add_page(rows)
    return verification.finish(heads)
