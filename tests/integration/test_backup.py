"""A restore drill (issue 14 §3), on SQLite files and on PostgreSQL: a township recording personal data of the public,
with a token and its views, backed up while a writer goes on appending; more recorded after; its data lost; restored.
The restored node holds exactly what the backup saw, its chains verify, its token and its sealed data open again;
a damaged or foreign backup, and a restore over live data without ``force``, change nothing."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.hierarchy import Hierarchy
from domain.privacy import OPENED
from domain.store import NodeStore, NodeStores, StoreSettings
from gateways.api.devtools import issue_tokens, seed
from gateways.api.storage import dispose_engines, gateway_db
from gateways.backup import BackupError, backup, parts, read_manifest, restore
from gateways.verification import verify_node
from projections.rebuild import update
from tests.sync_helpers import SIM_START, Activity

TOWN = "430582101"  # 邵东市 牛马司镇


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path / "var")


def sealed_events(store: NodeStore) -> list[Any]:
    events = (store.mapper.to_domain_event(n) for n in store.iter_notifications())
    return [e for e in events if getattr(e, "sealed", "")]


def test_a_restored_node_holds_what_its_backup_saw_and_opens_it(settings: StoreSettings, tmp_path: Path) -> None:
    hierarchy = Hierarchy.load()
    town = hierarchy.ref(hierarchy.by_code(TOWN))
    activity = Activity(settings, (TOWN,), days=240, seed=3, scale=1.0)
    activity.write(day=SIM_START + timedelta(days=20))
    token = issue_tokens(settings, (TOWN,), ("recorder",), hierarchy)[(TOWN, "recorder")]
    with NodeStores(settings) as stores:
        store = stores.open(town)
        update(store, settings, hierarchy=hierarchy)
        before = store.max_position()
        assert sealed_events(store), "the simulation records personal data of the public"
    # A writer appends while the backup is taken: the backup is one consistent moment, whichever.
    written: list[int] = []
    writing = threading.Thread(target=lambda: written.append(activity.write(events=100)))
    writing.start()
    made = backup(settings, town, tmp_path / "backups")
    writing.join()
    assert written and written[0] >= 100
    assert activity.write() > 0  # and more after it, which the backup cannot hold
    activity.close()
    folder = Path(made["folder"])
    assert json.loads((folder / "manifest.json").read_text())["position"] == made["position"] >= before
    with NodeStores(settings) as stores:
        after = stores.open(town).max_position()
    assert after > made["position"]

    if settings.store == "sqlite":  # the disk is lost: every file of the node goes
        for part in parts(settings, town):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{part.path}{suffix}").unlink(missing_ok=True)
        done = restore(settings, town, folder)
        assert done["before_restore"] is None
    else:  # the node's tables hold newer data: only with force, and what is there is backed up first
        with pytest.raises(BackupError, match="only with --force"):
            restore(settings, town, folder)
        done = restore(settings, town, folder, force=True)
        assert read_manifest(Path(done["before_restore"]), town)["position"] == after
    dispose_engines()  # the gateway's engines held the files or tables that were replaced

    with NodeStores(settings) as stores:
        store = stores.open(town)
        assert store.max_position() == made["position"]
        heads = store.books.chain_heads()[1]
        assert {o.hex(): {"seq": h.seq, "link": h.link.hex()} for o, h in heads.items()} == made["heads"]
        assert verify_node(hierarchy, stores, town)["ok"]
        opened = [store.reveal(e)[1] for e in sealed_events(store)]
        assert opened and set(opened) == {OPENED}  # the keys came back with the log
    assert gateway_db(settings, town).lookup(token) is not None
    dispose_engines()


def test_a_damaged_or_foreign_backup_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    settings = StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    hierarchy = Hierarchy.load()
    town, other = (hierarchy.ref(hierarchy.by_code(c)) for c in (TOWN, "430582102"))
    seed(settings, (TOWN, "430582102"), days=5, seed=5, scale=0.2, hierarchy=hierarchy)
    folder = Path(backup(settings, town, tmp_path / "b")["folder"])
    with pytest.raises(BackupError, match=r"is a backup of .*\(430582101\), not of .*\(430582102\)"):
        restore(settings, other, folder)
    with pytest.raises(BackupError, match="holds .* events here: restore over it only with --force"):
        restore(settings, town, folder)
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    log = damaged / "log.sqlite"
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0xFF
    log.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="log.sqlite does not match the manifest"):
        restore(settings, town, damaged, force=True)
    (damaged / "manifest.json").unlink()
    with pytest.raises(BackupError, match="no readable manifest.json"):
        restore(settings, town, damaged, force=True)
    with pytest.raises(BackupError, match="has no store here"):
        backup(settings, hierarchy.ref(hierarchy.by_code("430582103")), tmp_path / "b")
    with NodeStores(settings) as stores:
        assert verify_node(hierarchy, stores, town)["ok"]
    dispose_engines()


def test_views_the_backup_did_not_hold_are_made_again_not_kept(tmp_path: Path) -> None:
    """A projection newer than the backup would stand ahead of the restored log: it goes, and is made again."""
    settings = StoreSettings(store="sqlite", data_dir=tmp_path / "var")
    hierarchy = Hierarchy.load()
    town = hierarchy.ref(hierarchy.by_code(TOWN))
    with Activity(settings, (TOWN,), days=120, seed=6, scale=1.0) as activity:
        activity.write(day=SIM_START + timedelta(days=20))
        folder = Path(backup(settings, town, tmp_path / "b")["folder"])
        assert "views.sqlite" not in read_manifest(folder, town)["files"]
        assert activity.write() > 0
    views = next(p.path for p in parts(settings, town) if p.name == "views.sqlite")
    with NodeStores(settings) as stores:
        update(stores.open(town), settings, hierarchy=hierarchy)
    assert views.exists()
    done = restore(settings, town, folder, force=True)
    assert not views.exists() and done["before_restore"]
    with NodeStores(settings) as stores:
        store = stores.open(town)
        assert store.max_position() == done["position"]
        assert update(store, settings, hierarchy=hierarchy).position == done["position"]
    dispose_engines()
