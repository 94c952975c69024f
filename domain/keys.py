"""节点密钥: a node's signing key, and the signed checkpoints of its hash chain (``domain.persistence.chain``).

Each node signs with its own Ed25519 key. Its public key is registered in its own log (``Registered``, by
``yipanqi node init``), so it travels up with the log like any event: a level above learns the key from the first
registration it holds (trust on first use) and accepts a new key only when the old one endorsed it (``Rotated``).
Every so often the node's sync seals its chain: a ``Checkpoint`` (one record per seal) signs the link of the event
right before it in the node's own chain. A store that holds the node's events checks each seal against the link it computed
itself from the bytes it holds; a level in between cannot change the node's events without contradicting a seal it
cannot forge.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.base import Attribution, DutyAggregate, NodeRef, natural_id

_SEAL = struct.Struct(">16sq32s")  # origin, seq, link
_SEAL_CONTEXT = b"yipanqi chain checkpoint\0"
_ENDORSE_CONTEXT = b"yipanqi key rotation\0"


def key_id(public_key: bytes) -> str:
    """A key's short name: the first 16 hex digits of the SHA-256 of its raw public bytes."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def seal_message(origin: bytes, seq: int, link: bytes) -> bytes:
    """What a checkpoint signs: the origin's chain holds ``seq`` events, ending with ``link``."""
    return _SEAL_CONTEXT + _SEAL.pack(origin, seq, link)


def endorsement_message(origin: bytes, new_public_key: bytes) -> bytes:
    return _ENDORSE_CONTEXT + origin + new_public_key


def signed_by(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def node_key_id(node_id: UUID) -> UUID:
    """The id of a node's key record (one per node)."""
    return natural_id("node-key", node_id)


class NodeKey(DutyAggregate):
    """The keys a node signs its chain with."""

    label: ClassVar[str] = "node key"

    class Registered(DutyAggregate.Created):
        label: ClassVar[str] = "登记节点密钥"
        public_key: str  # raw Ed25519 public key, hex
        key_id: str

        def apply(self, key: NodeKey) -> None:
            key.keys = {self.key_id: self.public_key}
            key.current = self.key_id

    class Rotated(DutyAggregate.Event):
        label: ClassVar[str] = "更换节点密钥"
        public_key: str
        key_id: str
        endorsement: str  # the previous key's signature of the new public key, hex

        def apply(self, key: NodeKey) -> None:
            key.keys[self.key_id] = self.public_key
            key.current = self.key_id

    if TYPE_CHECKING:  # set by the events' apply()
        keys: dict[str, str]
        current: str

    @classmethod
    def register(cls, node: NodeRef, key: Ed25519PrivateKey, occurred_at: datetime | None = None) -> NodeKey:
        public = public_bytes(key)
        by = Attribution.system(occurred_at)
        return cls.start(
            cls.Registered, node_key_id(node.node_id), node.node_id, by, public_key=public.hex(), key_id=key_id(public)
        )

    def rotate(self, old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> None:
        if key_id(public_bytes(old)) != self.current:
            raise self.reject(f"the key to rotate from is not the current one ({self.current})")
        public = public_bytes(new)
        endorsement = old.sign(endorsement_message(self.owner.bytes, public))
        self.record(
            self.Rotated, Attribution.system(), public_key=public.hex(), key_id=key_id(public), endorsement=endorsement.hex()
        )


class Checkpoint(DutyAggregate):
    """链检查点: the node's own chain held ``seq`` events ending with ``link`` (the event right before this one),
    signed with its key ``key_id``. One record per checkpoint (a key record replayed on every seal would grow)."""

    label: ClassVar[str] = "chain checkpoint"

    class Sealed(DutyAggregate.Created):
        label: ClassVar[str] = "链检查点"
        seq: int
        link: str  # hex
        key_id: str
        signature: str  # hex

    @classmethod
    def seal(cls, node: NodeRef, key: Ed25519PrivateKey, seq: int, link: bytes) -> Checkpoint:
        signature = key.sign(seal_message(node.node_id.bytes, seq, link))
        return cls.start(
            cls.Sealed,
            natural_id("chain-checkpoint", node.node_id, seq),
            node.node_id,
            Attribution.system(),
            seq=seq,
            link=link.hex(),
            key_id=key_id(public_bytes(key)),
            signature=signature.hex(),
        )


#: The topics of the key record's events, as stored (what checks of a log look for, without decoding other events).
REGISTERED_TOPIC = f"{__name__}:NodeKey.Registered"
ROTATED_TOPIC = f"{__name__}:NodeKey.Rotated"
CHECKPOINT_TOPIC = f"{__name__}:Checkpoint.Sealed"
