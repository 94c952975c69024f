"""Deputies: registration, mandates per congress level and term, credentials review, termination, flags, groups."""

from __future__ import annotations

from typing import Any

import pytest

from domain.base import Attribution, NodeRef, Step
from domain.deputies import Deputy, ElectedVia, GroupKind, MandateStatus, mandate_key
from domain.levels import CongressLevel
from tests.unit.conftest import NOW


def register(owner: NodeRef, by: Attribution, person_id: str = "P-0001", **kw: Any) -> Deputy:
    args: dict[str, Any] = {"name": "李桂花", "gender": "女", "unit": "洞口县江口镇中心小学", "grassroots": True}
    args.update(kw)
    return Deputy.register(owner, by, person_id=person_id, **args)  # type: ignore[arg-type]


def serving(owner: NodeRef, by: Attribution, congress: CongressLevel, term: int = 18) -> Deputy:
    deputy = register(owner, by)
    deputy.grant_mandate(owner, by, congress=congress, term=term, elected_by="江口镇第一选区")
    deputy.review_credentials(by, congress=congress, term=term, passed=True)
    return deputy


# ---------------------------------------------------------------------------------------------- register


def test_register_records_the_person(county: NodeRef, clerk: Attribution) -> None:
    deputy = register(county, clerk, person_id=" P-0001 ", unit="  江口镇中心小学 ")
    assert deputy.id == Deputy.id_for(county.node_id, "P-0001")
    assert deputy.owner == county.node_id
    assert (deputy.name, deputy.gender, deputy.unit) == ("李桂花", "女", "江口镇中心小学")
    assert deputy.grassroots and not deputy.leading_cadre
    assert deputy.mandates == {} and deputy.groups == {}
    assert deputy.state_label == "not serving"
    assert deputy.version == 1
    [event] = deputy.pending_events
    assert isinstance(event, Deputy.Registered)
    assert (event.owner, event.actor, event.role, event.occurred_at) == (
        county.node_id,
        "office-clerk-01",
        "recorder",
        clerk.occurred_at,
    )


def test_id_is_deterministic_per_owner(county: NodeRef, other_county: NodeRef) -> None:
    assert Deputy.id_for(county.node_id, "P-1") == Deputy.id_for(county.node_id, "P-1")
    assert Deputy.id_for(county.node_id, "P-1") != Deputy.id_for(other_county.node_id, "P-1")


@pytest.mark.parametrize(
    ("kw", "rule"),
    [
        ({"grassroots": True, "leading_cadre": True}, "either grassroots or a leading cadre"),
        ({"gender": "M"}, "gender must be 男 or 女"),
        ({"name": "   "}, "name must not be empty"),
        ({"name": "名" * 51}, "name must be at most 50 characters"),
    ],
)
def test_register_rejects(county: NodeRef, clerk: Attribution, refused, kw: dict[str, Any], rule: str) -> None:
    refused(lambda: register(county, clerk, **kw), named="deputy P-0001", rule=rule)


def test_register_rejects_empty_person_id(county: NodeRef, clerk: Attribution, refused) -> None:
    refused(lambda: register(county, clerk, person_id="  "), named="deputy   ", rule="person_id must not be empty")


# ------------------------------------------------------------------------------------------------ mandates


@pytest.mark.parametrize(
    ("where", "congress"),
    [
        ("province", CongressLevel.NATIONAL),
        ("province", CongressLevel.PROVINCIAL),
        ("prefecture", CongressLevel.PREFECTURE),
        ("county", CongressLevel.COUNTY),
        ("town", CongressLevel.TOWNSHIP),
        ("ethnic_township", CongressLevel.TOWNSHIP),
    ],
)
def test_grant_mandate_at_the_recording_office(request, clerk: Attribution, where: str, congress: CongressLevel) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    deputy = register(owner, clerk)
    deputy.grant_mandate(
        owner, clerk, congress=congress.value, term=18, elected_by=" 第一选区 ", via="by_election", delegation=" 洞口代表团 "
    )
    assert deputy.mandates[mandate_key(congress, 18)] == {
        "congress": congress.value,
        "term": 18,
        "elected_by": "第一选区",
        "via": ElectedVia.BY_ELECTION.value,
        "delegation": "洞口代表团",
        "status": MandateStatus.PENDING_REVIEW.value,
        "step": Step("取得代表资格", NOW.date(), NOW.date()),
        "version": 2,  # the grant's: what a correction of the mandate names
        "day": NOW.date(),
    }
    assert deputy.mandate_status(congress, 18) is MandateStatus.PENDING_REVIEW
    assert deputy.congress_levels == [congress]
    assert not deputy.has_active_mandate
    assert deputy.version == 2


