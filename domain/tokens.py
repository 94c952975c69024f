"""访问令牌: the life of an access token at its node, as facts in the node's own log.

A token's secret is never recorded: only its id, for whom it was issued (its subject: a person's name or account, a
deputy's id), in which role, until when, and who issued, re-roled or revoked it (each event's actor, role and token).
The log replicates up like any other, so the levels above see every credential their subtree issued, and every
event written with a token names its id (``Attribution.token``): an audit joins the two.

Issuing a deputy credential is what lets an evaluation be recorded as the deputy's own, so the event names who
issued it, and it is never given another role afterwards: a deputy credential belongs to one deputy, an office
account is never turned into one.

    issued ─change_role─▶ issued (another office role) ─revoke─▶ revoked
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, Role, natural_id, require_text

#: The roles a token may be issued in (``Role.SYSTEM`` is the node's own acts, never a token's).
TOKEN_ROLES = (Role.RECORDER, Role.VIEWER, Role.AUDITOR, Role.ADMINISTRATOR, Role.DEPUTY)
#: Who issues, re-roles and revokes tokens: the node's administrator (or the host's own command line, as one).
ISSUERS = (Role.ADMINISTRATOR,)


def access_token_id(node_id: UUID, token_id: str) -> UUID:
    """The id of the record of token ``token_id`` issued at node ``node_id``."""
    return natural_id("access-token", node_id, token_id)


class AccessToken(DutyAggregate):
    """One access token of the node: issued, perhaps given another role, revoked."""

    label: ClassVar[str] = "访问令牌"

    class Issued(DutyAggregate.Created):
        label: ClassVar[str] = "签发令牌"
        token_id: str
        token_role: str
        subject: str
        note: str
        expires_at: datetime | None

        def apply(self, token: AccessToken) -> None:
            token.token_id = self.token_id
            token.token_role = self.token_role
            token.subject = self.subject
            token.revoked = False

    class RoleChanged(DutyAggregate.Event):
        label: ClassVar[str] = "变更令牌角色"
        token_role: str
        previous_role: str

        def apply(self, token: AccessToken) -> None:
            token.token_role = self.token_role

    class Revoked(DutyAggregate.Event):
        label: ClassVar[str] = "吊销令牌"
        reason: str

        def apply(self, token: AccessToken) -> None:
            token.revoked = True

    if TYPE_CHECKING:  # set by the events' apply()
        token_id: str
        token_role: str
        subject: str
        revoked: bool

    @classmethod
    def issue(
        cls,
        node: NodeRef,
        by: Attribution,
        *,
        token_id: str,
        role: Role | str,
        subject: str,
        note: str = "",
        expires_at: datetime | None = None,
    ) -> AccessToken:
        name = f"{cls.label} {token_id}"
        _require_issuer(name, "new", by)
        granted = _role(name, "new", role)
        subject = require_text(cls.label, "subject", subject, 100)
        if granted is Role.DEPUTY:
            try:
                subject = str(UUID(subject))
            except ValueError:
                raise DomainError(name, "new", f"a deputy credential's subject is the deputy's id (got {subject!r})") from None
        if expires_at is not None and expires_at.tzinfo is None:
            raise DomainError(name, "new", "expires_at must be timezone-aware")
        return cls.start(
            cls.Issued,
            access_token_id(node.node_id, token_id),
            node.node_id,
            by,
            token_id=token_id,
            token_role=granted._value_,
            subject=subject,
            note=(note or "").strip()[:200],
            expires_at=expires_at,
        )

    def change_role(self, by: Attribution, role: Role | str) -> None:
        self._require_live(by)
        granted = _role(str(self), self.state_label, role)
        if Role.DEPUTY in (granted, Role(self.token_role)):
            raise self.reject(
                "a deputy credential belongs to one deputy and an office account never becomes one: issue a new token"
            )
        if granted._value_ == self.token_role:
            raise self.reject(f"the token is a {self.token_role} already")
        self.record(self.RoleChanged, by, token_role=granted._value_, previous_role=self.token_role)

    def revoke(self, by: Attribution, reason: str = "") -> None:
        self._require_live(by)
        self.record(self.Revoked, by, reason=(reason or "").strip()[:200])

    def _require_live(self, by: Attribution) -> None:
        _require_issuer(str(self), self.state_label, by)
        if self.revoked:
            raise self.reject("the token is revoked: 令牌已吊销")

    @property
    def state_label(self) -> str:
        return "revoked" if self.revoked else "issued"

    def reject(self, rule: str) -> DomainError:
        return DomainError(str(self), self.state_label, rule)

    def __str__(self) -> str:
        return f"{self.label} {self.token_id}"


def _require_issuer(name: str, state: str, by: Attribution) -> None:
    if by.role not in ISSUERS:
        raise DomainError(name, state, f"tokens are issued, re-roled and revoked by an administrator, not a {by.role.value}")


def _role(name: str, state: str, role: Role | str) -> Role:
    try:
        granted = Role(role)
    except ValueError:
        granted = None
    if granted not in TOKEN_ROLES:
        raise DomainError(name, state, f"role must be one of {', '.join(r.value for r in TOKEN_ROLES)} (got {role!r})")
    return granted
