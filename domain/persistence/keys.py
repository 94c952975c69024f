"""A node's private signing key on disk (``domain.keys``): one PEM file per node under ``YIPANQI_DATA_DIR/keys``,
readable by its owner only (mode 0600, in a directory of mode 0700), never in a store and never sent anywhere."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class KeyFileError(Exception):
    """A key file that cannot be used (unreadable, not an Ed25519 key, readable by others)."""


def key_path(data_dir: Path, node_id: UUID) -> Path:
    return data_dir / "keys" / f"{node_id}.key"


def load_key(path: Path) -> Ed25519PrivateKey | None:
    """The key in ``path``; None if there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    if path.stat().st_mode & 0o077:
        raise KeyFileError(f"{path}: readable by others (mode {path.stat().st_mode & 0o777:o}); `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as e:
        raise KeyFileError(f"{path}: not a private key in PEM ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def create_key(path: Path) -> Ed25519PrivateKey:
    """A new key in a new file (an existing file is never overwritten)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def replace_key(path: Path) -> tuple[Ed25519PrivateKey, Path]:
    """A new key in ``path``, the old file kept beside it (``.key.<n>``): for a rotation."""
    n = 1
    while (old := path.with_name(f"{path.name}.{n}")).exists():
        n += 1
    path.rename(old)
    return create_key(path), old