def test_province_records_national_and_provincial_mandates_of_one_person(province: NodeRef, clerk: Attribution) -> None:
    deputy = register(province, clerk)
    deputy.grant_mandate(province, clerk, congress=CongressLevel.PROVINCIAL, term=14, elected_by="邵阳市人大")
    deputy.grant_mandate(province, clerk, congress=CongressLevel.NATIONAL, term=14, elected_by="湖南省人大")
    assert deputy.congress_levels == [CongressLevel.NATIONAL, CongressLevel.PROVINCIAL]
    deputy.grant_mandate(province, clerk, congress=CongressLevel.PROVINCIAL, term=13, elected_by="邵阳市人大")
    assert len(deputy.mandates) == 3


@pytest.mark.parametrize(
    ("where", "congress", "rule"),
    [
        ("county", CongressLevel.PROVINCIAL, "省人大代表 mandates are recorded by the 省 office, not at 洞口县(430525)"),
        ("province", CongressLevel.COUNTY, "县市区人大代表 mandates are recorded by the 县市区 office"),
        ("town", CongressLevel.COUNTY, "县市区人大代表 mandates are recorded by the 县市区 office"),
        ("prefecture", CongressLevel.NATIONAL, "全国人大代表 mandates are recorded by the 省 office"),
        ("county", CongressLevel.TOWNSHIP, "乡镇人大代表 mandates are recorded by the 乡镇街道 office"),
    ],
)
def test_grant_mandate_at_the_wrong_level_rejected(
    request, clerk: Attribution, rejects, where: str, congress: CongressLevel, rule: str
) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    deputy = register(owner, clerk)
    rejects(
        deputy,
        lambda: deputy.grant_mandate(owner, clerk, congress=congress, term=1, elected_by="x"),
        state="not serving",
        rule=rule,
    )


def test_grant_township_mandate_at_a_street_rejected(street: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(street, clerk)
    rejects(
        deputy,
        lambda: deputy.grant_mandate(street, clerk, congress=CongressLevel.TOWNSHIP, term=18, elected_by="文昌选区"),
        state="not serving",
        rule="文昌街道(430525001) is a 街道: it has no congress, so no township deputies",
    )


def test_grant_mandate_twice_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    deputy.grant_mandate(county, clerk, congress=CongressLevel.COUNTY, term=18, elected_by="一选区")
    rejects(
        deputy,
        lambda: deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="二选区"),
        state="not serving",
        rule="already holds a 县市区人大代表 mandate of term 18",
    )
    deputy.review_credentials(clerk, congress="county", term=18, passed=True)
    rejects(
        deputy,
        lambda: deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="二选区"),
        state="serving",
        rule="already holds",
    )


def test_grant_mandate_only_by_the_owner_node(county: NodeRef, other_county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    rejects(
        deputy,
        lambda: deputy.grant_mandate(other_county, clerk, congress="county", term=18, elected_by="x"),
        state="not serving",
        rule="only the owner node records this deputy's mandates",
    )


@pytest.mark.parametrize("term", [0, 100, -1])
def test_grant_mandate_term_out_of_range_rejected(county: NodeRef, clerk: Attribution, rejects, term: int) -> None:
    deputy = register(county, clerk)
    rejects(
        deputy,
        lambda: deputy.grant_mandate(county, clerk, congress="county", term=term, elected_by="x"),
        state="not serving",
        rule=f"term must be between 1 and 99 (got {term})",
    )


# ------------------------------------------------------------------------------------ credentials, termination


def test_credentials_review_passes(county: NodeRef, clerk: Attribution) -> None:
    deputy = register(county, clerk)
    deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="x")
    deputy.review_credentials(clerk, congress="county", term=18, passed=True, note="有效")
    assert deputy.mandate_status("county", 18) is MandateStatus.ACTIVE
    assert deputy.has_active_mandate and deputy.state_label == "serving"
    assert isinstance(deputy.pending_events[-1], Deputy.CredentialsReviewed)


