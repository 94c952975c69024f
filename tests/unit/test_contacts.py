"""Contacts (两个联系): organiser rules by kind and level, participants, opinions handled then fed back, 12345."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain.base import Attribution, NodeRef
from domain.contacts import Channel, ContactActivity, ContactKind, Handling, OrganiserKind

D1, D2, D3 = (UUID(int=i) for i in (21, 22, 23))
HELD = date(2025, 3, 5)


def record(owner: NodeRef, by: Attribution, **kw: Any) -> ContactActivity:
    args: dict[str, Any] = {
        "kind": ContactKind.ORGAN_MEETING,
        "channel": Channel.SYMPOSIUM,
        "title": "县人大常委会主任会议成员联系代表座谈会",
        "held_on": HELD,
        "organiser_kind": OrganiserKind.SC_MEMBER,
        "organiser": "张主任",
        "deputy_ids": [D1, D2],
    }
    args.update(kw)
    return ContactActivity.record_contact(owner, by, **args)


def test_record_an_organ_meeting(county: NodeRef, clerk: Attribution) -> None:
    contact = record(county, clerk, organiser_id=" sc-007 ", public_count=0)
    assert contact.kind is ContactKind.ORGAN_MEETING and contact.kind.organ_to_deputy
    assert contact.channel is Channel.SYMPOSIUM and contact.channel.face_to_face
    assert contact.organiser_kind is OrganiserKind.SC_MEMBER
    assert (contact.organiser, contact.organiser_id, contact.deputy_ids) == ("张主任", "sc-007", [D1, D2])
    assert contact.opinions == [] and contact.hotline_outcome == "" and contact.ticket == ""
    assert contact.state_label == "recorded"
    assert contact.owner == county.node_id and contact.held_on == HELD


def test_organiser_id_defaults_to_the_organiser_name(county: NodeRef, clerk: Attribution) -> None:
    contact = record(county, clerk, kind="group_activity", organiser_kind="deputy_group", organiser=" 江口片区代表小组 ")
    assert (contact.organiser, contact.organiser_id) == ("江口片区代表小组", "江口片区代表小组")


def test_explicit_contact_id(county: NodeRef, clerk: Attribution) -> None:
    assert record(county, clerk, contact_id=UUID(int=7)).id == UUID(int=7)


# ------------------------------------------------------------------------------------------- organiser rules


@pytest.mark.parametrize(
    ("where", "kind", "organiser_kind"),
    [
        ("county", "organ_meeting", "sc_member"),
        ("province", "organ_meeting", "chair_council"),
        ("prefecture", "field_research", "special_committee"),
        ("county", "field_research", "sc_office"),
        ("town", "organ_meeting", "township_presidium"),
        ("ethnic_township", "field_research", "township_presidium"),
        ("street", "organ_meeting", "street_committee"),
        ("street", "field_research", "street_committee"),
        ("town", "field_research", "deputy_group"),
        ("street", "group_activity", "deputy_group"),
        ("county", "practical_deed", "deputy"),
        ("town", "practical_deed", "deputy_group"),
        ("street", "snapshot", "deputy"),
    ],
)
def test_allowed_organisers(request, clerk: Attribution, where: str, kind: str, organiser_kind: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    contact = record(owner, clerk, kind=kind, organiser_kind=organiser_kind, channel="visit")
    assert contact.organiser_kind == organiser_kind


@pytest.mark.parametrize(
    ("where", "kind", "organiser_kind", "rule"),
    [
        ("town", "organ_meeting", "sc_member", "江口镇(430525101) has no standing committee: organiser cannot be sc_member"),
        (
            "ethnic_township",
            "field_research",
            "special_committee",
            "has no standing committee: organiser cannot be special_committee",
        ),
        ("street", "organ_meeting", "sc_office", "文昌街道(430525001) has no standing committee: organiser cannot be sc_office"),
        ("street", "organ_meeting", "township_presidium", "文昌街道(430525001) has no township presidium"),
        ("county", "field_research", "township_presidium", "洞口县(430525) has no township presidium"),
        ("town", "organ_meeting", "street_committee", "江口镇(430525101) is not a street: it has no street committee"),
        ("county", "organ_meeting", "street_committee", "洞口县(430525) is not a street: it has no street committee"),
        ("province", "field_research", "street_committee", "is not a street: it has no street committee"),
        (
            "county",
            "organ_meeting",
            "deputy",
            "a 机关联系代表 is organised by one of: chair_council, sc_member, sc_office, special_committee, "
            "street_committee, township_presidium (got deputy)",
        ),
        ("county", "group_activity", "sc_member", "a 代表小组活动 is organised by one of: deputy_group (got sc_member)"),
        ("county", "practical_deed", "sc_office", "a 为民办实事 is organised by one of: deputy, deputy_group (got sc_office)"),
        ("county", "snapshot", "deputy_group", "a 随手拍 is organised by one of: deputy (got deputy_group)"),
        ("county", "constituent_report", "township_presidium", "a 向选民报告履职 is organised by one of: deputy"),
    ],
)
def test_organiser_rules(request, clerk: Attribution, refused, where: str, kind: str, organiser_kind: str, rule: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    title = "某联系活动"
    refused(
        lambda: record(owner, clerk, kind=kind, organiser_kind=organiser_kind, title=title, deputy_ids=[D1]),
        named=f"contact {title!r}",
        rule=rule,
    )


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("kind", "banquet", "kind must be one of: organ_meeting, group_activity"),
        ("channel", "telegram", "channel must be one of: face_to_face"),
        ("organiser_kind", "mayor", "organiser_kind must be one of: sc_member"),
        ("title", " ", "title must not be empty"),
        ("organiser", "", "organiser must not be empty"),
        ("public_count", -1, "public_count must be 0..100000 (got -1)"),
        ("public_count", 100_001, "public_count must be 0..100000 (got 100001)"),
        ("deputy_ids", [], "at least one deputy takes part in a contact"),
        ("deputy_ids", [D1, D2, D1], "a deputy is listed twice"),
    ],
)
def test_record_contact_rejects_bad_fields(
    county: NodeRef, clerk: Attribution, refused, field: str, value: object, rule: str
) -> None:
    title = value if field == "title" else "座谈会"
    refused(lambda: record(county, clerk, **{field: value, "title": title}), named=f"contact {title!r}", rule=rule)


# -------------------------------------------------------------------------------------------- participants


def test_constituent_report_by_exactly_one_deputy(county: NodeRef, clerk: Attribution, refused) -> None:
    kw = {
        "kind": "constituent_report",
        "organiser_kind": "deputy",
        "organiser": "李桂花",
        "title": "向原选区选民报告履职",
        "channel": "face_to_face",
    }
    contact = record(county, clerk, deputy_ids=[D1], **kw)
    assert contact.kind is ContactKind.CONSTITUENT_REPORT
    refused(
        lambda: record(county, clerk, deputy_ids=[D1, D2], **kw),
        named="contact '向原选区选民报告履职'",
        rule="a report to constituents is made by exactly one deputy",
    )


def test_hotline_report_needs_the_hotline_channel_and_a_ticket(county: NodeRef, clerk: Attribution, refused) -> None:
    kw = {
        "kind": "hotline_report",
        "organiser_kind": "deputy",
        "organiser": "李桂花",
        "title": "反映小区积水",
        "deputy_ids": [D1],
    }
    contact = record(county, clerk, channel="hotline", ticket=" 12345-2025-000123 ", **kw)
    assert contact.ticket == "12345-2025-000123"
    rule = "a 12345 hotline report goes by the hotline channel and names its work-order ticket"
    refused(lambda: record(county, clerk, channel="phone", ticket="12345-1", **kw), named="contact '反映小区积水'", rule=rule)
    refused(lambda: record(county, clerk, channel="hotline", ticket="   ", **kw), named="contact '反映小区积水'", rule=rule)
    refused(lambda: record(county, clerk, channel="hotline", **kw), named="contact '反映小区积水'", rule=rule)


# ------------------------------------------------------------------------------------------------ opinions


def test_opinion_raised_handled_then_fed_back(county: NodeRef, clerk: Attribution) -> None:
    contact = record(county, clerk)
    assert contact.raise_opinion(clerk, text=" 建议加快农村公路建设 ", deputy_id=D1) == 1
    assert contact.raise_opinion(clerk, text="群众反映学校周边交通拥堵") == 2
    assert contact.state_label == "2 opinions awaiting feedback"
    contact.handle_opinion(clerk, number=1, handling=Handling.ASSIGNED, unit=" 县交通运输局 ", note=" 已转 ")
    contact.handle_opinion(clerk, number=2, handling="explained")
    assert {k: v for k, v in contact.opinions[0].items() if k not in ("step", "version", "day")} == {
        "text": "建议加快农村公路建设",
        "deputy_id": D1,
        "handling": "assigned",
        "unit": "县交通运输局",
        "fed_back": False,
    }
    assert contact.opinions[1]["handling"] == "explained" and contact.opinions[1]["deputy_id"] is None
    contact.feed_back(clerk, number=1, note="已电话反馈代表")
    assert contact.state_label == "1 opinions awaiting feedback"
    contact.feed_back(clerk, number=2)
    assert contact.state_label == "recorded"
    assert all(o["fed_back"] for o in contact.opinions)


def test_opinion_by_a_deputy_who_did_not_take_part_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    contact = record(county, clerk)
    rejects(
        contact,
        lambda: contact.raise_opinion(clerk, text="x", deputy_id=D3),
        state="recorded",
        rule=f"deputy {D3} did not take part in this contact",
    )


def test_opinion_handling_rules(county: NodeRef, clerk: Attribution, rejects) -> None:
    contact = record(county, clerk)
    contact.raise_opinion(clerk, text="x")
    state = "1 opinions awaiting feedback"
    rejects(
        contact, lambda: contact.feed_back(clerk, number=1), state=state, rule="opinion 1 is fed back only after it was handled"
    )
    rejects(
        contact,
        lambda: contact.handle_opinion(clerk, number=1, handling="assigned", unit="  "),
        state=state,
        rule="an assigned opinion names the unit it went to",
    )
    for number in (0, 2):
        rejects(
            contact,
            lambda number=number: contact.handle_opinion(clerk, number=number, handling="adopted"),
            state=state,
            rule=f"no opinion number {number} (this contact has 1)",
        )
        rejects(
            contact,
            lambda number=number: contact.feed_back(clerk, number=number),
            state=state,
            rule=f"no opinion number {number}",
        )
    contact.handle_opinion(clerk, number=1, handling="adopted")
    rejects(
        contact,
        lambda: contact.handle_opinion(clerk, number=1, handling="explained"),
        state=state,
        rule="opinion 1 was already handled (adopted)",
    )
    contact.feed_back(clerk, number=1)
    rejects(contact, lambda: contact.feed_back(clerk, number=1), state="recorded", rule="opinion 1 was already fed back")


# -------------------------------------------------------------------------------------------------- 12345


def test_hotline_outcome_only_for_hotline_reports_and_once(county: NodeRef, clerk: Attribution, rejects) -> None:
    hotline = record(
        county,
        clerk,
        kind="hotline_report",
        channel="hotline",
        ticket="T-1",
        organiser_kind="deputy",
        organiser="李桂花",
        deputy_ids=[D1],
    )
    hotline.record_hotline_outcome(clerk, outcome=" 已疏通排水管道 ")
    assert hotline.hotline_outcome == "已疏通排水管道"
    rejects(
        hotline,
        lambda: hotline.record_hotline_outcome(clerk, outcome="again"),
        state="recorded",
        rule="the hotline outcome was already recorded",
    )

    meeting = record(county, clerk)
    rejects(
        meeting,
        lambda: meeting.record_hotline_outcome(clerk, outcome="x"),
        state="recorded",
        rule="only a 12345 hotline report has an outcome, not a 机关联系代表",
    )


# -------------------------------------------------------------------- field validation on an existing contact

FIELD_CASES = {
    "empty opinion": (lambda c, by: c.raise_opinion(by, text="  "), "text must not be empty"),
    "bad handling": (lambda c, by: c.handle_opinion(by, number=1, handling="ignored"), "handling must be one of"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(county: NodeRef, clerk: Attribution, records_nothing, case: str) -> None:
    contact = record(county, clerk)
    contact.raise_opinion(clerk, text="x")
    command, rule = FIELD_CASES[case]
    records_nothing(contact, lambda: command(contact, clerk), rule=rule)


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_contact_and_its_state(county: NodeRef, clerk: Attribution, rejects, case: str) -> None:
    contact = record(county, clerk)
    contact.raise_opinion(clerk, text="x")
    command, rule = FIELD_CASES[case]
    rejects(contact, lambda: command(contact, clerk), state="1 opinions awaiting feedback", rule=rule)


# ------------------------------------------------------------------------------------------------ corrections


def test_a_contacts_description_and_an_opinion_corrected(county: NodeRef, clerk: Attribution, rejects) -> None:
    contact = record(county, clerk, public_count=3)
    contact.raise_opinion(clerk, text="建议加快农村公路建设", deputy_id=D1)
    contact.correct(county, clerk, fact="record", changes={"title": "县人大常委会联系代表座谈会", "public_count": 30}, reason="x")
    contact.correct(county, clerk, fact="opinion", number=1, changes={"text": "建议加快农村公路提质改造"}, reason="笔误")
    assert (contact.title, contact.public_count, contact.opinions[0]["text"]) == (
        "县人大常委会联系代表座谈会",
        30,
        "建议加快农村公路提质改造",
    )
    assert [(e.fact, e.number, e.version) for e in contact.pending_events[-2:]] == [("record", 1, 1), ("opinion", 1, 2)]
    for fact, number, changes, rule in (
        ("record", 1, {"public_count": -1}, "public_count must be a whole number 0..100000 (got -1)"),
        ("record", 1, {"public_count": "30"}, "public_count must be a whole number"),
        ("record", 1, {"title": " "}, "title must not be empty"),
        ("record", 1, {"held_on": "2025-03-06"}, "held_on of a record cannot be corrected"),
        ("opinion", 2, {"text": "x"}, "no opinion number 2 (this contact has 1)"),
        ("outcome", 1, {"text": "x"}, "fact must be one of: record, opinion"),
    ):
        rejects(
            contact,
            lambda fact=fact, number=number, changes=changes: contact.correct(
                county, clerk, fact=fact, number=number, changes=changes, reason="x"
            ),
            state=contact.state_label,
            rule=rule,
        )
