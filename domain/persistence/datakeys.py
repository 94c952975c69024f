"""A node's data keys (``domain.privacy``): one AES-256 key per person (or per record), kept in the node's store
beside its log (never in it, so never sent up nor through Kafka), each wrapped (AES-GCM) by the node's master key.

The master key comes from ``YIPANQI_MASTER_KEY`` (64 hex digits; each node's own master key is derived from it with
HKDF and the node's id, so one secret serves a process hosting many nodes), else from the node's file
``YIPANQI_DATA_DIR/keys/<node id>.master`` (made on first need or by ``yipanqi node init``; mode 0600 in a directory
of mode 0700). A subject (``phone:…``, ``id:…``, ``record:…``) is filed under its keyed digest (keyed BLAKE2b, with a key
derived from the master key): the key store never holds a phone or ID number, and without the master key nobody
can tell whose a key is. Each append makes the keys it needs (one per subject it seals data of) and writes them in
its own transaction, beside the events: the append path reads no key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.persistence import DataKeyRow, SyncRecorder
from domain.persistence.keys import KeyFileError

MASTER_ENV = "YIPANQI_MASTER_KEY"
_WRAP_AAD = b"yipanqi data key\0"


def master_path(data_dir: Path, node_id: UUID) -> Path:
    return data_dir / "keys" / f"{node_id}.master"


def master_key(data_dir: Path, node_id: UUID, *, create: bool = True) -> bytes | None:
    """The node's master key (32 bytes): from the environment, else its file (made if ``create``)."""
    secret = os.environ.get(MASTER_ENV, "").strip()
    if secret:
        try:
            root = bytes.fromhex(secret)
        except ValueError:
            raise KeyFileError(f"{MASTER_ENV}: not hex digits") from None
        if len(root) != 32:
            raise KeyFileError(f"{MASTER_ENV}: must be 64 hex digits (32 bytes), got {len(root)} bytes")
        return _derive(root, b"yipanqi master key\0" + node_id.bytes)
    path = master_path(data_dir, node_id)
    try:
        if path.stat().st_mode & 0o077:
            raise KeyFileError(f"{path}: readable by others (mode {path.stat().st_mode & 0o777:o}); `chmod 600 {path}`")
        return _parse(path, path.read_text())
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile: theirs is the one
        return _parse(path, path.read_text())
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def _parse(path: Path, text: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyFileError(f"{path}: not a master key (64 hex digits)") from None
    if len(key) != 32:
        raise KeyFileError(f"{path}: not a master key (64 hex digits)")
    return key


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


class _MasterKeys:
    """What every key ring does with the node's master key: file subjects under keyed digests, make keys and wrap
    them, unwrap them."""

    def __init__(self, master: bytes) -> None:
        self._wrap = AESGCM(_derive(master, b"yipanqi wrap\0"))
        self._digest_key = _derive(master, b"yipanqi subject\0")

    def subject_id(self, subject: str) -> str:
        """The subject's keyed digest (BLAKE2b keyed with a key derived from the master key: a MAC in one pass)."""
        return hashlib.blake2b(subject.encode(), key=self._digest_key, digest_size=16).hexdigest()

    def _made(self, subject_id: str) -> tuple[tuple[str, bytes], DataKeyRow]:
        fresh = os.urandom(6 + 32 + 12)  # the id's random part, the key, the wrapping's nonce: one call for the three
        # Ids in the order keys are made (milliseconds first): a key goes at the end of the key table's B-tree, so an
        # append dirties a page or two of it, not one page per key.
        key_id, key, nonce = f"{time.time_ns() // 1_000_000:012x}{fresh[:6].hex()}", fresh[6:38], fresh[38:]
        wrapped = nonce + self._wrap.encrypt(nonce, key, _WRAP_AAD + key_id.encode())
        return (key_id, key), (key_id, subject_id, wrapped)

    def _unwrapped(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:12], wrapped[12:], _WRAP_AAD + key_id.encode())
        except InvalidTag:
            raise KeyFileError(
                f"data key {key_id} does not open with this master key: restore the node's .master file or set the "
                f"{MASTER_ENV} it was made with"
            ) from None


class KeyMinter(_MasterKeys):
    """The keys of one append: one new key per subject the append seals data of, kept in memory until they are
    handed over (``take_rows``) to be written beside the events they seal, in the events' transaction.

    A subject's earlier keys are not looked up (the append path reads nothing): a person met again gets another key,
    filed under the same digest, and erasing the person destroys them all (``SyncRecorder.subject_key_ids``)."""

    def __init__(self, master: bytes) -> None:
        super().__init__(master)
        self._new: list[DataKeyRow] = []

    def keys_for(self, subjects: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        out = {}
        for subject in subjects:
            out[subject], row = self._made(self.subject_id(subject))
            self._new.append(row)
        return out

    def take_rows(self) -> list[DataKeyRow]:
        """The keys made since the last call, as the key store keeps them."""
        new, self._new = self._new, []
        return new


class StoreKeyRing(_MasterKeys):
    """One node's data keys: its store's key table, under its master key. Appends mint their keys (``minter``);
    reading opens them by id (``key``)."""

    def __init__(self, books: SyncRecorder, master: bytes) -> None:
        super().__init__(master)
        self.books = books
        self._master = master

    def minter(self) -> KeyMinter:
        return KeyMinter(self._master)

    def keys_for(self, subjects: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """Keys for an append whose events are written later (``NodeStore.take_rows``): kept now, in a transaction
        of their own (an unused key is harmless; an event without its key would be lost)."""
        minter = self.minter()
        keys = minter.keys_for(subjects)
        self.books.insert_data_keys(minter.take_rows())
        return keys

    def key(self, key_id: str) -> bytes | None:
        row = self.books.data_key(key_id)
        return None if row is None else self._unwrapped(key_id, row[2])
