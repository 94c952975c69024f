"""Standing committees: county level and above only; members appointed to the four posts and removed."""

from __future__ import annotations

import pytest

from domain.base import Attribution, NodeRef
from domain.bodies import SC_POSTS, StandingCommittee


@pytest.mark.parametrize("where", ["province", "prefecture", "county", "other_county"])
def test_constitute_at_county_level_and_above(request, clerk: Attribution, where: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    sc = StandingCommittee.constitute(owner, clerk, term=18)
    assert sc.id == StandingCommittee.id_for(owner.node_id, 18)
    assert (sc.owner, sc.term, sc.members) == (owner.node_id, 18, {})
    assert sc.state_label == "active"


@pytest.mark.parametrize("where", ["town", "street", "ethnic_township"])
def test_no_standing_committee_at_a_township(request, clerk: Attribution, refused, where: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    refused(
        lambda: StandingCommittee.constitute(owner, clerk, term=18),
        named=f"standing committee of {owner}",
        rule="a township has a presidium, not a standing committee",
    )


@pytest.mark.parametrize("term", [0, 100])
def test_term_out_of_range(county: NodeRef, clerk: Attribution, refused, term: int) -> None:
    refused(
        lambda: StandingCommittee.constitute(county, clerk, term=term),
        named="standing committee of 洞口县(430525)",
        rule=f"term must be between 1 and 99 (got {term})",
    )


def test_appoint_and_remove_members(province: NodeRef, clerk: Attribution) -> None:
    sc = StandingCommittee.constitute(province, clerk, term=14)
    for i, post in enumerate(SC_POSTS):
        sc.appoint(clerk, member_id=f" sc-{i} ", name=f" 成员{i} ", post=post)
    assert roster(sc) == {f"sc-{i}": ("成员" + str(i), post) for i, post in enumerate(SC_POSTS)}
    sc.remove_member(clerk, member_id="sc-3", reason=" 调任 ")
    left = sc.pending_events[-1]
    assert "sc-3" not in sc.members
    assert isinstance(left, StandingCommittee.MemberLeft) and left.reason == "调任"
    assert [type(e).__name__ for e in sc.pending_events] == ["Constituted", *["MemberAppointed"] * 4, "MemberLeft"]


def test_appoint_and_remove_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    sc = StandingCommittee.constitute(county, clerk, term=18)
    sc.appoint(clerk, member_id="sc-1", name="张主任", post="主任")
    rejects(
        sc,
        lambda: sc.appoint(clerk, member_id="sc-1", name="张主任", post="委员"),
        state="active",
        rule="member sc-1 is already on the committee",
    )
    rejects(
        sc,
        lambda: sc.appoint(clerk, member_id="sc-2", name="李某", post="常务副主任"),
        state="active",
        rule="post must be one of 主任, 副主任, 秘书长, 委员 (got '常务副主任')",
    )
    rejects(
        sc,
        lambda: sc.remove_member(clerk, member_id="sc-9", reason="x"),
        state="active",
        rule="member sc-9 is not on the committee",
    )


def test_no_secretary_general_at_a_county(county: NodeRef, clerk: Attribution, rejects) -> None:
    sc = StandingCommittee.constitute(county, clerk, term=18)
    rejects(sc, lambda: sc.appoint(clerk, member_id="sc-2", name="王某", post="秘书长"), state="active", rule="秘书长")


@pytest.mark.parametrize("post", ["主任", "秘书长"])
def test_one_chair_and_one_secretary_general(province: NodeRef, clerk: Attribution, rejects, post: str) -> None:
    sc = StandingCommittee.constitute(province, clerk, term=14)
    sc.appoint(clerk, member_id="sc-1", name="甲", post=post)
    rejects(sc, lambda: sc.appoint(clerk, member_id="sc-2", name="乙", post=post), state="active", rule=post)


def test_a_second_chair_after_the_first_left_is_fine(province: NodeRef, clerk: Attribution) -> None:
    sc = StandingCommittee.constitute(province, clerk, term=14)
    sc.appoint(clerk, member_id="sc-1", name="甲", post="主任")
    sc.remove_member(clerk, member_id="sc-1", reason="退休")
    sc.appoint(clerk, member_id="sc-2", name="乙", post="主任")
    assert roster(sc) == {"sc-2": ("乙", "主任")}


FIELD_CASES = {
    "empty member id": (lambda sc, by: sc.appoint(by, member_id=" ", name="x", post="委员"), "member_id must not be empty"),
    "empty name": (lambda sc, by: sc.appoint(by, member_id="sc-5", name="", post="委员"), "name must not be empty"),
    "empty reason": (lambda sc, by: sc.remove_member(by, member_id="sc-1", reason=""), "reason must not be empty"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(county: NodeRef, clerk: Attribution, records_nothing, case: str) -> None:
    sc = StandingCommittee.constitute(county, clerk, term=18)
    sc.appoint(clerk, member_id="sc-1", name="张主任", post="主任")
    command, rule = FIELD_CASES[case]
    records_nothing(sc, lambda: command(sc, clerk), rule=rule)


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_committee_and_its_state(county: NodeRef, clerk: Attribution, rejects, case: str) -> None:
    sc = StandingCommittee.constitute(county, clerk, term=18)
    sc.appoint(clerk, member_id="sc-1", name="张主任", post="主任")
    command, rule = FIELD_CASES[case]
    rejects(sc, lambda: command(sc, clerk), state="active", rule=rule)


def roster(sc: StandingCommittee) -> dict[str, tuple[str, str]]:
    """The members on the committee now: their names and posts."""
    return {member: (m["name"], m["post"]) for member, m in sc.members.items()}
