"""Views follow corrections (更正) and voids (作废), on SQLite and PostgreSQL, projected page by page, in one page, and
rebuilt in bulk:

- now: the corrected values; a voided record counts nowhere;
- as of T by the recorded clock: what was believed at T (the old value before the correction was recorded; a voided
  record until the void was recorded); by the known clock likewise, from when this node came to hold them;
- as of T by the occurred clock: the corrected world (a corrected value from when its fact happened, a deputy's
  category from its ``effective_from``); a voided record never was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from domain.base import Attribution, Role
from domain.bodies import StandingCommittee
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.suggestions import Suggestion
from domain.timeline import SHANGHAI
from domain.visits import StationVisit
from projections import queries
from projections import schema as s
from projections.db import ProjectionDB
from projections.projector import Projector
from projections.rebuild import rebuild
from projections.timeutil import us

TOWN = "430582204"


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path)


def at(day: str) -> Attribution:
    return Attribution("clerk", Role.RECORDER, datetime.fromisoformat(day).replace(hour=10, tzinfo=SHANGHAI))


def implemented(town: Any, title: str, budget: int) -> LivelihoodProject:
    project = LivelihoodProject.propose(town, at("2025-01-10"), year=2025, title=title, category="民生")
    project.list_as_candidate(at("2025-01-20"), estimate_wan=Decimal(budget))
    project.deliberate(at("2025-02-01"), deputies_present=40)
    project.vote(at("2025-02-02"), session="第一次会议", yes=40, no=2, abstain=0, present=42, total_deputies=50)
    project.start_implementation(at("2025-03-01"), budget_wan=Decimal(budget), lead_unit="乡政府")
    project.report_progress(at("2025-04-01"), progress=90, spent_wan=Decimal(100))  # 9% typed as 90
    project.report_progress(at("2025-05-01"), progress=95, spent_wan=Decimal(110))
    return project


def replied(town: Any, deputy: Deputy, number: str = "2025-001") -> Suggestion:
    """A township suggestion assigned to 乡水利站 (due 2025-03-01) and replied B on 2025-02-10."""
    suggestion = Suggestion.submit(
        town,
        at("2025-01-15"),
        number=number,
        congress="township",
        term=18,
        session=4,
        title="关于修缮灌溉渠的建议",
        content="……",
        category="农业农村",
        lead_deputy_id=deputy.id,
    )
    suggestion.assign(at("2025-01-20"), lead_unit="乡水利站", due_on=date(2025, 3, 1))
    suggestion.start_handling(at("2025-01-25"), contacted_on=date(2025, 1, 25))
    suggestion.reply(at("2025-02-10"), category="B", text="已列入计划", replied_on=date(2025, 2, 10))
    return suggestion


def serving(town: Any, person: str, name: str) -> Deputy:
    deputy = Deputy.register(town, at("2020-01-02"), person_id=person, name=name, gender="男", grassroots=True)
    deputy.grant_mandate(town, at("2020-01-03"), congress="township", term=18, elected_by="第2选区")
    deputy.review_credentials(at("2020-01-04"), congress="township", term=18, passed=True)
    return deputy


def visit(town: Any, station: Station, day: str, deputy: Deputy, people: int) -> StationVisit:
    """A visit with the deputy on duty and one issue, resolved on the spot."""
    station.enrol(at(day), deputy_id=deputy.id, deputy_name=deputy.name, congress="township")
    recorded = StationVisit.record_visit(
        town, at(day), station=station, visit_date=date.fromisoformat(day), deputy_ids=[deputy.id], people_received=people
    )
    recorded.raise_issue(at(day), summary="路灯不亮", category="城建")
    recorded.resolve_issue(at(day), number=1, outcome="当场答复")
    return recorded


class World:
    def __init__(self, store: NodeStore, hunan: Hierarchy) -> None:
        self.store, self.hunan = store, hunan
        town = store.node
        self.kept = implemented(town, "村道路灯", 1500)
        self.voided = implemented(town, "集镇污水管网", 300)
        self.deputy = Deputy.register(town, at("2020-01-02"), person_id="T-1", name="李桂花", gender="女", grassroots=True)
        self.deputy.grant_mandate(town, at("2020-01-03"), congress="township", term=18, elected_by="第1选区")
        self.deputy.review_credentials(at("2020-01-04"), congress="township", term=18, passed=True)
        self.suggestion = replied(town, self.deputy)
        self.on_duty_once = serving(town, "T-2", "王建国")  # on duty only at the visit voided below
        self.signed_once = serving(town, "T-3", "赵秀英")  # active only by the suggestion voided below
        self.voided_suggestion = replied(town, self.signed_once, number="2025-002")
        self.station = Station.establish(town, at("2025-01-02"), name="联络站")
        self.corrected_visit = visit(town, self.station, "2025-03-08", self.deputy, people=3)  # 30 typed as 3
        self.voided_visit = visit(town, self.station, "2025-04-10", self.on_duty_once, people=5)
        store.save(self.kept, self.voided, self.deputy, self.suggestion, self.on_duty_once, self.station)
        store.save(self.signed_once, self.voided_suggestion)
        self.contact = ContactActivity.record_contact(
            town,
            at("2025-05-06"),
            kind="group_activity",
            channel="symposium",
            title="代表小组活动: 灌溉渠修缮",
            held_on=date(2025, 5, 6),
            organiser_kind="deputy_group",
            organiser="第一代表小组",
            deputy_ids=[self.deputy.id],
        )
        self.contact.raise_opinion(at("2025-05-06"), text="建议修缮东干渠", deputy_id=self.deputy.id)
        store.save(self.contact)
        self.voided_contact = ContactActivity.record_contact(  # the only practical deed, and an opinion at it
            town,
            at("2025-05-07"),
            kind="practical_deed",
            channel="visit",
            title="王建国代表为民办实事: 修路",
            held_on=date(2025, 5, 7),
            organiser_kind="deputy",
            organiser="王建国",
            deputy_ids=[self.on_duty_once.id],
        )
        self.voided_contact.raise_opinion(at("2025-05-07"), text="村道破损", deputy_id=self.on_duty_once.id)
        self.voided_contact.handle_opinion(at("2025-05-08"), number=1, handling="explained")
        store.save(self.voided_contact)
        store.save(self.corrected_visit, self.voided_visit)
        self.believed = believed_now()  # before any correction was recorded

    def correct(self) -> None:
        town, now = self.store.node, at(datetime.now(SHANGHAI).date().isoformat())
        self.kept.correct(town, now, fact="progress", number=1, changes={"progress": 9}, reason="9 录成了 90")
        self.kept.correct(town, now, fact="implementation", changes={"budget_wan": "150"}, reason="1500 应为 150")
        self.voided.void(town, now, reason="登记有误: 重复录入")
        self.deputy.correct(
            town,
            now,
            fact="category",
            changes={"grassroots": False, "leading_cadre": True},
            reason="误登记为基层代表",
            effective_from=date(2021, 1, 1),
        )
        assignment = {"lead_unit": "乡农业综合服务中心", "due_on": date(2025, 2, 1)}
        self.deputy.correct(town, now, fact="registration", changes={"name": "李桂华"}, reason="姓名笔误")
        self.deputy.correct(town, now, fact="mandate", number=1, changes={"elected_by": "第3选区"}, reason="选区录错")
        self.suggestion.correct(town, now, fact="assignment", changes=assignment, reason="主办单位、期限登记有误")
        self.suggestion.correct(town, now, fact="reply", changes={"category": "A"}, reason="答复类别应为 A")
        self.corrected_visit.correct(town, now, fact="visit", changes={"people_received": 30}, reason="30 录成了 3")
        self.corrected_visit.correct(town, now, fact="issue", changes={"category": "交通"}, reason="类别有误")
        self.voided_visit.void(town, now, reason="登记有误: 重复录入")
        self.voided_suggestion.void(town, now, reason="登记有误: 同一建议录入两次")
        self.contact.correct(town, now, fact="record", changes={"title": "代表小组活动: 东干渠修缮"}, reason="笔误")
        self.contact.correct(town, now, fact="opinion", number=1, changes={"text": "建议尽快修缮东干渠"}, reason="笔误")
        self.voided_contact.void(town, now, reason="登记有误: 未实际开展")
        self.store.save(self.voided_suggestion, self.contact, self.voided_contact)
        self.store.save(self.kept, self.voided, self.deputy, self.suggestion, self.corrected_visit, self.voided_visit)


@pytest.fixture
def world(settings: StoreSettings, hunan: Hierarchy) -> Iterator[World]:
    store = NodeStore(hunan.ref(hunan.by_code(TOWN)), settings)
    yield World(store, hunan)
    store.close()


def believed_now() -> int:
    """Now, in microseconds, and a little wait: SQLite keeps when a node came to hold an event in milliseconds, so an
    event saved within the same millisecond would count as held before "now"."""
    moment = us(datetime.now(SHANGHAI))
    time.sleep(0.002)
    return moment


def livelihood(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> dict[str, Any]:
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
    view = queries.livelihood(db, scope)
    projects = {p["title"]: (p["progress"], p["budget_wan"]) for p in view["implementing"]["items"]}
    return {"investment_wan": view["totals"].get("investment_wan", 0), "projects": projects}


def leading_cadres(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> int:
    """The deputies in the leading-cadre target's population (deputy-group activities)."""
    year = datetime.fromtimestamp(as_of / 1e6, SHANGHAI).year if as_of else 2025
    scope = queries.make_scope(db, region=TOWN, year=year, as_of=as_of, by=by, hierarchy=hunan)
    target = next(t for t in queries.coverage(db, scope)["targets"] if t["key"] == "leading_cadre_group")
    return int(target["population"])


