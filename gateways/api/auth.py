"""Access: bearer tokens that carry a node and a role, checked against the hashes kept beside the node's store.

Roles (``domain.base.Role``) and what they may do, at the token's node and (reads only) anywhere in its subtree:

| role | 中文 | writes | reads views, lists, aggregates, sync | history, as-of | personal data of the public |
|---|---|---|---|---|---|
| recorder | 录入员 | own node's aggregates | subtree | — | unmasked for records its own node owns |
| viewer | 查看员 | — | subtree | — | masked |
| auditor | 审计员 | — | subtree | subtree | masked |
| administrator | 管理员 | own node's aggregates | subtree | subtree | unmasked for records its own node owns |
| deputy | 代表本人 | only the evaluation of a reply to a suggestion they lead | their own suggestions | — | masked |

A node writes only aggregates it owns; a token writes only at its own node (a county's token cannot record for its
townships: each office records its own facts). The province's tokens read everything.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from uuid import UUID

from domain.base import NodeRef, Role
from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from gateways.api.storage import gateway_db, hash_secret, token_node

ISSUABLE_ROLES = (Role.RECORDER, Role.VIEWER, Role.AUDITOR, Role.ADMINISTRATOR, Role.DEPUTY)
ROLE_LABELS = {
    Role.RECORDER: "录入员",
    Role.VIEWER: "查看员",
    Role.AUDITOR: "审计员",
    Role.ADMINISTRATOR: "管理员",
    Role.DEPUTY: "代表本人",
}
WRITERS = frozenset({Role.RECORDER, Role.ADMINISTRATOR})
READERS = frozenset({Role.RECORDER, Role.VIEWER, Role.AUDITOR, Role.ADMINISTRATOR})
AUDITORS = frozenset({Role.AUDITOR, Role.ADMINISTRATOR})
SEE_PERSONAL_DATA = frozenset({Role.RECORDER, Role.ADMINISTRATOR})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, node, role and subject (a person's name or account; a deputy's id)."""

    token_id: str
    node: NodeRef
    role: Role
    subject: str

    @property
    def label(self) -> str:
        return f"{self.subject} ({ROLE_LABELS.get(self.role, self.role.value)} @ {self.node.name} {self.node.code})"


class AuthError(Exception):
    def __init__(self, status: int, rule: str, field: str | None = None) -> None:
        super().__init__(rule)
        self.status = status
        self.rule = rule
        self.field = field


class TokenVerifier:
    """Looks tokens up by hash in their node's table; answers are cached for ``cache_s`` (revocation takes effect
    within that time in a running gateway; default 5 s, ``YIPANQI_TOKEN_CACHE_S``)."""

    def __init__(self, hierarchy: Hierarchy, settings: StoreSettings, cache_s: float | None = None) -> None:
        self.hierarchy = hierarchy
        self.settings = settings
        self.cache_s = float(os.environ.get("YIPANQI_TOKEN_CACHE_S", "5")) if cache_s is None else cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        key = hash_secret(token)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            principal = self._lookup(token)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now + self.cache_s, principal)
        if principal is None:
            raise AuthError(401, "the token is unknown, revoked or expired")
        return principal

    def _lookup(self, token: str) -> Principal | None:
        node_id = token_node(token)
        if node_id is None or node_id not in self.hierarchy:
            return None
        node = self.hierarchy.ref(self.hierarchy.get(node_id))
        if (
            self.settings.backend(node.level) == "sqlite"
            and not (self.settings.data_dir / "nodes" / f"{node_id}.gateway.sqlite").exists()
        ):
            return None
        record = gateway_db(self.settings, node).lookup(token)
        if record is None or not record.active:
            return None
        return Principal(
            token_id=record.token_id,
            node=node,
            role=Role(record.role),
            subject=record.subject,
        )

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


class Access:
    """The rules above, over the administrative tree."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy

    def within(self, node_id: UUID, region_id: UUID) -> bool:
        return node_id in self.hierarchy and self.hierarchy.is_within(node_id, region_id)

    def require_read(self, who: Principal, node: NodeRef, *, audit: bool = False) -> None:
        if who.role not in READERS:
            raise AuthError(403, f"a {who.role.value} token cannot read this (roles that can: {_names(READERS)})")
        if audit and who.role not in AUDITORS:
            raise AuthError(403, f"history and as-of are for auditors and administrators, not a {who.role.value}")
        if not self.within(node.node_id, who.node.node_id):
            raise AuthError(
                403, f"a token of {who.node.name}({who.node.code}) reads only its own subtree, not {node.name}({node.code})"
            )

    def require_write(self, who: Principal, node: NodeRef) -> None:
        if who.role not in WRITERS:
            raise AuthError(403, f"a {who.role.value} token cannot record (roles that can: {_names(WRITERS)})")
        if who.node.node_id != node.node_id:
            raise AuthError(
                403,
                f"a token of {who.node.name}({who.node.code}) records only at its own node, not at {node.name}({node.code})",
            )

    def require_deputy(self, who: Principal, node: NodeRef) -> UUID:
        """The lead deputy's own account at the office that handles the suggestion; returns the deputy id."""
        if who.role is not Role.DEPUTY:
            raise AuthError(
                403,
                "only the lead deputy evaluates a reply, with a token of role deputy; "
                f"an office account ({who.role.value}) can never record an evaluation",
            )
        if who.node.node_id != node.node_id:
            raise AuthError(403, f"this deputy token belongs to {who.node.name}({who.node.code}), not {node.name}({node.code})")
        try:
            return UUID(who.subject)
        except ValueError:
            raise AuthError(403, f"a deputy token's subject must be the deputy's id (got {who.subject!r})") from None

    def require_token_office(self, who: Principal, node: NodeRef, *, issuing: bool) -> None:
        """A node's tokens are managed by its own administrators (``issuing``) and listed to them and its auditors;
        the levels above see every act on them in the replicated log (``yipanqi audit``)."""
        allowed = frozenset({Role.ADMINISTRATOR}) if issuing else AUDITORS
        what = "issues, re-roles or revokes tokens" if issuing else "lists tokens"
        self.require_own_office(who, node, allowed, what, "tokens")

    def require_own_office(self, who: Principal, node: NodeRef, allowed: frozenset[Role], what: str, things: str) -> None:
        """Acts an office does on its own node only (its tokens, its personal data of the public), in ``allowed``
        roles: ``what`` and ``things`` name them in the refusal."""
        if who.role not in allowed:
            raise AuthError(403, f"a {who.role.value} token cannot do this: only {_names(allowed)} {what}")
        if who.node.node_id != node.node_id:
            raise AuthError(
                403,
                f"a token of {who.node.name}({who.node.code}) manages only its own node's {things}, not {node.name}({node.code})",
            )

    def sees_personal_data(self, who: Principal, owner: UUID | None) -> bool:
        return who.role in SEE_PERSONAL_DATA and owner is not None and owner == who.node.node_id


def _names(roles: frozenset[Role]) -> str:
    return ", ".join(sorted(r.value for r in roles))
