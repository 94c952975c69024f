"""Files and folders readable by their owner only: stores, views, tokens, keys and what is recorded beside them.

``private_dir`` makes a folder (and any missing parents) with mode 0700; ``private_file`` makes an empty file with
mode 0600, or narrows an existing one to it. SQLite gives a database's ``-wal``, ``-shm`` and ``-journal`` files the
mode of the database file, so a database file made by ``private_file`` before its first connection keeps them private
too (an empty file is an empty SQLite database). The process's umask is left alone.

Existing folders and files of an earlier version (0755, 0644) are narrowed when they are next opened; one that belongs
to another user, or on a file system without modes, is left as it is.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _narrow(path: Path, mode: int, st_mode: int) -> None:
    if st_mode & 0o077:
        with contextlib.suppress(OSError):  # not ours, or a file system that keeps no modes
            os.chmod(path, st_mode & mode & 0o777)


def private_dir(path: Path) -> Path:
    """``path`` as a folder of mode 0700 (``mkdir -p``: missing parents are made 0700 too; an existing ``path`` is
    narrowed to its owner, its existing parents are left alone)."""
    _make_dirs(path)
    st = path.stat()
    _narrow(path, DIR_MODE, st.st_mode)
    return path


def _make_dirs(path: Path) -> None:
    """``path`` and its missing parents made with mode 0700; existing ones are not changed."""
    if path.exists():
        return
    if path.parent != path:
        _make_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=DIR_MODE)


def private_file(path: Path) -> Path:
    """``path`` as a file of mode 0600: made empty if missing (its folder must exist), narrowed if wider."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    except FileExistsError:
        _narrow(path, FILE_MODE, path.stat().st_mode)
    else:
        os.close(fd)
    return path


def private_sqlite(path: Path) -> Path:
    """A SQLite database file about to be opened: its folder 0700 and the file 0600 (its -wal/-shm follow)."""
    private_dir(path.parent)
    return private_file(path)


def write_private(path: Path, text: str) -> None:
    """``text`` (UTF-8) into ``path``, a file of mode 0600 in a folder of mode 0700."""
    private_dir(path.parent)
    private_file(path)
    path.write_text(text, encoding="utf-8")