def test_credentials_review_fails(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="x")
    deputy.review_credentials(clerk, congress="county", term=18, passed=False, note="选举违法")
    assert deputy.mandate_status("county", 18) is MandateStatus.VOID
    assert deputy.state_label == "not serving"
    rejects(
        deputy,
        lambda: deputy.review_credentials(clerk, congress="county", term=18, passed=True),
        state="not serving",
        rule="the 县市区人大代表 mandate of term 18 is 资格无效, not 待资格审查",
    )
    rejects(
        deputy,
        lambda: deputy.terminate(clerk, congress="county", term=18, reason="调离"),
        state="not serving",
        rule="is 资格无效, not 在任",
    )


def test_credentials_review_twice_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = serving(county, clerk, CongressLevel.COUNTY)
    rejects(
        deputy,
        lambda: deputy.review_credentials(clerk, congress="county", term=18, passed=False),
        state="serving",
        rule="the 县市区人大代表 mandate of term 18 is 在任, not 待资格审查",
    )


def test_credentials_review_of_a_missing_mandate_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    rejects(
        deputy,
        lambda: deputy.review_credentials(clerk, congress="county", term=17, passed=True),
        state="not serving",
        rule="holds no 县市区人大代表 mandate of term 17",
    )


def test_terminate_an_active_mandate(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = serving(county, clerk, CongressLevel.COUNTY)
    deputy.terminate(clerk, congress="county", term=18, reason="  迁出本行政区域 ")
    assert deputy.mandate_status("county", 18) is MandateStatus.TERMINATED
    terminated = deputy.pending_events[-1]
    assert isinstance(terminated, Deputy.MandateTerminated) and terminated.reason == "迁出本行政区域"
    assert deputy.state_label == "not serving"
    rejects(
        deputy,
        lambda: deputy.terminate(clerk, congress="county", term=18, reason="again"),
        state="not serving",
        rule="the 县市区人大代表 mandate of term 18 is 资格终止, not 在任",
    )
    rejects(
        deputy,
        lambda: deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="x"),
        state="not serving",
        rule="already holds a 县市区人大代表 mandate of term 18",
    )


def test_terminate_only_an_active_mandate(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="x")
    rejects(
        deputy,
        lambda: deputy.terminate(clerk, congress="county", term=18, reason="辞职"),
        state="not serving",
        rule="the 县市区人大代表 mandate of term 18 is 待资格审查, not 在任",
    )
    rejects(
        deputy,
        lambda: deputy.terminate(clerk, congress="county", term=19, reason="辞职"),
        state="not serving",
        rule="holds no 县市区人大代表 mandate of term 19",
    )


def test_terminating_one_of_two_mandates_keeps_serving(province: NodeRef, clerk: Attribution) -> None:
    deputy = serving(province, clerk, CongressLevel.PROVINCIAL, term=14)
    deputy.grant_mandate(province, clerk, congress="national", term=14, elected_by="湖南省人大")
    deputy.review_credentials(clerk, congress="national", term=14, passed=True)
    deputy.terminate(clerk, congress="provincial", term=14, reason="当选全国人大代表后辞去")
    assert deputy.has_active_mandate and deputy.state_label == "serving"


# --------------------------------------------------------------------------------------------------- flags


