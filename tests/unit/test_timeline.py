"""Time order and plausible dates in every lifecycle: each refusal names the field and the rule and records nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from domain.base import Attribution, NodeRef, Role
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.livelihood import LivelihoodProject
from domain.stations import Station
from domain.suggestions import Suggestion
from domain.timeline import FLOOR, FUTURE_TOLERANCE, SHANGHAI, day_of, latest, tolerance_days
from domain.visits import StationVisit
from tests.unit.conftest import NOW, as_deputy

D1 = UUID(int=11)


def at(when: datetime, *, now: datetime | None = None) -> Attribution:
    """A clerk recording a fact dated ``when``, at ``now`` (the edge's present; None: no present given)."""
    return Attribution("office-clerk-01", Role.RECORDER, when, latest(now) if now else None)


def days(n: int) -> datetime:
    return NOW + timedelta(days=n)


def test_tolerance_from_the_environment_text() -> None:
    assert tolerance_days(None) == tolerance_days("") == FUTURE_TOLERANCE == timedelta(days=1)
    assert tolerance_days("0.5") == timedelta(hours=12)
    for bad in ("-1", "400", "nan", "x"):
        with pytest.raises(ValueError):
            tolerance_days(bad)
    assert day_of(datetime(2025, 3, 9, 17, tzinfo=SHANGHAI) - timedelta(hours=8)) == date(2025, 3, 9)


def test_occurred_at_in_the_future_or_before_the_floor_is_refused(town: NodeRef, refused, rejects) -> None:
    refused(
        lambda: Station.establish(town, at(days(2), now=NOW), name="站"),
        named=f"station {Station.id_for(town.node_id, '站')}",
        rule="occurred_at 2025-03-12T09:30:00+08:00 is in the future",
    )
    station = Station.establish(town, at(days(1), now=NOW), name="站")  # within the tolerance
    rejects(station, lambda: station.close(at(days(3), now=NOW), reason="撤"), state="运行中", rule="is in the future")
    old = datetime(1954, 9, 14, 23, tzinfo=SHANGHAI)
    refused(
        lambda: Station.establish(town, at(old), name="旧站"),
        named=f"station {Station.id_for(town.node_id, '旧站')}",
        rule="before 1954-09-15",
    )


def test_a_day_named_in_the_future_or_before_the_floor_is_refused(town: NodeRef, rejects) -> None:
    station = Station.establish(town, at(NOW), name="站")
    station.enrol(at(NOW), deputy_id=D1, deputy_name="李", congress="township")
    for day, rule in (
        (NOW.date() + timedelta(days=2), "visit_date 2025-03-12 is in the future"),
        (FLOOR - timedelta(days=1), "before 1954-09-15"),
    ):
        rejects(
            station,
            lambda day=day: StationVisit.record_visit(
                town, at(NOW, now=NOW), station=station, visit_date=day, deputy_ids=[D1], people_received=1
            ),
            state="运行中",
            rule=rule,
        )


def _suggestion(county: NodeRef) -> Suggestion:
    return Suggestion.submit(
        county,
        at(NOW),
        number="1",
        congress="county",
        term=18,
        session=4,
        title="建议",
        content="内容",
        category="交通",
        lead_deputy_id=D1,
    )


def test_each_suggestion_step_follows_the_one_before(county: NodeRef, rejects) -> None:
    s = _suggestion(county)
    rejects(
        s,
        lambda: s.assign(at(days(-1)), lead_unit="局", due_on=date(2025, 6, 1)),
        state="submitted",
        rule="occurred_at 2025-03-09 is before 提出建议 (2025-03-10)",
    )
    rejects(s, lambda: s.mark_priority(at(days(-1))), state="submitted", rule="before 提出建议")
    s.assign(at(days(1)), lead_unit="局", due_on=date(2025, 6, 1))
    rejects(
        s,
        lambda: s.start_handling(at(days(2)), contacted_on=NOW.date()),
        state="assigned",
        rule="contacted_on 2025-03-10 is before 交办 (2025-03-11)",
    )
    s.start_handling(at(days(2)), contacted_on=days(2).date())
    rejects(
        s,
        lambda: s.reply(at(days(5)), category="B", text="答复", replied_on=days(1).date()),
        state="in_handling",
        rule="replied_on 2025-03-11 is before",
    )
    s.reply(at(days(5)), category="B", text="答复", replied_on=days(4).date())
    # The issue's case: an evaluation dated before the reply it evaluates.
    rejects(
        s, lambda: s.evaluate(as_deputy(D1, days(3)), deputy_id=D1, evaluation="satisfied"), state="replied", rule="before 答复"
    )
    s.evaluate(as_deputy(D1, days(6)), deputy_id=D1, evaluation="basically_satisfied")
    rejects(
        s,
        lambda: s.mark_solved(at(days(7)), note="已解决", solved_on=days(5).date()),
        state="follow_up",
        rule="solved_on 2025-03-15 is before 代表评价",
    )
    s.mark_solved(at(days(9)), note="已解决", solved_on=days(8).date())
    rejects(
        s, lambda: s.close(at(days(7))), state="evaluated", rule="occurred_at 2025-03-17 is before 跟踪督办后解决 (2025-03-19)"
    )
    s.close(at(days(9)))


def _passed(town: NodeRef) -> LivelihoodProject:
    p = LivelihoodProject.propose(town, at(NOW), year=2025, title="路灯", category="民生")
    p.list_as_candidate(at(days(1)), estimate_wan=Decimal(100))
    p.deliberate(at(days(2)), deputies_present=40)
    p.vote(at(days(3)), session="第一次会议", yes=40, no=0, abstain=0, present=45, total_deputies=50)
    return p


def test_livelihood_steps_follow_the_vote_and_counts_are_plausible(town: NodeRef, rejects) -> None:
    p = LivelihoodProject.propose(town, at(NOW), year=2025, title="路灯", category="民生")
    rejects(p, lambda: p.list_as_candidate(at(days(-1)), estimate_wan=Decimal(1)), state="proposed", rule="before 群众提出")
    p = _passed(town)
    rejects(
        p,
        lambda: p.start_implementation(at(days(2)), budget_wan=Decimal(100), lead_unit="镇政府"),
        state="passed",
        rule="before 大会票决",
    )
    p.start_implementation(at(days(4)), budget_wan=Decimal(100), lead_unit="镇政府")
    rejects(
        p, lambda: p.report_progress(at(days(3)), progress=10, spent_wan=Decimal(1)), state="implementing", rule="before 政府实施"
    )
    rejects(
        p,
        lambda: p.report_progress(at(days(5)), progress=10, spent_wan=Decimal(101)),
        state="implementing",
        rule="overspend_reason is required",
    )
    rejects(
        p,
        lambda: p.report_progress(at(days(5)), progress=10, spent_wan=Decimal(50), overspend_reason="多余"),
        state="implementing",
        rule="overspend_reason is only for spending over the budget",
    )
    p.report_progress(at(days(5)), progress=100, spent_wan=Decimal(101), overspend_reason="追加工程量")
    assert p.overspend_reason == "追加工程量"
    rejects(
        p,
        lambda: p.evaluate(at(days(6)), satisfied=45, basically_satisfied=5, dissatisfied=1),
        state="implementing",
        rule="more than all deputies of the congress that voted it (50)",
    )
    rejects(
        p,
        lambda: p.start_implementation(at(days(6)), budget_wan=Decimal(1), lead_unit="x"),
        state="implementing",
        rule="needs the project",
    )
    p.evaluate(at(days(6)), satisfied=45, basically_satisfied=5, dissatisfied=0)


def test_livelihood_bounds(town: NodeRef, rejects) -> None:
    p = LivelihoodProject.propose(town, at(NOW), year=2025, title="路灯", category="民生")
    p.list_as_candidate(at(NOW), estimate_wan=Decimal(100))
    rejects(
        p,
        lambda: p.deliberate(at(NOW), deputies_present=99_999),
        state="candidate",
        rule="deputies_present 99999 is more than the deputies a congress has (选举法 §12) (450)",
    )
    p.deliberate(at(NOW), deputies_present=40)
    rejects(
        p,
        lambda: p.vote(at(NOW), session="s", yes=500, no=0, abstain=0, present=500, total_deputies=500),
        state="deliberated",
        rule="total_deputies 500 is more than",
    )
    rejects(
        p,
        lambda: p.vote(at(NOW), session="s", yes=-1, no=0, abstain=0, present=40, total_deputies=50),
        state="deliberated",
        rule="must not be negative",
    )
    p.vote(at(NOW), session="s", yes=40, no=0, abstain=0, present=40, total_deputies=50)
    rejects(
        p,
        lambda: p.start_implementation(at(NOW), budget_wan=Decimal("100000.01"), lead_unit="x"),
        state="passed",
        rule="implausibly large",
    )


def test_visit_issues_and_contact_opinions_follow_the_visit_and_the_contact(town: NodeRef, rejects) -> None:
    station = Station.establish(town, at(NOW), name="站")
    rejects(
        station,
        lambda: station.enrol(at(days(-1)), deputy_id=D1, deputy_name="李", congress="township"),
        state="运行中",
        rule="before 设立联络站",
    )
    station.enrol(at(NOW), deputy_id=D1, deputy_name="李", congress="township")
    visit = StationVisit.record_visit(
        town, at(NOW), station=station, visit_date=days(2).date(), deputy_ids=[D1], people_received=2
    )
    rejects(
        visit,
        lambda: visit.raise_issue(at(days(1)), summary="路灯", category="市政"),
        state="open",
        rule="occurred_at 2025-03-11 is before 进站接待 (2025-03-12)",
    )
    visit.raise_issue(at(days(2)), summary="路灯", category="市政")
    rejects(visit, lambda: visit.resolve_issue(at(NOW), number=1, outcome="已修"), state="open", rule="before 反映问题")
    contact = ContactActivity.record_contact(
        town,
        at(NOW),
        kind="practical_deed",
        channel="visit",
        title="办实事",
        held_on=days(1).date(),
        organiser_kind="deputy",
        organiser="李",
        deputy_ids=[D1],
    )
    rejects(
        contact,
        lambda: contact.raise_opinion(at(NOW), text="意见"),
        state="recorded",
        rule="occurred_at 2025-03-10 is before 记录联系活动 (2025-03-11)",
    )
    contact.raise_opinion(at(days(2)), text="意见")
    rejects(
        contact,
        lambda: contact.handle_opinion(at(days(1)), number=1, handling="adopted"),
        state="1 opinions awaiting feedback",
        rule="before 提出意见",
    )
    contact.handle_opinion(at(days(3)), number=1, handling="adopted")
    rejects(
        contact, lambda: contact.feed_back(at(days(2)), number=1), state="1 opinions awaiting feedback", rule="before 意见办理"
    )


def test_a_mandates_review_and_termination_follow_its_grant(county: NodeRef, rejects) -> None:
    deputy = Deputy.register(county, at(NOW), person_id="P1", name="李", gender="女")
    deputy.grant_mandate(county, at(days(1)), congress="county", term=18, elected_by="第一选区")
    rejects(
        deputy,
        lambda: deputy.review_credentials(at(NOW), congress="county", term=18, passed=True),
        state="not serving",
        rule="before 取得代表资格",
    )
    deputy.review_credentials(at(days(2)), congress="county", term=18, passed=True)
    rejects(
        deputy,
        lambda: deputy.terminate(at(days(1)), congress="county", term=18, reason="调离"),
        state="serving",
        rule="before 代表资格审查",
    )