def suggestion_facts(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> tuple[Any, ...]:
    """The suggestions view's reply categories, handling units and late replies (the voided one's are in none)."""
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
    view = queries.suggestions(db, scope)
    categories = {c["category"]: c["count"] for c in view["by_category"]}
    return categories, [u["unit"] for u in view["by_unit"]], view["totals"]["replied_late"]


def station_facts(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> tuple[int, ...]:
    """The stations view's visits, people received, deputies on duty, issues raised and resolved."""
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
    totals = queries.stations(db, scope)["totals"]
    return tuple(totals[k] for k in ("visits", "people", "deputies", "issues_raised", "issues_resolved"))


def duty_facts(db: ProjectionDB, world: World, as_of: int | None = None, by: str = "recorded") -> tuple[Any, ...]:
    """The duty ranking's inactive people (from the first activity marks: a page of one; from the facts: a page of
    all) and the duty records' visits and people received of the two deputies on duty."""
    hunan = world.hunan
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
    inactive = {queries.duty_ranking(db, scope, limit=n)["inactive"] for n in (1, 50)}
    deputies = (world.deputy, world.on_duty_once, world.signed_once)
    records = [queries.duty_record(db, scope, d.id.hex)["summary"] for d in deputies]
    return inactive, [(r["visits"], r["people_received"], r["suggestions"]) for r in records]


def contact_facts(db: ProjectionDB, world: World, as_of: int | None = None, by: str = "recorded") -> dict[str, Any]:
    """The practical-deed target (covered, who is missing) and the opinions raised, handled and fed back."""
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=world.hunan)
    targets = {t["key"]: t for t in queries.coverage(db, scope, targets=("practical_deed", "opinions"))["targets"]}
    deed, opinions = targets["practical_deed"], targets["opinions"]
    missing = sorted(x["name"] for x in deed["missing_list"]["items"])  # (the names now at any cut)
    return {
        "practical_deed": (deed["covered"], missing),
        "opinions": (opinions["raised"], opinions["handled"], opinions["fed_back"]),
    }


def occurred(day: str) -> int:
    return us(datetime.fromisoformat(day).replace(hour=12, tzinfo=SHANGHAI))


def check(db: ProjectionDB, world: World) -> None:
    hunan = world.hunan
    # now: corrected; the voided project is gone
    assert livelihood(db, hunan) == {"investment_wan": 150.0, "projects": {"村道路灯": (95, 150.0)}}
    # by the recorded clock, before the corrections were recorded: what was believed then
    assert livelihood(db, hunan, world.believed) == {
        "investment_wan": 1800.0,
        "projects": {"村道路灯": (95, 1500.0), "集镇污水管网": (95, 300.0)},
    }
    # by the occurred clock: the corrected world, between the two progress reports and after both
    assert livelihood(db, hunan, occurred("2025-04-15"), "occurred")["projects"] == {"村道路灯": (9, 150.0)}
    now = {"investment_wan": 150.0, "projects": {"村道路灯": (95, 150.0)}}
    assert livelihood(db, hunan, occurred("2025-06-01"), "occurred") == now
    assert livelihood(db, hunan, occurred("2025-03-15"), "occurred")["projects"] == {"村道路灯": (0, 150.0)}
    # a deputy's category: a leading cadre from 2021 on the occurred clock; before the correction was recorded, not
    assert leading_cadres(db, hunan) == 1
    assert leading_cadres(db, hunan, occurred("2020-06-01"), "occurred") == 0
    assert leading_cadres(db, hunan, occurred("2021-06-01"), "occurred") == 1
    assert leading_cadres(db, hunan, world.believed, "recorded") == 0
    # by the known clock likewise: what this node held before it came to hold the corrections (its own, recorded here)
    assert livelihood(db, hunan, world.believed, "known") == livelihood(db, hunan, world.believed)
    assert leading_cadres(db, hunan, world.believed, "known") == 0
    # a corrected copy is seen on neither the recorded nor the known clock (empty intervals on both; a snapshot saved
    # with the next one at once is unseen on the known clock alone: this node never held that state by itself)
    with db.connect() as conn:
        t = s.project_snapshots.c
        rows = conn.execute(sa.select(t.recorded_at == t.next_rec, t.known_at == t.next_known, t.event)).all()
    copies = [(known, event) for rec, known, event in rows if rec]  # the corrected copies
    assert copies and all(known for known, _ in copies), copies
    # a visit's people received corrected (3 → 30), another voided (with its issue and its only deputy's activity)
    corrected = (1, 30, 1, 1, 1)
    assert station_facts(db, hunan) == corrected
    assert station_facts(db, hunan, world.believed) == (2, 8, 2, 2, 2)
    assert station_facts(db, hunan, world.believed, "known") == (2, 8, 2, 2, 2)
    assert station_facts(db, hunan, occurred("2025-06-01"), "occurred") == corrected
    assert station_facts(db, hunan, occurred("2025-03-20"), "occurred") == corrected
    assert station_facts(db, hunan, occurred("2025-03-01"), "occurred") == (0, 0, 0, 0, 0)
    # a contact's title and an opinion's text corrected: listed as corrected at any cut (what the views list, not count)
    for as_of, by in ((None, "recorded"), (world.believed, "recorded"), (occurred("2025-06-01"), "occurred")):
        scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
        record = queries.duty_record(db, scope, world.deputy.id.hex)
        assert [c["title"] for c in record["contacts"]] == ["代表小组活动: 东干渠修缮"], (as_of, by)
        assert [o["opinion"] for o in record["opinions"]] == ["建议尽快修缮东干渠"], (as_of, by)
        assert [m["elected_by"] for m in record["mandates"]] == ["第3选区"], (as_of, by)  # how it was won: in place
    # a deputy's name corrected: the current one at any cut (a typo: it always was)
    for as_of, by in ((None, "recorded"), (world.believed, "recorded"), (occurred("2025-06-01"), "occurred")):
        scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
        names = {x["name"] for x in queries.duty_ranking(db, scope, limit=50)["deputies"]["items"]}
        assert names == {"李桂华", "王建国", "赵秀英"}, (as_of, by, names)
    # and a suggestion voided: its signer's only activity (the ranking's inactive from the marks and from the facts)
    gone = ({2}, [(1, 30, 1), (0, 0, 0), (0, 0, 0)])
    believed = ({0}, [(1, 3, 1), (1, 5, 0), (0, 0, 1)])
    assert duty_facts(db, world) == gone
    assert duty_facts(db, world, world.believed) == believed
    assert duty_facts(db, world, world.believed, "known") == believed
    assert duty_facts(db, world, occurred("2025-06-01"), "occurred") == gone
    # a contact voided: the only practical deed (the target covered no one), and its opinion (raised, handled)
    gone = {"practical_deed": (0, ["李桂华", "王建国", "赵秀英"]), "opinions": (1, 0, 0)}
    assert contact_facts(db, world) == gone
    believed = {"practical_deed": (1, ["李桂华", "赵秀英"]), "opinions": (2, 1, 0)}
    assert contact_facts(db, world, world.believed) == believed
    assert contact_facts(db, world, world.believed, "known") == believed
    assert contact_facts(db, world, occurred("2025-06-01"), "occurred") == gone
    # a suggestion's assignment (lead unit, an earlier due date: the reply is late) and its reply's category (B → A)
    corrected = ({"A": 1}, ["乡农业综合服务中心"], 1)
    assert suggestion_facts(db, hunan) == corrected
    assert suggestion_facts(db, hunan, world.believed) == ({"B": 2}, ["乡水利站"], 0)  # the voided one too, then
    assert suggestion_facts(db, hunan, world.believed, "known") == ({"B": 2}, ["乡水利站"], 0)
    assert suggestion_facts(db, hunan, occurred("2025-02-15"), "occurred") == corrected
    assert suggestion_facts(db, hunan, occurred("2025-01-22"), "occurred") == ({"": 1}, ["乡农业综合服务中心"], 0)


def test_views_follow_corrections_and_voids_page_by_page(world: World, settings: StoreSettings) -> None:
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    Projector(world.store, db, hierarchy=world.hunan).run()  # the originals, written in an earlier page
    world.correct()
    Projector(world.store, db, hierarchy=world.hunan).run()
    check(db, world)


def test_views_follow_corrections_and_voids_in_one_page_and_rebuilt(world: World, settings: StoreSettings) -> None:
    world.correct()
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    Projector(world.store, db, hierarchy=world.hunan).run()
    check(db, world)
    rebuild(world.store, settings, hierarchy=world.hunan)
    check(ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open(), world)


def test_the_corrected_and_voided_project_as_of_just_before(world: World, settings: StoreSettings) -> None:
    """As of the recorded (and the known) clock a moment after the corrections: the corrected world, the voided project
    gone."""
    world.correct()
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    Projector(world.store, db, hierarchy=world.hunan).run()
    later = us(datetime.now(SHANGHAI) + timedelta(seconds=1))
    assert livelihood(db, world.hunan, later) == livelihood(db, world.hunan)
    assert livelihood(db, world.hunan, later, "known") == livelihood(db, world.hunan)


def test_an_evaluation_and_a_tally_corrected(world: World, settings: StoreSettings) -> None:
    """The evaluation's votes (counted in the livelihood view) and a tally (not whether it passed) corrected."""
    town, hunan = world.store.node, world.hunan
    project = implemented(town, "集镇路灯", 800)
    project.report_progress(at("2025-06-01"), progress=100, spent_wan=Decimal(700))
    project.evaluate(at("2025-06-10"), satisfied=30, basically_satisfied=5, dissatisfied=5)
    world.store.save(project)
    db = ProjectionDB(town, settings, hierarchy=hunan).open()
    Projector(world.store, db, hierarchy=hunan).run()
    believed = believed_now()
    now = at(datetime.now(SHANGHAI).date().isoformat())
    project.correct(town, now, fact="evaluation", changes={"satisfied": 35, "dissatisfied": 0}, reason="唱票记错")
    project.correct(town, now, fact="vote", changes={"yes": 41, "no": 1}, reason="一票记错")
    world.store.save(project)
    Projector(world.store, db, hierarchy=hunan).run()

    def votes(as_of: int | None = None, by: str = "recorded") -> tuple[int, int]:
        scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
        totals = queries.livelihood(db, scope)["totals"]
        return totals["satisfied"], totals["dissatisfied"]

    assert votes() == votes(occurred("2025-07-01"), "occurred") == (35, 0)
    assert votes(believed) == votes(believed, "known") == (30, 5)
    assert votes(occurred("2025-06-05"), "occurred") == (0, 0)  # not evaluated yet
    assert Projector(world.store, db, hierarchy=hunan).run().problems == {}


def test_a_station_and_an_appointment_corrected_in_place(settings: StoreSettings, hunan: Hierarchy) -> None:
    """A station's name and address and an SC member's name and post, corrected: the views list the corrected ones,
    projected page by page and rebuilt."""
    county = hunan.ref(hunan.by_code(TOWN[:6]))
    store = NodeStore(county, settings)
    station = Station.establish(county, at("2025-01-02"), name="城关联络站", address="城关镇人民路1号")
    sc = StandingCommittee.constitute(county, at("2025-01-02"), term=18)
    sc.appoint(at("2025-01-03"), member_id="M-1", name="张三", post="主任")
    sc.appoint(at("2025-01-03"), member_id="M-2", name="李四", post="委员")
    store.save(station, sc)
    db = ProjectionDB(county, settings, hierarchy=hunan).open()
    Projector(store, db, hierarchy=hunan).run()  # the originals, in an earlier page
    now = at(datetime.now(SHANGHAI).date().isoformat())
    station.correct(county, now, fact="establishment", changes={"name": "城关镇联络站", "address": "人民路2号"}, reason="笔误")
    sc.correct(county, now, fact="appointment", number=2, changes={"name": "李斯", "post": "副主任"}, reason="笔误")
    store.save(station, sc)

    def listed(db: ProjectionDB) -> tuple[Any, ...]:
        scope = queries.make_scope(db, region=county.code, year=2025, hierarchy=hunan)
        target = queries.coverage(db, scope, targets=("sc_face_to_face",))["targets"][0]
        members = sorted((m["name"], m["post"]) for m in target["missing_list"]["items"])
        with db.connect() as conn:
            stations = conn.execute(sa.select(s.stations.c.name, s.stations.c.address)).all()
        return members, [tuple(r) for r in stations]

    corrected = ([("张三", "主任"), ("李斯", "副主任")], [("城关镇联络站", "人民路2号")])
    assert Projector(store, db, hierarchy=hunan).run().problems == {}
    assert listed(db) == corrected
    rebuild(store, settings, hierarchy=hunan)
    assert listed(ProjectionDB(county, settings, hierarchy=hunan).open()) == corrected
    store.close()


def test_a_deputy_record_voided(settings: StoreSettings, hunan: Hierarchy) -> None:
    """A deputy registered in error, voided: in no population now nor as of any time by the occurred clock; by the
    recorded and known clocks until the void was recorded. Projected page by page, and rebuilt."""
    town = hunan.ref(hunan.by_code(TOWN))
    store = NodeStore(town, settings)
    kept, wrong = serving(town, "T-1", "李桂花"), serving(town, "T-9", "误登记")
    store.save(kept, wrong)
    db = ProjectionDB(town, settings, hierarchy=hunan).open()
    Projector(store, db, hierarchy=hunan).run()
    believed = believed_now()
    wrong.void(town, at(datetime.now(SHANGHAI).date().isoformat()), reason="登记有误: 人员编号错误")
    store.save(wrong)

    def population(db: ProjectionDB, as_of: int | None = None, by: str = "recorded") -> list[str]:
        scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
        deed = queries.coverage(db, scope, targets=("practical_deed",))["targets"][0]
        assert deed["population"] == deed["missing"] == len(deed["missing_list"]["items"])
        return sorted(x["name"] for x in deed["missing_list"]["items"])

    assert Projector(store, db, hierarchy=hunan).run().problems == {}
    for projected in (db, None):
        if projected is None:
            rebuild(store, settings, hierarchy=hunan)
            projected = ProjectionDB(town, settings, hierarchy=hunan).open()
        assert population(projected) == ["李桂花"]
        assert population(projected, occurred("2025-06-01"), "occurred") == ["李桂花"]
        assert population(projected, believed) == population(projected, believed, "known") == ["李桂花", "误登记"]
    store.close()


def test_a_voided_research_takes_back_the_members_and_the_bodys_targets(settings: StoreSettings, hunan: Hierarchy) -> None:
    """An SC member's field research with a deputy, voided (of two, the first): the member's face-to-face and the
    SC's research targets are met by the second from its day on, by every clock; the voided one counted by the
    recorded clock only until the void was recorded."""
    county = hunan.ref(hunan.by_code(TOWN[:6]))
    store = NodeStore(county, settings)
    sc = StandingCommittee.constitute(county, at("2025-01-02"), term=18)
    sc.appoint(at("2025-01-03"), member_id="M-1", name="张三", post="主任")
    deputy = Deputy.register(county, at("2020-01-02"), person_id="C-1", name="刘洋", gender="男")
    research = [
        ContactActivity.record_contact(
            county,
            at(day),
            kind="field_research",
            channel="field_research",
            title=f"专题调研 {day}",
            held_on=date.fromisoformat(day),
            organiser_kind="sc_member",
            organiser="张三",
            organiser_id="M-1",
            deputy_ids=[deputy.id],
        )
        for day in ("2025-04-01", "2025-06-01")
    ]
    store.save(sc, deputy, *research)
    db = ProjectionDB(county, settings, hierarchy=hunan).open()
    Projector(store, db, hierarchy=hunan).run()
    believed = believed_now()
    research[0].void(county, at(datetime.now(SHANGHAI).date().isoformat()), reason="登记有误: 未实际开展")
    store.save(research[0])
    assert Projector(store, db, hierarchy=hunan).run().problems == {}

    def met(as_of: int | None, by: str = "recorded") -> tuple[int, int]:
        scope = queries.make_scope(db, region=county.code, year=2025, as_of=as_of, by=by, hierarchy=hunan)
        view = queries.coverage(db, scope, targets=("sc_face_to_face", "body_research"))["targets"]
        return view[0]["covered"], view[1]["covered"]

    assert met(None) == met(occurred("2025-06-02"), "occurred") == (1, 1)
    assert met(occurred("2025-05-01"), "occurred") == (0, 0)  # the voided research never was
    assert met(believed) == met(believed, "known") == (1, 1)
    with db.connect() as conn:  # the first times now are the second research's
        marks = conn.execute(sa.select(s.marks.c.mark, s.marks.c.first_occ).where(s.marks.c.mark.in_(["f2f", "research"])))
        assert {(m, first > occurred("2025-05-31")) for m, first in marks} == {("f2f", True), ("research", True)}
    store.close()
