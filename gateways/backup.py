"""备份与恢复 / a node's backup and restore: its log, replicas, views, tokens and keys, consistent while it runs.

A backup is a folder (``<code>-<UTC time>``) with a ``manifest.json`` (the node, when, each file's size and SHA-256,
the log's position and its chains' heads then) and:

- SQLite stores: each database (the node's log, its reference store of replicas, its views, its gateway tables)
  copied with SQLite's online backup API, page by page from one read transaction: a consistent copy while the node
  records and syncs;
- PostgreSQL stores: one ``pg_dump`` (custom format, one snapshot) of the node's tables (``n<hex>_*``: the log and the
  gateway's tables; ``r<hex>_*``: the replicas) and of its views' schema (``v_<hex>``);
- the node's keys: its signing key and its master key of personal data (unless it comes from ``YIPANQI_MASTER_KEY``,
  which the operator keeps), so the restored node can open what it sealed and go on signing.

Restore checks every file against the manifest first, refuses to overwrite a node that holds events unless told to
(``force``: what is there is backed up beside the backup first, never lost), and puts the files back; the command
then verifies the restored log's chains.
What the node recorded after its backup is not in it: its parent holds what was published.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from domain.base import NodeRef
from domain.files import private_dir, private_file
from domain.hierarchy import Hierarchy
from domain.persistence.chain import place
from domain.persistence.datakeys import MASTER_ENV, master_path
from domain.persistence.keys import key_path
from domain.store import NodeStores, StoreSettings
from projections.db import ProjectionDB

FORMAT = "yipanqi-node-backup/1"
PG_DUMP = "node.pgdump"
_RESTORE_BATCH = 5000  # events per transaction when a log is made again from the parent's copy


class BackupError(Exception):
    """A backup or restore that cannot be made as asked (nothing was changed)."""


@dataclass(frozen=True)
class Part:
    """One file of a node: its name in the backup, where it lives, and whether it is an SQLite database."""

    name: str
    path: Path
    sqlite: bool


def parts(settings: StoreSettings, node: NodeRef) -> list[Part]:
    """The node's files (those that exist are backed up): its databases where it keeps them in SQLite, and its keys."""
    s = settings.for_level(node.level)
    nid = node.node_id
    found = []
    if s.store == "sqlite":
        # The views before the log: a copy of the views is then never ahead of the copy of the log it projects (the
        # projector may run between the two copies); a restored projection catches up from where it is.
        found += [
            Part("views.sqlite", ProjectionDB.sqlite_path(nid, s), True),
            Part("log.sqlite", s.sqlite_path(nid), True),
            Part("replicas.sqlite", s.sqlite_path(nid, "r"), True),
            Part("gateway.sqlite", s.data_dir / "nodes" / f"{nid}.gateway.sqlite", True),
        ]
    found.append(Part("signing.key", key_path(s.data_dir, nid), False))
    if not os.environ.get(MASTER_ENV):
        found.append(Part("personal-data.master", master_path(s.data_dir, nid), False))
    return found


