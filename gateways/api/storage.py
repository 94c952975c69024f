"""What a gateway keeps beside a node's event store: access tokens (hashed) and idempotency records.

SQLite: one small file next to the node's log, ``<data_dir>/nodes/<node id>.gateway.sqlite``.
PostgreSQL: two tables in the node's database, prefixed like the node's own tables (``n<node id hex>_``).

Neither table is part of the event log: tokens are credentials, not facts of deputy work, and idempotency records
are a cache of answers. Losing them loses no fact (tokens are issued again; a retry after a loss records nothing
twice for creations, whose ids derive from the Idempotency-Key, and is refused by the domain's rules otherwise).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from domain.store import StoreSettings

TOKEN_PREFIX = "yq"


def hash_secret(token: str) -> str:
    """The stored form of a token: sha256 of the whole token text, hex. The token itself is never stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(node_id: UUID) -> str:
    """``yq_<node id hex>_<random secret>``: the node part says which node's table holds the hash."""
    return f"{TOKEN_PREFIX}_{node_id.hex}_{secrets.token_urlsafe(32)}"


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


@dataclass(frozen=True)
class IdempotencyRecord:
    state: str  # "pending" while the first request runs, "done" once its answer is stored
    request_hash: str
    status_code: int
    body: Any


class _UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware datetimes on both backends (SQLite stores ISO text)."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        return value.astimezone(UTC).isoformat() if value is not None else None

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None


class GatewayDB:
    """Tokens and idempotency records of one node."""

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
        self.idempotency = sa.Table(
            f"{prefix}gateway_idempotency",
            meta,
            sa.Column("principal", sa.String(16), primary_key=True),  # token id: keys are per client
            sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("request_hash", sa.String(64), nullable=False),
            sa.Column("state", sa.String(10), nullable=False),
            sa.Column("status_code", sa.Integer, nullable=False, default=0),
            sa.Column("body", sa.Text, nullable=False, default=""),
            sa.Column("created_at", _UTCDateTime, nullable=False),
        )
        meta.create_all(engine)

    # ------------------------------------------------------------------------------------------------ tokens

    def issue(self, *, role: str, subject: str, note: str = "", expires_at: datetime | None = None) -> tuple[str, TokenRecord]:
        token = new_token(self.node_id)
        record = TokenRecord(
            token_id=secrets.token_hex(6),
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

    # ----------------------------------------------------------------------------------------- idempotency

    def reserve(self, principal: str, key: str, request_hash: str) -> IdempotencyRecord | None:
        """Claim ``key`` for a request; None when claimed now, else the record that holds it already."""
        t = self.idempotency
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    t.insert().values(
                        principal=principal,
                        key=key,
                        request_hash=request_hash,
                        state="pending",
                        status_code=0,
                        body="",
                        created_at=datetime.now(UTC),
                    )
                )
            return None
        except sa.exc.IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(t.select().where(t.c.principal == principal, t.c.key == key)).first()
        if row is None:  # released in between: try once more
            return self.reserve(principal, key, request_hash)
        return IdempotencyRecord(row.state, row.request_hash, row.status_code, json.loads(row.body) if row.body else None)

    def lookup_answer(self, principal: str, key: str) -> IdempotencyRecord | None:
        t = self.idempotency
        with self.engine.connect() as conn:
            row = conn.execute(t.select().where(t.c.principal == principal, t.c.key == key)).first()
        if row is None:
            return None
        return IdempotencyRecord(row.state, row.request_hash, row.status_code, json.loads(row.body) if row.body else None)

    def record_answer(self, principal: str, key: str, request_hash: str, status_code: int, body: Any) -> None:
        """Store the first answer for ``key`` (the caller holds the node's write lock, so no one else claims it here)."""
        t = self.idempotency
        with self.engine.begin() as conn:
            conn.execute(
                t.insert().values(
                    principal=principal,
                    key=key,
                    request_hash=request_hash,
                    state="done",
                    status_code=status_code,
                    body=json.dumps(body, ensure_ascii=False, default=str),
                    created_at=datetime.now(UTC),
                )
            )

    def complete(self, principal: str, key: str, status_code: int, body: Any) -> None:
        t = self.idempotency
        with self.engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.principal == principal, t.c.key == key)
                .values(state="done", status_code=status_code, body=json.dumps(body, ensure_ascii=False, default=str))
            )

    def release(self, principal: str, key: str) -> None:
        t = self.idempotency
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.principal == principal, t.c.key == key, t.c.state == "pending"))


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_engine(path: str) -> Engine:
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


def gateway_db(settings: StoreSettings, node_id: UUID) -> GatewayDB:
    """The gateway tables of a node, where its store lives."""
    if settings.store == "sqlite":
        path = settings.data_dir / "nodes" / f"{node_id}.gateway.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
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
