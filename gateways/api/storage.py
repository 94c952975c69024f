"""What a gateway keeps beside a node's event store: access tokens (hashed).

SQLite: one small file next to the node's log, ``<data_dir>/nodes/<node id>.gateway.sqlite``.
PostgreSQL: a table in the node's database, prefixed like the node's own tables (``n<node id hex>_``).

Tokens are credentials, not facts of deputy work, so they stay out of the event log and its database file.
The answers to commands sent with an Idempotency-Key are kept in the node's own store instead, written in the
transaction of the command's events (``domain.persistence.StoredAnswer``); a gateway of an earlier version kept
them here, and ``legacy_answers`` hands those over once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from domain.base import NodeRef
from domain.files import private_sqlite
from domain.persistence import CREATE_LOCK, StoredAnswer
from domain.store import StoreSettings

TOKEN_PREFIX = "yq"


def hash_secret(token: str) -> str:
    """The stored form of a token: sha256 of the whole token text, hex. The token itself is never stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(node_id: UUID) -> str:
    """``yq_<node id hex>_<random secret>``: the node part says which node's table holds the hash."""
    return f"{TOKEN_PREFIX}_{node_id.hex}_{secrets.token_urlsafe(32)}"


def new_token_id() -> str:
    """A token's id: 12 hex digits, what events and audits name it by."""
    return secrets.token_hex(6)


def token_node(token: str) -> UUID | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    try:
        return UUID(hex=parts[1])
    except ValueError:
        return None


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    node_id: UUID
    role: str
    subject: str
    note: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        now = datetime.now(UTC)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "node_id": str(self.node_id),
            "role": self.role,
            "subject": self.subject,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": self.active,
        }


class _UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware datetimes on both backends (SQLite stores ISO text)."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        return value.astimezone(UTC).isoformat() if value is not None else None

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None


class GatewayDB:
    """The tokens of one node."""

    def __init__(self, engine: Engine, node_id: UUID, prefix: str = "") -> None:
        self.engine = engine
        self.node_id = node_id
        meta = sa.MetaData()
        self.tokens = sa.Table(
            f"{prefix}gateway_tokens",
            meta,
            sa.Column("token_id", sa.String(16), primary_key=True),
            sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("role", sa.String(20), nullable=False),
            sa.Column("subject", sa.String(100), nullable=False),
            sa.Column("note", sa.String(200), nullable=False, default=""),
            sa.Column("created_at", _UTCDateTime, nullable=False),
            sa.Column("expires_at", _UTCDateTime, nullable=True),
            sa.Column("revoked_at", _UTCDateTime, nullable=True),
        )
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # one creator at a time, as the node stores (a race otherwise)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CREATE_LOCK})
            meta.create_all(conn)

    # ------------------------------------------------------------------------------------------------ tokens

    def issue(
        self,
        *,
        role: str,
        subject: str,
        note: str = "",
        expires_at: datetime | None = None,
        token_id: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """A new token (its text, shown once) and its record; ``token_id``: the id its issue was recorded under."""
        token = new_token(self.node_id)
        record = TokenRecord(
            token_id=token_id or new_token_id(),
            node_id=self.node_id,
            role=role,
            subject=subject,
            note=note,
            created_at=datetime.now(UTC),
            expires_at=expires_at,
            revoked_at=None,
        )
        with self.engine.begin() as conn:
            conn.execute(
                self.tokens.insert().values(
                    token_id=record.token_id,
                    token_hash=hash_secret(token),
                    role=role,
                    subject=subject,
                    note=note,
                    created_at=record.created_at,
                    expires_at=expires_at,
                    revoked_at=None,
                )
            )
        return token, record

    def lookup(self, token: str) -> TokenRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(self.tokens.select().where(self.tokens.c.token_hash == hash_secret(token))).first()
        return self._record(row) if row is not None else None

    def revoke(self, token_id: str) -> TokenRecord | None:
        with self.engine.begin() as conn:
            conn.execute(
                self.tokens.update()
                .where(self.tokens.c.token_id == token_id, self.tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return self.get(token_id)

    def set_role(self, token_id: str, role: str) -> TokenRecord | None:
        with self.engine.begin() as conn:
            conn.execute(self.tokens.update().where(self.tokens.c.token_id == token_id).values(role=role))
        return self.get(token_id)

    def get(self, token_id: str) -> TokenRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(self.tokens.select().where(self.tokens.c.token_id == token_id)).first()
        return self._record(row) if row is not None else None

    def list_tokens(self) -> list[TokenRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(self.tokens.select().order_by(self.tokens.c.created_at)).all()
        return [self._record(r) for r in rows]

    def _record(self, row: Any) -> TokenRecord:
        return TokenRecord(
            token_id=row.token_id,
            node_id=self.node_id,
            role=row.role,
            subject=row.subject,
            note=row.note,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    # -------------------------------------------------------------------------------- earlier versions' answers

    def legacy_answers(self) -> list[StoredAnswer]:
        """The answers an earlier gateway kept in table ``gateway_idempotency``; the table is dropped: call it
        once, and store what it returns (``GatewayDB`` of this version keeps no answers)."""
        name = f"{self.tokens.name.removesuffix('gateway_tokens')}gateway_idempotency"
        if not sa.inspect(self.engine).has_table(name):
            return []
        table = sa.Table(name, sa.MetaData(), autoload_with=self.engine)
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(table).where(table.c.state == "done")).all()
            table.drop(conn)
        return [StoredAnswer(r.principal, r.key, r.request_hash, r.status_code, r.body.encode()) for r in rows]


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_engine(path: str) -> Engine:
    private_sqlite(Path(path))  # credentials: the file 0600 (its -wal/-shm follow), the folder 0700
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})

    @sa_event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def _engine_for(url: str, make: Any) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make()
        return engine


def gateway_db(settings: StoreSettings, node: NodeRef) -> GatewayDB:
    """The gateway tables of a node, where its store lives."""
    node_id = node.node_id
    if settings.backend(node.level) == "sqlite":
        path = settings.data_dir / "nodes" / f"{node_id}.gateway.sqlite"
        engine = _engine_for(f"sqlite:{path.resolve()}", lambda: _sqlite_engine(str(path)))
        return GatewayDB(engine, node_id)
    if not settings.pg_dsn:
        raise ValueError("YIPANQI_STORE=postgres needs YIPANQI_PG_DSN")
    url = settings.pg_dsn.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
    engine = _engine_for(url, lambda: sa.create_engine(url, pool_size=settings.pg_pool_size, max_overflow=4, pool_pre_ping=True))
    return GatewayDB(engine, node_id, prefix=f"n{node_id.hex}_")


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