def backup(settings: StoreSettings, node: NodeRef, out: Path) -> dict[str, Any]:
    """Back the node up into a new folder under ``out``; returns the manifest."""
    with NodeStores(settings) as stores:
        if not stores.exists(node):
            raise BackupError(f"{node.name}({node.code}) has no store here: nothing to back up")
        recorder: Any = stores.open(node).recorder
        events, heads_table = recorder.events_table_name, recorder.heads_table
        if settings.backend(node.level) == "postgres":
            events, heads_table = f'"{recorder.datastore.schema}"."{events}"', heads_table.as_string(None)
    taken = datetime.now(UTC)
    folder = _new_folder(out, f"{node.code}-{taken.strftime('%Y%m%dT%H%M%SZ')}")
    private_dir(folder)
    files: dict[str, dict[str, Any]] = {}
    for part in parts(settings, node):
        if not part.path.exists():
            continue
        target = folder / part.name
        if part.sqlite:
            _copy_sqlite(part.path, target)
        else:
            shutil.copyfile(part.path, target)
        private_file(target)
        files[part.name] = _described(target)
    if settings.backend(node.level) == "postgres":
        target = folder / PG_DUMP
        position, heads = _pg_dump(settings, node, target, events, heads_table)
        files[PG_DUMP] = _described(target)
    else:  # what the copy holds (a writer may have appended since the backup began)
        with contextlib.closing(sqlite3.connect(folder / "log.sqlite")) as copy:
            position, heads = _log_state(copy.cursor(), events, heads_table, "rowid")
    manifest = {
        "format": FORMAT,
        "node": {"code": node.code, "name": node.name, "id": str(node.node_id), "level": node.level.value},
        "taken_at": taken.isoformat(),
        "backend": settings.backend(node.level),
        "position": position,
        "heads": heads,
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    private_file(folder / "manifest.json")
    return {**manifest, "folder": str(folder)}


def restore(settings: StoreSettings, node: NodeRef, folder: Path, *, force: bool = False) -> dict[str, Any]:
    """Put a backup of the node back; returns what was restored (the manifest, and what was moved aside)."""
    manifest = read_manifest(folder, node)
    if manifest["backend"] != settings.backend(node.level):
        raise BackupError(
            f"the backup holds a {manifest['backend']} store; this node keeps its store in {settings.backend(node.level)} here"
        )
    with NodeStores(settings) as stores:
        held = stores.open(node).max_position() if stores.exists(node) else 0
    if held and not force:
        raise BackupError(
            f"{node.name}({node.code}) holds {held} events here: restore over it only with --force (they are backed up first)"
        )
    # What is there now is backed up beside the backup first: a restore over a node loses nothing.
    before = backup(settings, node, folder.parent)["folder"] if held else None
    for part in parts(settings, node):
        if part.name not in manifest["files"] and not part.sqlite:
            continue  # a key the backup does not hold (it came from the environment): left as it is
        for suffix in ("-wal", "-shm") if part.sqlite else ():  # a stale log beside a replaced database would corrupt it
            Path(f"{part.path}{suffix}").unlink(missing_ok=True)
        if part.name not in manifest["files"]:  # a database the node had not then (views): made again from the log
            part.path.unlink(missing_ok=True)
            continue
        private_dir(part.path.parent)
        shutil.copyfile(folder / part.name, part.path)
        private_file(part.path)
    if PG_DUMP in manifest["files"]:
        _pg_restore(settings, folder / PG_DUMP)
    return {**manifest, "before_restore": before}


def restore_from_parent(settings: StoreSettings, hierarchy: Hierarchy, node: NodeRef) -> dict[str, Any]:
    """Make a township's lost log again from the verbatim copy its parent holds: the parent's rows whose chain origin
    is the node, in chain order, appended as the node's own (each link made again must be the one the parent holds).
    The node's log must be gone or empty. Says what could not come back: events the node recorded and never
    published (the parent's last word on the node's head, when it had one), and personal data whose keys were in the
    lost store."""
    division = hierarchy.get(node.node_id)
    if hierarchy.children(division):
        # Its log interleaves its children's events with its own, with their positions: only its own chain is what
        # the parent keeps of it alone.
        raise BackupError(
            f"{node.name}({node.code}) keeps its children's events too: restoring from the parent makes a township's "
            "(a node without children) log again; restore a backup for this one"
        )
    up = hierarchy.parent(division)
    if up is None:
        raise BackupError(f"{node.name}({node.code}) has no parent to restore from")
    parent = hierarchy.ref(up)
    with NodeStores(settings) as stores:
        if not stores.exists(parent):
            raise BackupError(f"the parent {parent.name}({parent.code}) has no store reachable from here")
        if stores.exists(node) and (held := stores.open(node).max_position()):
            raise BackupError(
                f"{node.name}({node.code}) holds {held} events here: restoring from the parent is for a lost log "
                "(back it up and remove it first, or restore a backup)"
            )
        source = stores.open(parent)
        rows = _own_rows_in(source, node)
        seen = json.loads(source.books.state("stream").get(str(node.node_id), "null") or "null")
        store = stores.open(node)
        for at in range(0, len(rows), _RESTORE_BATCH):
            store.append_rows([row[:4] for row in rows[at : at + _RESTORE_BATCH]])
        made = [r[5] for at in range(1, len(rows) + 1, 10_000) for r in store.books.log_page(at, 10_000)]
        if [bytes(r[4]) for r in rows] != [bytes(c) if c is not None else b"" for c in made]:
            raise BackupError("the links made again differ from the parent's: its copy of this node's chain does not verify")
        sealed = sum(1 for r in rows if b'"sealed":"pd1:' in bytes(r[3]))
        head = seen.get("head") if isinstance(seen, dict) else None
        return {
            "node": node.code,
            "parent": parent.code,
            "restored": len(rows),
            "parent_heard_head": head,
            "never_published": max(0, int(head) - len(rows)) if head is not None else None,
            "sealed_unreadable": sealed,
        }


def _own_rows_in(source: Any, node: NodeRef) -> list[tuple[Any, ...]]:
    """The node's own events as the parent holds them, by their chain's seq (1, 2, … with none missing)."""
    own = node.node_id.bytes
    found: list[tuple[int, tuple[Any, ...]]] = []
    start = 1
    while page := source.books.log_page(start, 10_000):
        for _, oid, version, topic, state, chain in page:
            if chain is not None and bytes(chain)[:16] == own:
                found.append((int(place(bytes(chain))[1] or 0), (oid, version, topic, bytes(state), bytes(chain))))
        start = page[-1][0] + 1
    found.sort(key=lambda f: f[0])
    for expected, (seq, _) in enumerate(found, start=1):
        if seq != expected:
            raise BackupError(f"the parent's copy lacks seq {expected} of this node's chain: it cannot be made again whole")
    return [row for _, row in found]


def read_manifest(folder: Path, node: NodeRef) -> dict[str, Any]:
    """The backup's manifest, checked: its format, its node, and every file's size and SHA-256."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except OSError as e:
        raise BackupError(f"{folder}: no readable manifest.json ({e.strerror or e}): not a node backup") from None
    except json.JSONDecodeError as e:
        raise BackupError(f"{folder}/manifest.json is not valid JSON: {e}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder}: format {manifest.get('format')!r} is not {FORMAT!r}")
    if manifest["node"]["id"] != str(node.node_id):
        backed = manifest["node"]
        raise BackupError(f"{folder} is a backup of {backed['name']}({backed['code']}), not of {node.name}({node.code})")
    for name, described in manifest["files"].items():
        path = folder / name
        if not path.exists():
            raise BackupError(f"{folder}: {name} is missing")
        if _described(path) != described:
            raise BackupError(f"{folder}: {name} does not match the manifest (size or SHA-256): the backup is damaged")
    return manifest


def _new_folder(out: Path, name: str) -> Path:
    """``out/name``, or ``name-1``, ``name-2``… if taken (two backups in one second: a restore's safety copy)."""
    for n in range(1000):
        folder = out / (f"{name}-{n}" if n else name)
        if not folder.exists():
            return folder
    raise BackupError(f"{out}: too many backups named {name}")


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live database (WAL mode: readers and the writer go on meanwhile)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file in the backup
    finally:
        dst.close()
        src.close()


def _described(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: ``YIPANQI_PG_BIN`` (a folder), else on the PATH, else PostgreSQL 15's."""
    folder = os.environ.get("YIPANQI_PG_BIN")
    candidates = [Path(folder) / name] if folder else []
    found = shutil.which(name)
    candidates += [Path(found)] if found else []
    candidates.append(Path("/usr/lib/postgresql/15/bin") / name)
    for path in candidates:
        if path.exists():
            return str(path)
    raise BackupError(f"{name} not found: install the PostgreSQL client or set YIPANQI_PG_BIN")


def _pg_dump(settings: StoreSettings, node: NodeRef, target: Path, events: str, heads: str) -> tuple[int, dict[str, Any]]:
    """One snapshot of the node's tables dumped, and the log's position and chain heads in that same snapshot."""
    hex_id = node.node_id.hex
    with psycopg.connect(str(settings.pg_dsn)) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction(), conn.cursor() as cur:
            (snapshot,) = cur.execute("SELECT pg_export_snapshot()").fetchone() or ("",)
            state = _log_state(cur, events, heads, "notification_id")
            args = [
                _pg_tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                f"--snapshot={snapshot}",
                f"--file={target}",
                f"--table=*.n{hex_id}_*",
                f"--table=*.r{hex_id}_*",
                f"--schema=v_{hex_id}",
                f"--dbname={settings.pg_dsn}",
            ]
            _run(args, "pg_dump")
    return state


def _log_state(cur: Any, events: str, heads: str, id_column: str) -> tuple[int, dict[str, Any]]:
    """The log's position and its chains' heads, as the cursor's snapshot holds them."""
    cur.execute(f"SELECT max({id_column}) FROM {events}")  # noqa: S608 - our own table names
    (position,) = cur.fetchone()
    cur.execute(f"SELECT origin, seq, link FROM {heads}")  # noqa: S608
    return int(position or 0), {bytes(o).hex(): {"seq": int(seq), "link": bytes(link).hex()} for o, seq, link in cur.fetchall()}


def _pg_restore(settings: StoreSettings, dump: Path) -> None:
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", f"--dbname={settings.pg_dsn}", str(dump)], "pg_restore")


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603 - our own arguments
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed ({done.returncode}): {said[-1] if said else 'no message'}")
