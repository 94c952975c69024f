"""Access tokens as recorded facts: who issued, re-roled and revoked which token, in which role; a deputy credential
is one deputy's and never changes role; only an administrator acts on tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest

from domain.base import Attribution, DomainError, NodeRef, Role
from domain.tokens import AccessToken, access_token_id
from tests.unit.conftest import NOW

ADMIN = Attribution("县人大办 王明", Role.ADMINISTRATOR, NOW, token="0a1b2c3d4e5f")
DEPUTY = UUID(int=7)


def issued(county: NodeRef, role: str = "recorder", subject: str = "录入员 李华") -> AccessToken:
    return AccessToken.issue(county, ADMIN, token_id="abcdef012345", role=role, subject=subject, note="新入职")


def test_an_issue_names_the_token_its_role_subject_and_issuer(county: NodeRef) -> None:
    token = issued(county)
    event = token.pending_events[0]
    assert isinstance(event, AccessToken.Issued)
    assert token.id == access_token_id(county.node_id, "abcdef012345")
    assert (event.token_id, event.token_role, event.subject, event.note) == ("abcdef012345", "recorder", "录入员 李华", "新入职")
    assert (event.actor, event.role, event.token, event.owner) == (
        "县人大办 王明",
        "administrator",
        "0a1b2c3d4e5f",
        county.node_id,
    )
    assert "secret" not in str(vars(event)) and "yq_" not in str(vars(event))


def test_role_change_and_revocation_are_recorded(county: NodeRef) -> None:
    token = issued(county)
    token.change_role(ADMIN, "auditor")
    token.revoke(ADMIN, "离岗")
    kinds = [type(e).__name__ for e in token.pending_events]
    assert kinds == ["Issued", "RoleChanged", "Revoked"]
    changed = token.pending_events[1]
    assert (changed.token_role, changed.previous_role) == ("auditor", "recorder")  # type: ignore[attr-defined]
    assert token.revoked and token.state_label == "revoked"


@pytest.mark.parametrize("role", [Role.RECORDER, Role.VIEWER, Role.AUDITOR, Role.DEPUTY, Role.SYSTEM])
def test_only_an_administrator_acts_on_tokens(county: NodeRef, role: Role) -> None:
    other = Attribution("someone", role, NOW)
    with pytest.raises(DomainError, match=f"by an administrator, not a {role.value}"):
        AccessToken.issue(county, other, token_id="abcdef012345", role="viewer", subject="x")
    token = issued(county)
    for act in (lambda: token.change_role(other, "viewer"), lambda: token.revoke(other)):
        with pytest.raises(DomainError, match=f"by an administrator, not a {role.value}"):
            act()
    assert len(token.pending_events) == 1


def test_a_deputy_credential_is_one_deputys_and_never_changes_role(county: NodeRef) -> None:
    with pytest.raises(DomainError, match="subject is the deputy's id"):
        AccessToken.issue(county, ADMIN, token_id="abcdef012345", role="deputy", subject="张代表")
    deputy = issued(county, "deputy", str(DEPUTY))
    office = issued(county)
    for token, role in ((deputy, "recorder"), (office, "deputy")):
        with pytest.raises(DomainError, match="a deputy credential belongs to one deputy"):
            token.change_role(ADMIN, role)
        assert len(token.pending_events) == 1


@pytest.mark.parametrize(
    ("role", "subject", "expires", "rule"),
    [
        ("system", "x", None, "role must be one of recorder, viewer, auditor, administrator, deputy"),
        ("boss", "x", None, "role must be one of"),
        ("viewer", "  ", None, "subject must not be empty"),
        ("viewer", "x" * 101, None, "subject must be at most 100 characters"),
        ("viewer", "x", datetime(2030, 1, 1), "expires_at must be timezone-aware"),
    ],
)
def test_bad_issues_are_refused(county: NodeRef, role: str, subject: str, expires: datetime | None, rule: str) -> None:
    with pytest.raises(DomainError, match=rule):
        AccessToken.issue(county, ADMIN, token_id="abcdef012345", role=role, subject=subject, expires_at=expires)


def test_a_revoked_token_takes_no_more_acts(county: NodeRef) -> None:
    token = issued(county)
    token.revoke(ADMIN)
    for act in (lambda: token.revoke(ADMIN), lambda: token.change_role(ADMIN, "viewer")):
        with pytest.raises(DomainError, match="令牌已吊销") as raised:
            act()
        assert raised.value.state == "revoked"
    with pytest.raises(DomainError, match="is a recorder already"):
        issued(county).change_role(ADMIN, "recorder")
