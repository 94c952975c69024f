"""Fixtures shared by integration tests: node stores on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings

#: A township whose store tests write (𦰡溪瑶族乡, a township of 邵阳市: its name is outside the BMP).
TOWNSHIP = "430525203"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    """SQLite files, or a fresh PostgreSQL database; the data directory (keys, failures) under ``tmp_path``."""
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path)


@pytest.fixture
def store(settings: StoreSettings) -> Iterator[NodeStore]:
    """The township's store."""
    hierarchy = Hierarchy.load()
    store = NodeStore(hierarchy.ref(hierarchy.resolve(TOWNSHIP)), settings)
    yield store
    store.close()
