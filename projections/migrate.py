"""Alembic, run programmatically: the migrations ship in the package (``projections/migrations``), each node's
database or schema keeps its own version table, and no alembic.ini is needed at run time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

SCRIPTS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "projection_version"


def config(connection: Connection | None = None, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(connection: Connection, schema: str | None, revision: str = "head") -> None:
    command.upgrade(config(connection, schema), revision)


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head() or ""