def test_set_flags(county: NodeRef, clerk: Attribution) -> None:
    deputy = register(county, clerk)
    deputy.set_flags(clerk, grassroots=False, leading_cadre=True)
    assert (deputy.grassroots, deputy.leading_cadre) == (False, True)
    deputy.set_flags(clerk, grassroots=False, leading_cadre=False)
    assert (deputy.grassroots, deputy.leading_cadre) == (False, False)
    assert [type(e) for e in deputy.pending_events[1:]] == [Deputy.FlagsSet, Deputy.FlagsSet]


def test_set_flags_rejects_both_and_no_change(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    rejects(
        deputy,
        lambda: deputy.set_flags(clerk, grassroots=True, leading_cadre=True),
        state="not serving",
        rule="a deputy is either grassroots or a leading cadre, not both",
    )
    rejects(
        deputy,
        lambda: deputy.set_flags(clerk, grassroots=True, leading_cadre=False),
        state="not serving",
        rule="the flags are already so",
    )


# -------------------------------------------------------------------------------------------------- groups


def test_join_and_leave_groups(county: NodeRef, clerk: Attribution) -> None:
    deputy = serving(county, clerk, CongressLevel.COUNTY)
    deputy.join_group(clerk, group=" 江口片区代表小组 ")
    deputy.join_group(clerk, group="教育专业小组", kind=GroupKind.PROFESSIONAL)
    assert deputy.groups == {"江口片区代表小组": "area", "教育专业小组": "professional"}
    deputy.leave_group(clerk, group="江口片区代表小组")
    assert deputy.groups == {"教育专业小组": "professional"}


def test_join_group_needs_an_active_mandate(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = register(county, clerk)
    deputy.grant_mandate(county, clerk, congress="county", term=18, elected_by="x")
    rejects(
        deputy,
        lambda: deputy.join_group(clerk, group="江口片区代表小组"),
        state="not serving",
        rule="only a deputy with an active mandate joins a deputy group",
    )


def test_join_group_twice_and_leave_unknown_group_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    deputy = serving(county, clerk, CongressLevel.COUNTY)
    deputy.join_group(clerk, group="江口片区代表小组")
    rejects(
        deputy,
        lambda: deputy.join_group(clerk, group="江口片区代表小组"),
        state="serving",
        rule="already in deputy group 江口片区代表小组",
    )
    rejects(
        deputy, lambda: deputy.leave_group(clerk, group="教育专业小组"), state="serving", rule="not in deputy group 教育专业小组"
    )


# -------------------------------------------------------------------- field validation on an existing deputy


def _field_cases(county: NodeRef, clerk: Attribution, deputy: Deputy) -> dict[str, tuple[object, str]]:
    return {
        "bad congress": (
            lambda: deputy.grant_mandate(county, clerk, congress="village", term=1, elected_by="x"),
            "congress must be one of",
        ),
        "empty elected_by": (
            lambda: deputy.grant_mandate(county, clerk, congress="county", term=19, elected_by=" "),
            "elected_by must not be empty",
        ),
        "bad via": (
            lambda: deputy.grant_mandate(county, clerk, congress="county", term=19, elected_by="x", via="appointed"),
            "via must be one of",
        ),
        "empty reason": (lambda: deputy.terminate(clerk, congress="county", term=18, reason=""), "reason must not be empty"),
        "bad group kind": (lambda: deputy.join_group(clerk, group="g", kind="village"), "kind must be one of"),
        "empty group": (lambda: deputy.join_group(clerk, group=""), "group must not be empty"),
    }


FIELD_CASES = ["bad congress", "empty elected_by", "bad via", "empty reason", "bad group kind", "empty group"]


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(county: NodeRef, clerk: Attribution, records_nothing, case: str) -> None:
    deputy = serving(county, clerk, CongressLevel.COUNTY)
    command, rule = _field_cases(county, clerk, deputy)[case]
    records_nothing(deputy, command, rule=rule)


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_deputy_and_its_state(county: NodeRef, clerk: Attribution, rejects, case: str) -> None:
    deputy = serving(county, clerk, CongressLevel.COUNTY)
    command, rule = _field_cases(county, clerk, deputy)[case]
    rejects(deputy, command, state="serving", rule=rule)
