"""Issuing, re-roling and revoking access tokens, recorded: one piece for the command line and the API.

Each act is an event of the token's record in the node's own log (``domain.tokens.AccessToken``), written before
the token table beside the store is changed: the log is what replicates up and what an audit reads; the table is what
a gateway checks a presented token against. A token issued by an earlier version has no record: the first act on it
records its issue first, from the table's row, as a system act dated when the token was made.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import NoReturn

from eventsourcing.application import AggregateNotFoundError

from domain.base import Attribution, NodeRef, NotFound, Role
from domain.store import NodeStore, StoreSettings
from domain.tokens import AccessToken, access_token_id
from gateways.api.storage import TokenRecord, gateway_db, new_token_id


def issue_token(
    settings: StoreSettings,
    node: NodeRef,
    by: Attribution,
    *,
    role: str,
    subject: str,
    note: str = "",
    expires_at: datetime | None = None,
) -> tuple[str, TokenRecord]:
    """A new token of ``node`` (its text, shown once, and its record); its issue recorded first."""
    token_id = new_token_id()
    record = AccessToken.issue(node, by, token_id=token_id, role=role, subject=subject, note=note, expires_at=expires_at)
    with closing(NodeStore(node, settings)) as store:
        store.save(record)
    return gateway_db(settings, node).issue(
        role=record.token_role, subject=record.subject, note=note, expires_at=expires_at, token_id=token_id
    )


def revoke_token(settings: StoreSettings, node: NodeRef, by: Attribution, token_id: str, reason: str = "") -> TokenRecord:
    """Revoke token ``token_id`` of ``node``. A revocation recorded before whose table change was lost (the process
    stopped between the two) is completed, not refused."""
    table = gateway_db(settings, node)
    row = table.get(token_id)
    with closing(NodeStore(node, settings)) as store:
        record = _record(store, node, row, token_id)
        if not record.revoked:
            record.revoke(by, reason)
            store.save(record)
        elif row is not None and row.revoked_at is not None:
            raise record.reject("the token is revoked: 令牌已吊销")
    return table.revoke(token_id) or _gone(node, token_id)


def change_token_role(settings: StoreSettings, node: NodeRef, by: Attribution, token_id: str, role: str) -> TokenRecord:
    """Give token ``token_id`` of ``node`` another office role."""
    table = gateway_db(settings, node)
    with closing(NodeStore(node, settings)) as store:
        record = _record(store, node, table.get(token_id), token_id)
        record.change_role(by, role)
        store.save(record)
    return table.set_role(token_id, record.token_role) or _gone(node, token_id)


def _gone(node: NodeRef, token_id: str) -> NoReturn:
    raise NotFound(f"{AccessToken.label} {token_id}", "unknown", f"no token {token_id} at {node}")


def _record(store: NodeStore, node: NodeRef, row: TokenRecord | None, token_id: str) -> AccessToken:
    """The token's record; for a token issued before tokens were recorded, its issue recorded now from its row."""
    if row is None:
        _gone(node, token_id)
    try:
        return store.get(access_token_id(node.node_id, token_id))  # type: ignore[no-any-return]
    except AggregateNotFoundError:
        pass
    system = Attribution("system", Role.ADMINISTRATOR, row.created_at)
    record = AccessToken.issue(
        node,
        system,
        token_id=token_id,
        role=row.role,
        subject=row.subject,
        note=f"{row.note} (签发早于令牌记录 / issued before tokens were recorded)".strip(),
        expires_at=row.expires_at,
    )
    store.save(record)
    if row.revoked_at is not None:
        record.revoke(Attribution("system", Role.ADMINISTRATOR, row.revoked_at), "吊销早于令牌记录")
        store.save(record)
    return record
