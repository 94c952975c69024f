"""A deterministic simulator of deputy work (履职活动) for any region of Hunan's tree.

``simulate(nodes, days=..., start=..., seed=...)`` yields :class:`Batch` es: first the master data of every node
(deputies with their mandates, credentials and groups; standing-committee rosters; liaison stations with their
enrolled deputies), then, day by day, each node's new activity and the next steps of what is already under way:
station visits, contacts of every kind, opinions handled and fed back, suggestions around congress sessions,
livelihood projects voted and implemented, station merges, terminations and by-elections.

Pure domain: no I/O. Every fact goes through the aggregates' own commands, so every rule of the domain holds.
The caller saves each batch (``NodeStore.save_all(batch.aggregates)``) before asking for the next one: the simulator
keeps the aggregates that are still under way and yields them again, with only their new events pending, on the
day they change; finished aggregates are dropped, so a whole-province year runs in bounded memory.

Determinism: one ``random.Random(seed)`` drives all activity and per-node schedules come from string-seeded
generators. Ids are the aggregates' natural keys where they have one (deputies, stations, SCs, suggestions,
livelihood projects) and are drawn from the seeded generator otherwise (visits, contacts) — never ``uuid4``. The
only thing that differs between two runs with the same seed is the store's own recording time (``timestamp``).
Nothing depends on the number of days either (departures, station merges and sessions are planned whatever the
run's length): a run of N days begins with exactly the events of a shorter run, so a recorded run can be resumed or
extended by simulating again and skipping what is stored. :data:`VERSION` names the simulator's output: it changes
whenever the same parameters would simulate other events.

Sizes (at ``scale=1``) follow Hunan: 118 national and 774 provincial deputies at the province, ~430 deputies per
prefecture, ~250 per county, ~66 per 镇/乡 (none at a 街道: streets have no congress), SC rosters of ~60/40/30,
~2 stations per township-level unit and one per county. Activity rates give about 1.5–2 million duty events a
year for the whole province. Terms come from the domain's calendar (``domain.terms``). Elections at the end of a
term are not simulated (deputies keep their mandates; the term and session numbers of suggestions still roll over).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.base import Attribution, DutyAggregate, NodeRef, Role, uuid_of
from domain.bodies import StandingCommittee
from domain.contacts import Channel, ContactActivity, ContactKind, Handling, OrganiserKind
from domain.deputies import Deputy, ElectedVia, GroupKind
from domain.levels import CongressLevel, DivisionKind, Level
from domain.livelihood import MAX_DEPUTIES, LivelihoodProject, ProjectState, ProposedBy
from domain.stations import Station, StationStatus
from domain.suggestions import Evaluation, ReplyCategory, Suggestion, SuggestionState, SupervisionType
from domain.terms import session_of, term_of
from domain.visits import StationVisit

__all__ = [
    "TZ",
    "VERSION",
    "Batch",
    "EventFamily",
    "FAMILY_OF",
    "SimulationStats",
    "family_of",
    "simulate",
    "summarise",
]

#: Which events the same parameters simulate: recorded beside a run's events, so that a run is extended only by the
#: simulator that began it. Raise it with any change that alters the simulated events.
VERSION = 3

#: Simulated days happen in Hunan's time zone.
TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True)
class Batch:
    """Aggregates of one node with pending events, for one simulated day (``None``: master data)."""

    node: NodeRef
    day: date | None
    aggregates: list[DutyAggregate]

    @property
    def events(self) -> int:
        return sum(len(a.pending_events) for a in self.aggregates)


# ====================================================================================================== stats


class EventFamily(StrEnum):
    DEPUTIES = "deputies"
    STATIONS = "stations"
    CONTACTS = "contacts"
    STATION_VISITS = "station_visits"
    SUGGESTIONS = "suggestions"
    LIVELIHOOD = "livelihood"

    @property
    def label(self) -> str:
        return _FAMILY_LABELS[self]


_FAMILY_LABELS = {
    EventFamily.DEPUTIES: "代表与常委会",
    EventFamily.STATIONS: "联络站",
    EventFamily.CONTACTS: "联系活动",
    EventFamily.STATION_VISITS: "进站接待",
    EventFamily.SUGGESTIONS: "代表建议",
    EventFamily.LIVELIHOOD: "民生实事",
}

#: Aggregate class → event family (the standing-committee roster counts with the deputies: both are master data
#: of the congress's members).
FAMILY_OF: dict[type[DutyAggregate], EventFamily] = {
    Deputy: EventFamily.DEPUTIES,
    StandingCommittee: EventFamily.DEPUTIES,
    Station: EventFamily.STATIONS,
    ContactActivity: EventFamily.CONTACTS,
    StationVisit: EventFamily.STATION_VISITS,
    Suggestion: EventFamily.SUGGESTIONS,
    LivelihoodProject: EventFamily.LIVELIHOOD,
}


def family_of(aggregate: DutyAggregate | type[DutyAggregate]) -> EventFamily:
    cls = aggregate if isinstance(aggregate, type) else type(aggregate)
    family = FAMILY_OF.get(cls)
    if family is not None:
        return family
    for klass in cls.__mro__:
        if klass in FAMILY_OF:
            return FAMILY_OF[klass]
    raise KeyError(f"no event family for {cls.__qualname__}")


@dataclass
class SimulationStats:
    """Events per level and per family, counted from batches *before* they are saved (saving clears them)."""

    counts: Counter[tuple[Level, EventFamily]] = field(default_factory=Counter)
    nodes: dict[Level, set[UUID]] = field(default_factory=dict)
    batches: int = 0
    aggregates: int = 0
    first_day: date | None = None
    last_day: date | None = None
    sample_ids: dict[EventFamily, UUID] = field(default_factory=dict)

    def add(self, batch: Batch, *, collect: bool = False) -> int:
        """Count a batch's pending events; ``collect=True`` also clears them (a dry run that saves nothing)."""
        # Once per batch and per aggregate class in it rather than per aggregate: this runs for every batch recorded.
        node = batch.node
        level = node.level
        nodes = self.nodes.get(level)
        if nodes is None:
            nodes = self.nodes[level] = set()
        nodes.add(node.node_id)
        self.batches += 1
        day = batch.day
        if day is not None:
            if self.first_day is None or day < self.first_day:
                self.first_day = day
            if self.last_day is None or day > self.last_day:
                self.last_day = day
        aggregates = batch.aggregates
        self.aggregates += len(aggregates)
        per_class: dict[type, int] = {}
        sample_ids = self.sample_ids
        for aggregate in aggregates:
            cls = type(aggregate)
            pending = len(aggregate.pending_events)
            if cls in per_class:
                per_class[cls] += pending
            else:
                per_class[cls] = pending
                family = family_of(cls)
                if family not in sample_ids:  # the first aggregate of its family is the first of its class
                    sample_ids[family] = aggregate.id
            if collect:
                aggregate.collect_events()
        counts = self.counts
        for cls, pending in per_class.items():
            counts[(level, family_of(cls))] += pending
        return sum(per_class.values())

    @property
    def families(self) -> tuple[EventFamily, ...]:
        return tuple(EventFamily)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, level: Level, family: EventFamily) -> int:
        return self.counts[(level, family)]

    def family_total(self, family: EventFamily) -> int:
        return sum(n for (_, f), n in self.counts.items() if f is family)

    def level_total(self, level: Level) -> int:
        return sum(n for (lv, _), n in self.counts.items() if lv is level)

    def levels(self) -> list[tuple[Level, int]]:
        """Levels that had batches, top down, with how many nodes of each."""
        return [(level, len(self.nodes[level])) for level in Level if level in self.nodes]

    def by_family(self) -> dict[str, int]:
        return {f.value: self.family_total(f) for f in EventFamily}

    def by_level(self) -> dict[str, int]:
        return {lv.value: self.level_total(lv) for lv, _ in self.levels()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "batches": self.batches,
            "aggregates": self.aggregates,
            "by_level": self.by_level(),
            "by_family": self.by_family(),
            "by_level_family": {lv.value: {f.value: self.count(lv, f) for f in EventFamily} for lv, _ in self.levels()},
        }


def summarise(batches: Iterable[Batch], *, collect: bool = True) -> SimulationStats:
    """Count every batch; by default also clear the pending events (a dry run, nothing saved)."""
    stats = SimulationStats()
    for batch in batches:
        stats.add(batch, collect=collect)
    return stats


# ================================================================================================= vocabulary

_SURNAMES = (
    "刘李陈王张周彭谭罗唐曾邓胡黄杨易文贺肖蒋廖龙欧向谢朱吴何田姚袁雷汤邹段石梁戴龚许郭颜伍严莫钟覃卢孙夏苏傅"
    "刘李陈王张周彭谭唐曾邓黄杨"
)
_GIVEN = (
    "建国华平志明军伟红英丽芳敏杰勇强斌波涛峰辉鹏浩宇婷玲霞燕娟秀兰桂香春梅海龙云飞庆林松湘德福忠泽民爱武洪亮光永新文利群立红晓俊"
)
_VILLAGE_HEAD = (
    "金桥",
    "新华",
    "和平",
    "青山",
    "石桥",
    "枫林",
    "桃花",
    "白沙",
    "龙泉",
    "双江",
    "大塘",
    "长岭",
    "团结",
    "红星",
    "光明",
    "荷花",
    "杉木",
    "竹山",
    "黄泥",
    "樟树",
    "茶园",
    "古楼",
    "清水",
    "柏林",
    "高峰",
    "湘峰",
    "塘湾",
    "合兴",
    "永丰",
    "富民",
    "联合",
    "东升",
    "向阳",
    "莲塘",
    "松柏",
    "花桥",
    "凤凰",
    "马头",
    "梅溪",
    "太平",
)
_PREFECTURES = (
    "长沙市",
    "株洲市",
    "湘潭市",
    "衡阳市",
    "邵阳市",
    "岳阳市",
    "常德市",
    "张家界市",
    "益阳市",
    "郴州市",
    "永州市",
    "怀化市",
    "娄底市",
    "湘西土家族苗族自治州",
)
_COMPANY_HEAD = ("金穗", "湘丰", "华源", "兴湘", "楚天", "长丰", "德润", "宏达", "潇湘", "天成", "鑫盛", "绿源")
_COMPANY_TRADE = ("农业科技", "建设工程", "食品", "新材料", "机械制造", "电子科技", "物流", "生物医药", "茶业", "文化旅游")

_ISSUES: tuple[tuple[str, str], ...] = (
    ("道路交通", "{v}组级道路年久失修，雨天出行困难"),
    ("道路交通", "{v}路段夜间无路灯，存在安全隐患"),
    ("农村饮水", "{v}自来水水压不足，用水高峰期经常停水"),
    ("医疗社保", "咨询城乡居民医保缴费和异地就医报销政策"),
    ("医疗社保", "反映{v}卫生室缺医少药，看病不方便"),
    ("教育", "咨询孩子入学学位安排和校车接送问题"),
    ("环境卫生", "{v}路口垃圾清运不及时，影响周边环境"),
    ("环境卫生", "{v}养殖场异味扰民"),
    ("住房", "询问农村危房改造补助申请进展"),
    ("就业", "咨询灵活就业人员社保缴纳和技能培训"),
    ("邻里纠纷", "与邻居宅基地边界存在纠纷，请求调解"),
    ("农业生产", "{v}稻田灌溉渠道淤塞，影响春耕用水"),
    ("农业生产", "咨询耕地地力保护补贴发放标准"),
    ("养老", "反映高龄津贴发放不及时"),
    ("养老", "希望{v}建设老年人日间照料中心"),
    ("治安", "{v}集市周边交通秩序混乱"),
    ("政策咨询", "咨询退役军人优待政策"),
    ("政策咨询", "咨询农村不动产登记办理流程"),
)
_ON_THE_SPOT = (
    "代表当场解释相关政策，群众表示理解",
    "代表联系村（社区）现场协调，问题已解决",
    "代表现场答复并提供办事指引",
    "经代表现场调解，当事双方达成和解",
    "代表帮助联系主管部门电话答复，群众满意",
)
_TOPICS = (
    "法治护航高质量发展三年行动",
    "乡村振兴",
    "优化营商环境",
    "义务教育优质均衡发展",
    "农村人居环境整治",
    "养老服务体系建设",
    "基层医疗卫生服务能力提升",
    "耕地保护和粮食安全",
    "湘江保护和治理",
    "长江十年禁渔",
    "安全生产",
    "食品药品安全",
    "保障性住房建设",
    "城市更新",
    "数字政府建设",
    "稳就业和社会保障",
    "非物质文化遗产保护",
    "农村公路建设养护",
    "饮用水水源保护",
    "中小企业发展",
)
_LAWS = (
    "湖南省乡镇人民代表大会工作条例",
    "湖南省实施《中华人民共和国代表法》办法",
    "湖南省优化营商环境规定",
    "湖南省湘江保护条例",
    "湖南省养老服务条例",
    "湖南省物业管理条例",
    "湖南省农村村民住房建设管理条例",
    "湖南省安全生产条例",
    "湖南省实施《中华人民共和国食品安全法》办法",
    "湖南省消防条例",
)
_THEMES = (
    "法治护航高质量发展",
    "进站听民声",
    "助力乡村振兴",
    "关爱留守儿童",
    "安全生产大走访",
    "人居环境整治",
    "民生实事监督",
    "优化营商环境",
    "防汛抗旱",
    "文明创建",
)
_DEEDS = (
    "为{v}争取资金硬化通组道路",
    "协调解决{v}农产品滞销问题",
    "为{v}困难群众送去生活物资",
    "组织医疗义诊进{v}",
    "开展法律知识宣讲进{v}",
    "捐资助学，资助{v}困难学生",
    "推动{v}安装太阳能路灯",
    "协调修复{v}灌溉水渠",
    "为{v}村民对接务工就业岗位",
    "协调解决{v}饮水管网改造",
    "推动{v}危桥加固",
    "帮助{v}发展特色种养产业",
)
_OPINIONS = (
    "建议加大{t}的投入和保障力度",
    "建议有关部门加快解决{v}群众反映的{t}问题",
    "建议完善{t}工作机制，压实部门责任",
    "建议在{t}方面出台更具操作性的配套措施",
    "建议加强{t}政策宣传，打通政策落实“最后一公里”",
    "建议将{v}纳入{t}重点支持范围",
)
_HOTLINE_OUTCOMES = (
    "工单已办结：{u}已完成处置，回访群众满意",
    "工单已办结：已纳入{u}年度计划，分步实施",
    "工单已办结：{u}已向群众解释说明相关政策",
    "工单已办结：{u}联合属地现场处理到位",
)

#: Suggestion category → (title templates, handling department).
_SUGGESTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("交通运输", ("关于加快{p}农村公路提质改造的建议", "关于完善{p}城乡公交线网的建议"), "交通运输"),
    ("教育", ("关于加强农村学校教师队伍建设的建议", "关于改善{p}中小学办学条件的建议"), "教育"),
    ("医疗卫生", ("关于提升基层医疗卫生服务能力的建议", "关于加快{p}卫生院升级改造的建议"), "卫生健康"),
    ("农业农村", ("关于加强高标准农田建设和管护的建议", "关于支持{p}特色农业产业发展的建议"), "农业农村"),
    ("生态环境", ("关于加强{p}河道综合治理的建议", "关于推进农村生活污水治理的建议"), "生态环境"),
    ("社会保障", ("关于提高城乡居民基础养老金的建议", "关于加强农村养老服务设施建设的建议"), "民政"),
    ("营商环境", ("关于进一步优化营商环境支持民营经济发展的建议", "关于降低中小微企业融资成本的建议"), "发展和改革"),
    ("城乡建设", ("关于加快{p}老旧小区改造的建议", "关于加强{p}集镇规划建设的建议"), "住房和城乡建设"),
    ("水利", ("关于加快{p}山塘水库除险加固的建议", "关于推进农村饮水安全巩固提升的建议"), "水利"),
    ("文化旅游", ("关于加强{p}红色文化资源保护利用的建议", "关于推动{p}文旅融合发展的建议"), "文化旅游"),
    ("法治建设", ("关于加强基层法治宣传教育的建议", "关于规范{p}行政执法行为的建议"), "司法"),
    ("就业创业", ("关于加强返乡创业扶持的建议", "关于加强{p}职业技能培训的建议"), "人力资源和社会保障"),
)
_DEPARTMENT_OF = {category: department for category, _, department in _SUGGESTIONS}

#: Department → its name at each level (province 厅/委, prefecture and county 局).
_DEPARTMENTS = {
    "交通运输": ("省交通运输厅", "交通运输局"),
    "教育": ("省教育厅", "教育局"),
    "卫生健康": ("省卫生健康委员会", "卫生健康局"),
    "农业农村": ("省农业农村厅", "农业农村局"),
    "生态环境": ("省生态环境厅", "生态环境局"),
    "民政": ("省民政厅", "民政局"),
    "发展和改革": ("省发展和改革委员会", "发展和改革局"),
    "住房和城乡建设": ("省住房和城乡建设厅", "住房和城乡建设局"),
    "水利": ("省水利厅", "水利局"),
    "文化旅游": ("省文化和旅游厅", "文化旅游广电局"),
    "司法": ("省司法厅", "司法局"),
    "人力资源和社会保障": ("省人力资源和社会保障厅", "人力资源和社会保障局"),
    "财政": ("省财政厅", "财政局"),
    "自然资源": ("省自然资源厅", "自然资源局"),
}
_TOWNSHIP_OFFICES = ("人民政府", "农业综合服务中心", "社会事务综合服务中心", "村镇建设办公室", "综治中心", "司法所")

#: Livelihood category → project templates ({v} a village, {t} the township or county).
_LIVELIHOOD: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("道路交通", ("{v}村道提质改造工程", "{v}通组公路硬化工程", "{t}集镇道路白改黑工程")),
    ("饮水安全", ("{v}安全饮水巩固提升工程", "{t}供水管网延伸工程")),
    ("教育", ("{t}中心小学食堂改造", "{t}公办幼儿园扩容建设")),
    ("医疗卫生", ("{t}卫生院康复科建设", "{v}卫生室标准化建设")),
    ("养老服务", ("{t}农村居家养老服务站建设", "{v}老年人日间照料中心建设")),
    ("人居环境", ("{t}集镇污水管网建设", "{v}垃圾分类收集点建设", "{v}路灯亮化工程")),
    ("农田水利", ("{v}山塘清淤扩容工程", "{v}农田灌溉渠道修复", "{v}机耕道建设")),
    ("文化体育", ("{t}全民健身广场建设", "{v}文化活动中心建设")),
    ("便民服务", ("{t}集贸市场改造", "{t}便民服务中心提质")),
)
_LIVELIHOOD_SUPERVISION = (
    "组织代表视察项目现场",
    "听取政府实施情况报告",
    "开展专项督查",
    "代表小组跟踪监督",
    "召开项目推进情况座谈会",
)
_SPECIAL_COMMITTEES = {
    Level.PROVINCE: (
        "省人大财政经济委员会",
        "省人大教育科学文化卫生委员会",
        "省人大农业农村委员会",
        "省人大社会建设委员会",
        "省人大环境与资源保护委员会",
        "省人大监察和司法委员会",
    ),
    Level.PREFECTURE: ("财政经济委员会", "教育科学文化卫生委员会", "农业农村委员会", "社会建设委员会"),
    Level.COUNTY: ("财政经济工作委员会", "农业农村工作委员会", "社会建设工作委员会", "教育科学文化卫生工作委员会"),
}
_SC_OFFICES = ("代表工作委员会", "法制工作委员会", "预算工作委员会", "办公室")
_PROFESSIONAL_GROUPS = ("财政经济", "教育科学文化卫生", "农业农村", "社会建设", "环境与资源保护", "法治")

#: Per level: base deputies, SC posts (vice-chairs, secretaries-general, members), suggestions per deputy at a
#: session, share grassroots, share leading cadres.
_DEPUTIES = {
    CongressLevel.NATIONAL: 118,
    CongressLevel.PROVINCIAL: 774,
    CongressLevel.PREFECTURE: 430,
    CongressLevel.COUNTY: 250,
    CongressLevel.TOWNSHIP: 66,
}
_SC_POSTS = {Level.PROVINCE: (7, 1, 51), Level.PREFECTURE: (5, 1, 33), Level.COUNTY: (4, 0, 25)}
_SUGGESTIONS_PER_DEPUTY = {
    CongressLevel.PROVINCIAL: 1.7,
    CongressLevel.PREFECTURE: 1.2,
    CongressLevel.COUNTY: 0.8,
    CongressLevel.TOWNSHIP: 0.3,
}
_FLAGS = {  # (grassroots, leading cadre)
    CongressLevel.NATIONAL: (0.35, 0.30),
    CongressLevel.PROVINCIAL: (0.50, 0.20),
    CongressLevel.PREFECTURE: (0.55, 0.18),
    CongressLevel.COUNTY: (0.70, 0.15),
    CongressLevel.TOWNSHIP: (0.72, 0.12),
}
_SPRING_FESTIVAL = {
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}
_WEEKDAY = (1.26, 1.26, 1.26, 1.26, 1.26, 0.44, 0.26)  # averages to 1 over a week

# Yearly rates (events of that kind per unit per year).
_VISITS_PER_STATION = 22.0
_ORGAN_MEETINGS_PER_SC_MEMBER = 2.2
_PRESIDIUM_MEETINGS = 6.0
_GROUP_ACTIVITIES_PER_GROUP = 4.0
_FIELD_RESEARCH = {Level.PROVINCE: 12.0, Level.PREFECTURE: 8.0, Level.COUNTY: 6.0, Level.TOWNSHIP: 3.0}
_DEEDS_PER_DEPUTY = 1.1
_HOTLINE_PER_DEPUTY = 0.15
_SNAPSHOTS_PER_DEPUTY = 0.15
_REPORTS_PER_DEPUTY = 0.22
_RECESS_SUGGESTION_SHARE = 0.1
_TERMINATIONS_PER_DEPUTY = 0.012

_CN_DIGITS = "零一二三四五六七八九"


def _cn(n: int) -> str:
    """Chinese numerals for 1..99 (第十八届, 第四次)."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + ("" if ones == 0 else _CN_DIGITS[ones])


# ================================================================================================ node state


class _Dep:
    """What activity needs of one deputy's mandate; the Deputy aggregate itself is dropped after it is saved."""

    __slots__ = (
        "id",
        "name",
        "congress",
        "grassroots",
        "leading",
        "idle",
        "node",
        "station",
        "group",
        "active",
        "elected_by",
        "delegation",
        "person_id",
        "agg",
    )

    def __init__(
        self,
        node: _Node,
        congress: CongressLevel,
        person_id: str,
        name: str,
        grassroots: bool,
        leading: bool,
        elected_by: str,
        delegation: str,
    ) -> None:
        self.node = node
        self.congress = congress
        self.person_id = person_id
        self.name = name
        self.grassroots = grassroots
        self.leading = leading
        self.elected_by = elected_by
        self.delegation = delegation
        self.id: UUID  # the Deputy aggregate's id (Deputy.id_for), set from it once it is registered
        self.idle = False  # a deputy who will not do the yearly practical deed / a cadre who skips group activities
        self.station: Station | None = None
        self.group = ""
        self.active = False
        self.agg: Deputy | None = None  # kept only for deputies whose mandate will end during the run


class _Node:
    __slots__ = (
        "i",
        "ref",
        "code",
        "name",
        "level",
        "kind",
        "street",
        "congress",
        "parent",
        "children",
        "clerks",
        "bys",
        "bys_day",
        "sc",
        "sc_members",
        "sc_skip",
        "stations",
        "deputies",
        "groups",
        "villages",
        "livelihood",
        "person_seq",
        "dual",
        "deed_queue",
        "deed_pos",
        "report_queue",
        "report_pos",
        "rates",
        "suggestion_seq",
        "sessions",
    )

    def __init__(self, i: int, ref: NodeRef) -> None:
        self.i = i
        self.ref = ref
        self.code = ref.code
        self.name = ref.name
        self.level = ref.level
        self.kind = ref.kind
        self.street = not ref.has_congress
        self.congress: CongressLevel | None = None
        if ref.has_congress:
            self.congress = {
                Level.PROVINCE: CongressLevel.PROVINCIAL,
                Level.PREFECTURE: CongressLevel.PREFECTURE,
                Level.COUNTY: CongressLevel.COUNTY,
                Level.TOWNSHIP: CongressLevel.TOWNSHIP,
            }[ref.level]
        self.parent: _Node | None = None
        self.children: list[_Node] = []
        self.clerks: list[str] = []
        self.bys: list[Attribution] = []
        self.bys_day = -2
        self.sc: StandingCommittee | None = None
        self.sc_members: list[tuple[str, str, str]] = []  # (member id, name, post) who contact deputies
        self.sc_skip: list[tuple[str, str, str]] = []  # members who (deliberately) do not
        self.stations: list[Station] = []  # open stations
        self.deputies: list[_Dep] = []
        self.groups: dict[str, list[_Dep]] = {}
        self.villages: list[str] = []
        self.livelihood = False
        self.person_seq = 0
        self.dual: list[tuple[_Dep, str, str]] = []  # county deputies living here who also hold a township mandate
        self.deed_queue: list[_Dep] = []
        self.deed_pos = 0
        self.report_queue: list[_Dep] = []
        self.report_pos = 0
        self.rates: tuple[tuple[Callable[[_Simulation, _Node, int], None], float], ...] = ()
        self.suggestion_seq: Counter[tuple[int, int, str]] = Counter()
        self.sessions: dict[int, date] = {}

    @property
    def county_name(self) -> str:
        if self.level is Level.TOWNSHIP:
            return self.parent.name if self.parent is not None else "县"
        return self.name

    def subtree(self) -> Iterator[_Node]:
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


class _Plan:
    """One livelihood project as planned before it exists (the aggregate comes with the proposal)."""

    __slots__ = ("agg", "title", "category", "listed", "fails", "budget", "begin", "finish", "proposed_by")

    def __init__(self, title: str, category: str, listed: bool, fails: bool, budget: Decimal, proposed_by: str) -> None:
        self.agg: LivelihoodProject | None = None
        self.title = title
        self.category = category
        self.listed = listed
        self.fails = fails
        self.budget = budget
        self.proposed_by = proposed_by
        self.begin = 0
        self.finish = 0


Task = tuple[Callable[..., None], tuple[Any, ...]]


# ================================================================================================== simulate


def simulate(nodes: Sequence[NodeRef], *, days: int, start: date, seed: int = 0, scale: float = 1.0) -> Iterator[Batch]:
    """Yield the region's master data, then its activity day by day, one batch per node and day with news.

    ``nodes`` is a region's subtree (``Hierarchy.subtree``): parents before children. Save each batch's
    aggregates before taking the next batch: the simulator goes on changing aggregates it yielded before.
    """
    if days < 0:
        raise ValueError(f"days must not be negative (got {days})")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive number (got {scale})")
    refs = [n if isinstance(n, NodeRef) else n.ref() for n in nodes]  # NodeRefs, or hierarchy divisions
    sim = _Simulation(refs, days=days, start=start, seed=seed, scale=scale)
    yield from sim.master_data()
    yield from sim.activity()


class _Simulation:
    def __init__(self, refs: list[NodeRef], *, days: int, start: date, seed: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.scale = scale
        self.days = days
        self.start = start
        self.end = start + timedelta(days=days)
        self.d = -1  # index of the simulated day; -1 while recording master data
        self.day = start
        self.cur = -1  # index of the node being simulated
        self.touched: list[DutyAggregate] = []
        self._times_day = -2
        self._times: list[datetime] = []
        self.agenda: list[dict[int, list[Task]] | None] = [{} for _ in range(days)]
        self.nodes = self._link(refs)
        self.nodes_by_id = {n.ref.node_id: n for n in self.nodes}
        self.stations_by_id: dict[UUID, Station] = {}
        self.factor = [self._factor(start + timedelta(days=k)) for k in range(days)]

    # -------------------------------------------------------------------------------------------- structure

    def _link(self, refs: list[NodeRef]) -> list[_Node]:
        nodes: list[_Node] = []
        by_code: dict[str, _Node] = {}
        for i, ref in enumerate(refs):
            if ref.code in by_code:
                raise ValueError(f"{ref} is listed twice")
            node = _Node(i, ref)
            parent_code = {
                Level.PROVINCE: None,
                Level.PREFECTURE: ref.code[:2] + "0000",
                Level.COUNTY: ref.code[:4] + "00",
                Level.TOWNSHIP: ref.code[:6],
            }[ref.level]
            if parent_code is not None and parent_code in by_code:
                node.parent = by_code[parent_code]
                node.parent.children.append(node)
            elif parent_code is not None and any(parent_code == r.code for r in refs[i + 1 :]):
                raise ValueError(f"{ref} comes before its parent {parent_code}: list parents before children")
            by_code[ref.code] = node
            nodes.append(node)
            sub = self._sub(node, "clerks")
            node.clerks = [f"clerk-{ref.code}-{k:02d}" for k in range(1, sub.randint(2, 4) + 1)]
            suffix = "社区" if node.street or ref.kind is DivisionKind.DISTRICT else "村"
            heads = sub.sample(_VILLAGE_HEAD, 8)
            node.villages = [h + suffix for h in heads]
        return nodes

    def _sub(self, node: _Node, what: str, year: int = 0) -> random.Random:
        """A generator for one node's schedule: independent of how many draws other nodes made."""
        return random.Random(f"{self.seed}/{what}/{node.code}/{year}")

    def _factor(self, day: date) -> float:
        f = _WEEKDAY[day.weekday()]
        festival = _SPRING_FESTIVAL.get(day.year, date(day.year, 2, 1))
        if -2 <= (day - festival).days <= 6 or (day.month == 10 and day.day <= 7):
            f *= 0.25
        return f

    # ----------------------------------------------------------------------------------------------- helpers

    def _by(self, node: _Node) -> Attribution:
        """One of the node's office clerks, recording at some time of the simulated day."""
        if node.bys_day != self.d:
            node.bys_day = self.d
            node.bys = [None] * len(node.clerks)  # type: ignore[list-item]
        k = int(self.rng.random() * len(node.bys))
        by = node.bys[k]
        if by is None:
            by = node.bys[k] = Attribution(node.clerks[k], Role.RECORDER, self._time())
        return by

    def _time(self) -> datetime:
        if self._times_day != self.d:
            self._times_day = self.d
            day = self.day
            self._times = [datetime(day.year, day.month, day.day, h, m, tzinfo=TZ) for h in range(8, 18) for m in (0, 20, 40)]
        return self._times[int(self.rng.random() * len(self._times))]

    def _as_deputy(self, deputy_id: UUID) -> Attribution:
        return Attribution(str(deputy_id), Role.DEPUTY, self._time())

    def _nid(self) -> UUID:
        """An id for an aggregate without a natural key (visits, contacts), drawn from the seeded generator."""
        return uuid_of(self.rng.getrandbits(128), 4)

    def _touch(self, aggregate: DutyAggregate) -> None:
        self.touched.append(aggregate)

    def _at(self, node: _Node, delay: int, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(node, *args)`` ``delay`` days from today at ``node`` (dropped if after the last day)."""
        t = self.d + delay
        if delay <= 0:
            t = self.d if node.i > self.cur else self.d + 1
            t = max(t, 0)
        self._at_day(node, t, fn, *args)

    def _today(self, node: _Node, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(node, *args)`` today: now if ``node`` is the node being simulated, else when its turn comes."""
        if node.i == self.cur:
            fn(node, *args)
        else:
            self._at(node, 0, fn, *args)

    def _at_day(self, node: _Node, t: int, fn: Callable[..., None], *args: Any) -> None:
        if t >= self.days:
            return
        tasks = self.agenda[t]
        assert tasks is not None, "scheduled into the past"
        tasks.setdefault(node.i, []).append((fn, args))

    def _name(self, rng: random.Random | None = None) -> str:
        rng = rng or self.rng
        given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else "")
        return rng.choice(_SURNAMES) + given

    def _phone(self) -> str:
        return f"1{self.rng.choice('3578')}{self.rng.randrange(10**9):09d}"

    def _place(self, node: _Node) -> str:
        """A village or community of the node, or a child unit's name above the township level."""
        if node.children and node.level is not Level.TOWNSHIP and self.rng.random() < 0.7:
            child = self.rng.choice(node.children)
            return child.name + self.rng.choice(child.villages) if child.level is Level.TOWNSHIP else child.name
        return self.rng.choice(node.villages)

    def _unit(self, node: _Node, department: str) -> str:
        """The government unit of ``node``'s level that handles ``department`` matters."""
        if node.level is Level.PROVINCE:
            return _DEPARTMENTS[department][0]
        if node.level is Level.TOWNSHIP:
            if self.rng.random() < 0.6:
                return node.name + self.rng.choice(_TOWNSHIP_OFFICES)
            return node.county_name + _DEPARTMENTS[department][1]
        return node.name + _DEPARTMENTS[department][1]

    def _active(self, pool: Sequence[_Dep], k: int, prefer_grassroots: bool = False) -> list[_Dep]:
        """Up to ``k`` distinct serving deputies from ``pool``."""
        if not pool or k <= 0:
            return []
        rng = self.rng
        picked: list[_Dep] = []
        seen: set[int] = set()
        tries = 0
        while len(picked) < k and tries < 3 * k + 6:
            tries += 1
            dep = pool[int(rng.random() * len(pool))]
            if prefer_grassroots and not dep.grassroots and rng.random() < 0.5:
                dep = pool[int(rng.random() * len(pool))]
            if dep.active and id(dep) not in seen:
                seen.add(id(dep))
                picked.append(dep)
        return picked

    def _count(self, rate: float) -> int:
        """Stochastic rounding: the expected value is ``rate``."""
        return int(rate + self.rng.random())

    # ============================================================================================ master data

    def master_data(self) -> Iterator[Batch]:
        for node in self.nodes:
            self._make_stations(node)
        for node in self.nodes:
            self.day = self.start
            self.touched = []
            self.cur = node.i
            if node.level is not Level.TOWNSHIP:
                self._make_sc(node)
            if node.level is Level.PROVINCE:
                self._make_deputies(node, CongressLevel.NATIONAL)
            if node.congress is not None:
                self._make_deputies(node, node.congress)
                self._make_groups(node)
            self._prepare(node)
            self.touched.extend(node.stations)
            batch = self._batch(node, None)
            if batch.aggregates:
                yield batch
        self._schedule_station_merges()
        self._schedule_sessions()

    def _make_stations(self, node: _Node) -> None:
        sub = self._sub(node, "stations")
        if node.level is Level.TOWNSHIP:
            count = sub.choice((1, 2, 2, 2, 3)) if not node.street else sub.choice((1, 2))
            count = max(1, round(count * self.scale + (0.4 if self.scale < 1 else 0)))
            names = [f"{node.name}人大代表联络站"]
            for k in range(1, count):
                village = node.villages[(k - 1) % len(node.villages)]
                suffix = "" if k <= len(node.villages) else _cn(min(99, (k - 1) // len(node.villages) + 1))
                names.append(f"{node.name}{village}{suffix}人大代表联络站")
        elif node.level is Level.COUNTY:
            names = [f"{node.name}人大代表中心联络站"]
        else:
            return
        by = self._by(node)
        for name in names:
            station = Station.establish(node.ref, by, name=name, address=f"湖南省{node.name}{sub.choice(node.villages)}")
            node.stations.append(station)
            self.stations_by_id[station.id] = station

    def _make_sc(self, node: _Node) -> None:
        congress = node.congress or CongressLevel.PROVINCIAL
        term = term_of(congress, self.start.year)
        sub = self._sub(node, "sc")
        by = self._by(node)
        sc = StandingCommittee.constitute(node.ref, by, term=term)
        vice, secretary, members = _SC_POSTS[node.level]
        s = self.scale
        posts = ["主任"] + ["副主任"] * max(1, round(vice * s)) + ["秘书长"] * round(secretary * min(1.0, s))
        posts += ["委员"] * max(1, round(members * s * sub.uniform(0.85, 1.15)))
        roster = []
        for k, post in enumerate(posts, start=1):
            member = (f"sc-{node.code}-{k:02d}", self._name(sub), post)
            sc.appoint(by, member_id=member[0], name=member[1], post=post)
            roster.append(member)
        # Most, but deliberately not all, members contact deputies face to face during the year.
        skipped = sub.sample(roster[1:], max(1, round(0.07 * len(roster)))) if len(roster) >= 5 else []
        node.sc_skip = skipped
        node.sc_members = [m for m in roster if m not in skipped]
        node.sc = sc
        self._touch(sc)

    # deputies ---------------------------------------------------------------------------------------------

    def _pools(self, node: _Node, congress: CongressLevel) -> list[tuple[str, list[Station], _Node | None]]:
        """Where deputies of ``congress`` recorded at ``node`` come from: (electing unit / home, stations, home node)."""
        if congress is CongressLevel.TOWNSHIP:
            return [(node.name, node.stations, node)]
        if congress is CongressLevel.COUNTY:
            homes = [c for c in node.children] + [node]
            return [(h.name, h.stations, h) for h in homes]
        below = Level.COUNTY if congress is CongressLevel.PREFECTURE else Level.PREFECTURE
        homes = [c for c in node.children if c.level is below]
        if homes:
            return [(h.name, [s for sub in h.subtree() for s in sub.stations], h) for h in homes]
        names = _PREFECTURES if below is Level.PREFECTURE else tuple(f"{node.name}第{_cn(k)}选举单位" for k in range(1, 9))
        return [(name, [], None) for name in names]

    def _make_deputies(self, node: _Node, congress: CongressLevel) -> None:
        sub = self._sub(node, f"deputies-{congress.value}")
        spread = {CongressLevel.TOWNSHIP: (0.6, 1.4), CongressLevel.COUNTY: (0.75, 1.25)}.get(congress, (1.0, 1.0))
        count = max(3, round(_DEPUTIES[congress] * self.scale * sub.uniform(*spread)))
        term = term_of(congress, self.start.year)
        pools = self._pools(node, congress)
        weights = [max(1, len(p[1])) for p in pools]
        grassroots_share, leading_share = _FLAGS[congress]
        dual = list(node.dual)[: count // 3]
        by = self._by(node)
        for k in range(count):
            home, stations, home_node = pools[0] if len(pools) == 1 else sub.choices(pools, weights)[0]
            if k < len(dual):  # the same person as a county deputy living here
                twin, gender, unit = dual[k]
                person_id, name, grassroots, leading = twin.person_id, twin.name, twin.grassroots, twin.leading
                station = twin.station
            else:
                node.person_seq += 1
                person_id = f"P{node.code}{node.person_seq:05d}"
                name = self._name(sub)
                roll = sub.random()
                grassroots, leading = roll < grassroots_share, roll >= 1 - leading_share
                station = sub.choice(stations) if stations else None
                gender = "女" if sub.random() < 0.3 else "男"
                unit = self._person_unit(sub, congress, node.name, home, grassroots, leading)
            if congress is CongressLevel.NATIONAL:
                elected_by, delegation = "湖南省人民代表大会", "湖南代表团"
            elif congress.directly_elected:
                elected_by = f"{home}第{sub.randint(1, 24)}选区"
                delegation = f"{home}代表团" if congress is CongressLevel.COUNTY else ""
            else:
                elected_by, delegation = f"{home}人民代表大会", f"{home}代表团"
            dep = _Dep(node, congress, person_id, name, grassroots, leading, elected_by, delegation)
            dep.idle = sub.random() < (0.08 if not leading else 0.15)
            deputy = Deputy.register(
                node.ref,
                by,
                person_id=person_id,
                name=name,
                gender=gender,
                unit=unit,
                grassroots=grassroots,
                leading_cadre=leading,
                home_node=station.owner if station is not None else (home_node or node).ref.node_id,
            )
            dep.id = deputy.id
            deputy.grant_mandate(node.ref, by, congress=congress, term=term, elected_by=elected_by, delegation=delegation)
            passed = sub.random() >= 0.004
            deputy.review_credentials(
                by,
                congress=congress.value,
                term=term,
                passed=passed,
                note="代表资格审查委员会审查，确认代表资格有效" if passed else "选举违反法律规定，确认当选无效",
            )
            self._touch(deputy)
            node.deputies.append(dep)
            dep.station = station
            if passed:
                dep.active = True
                dep.agg = deputy  # until groups are joined and the departure is planned
                if station is not None:
                    self._enrol(station, dep)
                if (
                    congress is CongressLevel.COUNTY
                    and home_node is not None
                    and home_node.congress is CongressLevel.TOWNSHIP
                    and sub.random() < 0.3
                ):
                    home_node.dual.append((dep, gender, unit))
            else:
                # Elected void: a by-election fills the seat later.
                self._at_day(node, sub.randrange(30, 150), self._by_election, dep, None)

    def _person_unit(
        self, sub: random.Random, congress: CongressLevel, seat: str, home: str, grassroots: bool, leading: bool
    ) -> str:
        """A plausible 工作单位及职务 for a deputy of ``congress`` (recorded at ``seat``) who lives or works in ``home``."""
        village = sub.choice(_VILLAGE_HEAD)
        company = f"湖南{sub.choice(_COMPANY_HEAD)}{sub.choice(_COMPANY_TRADE)}有限公司"
        options: tuple[str, ...]
        if leading:
            if congress is CongressLevel.TOWNSHIP:
                options = (f"{home}党委书记", f"{home}人民政府主要负责人", f"{home}人大主席", f"{home}党委副书记")
            elif congress is CongressLevel.COUNTY:
                options = (
                    f"{home}党（工）委书记",
                    f"{seat}人民政府副职领导",
                    f"{seat}交通运输局局长",
                    f"{seat}教育局局长",
                    f"{seat}人民法院院长",
                )
            elif congress is CongressLevel.PREFECTURE:
                options = (f"{home}委书记", f"{home}人民政府主要负责人", f"{seat}发展和改革委员会主任", f"{seat}人民政府副职领导")
            else:
                options = (f"{home}委书记", f"{home}人民政府主要负责人", "省直单位主要负责人", "湖南省人民政府副省长")
        elif grassroots:
            options = (
                f"{home}{village}村党总支书记、村委会主任",
                f"{home}{village}村村民",
                f"{company}一线职工",
                f"{home}中心小学教师",
                f"{home}卫生院医生",
                f"{home}{village}种植专业合作社理事长",
                f"{home}个体工商户",
                f"{home}{village}社区党委书记",
            )
        else:
            options = (
                f"{company}董事长",
                f"{home}人民医院院长",
                f"{company}总经理",
                f"湖南{village}律师事务所主任",
                f"{home}第一中学校长",
                "湖南省农业科学院研究员",
            )
        return sub.choice(options)

    def _enrol(self, station: Station, dep: _Dep) -> None:
        owner = self.nodes_by_id[station.owner]
        station.enrol(self._by(owner), deputy_id=dep.id, deputy_name=dep.name, congress=dep.congress)

    def _make_groups(self, node: _Node) -> None:
        sub = self._sub(node, "groups")
        by = self._by(node)
        serving = [d for d in node.deputies if d.active]
        areas: dict[str, list[_Dep]] = {}
        if node.level is Level.TOWNSHIP:
            size = max(1, round(len(serving) / 9))
            shuffled = serving[:]
            sub.shuffle(shuffled)
            for k, dep in enumerate(shuffled):
                areas.setdefault(f"{node.name}第{_cn(k % size + 1)}代表小组", []).append(dep)
        else:
            for dep in serving:
                home = self.nodes_by_id[dep.station.owner].name if dep.station is not None else ""
                if node.level is Level.COUNTY:
                    home = home if home and home != node.name else "城区"
                    name = f"{node.name}人大代表{home}小组"
                elif node.level is Level.PREFECTURE:
                    name = f"{node.name}人大代表{dep.elected_by.removesuffix('人民代表大会')}小组"
                else:
                    if dep.station is not None:
                        prefecture = self._prefecture_of(dep)
                    elif dep.congress is CongressLevel.PROVINCIAL:
                        prefecture = dep.elected_by.removesuffix("人民代表大会")
                    else:
                        prefecture = sub.choice(_PREFECTURES)
                    name = f"省人大代表{prefecture}小组"
                areas.setdefault(name, []).append(dep)
            for name, members in list(areas.items()):  # split large area groups (about 25 a group)
                if len(members) > 30:
                    del areas[name]
                    parts = math.ceil(len(members) / 25)
                    for k, dep in enumerate(members):
                        areas.setdefault(f"{name.removesuffix('小组')}第{_cn(k % parts + 1)}小组", []).append(dep)
        for name, members in areas.items():
            node.groups[name] = members
            for dep in members:
                dep.group = name
                assert dep.agg is not None
                dep.agg.join_group(by, group=name, kind=GroupKind.AREA)
        if node.level in (Level.PROVINCE, Level.PREFECTURE):
            prefix = "省人大代表" if node.level is Level.PROVINCE else f"{node.name}人大代表"
            for dep in serving:
                if sub.random() < 0.25:
                    name = f"{prefix}{sub.choice(_PROFESSIONAL_GROUPS)}专业小组"
                    assert dep.agg is not None
                    dep.agg.join_group(by, group=name, kind=GroupKind.PROFESSIONAL)
                    node.groups.setdefault(name, []).append(dep)

    def _prefecture_of(self, dep: _Dep) -> str:
        owner = self.nodes_by_id[dep.station.owner] if dep.station is not None else None
        while owner is not None and owner.level is not Level.PREFECTURE:
            owner = owner.parent
        return owner.name if owner is not None else "长沙市"

    def _prepare(self, node: _Node) -> None:
        """After master data: plan departures, queues for yearly duties, and the node's daily rates."""
        self._plan_departures(node)
        sub = self._sub(node, "prepare")
        active = [d for d in node.deputies if d.active]
        node.deed_queue = [d for d in active if not d.idle]
        sub.shuffle(node.deed_queue)
        node.report_queue = active[:]
        sub.shuffle(node.report_queue)
        self._rates(node)

    def _plan_departures(self, node: _Node) -> None:
        """When serving deputies leave: each after a time drawn from an exponential distribution (a yearly rate of
        ``_TERMINATIONS_PER_DEPUTY``), whatever the run's length, so that a longer run begins as a shorter one did
        (a run can be extended)."""
        sub = self._sub(node, "departures")
        rate = _TERMINATIONS_PER_DEPUTY / 365
        for dep in node.deputies:
            agg, dep.agg = dep.agg, None
            if dep.active:
                day = 1 + int(sub.expovariate(rate))
                if day < self.days:
                    dep.agg = agg
                    self._at_day(node, day, self._terminate, dep)

    def _rates(self, node: _Node) -> None:
        per_day = 1 / 365
        deputies = len(node.deputies)
        visiting = sum(1 for s in node.stations if s.enrolled)
        organ = len(node.sc_members) * _ORGAN_MEETINGS_PER_SC_MEMBER
        if node.level is Level.TOWNSHIP:
            organ = _PRESIDIUM_MEETINGS if not node.street or self._street_deputies(node) else 0.0
        research = _FIELD_RESEARCH[node.level] * (0.6 if node.street else 1.0)
        if node.street and not self._street_deputies(node):
            research = 0.0
        if node.level is Level.PROVINCE and not deputies:
            research = 0.0
        suggestions = 0.0
        if node.congress is not None:
            suggestions = deputies * _SUGGESTIONS_PER_DEPUTY[node.congress] * _RECESS_SUGGESTION_SHARE
        node.rates = tuple(
            (_NEW[kind], rate * per_day)
            for kind, rate in enumerate(
                (
                    visiting * _VISITS_PER_STATION,
                    organ,
                    len(node.groups) * _GROUP_ACTIVITIES_PER_GROUP,
                    research,
                    deputies * _DEEDS_PER_DEPUTY,
                    deputies * _HOTLINE_PER_DEPUTY,
                    deputies * _SNAPSHOTS_PER_DEPUTY,
                    deputies * _REPORTS_PER_DEPUTY,
                    suggestions,
                )
            )
            if rate
        )

    def _street_deputies(self, node: _Node) -> list[UUID]:
        return [d for s in node.stations for d in s.enrolled]

    def _local_organiser(
        self, node: _Node, *, street: tuple[int, int], presidium: tuple[int, int]
    ) -> tuple[list[UUID], OrganiserKind, str] | None:
        """Who organises deputies at a township-level node, and which of them take part (between the bounds given):
        at a street, the county SC's street committee with the deputies enrolled at the street's stations (None if
        there are none: a street has no deputies of its own); elsewhere the township presidium with its deputies."""
        rng = self.rng
        if node.street:
            pool = self._street_deputies(node)
            if not pool:
                return None
            taking_part = rng.sample(pool, min(len(pool), rng.randint(*street)))
            return taking_part, OrganiserKind.STREET_COMMITTEE, f"{node.county_name}人大常委会{node.name}工委"
        taking_part = [d.id for d in self._active(node.deputies, rng.randint(*presidium))]
        return taking_part, OrganiserKind.TOWNSHIP_PRESIDIUM, f"{node.name}人大主席团"

    def _schedule_station_merges(self) -> None:
        """At most one merge per node in each 365 days of the run, each window drawn on its own (a longer run
        begins as a shorter one did)."""
        for node in self.nodes:
            if len(node.stations) < 2:
                continue
            yearly = 0.35 if node.code.startswith("4305") else 0.08  # 邵阳 consolidated 829 → 559 stations
            for window in range(math.ceil(self.days / 365)):
                sub = self._sub(node, "merge", window)
                if sub.random() < yearly:
                    self._at_day(node, 365 * window + sub.randrange(1, 365), self._merge_stations)

    def _session_day(self, node: _Node, year: int) -> date:
        if year not in node.sessions:
            sub = self._sub(node, "session", year)
            first, spread = {
                Level.PROVINCE: (date(year, 1, 14), 6),
                Level.PREFECTURE: (date(year, 1, 6), 40),
                Level.COUNTY: (date(year, 1, 3), 50),
                Level.TOWNSHIP: (date(year, 1, 5), 75),
            }[node.level]
            node.sessions[year] = first + timedelta(days=sub.randrange(spread + 1))
        return node.sessions[year]

    def _schedule_sessions(self) -> None:
        for node in self.nodes:
            if node.congress is None or not node.deputies:
                continue
            node.livelihood = node.level is Level.TOWNSHIP or (
                node.level is Level.COUNTY and self._sub(node, "livelihood").random() < 0.5
            )
            for year in range(self.start.year, self.end.year + 2):  # next year's projects are proposed this autumn
                session = self._session_day(node, year)
                if self.start <= session < self.end:
                    self._at_day(node, (session - self.start).days, self._session, year)
                if node.livelihood:
                    self._plan_livelihood_year(node, year)

    # ================================================================================================ activity

    def activity(self) -> Iterator[Batch]:
        # The innermost loop of a run (every node, every day, every kind of activity): names bound locally.
        draw = self.rng.random
        self.touched = []  # and emptied by each batch
        for d in range(self.days):
            self.d = d
            self.day = day = self.start + timedelta(days=d)
            factor = self.factor[d]
            agenda: dict[int, list[Task]] = self.agenda[d]  # type: ignore[assignment]
            for node in self.nodes:
                self.cur = i = node.i
                tasks = agenda.get(i)
                if tasks:
                    for fn, args in tasks:  # tasks scheduled for today while running are appended and run too
                        fn(node, *args)
                for new, rate in node.rates:
                    n = rate * factor + draw()
                    if n >= 1.0:  # int(n) >= 1: most days a node does nothing of a kind
                        new(self, node, int(n))
                if self.touched:
                    yield self._batch(node, day)
            self.agenda[d] = None

    def _batch(self, node: _Node, day: date | None) -> Batch:
        touched = self.touched
        self.touched = []
        if len(touched) == 1:
            aggregates = touched if touched[0].pending_events else []
        else:
            seen: dict[int, DutyAggregate] = {}
            for aggregate in touched:
                if id(aggregate) not in seen and aggregate.pending_events:
                    seen[id(aggregate)] = aggregate
            aggregates = list(seen.values())
        return Batch(node.ref, day, aggregates)

    # visits --------------------------------------------------------------------------------------------------

    def _new_visits(self, node: _Node, n: int) -> None:
        rng = self.rng
        stations = [s for s in node.stations if s.enrolled]
        if not stations:
            return
        for _ in range(n):
            station = rng.choice(stations)
            enrolled = list(station.enrolled)
            k = min(len(enrolled), rng.choice((1, 1, 2, 2, 2, 3)))
            people = rng.choice((0, 1, 2, 3, 3, 4, 5, 5, 6, 8, 10, 12, 15, 20))
            by = self._by(node)
            visit = StationVisit.record_visit(
                node.ref,
                by,
                station=station,
                visit_date=self.day,
                deputy_ids=rng.sample(enrolled, k),
                people_received=people,
                visit_id=self._nid(),
            )
            pending = []
            for _ in range(min(people, rng.choice((0, 1, 1, 1, 2, 2, 3, 4)))):
                category, summary = rng.choice(_ISSUES)
                number = visit.raise_issue(
                    by,
                    summary=summary.format(v=rng.choice(node.villages)),
                    category=category,
                    raised_by_name=self._name(),
                    raised_by_phone=self._phone(),
                )
                if rng.random() < 0.5:
                    visit.resolve_issue(by, number=number, outcome=rng.choice(_ON_THE_SPOT))
                else:
                    pending.append(number)
            self._touch(visit)
            if pending:
                self._at(node, rng.choice((0, 0, 1, 1, 2, 3, 5)), self._transfer_issues, visit, pending)
            else:
                visit.close(by)

    def _transfer_issues(self, node: _Node, visit: StationVisit, numbers: list[int]) -> None:
        by = self._by(node)
        for number in numbers:
            department = self.rng.choice(("交通运输", "水利", "住房和城乡建设", "民政", "农业农村", "人力资源和社会保障"))
            visit.transfer_issue(by, number=number, to_unit=self._unit(node, department))
        visit.close(by)
        self._touch(visit)

    # contacts ------------------------------------------------------------------------------------------------

    def _contact(
        self,
        node: _Node,
        *,
        kind: ContactKind,
        channel: Channel,
        title: str,
        organiser_kind: OrganiserKind,
        organiser: str,
        organiser_id: str = "",
        deputies: list[UUID],
        public: int = 0,
        ticket: str = "",
        opinions: int = 0,
        opinion_deputies: bool = True,
    ) -> ContactActivity:
        rng = self.rng
        by = self._by(node)
        contact = ContactActivity.record_contact(
            node.ref,
            by,
            kind=kind,
            channel=channel,
            title=title,
            held_on=self.day,
            organiser_kind=organiser_kind,
            organiser=organiser,
            organiser_id=organiser_id,
            deputy_ids=deputies,
            public_count=public,
            ticket=ticket,
            contact_id=self._nid(),
        )
        for _ in range(opinions):
            text = rng.choice(_OPINIONS).format(t=rng.choice(_TOPICS), v=self._place(node))
            contact.raise_opinion(by, text=text, deputy_id=rng.choice(deputies) if opinion_deputies else None)
        self._touch(contact)
        if opinions:
            self._at(node, rng.randint(3, 30), self._handle_opinions, contact)
        return contact

    def _handle_opinions(self, node: _Node, contact: ContactActivity) -> None:
        rng = self.rng
        by = self._by(node)
        for number, opinion in enumerate(contact.opinions, start=1):
            if opinion["handling"]:
                continue
            roll = rng.random()
            if roll < 0.4:
                contact.handle_opinion(by, number=number, handling=Handling.ADOPTED, note="已吸收采纳")
            elif roll < 0.8:
                unit = self._unit(node, rng.choice(tuple(_DEPARTMENTS)))
                contact.handle_opinion(by, number=number, handling=Handling.ASSIGNED, unit=unit, note="已转交办理")
            else:
                contact.handle_opinion(by, number=number, handling=Handling.EXPLAINED, note="已作解释说明")
        self._touch(contact)
        self._at(node, rng.randint(2, 20), self._feed_back, contact)

    def _feed_back(self, node: _Node, contact: ContactActivity) -> None:
        by = self._by(node)
        for number, opinion in enumerate(contact.opinions, start=1):
            if opinion["handling"] and not opinion["fed_back"]:
                contact.feed_back(by, number=number, note="已向代表反馈办理情况")
        self._touch(contact)

    def _new_organ_meetings(self, node: _Node, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            if node.level is Level.TOWNSHIP:
                local = self._local_organiser(node, street=(2, 8), presidium=(3, 12))
                if local is None:
                    return
                deputies, organiser_kind, organiser = local
                if not deputies:
                    continue
                title = rng.choice(
                    (f"{organiser}联系代表座谈会", f"就{rng.choice(_TOPICS)}征求代表意见座谈会", f"{organiser}走访看望代表")
                )
                channel = rng.choice((Channel.SYMPOSIUM, Channel.VISIT, Channel.FACE_TO_FACE))
                self._contact(
                    node,
                    kind=ContactKind.ORGAN_MEETING,
                    channel=channel,
                    title=title,
                    organiser_kind=organiser_kind,
                    organiser=organiser,
                    deputies=deputies,
                    opinions=rng.choice((0, 1, 2, 2, 3)),
                )
                continue
            if not node.sc_members:
                return
            deputies = [d.id for d in self._active(node.deputies, rng.randint(2, 12), prefer_grassroots=True)]
            if not deputies:
                return
            member_id, name, post = rng.choice(node.sc_members)
            roll = rng.random()
            label = node.congress.label if node.congress else "代表"
            if roll < 0.72 or (roll < 0.85 and post == "委员"):
                organiser_kind, organiser, organiser_id = OrganiserKind.SC_MEMBER, name, member_id
                title = rng.choice(
                    (
                        f"常委会组成人员{name}联系{label}座谈会",
                        f"{post}{name}走访看望{label}",
                        f"{name}{post}联系代表面对面听取意见建议",
                    )
                )
            elif roll < 0.85:
                organiser_kind, organiser, organiser_id = OrganiserKind.CHAIR_COUNCIL, name, member_id
                title = rng.choice((f"主任会议成员{name}联系{label}座谈会", "邀请列席常委会会议代表座谈会"))
            elif roll < 0.95:
                committee = rng.choice(_SPECIAL_COMMITTEES[node.level])
                organiser_kind, organiser, organiser_id = OrganiserKind.SPECIAL_COMMITTEE, committee, committee
                title = f"{committee}就《{rng.choice(_LAWS)}》征求代表意见"
            else:
                office = rng.choice(_SC_OFFICES)
                organiser_kind, organiser, organiser_id = OrganiserKind.SC_OFFICE, office, office
                title = f"{office}就{rng.choice(_TOPICS)}征求代表意见建议"
            channel = rng.choice((Channel.SYMPOSIUM, Channel.SYMPOSIUM, Channel.VISIT, Channel.FACE_TO_FACE, Channel.PHONE))
            self._contact(
                node,
                kind=ContactKind.ORGAN_MEETING,
                channel=channel,
                title=title,
                organiser_kind=organiser_kind,
                organiser=organiser,
                organiser_id=organiser_id,
                deputies=deputies,
                opinions=rng.choice((0, 1, 2, 2, 3, 4, 5)),
            )

    def _new_group_activities(self, node: _Node, n: int) -> None:
        rng = self.rng
        names = list(node.groups)
        for _ in range(n):
            group = rng.choice(names)
            members = [d for d in node.groups[group] if d.active]
            taking_part = [d.id for d in members if rng.random() < (0.0 if d.leading and d.idle else 0.6 if d.leading else 0.75)]
            if not taking_part:
                if not members:
                    continue
                taking_part = [rng.choice(members).id]
            theme = rng.choice(_THEMES)
            title = rng.choice(
                (
                    f"{group}开展“{theme}”主题活动",
                    f"{group}集中进站开展{theme}活动",
                    f"{group}围绕{rng.choice(_TOPICS)}开展小组活动",
                )
            )
            channel = rng.choice((Channel.STATION, Channel.STATION, Channel.FIELD_RESEARCH, Channel.VISIT, Channel.SYMPOSIUM))
            self._contact(
                node,
                kind=ContactKind.GROUP_ACTIVITY,
                channel=channel,
                title=title,
                organiser_kind=OrganiserKind.DEPUTY_GROUP,
                organiser=group,
                deputies=taking_part,
                public=rng.randint(10, 120),
                opinions=rng.choice((0, 0, 1, 2, 3)),
                opinion_deputies=rng.random() < 0.5,
            )

    def _new_field_research(self, node: _Node, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            topic = rng.choice(_TOPICS)
            if node.level is Level.TOWNSHIP:
                local = self._local_organiser(node, street=(3, 10), presidium=(5, 15))
                if local is None:
                    return
                deputies, organiser_kind, organiser = local
                organiser_id = organiser
            else:
                deputies = [d.id for d in self._active(node.deputies, rng.randint(5, 20))]
                roll = rng.random()
                if roll < 0.5 and node.sc_members:
                    organiser_id, organiser, _ = rng.choice(node.sc_members)
                    organiser_kind = OrganiserKind.SC_MEMBER
                elif roll < 0.8 and node.level in _SPECIAL_COMMITTEES:
                    organiser = organiser_id = rng.choice(_SPECIAL_COMMITTEES[node.level])
                    organiser_kind = OrganiserKind.SPECIAL_COMMITTEE
                elif node.groups:
                    organiser = organiser_id = rng.choice(list(node.groups))
                    organiser_kind = OrganiserKind.DEPUTY_GROUP
                else:
                    continue
            if not deputies:
                continue
            title = rng.choice((f"关于{topic}情况的专题调研", f"{topic}集中视察", f"《{rng.choice(_LAWS)}》执法检查"))
            self._contact(
                node,
                kind=ContactKind.FIELD_RESEARCH,
                channel=Channel.FIELD_RESEARCH,
                title=title,
                organiser_kind=organiser_kind,
                organiser=organiser,
                organiser_id=organiser_id,
                deputies=deputies,
                public=rng.randint(0, 60),
                opinions=rng.randint(1, 6),
            )

    def _next(self, node: _Node, queue_name: str) -> _Dep | None:
        """The next serving deputy of a shuffled round (practical deeds, reports): everyone in turn."""
        queue: list[_Dep] = getattr(node, queue_name)
        pos_name = queue_name.replace("queue", "pos")
        for _ in range(min(len(queue), 8)):
            pos = getattr(node, pos_name)
            dep = queue[pos % len(queue)]
            setattr(node, pos_name, pos + 1)
            if dep.active:
                return dep
        return None

    def _new_deeds(self, node: _Node, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            dep = self._next(node, "deed_queue") if node.deed_queue else None
            if dep is None:
                return
            title = rng.choice(_DEEDS).format(v=self._place(node))
            if rng.random() < 0.15 and dep.group:
                deputies = [dep.id] + [d.id for d in self._active(node.groups[dep.group], rng.randint(1, 4)) if d is not dep]
                self._contact(
                    node,
                    kind=ContactKind.PRACTICAL_DEED,
                    channel=Channel.VISIT,
                    title=f"{dep.group}{title}",
                    organiser_kind=OrganiserKind.DEPUTY_GROUP,
                    organiser=dep.group,
                    deputies=deputies,
                    public=rng.randint(5, 300),
                )
            else:
                self._contact(
                    node,
                    kind=ContactKind.PRACTICAL_DEED,
                    channel=rng.choice((Channel.FACE_TO_FACE, Channel.VISIT)),
                    title=f"{dep.name}代表{title}",
                    organiser_kind=OrganiserKind.DEPUTY,
                    organiser=dep.name,
                    organiser_id=dep.id.hex,
                    deputies=[dep.id],
                    public=rng.randint(1, 200),
                )

    def _new_hotline_reports(self, node: _Node, n: int) -> None:
        rng = self.rng
        for dep in self._active(node.deputies, n):
            _, issue = rng.choice(_ISSUES)
            ticket = f"{self.day:%Y%m%d}{rng.randrange(10**6):06d}"
            contact = self._contact(
                node,
                kind=ContactKind.HOTLINE_REPORT,
                channel=Channel.HOTLINE,
                title=f"{dep.name}代表向12345反映：{issue.format(v=self._place(node))}",
                organiser_kind=OrganiserKind.DEPUTY,
                organiser=dep.name,
                organiser_id=dep.id.hex,
                deputies=[dep.id],
                public=rng.randint(1, 30),
                ticket=ticket,
            )
            self._at(node, rng.randint(3, 20), self._hotline_outcome, contact)

    def _hotline_outcome(self, node: _Node, contact: ContactActivity) -> None:
        unit = self._unit(node, self.rng.choice(tuple(_DEPARTMENTS)))
        contact.record_hotline_outcome(self._by(node), outcome=self.rng.choice(_HOTLINE_OUTCOMES).format(u=unit))
        self._touch(contact)

    def _new_snapshots(self, node: _Node, n: int) -> None:
        rng = self.rng
        for dep in self._active(node.deputies, n):
            _, issue = rng.choice(_ISSUES)
            issue = issue.format(v=self._place(node))
            contact = self._contact(
                node,
                kind=ContactKind.SNAPSHOT,
                channel=Channel.SNAPSHOT,
                title=f"代表随手拍：{issue}",
                organiser_kind=OrganiserKind.DEPUTY,
                organiser=dep.name,
                organiser_id=dep.id.hex,
                deputies=[dep.id],
            )
            contact.raise_opinion(self._by(node), text=f"随手拍反映：{issue}，请有关部门核实处理", deputy_id=dep.id)
            self._at(node, rng.randint(1, 10), self._handle_opinions, contact)

    def _new_constituent_reports(self, node: _Node, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            dep = self._next(node, "report_queue") if node.report_queue else None
            if dep is None:
                return
            if dep.congress.directly_elected:
                title = f"{dep.name}代表向{dep.elected_by}选民报告履职情况"
            else:
                title = f"{dep.name}代表向原选举单位{dep.elected_by}报告履职情况"
            self._contact(
                node,
                kind=ContactKind.CONSTITUENT_REPORT,
                channel=rng.choice((Channel.FACE_TO_FACE, Channel.SYMPOSIUM, Channel.STATION)),
                title=title,
                organiser_kind=OrganiserKind.DEPUTY,
                organiser=dep.name,
                organiser_id=dep.id.hex,
                deputies=[dep.id],
                public=rng.randint(20, 150),
                opinions=rng.choice((0, 1, 1, 2, 3)),
                opinion_deputies=False,
            )

    # suggestions --------------------------------------------------------------------------------------------

    def _leads(self, node: _Node, k: int) -> list[_Dep]:
        pool = [d for d in node.deputies if d.congress is not CongressLevel.NATIONAL]
        return self._active(pool, k)

    def _submit(self, node: _Node, lead: _Dep, *, term: int, session: int, number: str) -> Suggestion:
        rng = self.rng
        category, titles, department = rng.choice(_SUGGESTIONS)
        place = self._place(node)
        co = [
            d.id
            for d in self._active(node.groups.get(lead.group, ()), rng.choice((0, 0, 0, 1, 2, 3, 5)))
            if d is not lead and d.congress is lead.congress
        ]
        assert node.congress is not None
        suggestion = Suggestion.submit(
            node.ref,
            self._by(node),
            number=number,
            congress=node.congress,
            term=term,
            session=session,
            title=rng.choice(titles).format(p=place),
            content=(
                f"经调研，{place}在{category}方面仍存在短板，群众反映较为强烈。建议{self._unit(node, department)}"
                f"加大政策和资金支持力度，统筹推进，切实解决群众急难愁盼问题。"
            ),
            category=category,
            lead_deputy_id=lead.id,
            co_deputy_ids=co,
        )
        self._touch(suggestion)
        return suggestion

    def _session(self, node: _Node, year: int) -> None:
        """A congress session: the burst of suggestions, submitted over the session's days and assigned after it."""
        rng = self.rng
        assert node.congress is not None
        term, session = session_of(node.congress, year)
        count = self._count(len(node.deputies) * _SUGGESTIONS_PER_DEPUTY[node.congress] * rng.uniform(0.8, 1.2))
        length = {Level.PROVINCE: 5, Level.PREFECTURE: 4, Level.COUNTY: 3, Level.TOWNSHIP: 1}[node.level]
        batch: list[Suggestion] = []
        shares = [count // length + (1 if k < count % length else 0) for k in range(length)]
        for k, share in enumerate(shares):
            self._at(node, k, self._submit_many, term, session, share, batch)
        assign_after = {Level.PROVINCE: (35, 45), Level.PREFECTURE: (25, 40), Level.COUNTY: (20, 35), Level.TOWNSHIP: (10, 20)}
        self._at(node, rng.randint(*assign_after[node.level]), self._assign_many, batch)

    def _submit_many(self, node: _Node, term: int, session: int, count: int, batch: list[Suggestion]) -> None:
        for lead in self._leads(node, count):
            node.suggestion_seq[(term, session, "s")] += 1
            number = f"{node.suggestion_seq[(term, session, 's')]:04d}"
            batch.append(self._submit(node, lead, term=term, session=session, number=number))

    def _assign_many(self, node: _Node, batch: list[Suggestion]) -> None:
        for suggestion in batch:  # the 交办会: every suggestion of the session assigned on one day
            self._assign(node, suggestion)

    def _new_recess_suggestions(self, node: _Node, n: int) -> None:
        assert node.congress is not None
        year = self.day.year if self.day >= self._session_day(node, self.day.year) else self.day.year - 1
        term, session = session_of(node.congress, year)
        for lead in self._leads(node, n):
            node.suggestion_seq[(term, session, "r")] += 1
            number = f"闭{node.suggestion_seq[(term, session, 'r')]:03d}"
            suggestion = self._submit(node, lead, term=term, session=session, number=number)
            self._at(node, self.rng.randint(7, 20), self._assign, suggestion)

    def _assign(self, node: _Node, suggestion: Suggestion) -> None:
        rng = self.rng
        by = self._by(node)
        department = _DEPARTMENT_OF[suggestion.category]
        lead_unit = self._unit(node, department)
        co_units = []
        if rng.random() < 0.35:
            co = self._unit(node, rng.choice(("财政", "自然资源", "发展和改革")))
            if co != lead_unit:
                co_units.append(co)
        suggestion.assign(by, lead_unit=lead_unit, co_units=co_units, due_on=self.day + timedelta(days=91))
        if node.level is not Level.TOWNSHIP and rng.random() < 0.04:
            title = {Level.PROVINCE: "副省长", Level.PREFECTURE: "副市长", Level.COUNTY: "副县长"}[node.level]
            leader = f"{title}{self._name()}" if rng.random() < 0.7 else ""
            suggestion.mark_priority(by, leader=leader)
            kinds = [
                SupervisionType.LEADER_LED if leader else SupervisionType.CHAIR_LED,
                SupervisionType.PROGRESS_MEETING,
                rng.choice(
                    (
                        SupervisionType.COMMITTEE_COUNTERPART,
                        SupervisionType.DEPUTY_INSPECTION_REVIEW,
                        SupervisionType.SC_REPORT_REVIEW,
                        SupervisionType.SPECIAL_INQUIRY,
                    )
                ),
            ]
            for k, kind in enumerate(kinds):
                self._at(node, 10 + 25 * k + rng.randint(0, 15), self._supervise, suggestion, kind)
        self._touch(suggestion)
        self._at(node, rng.randint(5, 30), self._start_handling, suggestion)

    def _supervise(self, node: _Node, suggestion: Suggestion, kind: SupervisionType) -> None:
        if suggestion.state not in (SuggestionState.SUBMITTED, SuggestionState.CLOSED):
            suggestion.supervise(self._by(node), supervision=kind, note=f"{kind.label}，推动办理落实")
            self._touch(suggestion)

    def _start_handling(self, node: _Node, suggestion: Suggestion) -> None:
        rng = self.rng
        suggestion.start_handling(self._by(node), contacted_on=self.day)
        self._touch(suggestion)
        assert suggestion.due_on is not None
        left = (suggestion.due_on - self.day).days
        delay = left + rng.randint(3, 40) if rng.random() < 0.05 else rng.randint(min(15, left - 1), max(15, left - 1))
        self._at(node, max(1, delay), self._reply, suggestion)

    def _reply(self, node: _Node, suggestion: Suggestion) -> None:
        rng = self.rng
        rehandled = suggestion.state is SuggestionState.REHANDLING
        roll = rng.random()
        if rehandled:
            category = ReplyCategory.A if roll < 0.5 else ReplyCategory.B if roll < 0.9 else ReplyCategory.C
        else:
            category = ReplyCategory.A if roll < 0.6 else ReplyCategory.B if roll < 0.9 else ReplyCategory.C
        text = {
            ReplyCategory.A: "经认真研究，建议所提问题已解决，相关工作已落实到位。",
            ReplyCategory.B: "建议所提问题正在解决，已列入年度工作计划，将分步推进。",
            ReplyCategory.C: "受政策和财力等条件限制，建议所提问题目前难以解决，留作今后工作参考。",
        }[category]
        unit = suggestion.lead_unit
        suggestion.reply(
            self._by(node), category=category, text=f"{unit}对第{suggestion.number}号建议的答复：{text}", replied_on=self.day
        )
        self._touch(suggestion)
        self._at(node, rng.randint(5, 25), self._evaluate, suggestion)

    def _evaluate(self, node: _Node, suggestion: Suggestion) -> None:
        rng = self.rng
        category = suggestion.last_category
        roll = rng.random()
        shares = {ReplyCategory.A: (0.85, 0.02), ReplyCategory.B: (0.6, 0.07), ReplyCategory.C: (0.35, 0.15)}
        satisfied, dissatisfied = shares[category or ReplyCategory.A]
        if len(suggestion.evaluations) >= 2:
            dissatisfied = 0.0
        if roll < dissatisfied:
            evaluation, comment = Evaluation.DISSATISFIED, "答复未解决实际问题，请重新办理"
        elif roll < dissatisfied + satisfied:
            evaluation, comment = Evaluation.SATISFIED, "办理及时，沟通充分"
        else:
            evaluation, comment = Evaluation.BASICALLY_SATISFIED, "希望继续跟踪落实"
        lead = suggestion.lead_deputy_id
        as_deputy = self._as_deputy(lead)
        if int(roll * 1_000_000) % 5 == 0:  # one in five on a signed paper form, entered by the office (代录)
            clerk = Attribution(node.clerks[0], Role.RECORDER, as_deputy.occurred_at)
            form = f"{node.code}-PJ-{suggestion.number}-{len(suggestion.evaluations) + 1}"
            suggestion.enter_evaluation(node.ref, clerk, deputy_id=lead, evaluation=evaluation, form_number=form, comment=comment)
        else:
            suggestion.evaluate(as_deputy, deputy_id=lead, evaluation=evaluation, comment=comment)
        self._touch(suggestion)
        if suggestion.state is SuggestionState.REHANDLING:
            self._at(node, rng.randint(20, 45), self._reply, suggestion)
        elif suggestion.state is SuggestionState.EVALUATED:
            self._at(node, rng.randint(3, 15), self._close_suggestion, suggestion)
        else:  # follow-up (跟踪督办) of a B or C reply until solved
            if rng.random() < 0.5:
                self._at(node, rng.randint(20, 60), self._supervise, suggestion, SupervisionType.FOLLOW_UP)
            if rng.random() < (0.85 if suggestion.last_category is ReplyCategory.B else 0.35):
                self._at(node, rng.randint(45, 200), self._solved, suggestion)

    def _solved(self, node: _Node, suggestion: Suggestion) -> None:
        suggestion.mark_solved(self._by(node), note="经跟踪督办，建议所提问题已解决", solved_on=self.day)
        self._touch(suggestion)
        self._at(node, self.rng.randint(3, 10), self._close_suggestion, suggestion)

    def _close_suggestion(self, node: _Node, suggestion: Suggestion) -> None:
        suggestion.close(self._by(node))
        self._touch(suggestion)

    # livelihood projects ----------------------------------------------------------------------------------

    def _plan_livelihood_year(self, node: _Node, year: int) -> None:
        """Schedule the cycle of projects voted at ``year``'s session: 群众提 → 征集初定 → 代表议 → 大会决 → ..."""
        sub = self._sub(node, "livelihood", year)
        session = self._session_day(node, year)
        if session < self.start + timedelta(days=25):
            if session + timedelta(days=300) <= self.start:
                return  # that year's projects are long finished
            # Warm-up: the session is before (or too close to) the first day — in the first year, or early next January
            # after a late-December start — so hold this year's vote a little later: the candidates are listed at least
            # 13 days before it, after the proposals, and deliberated in the 10 days before it.
            session = self.start + timedelta(days=sub.randint(25, 55))
            if session.year != year:  # after a late-December start: next year's cycle votes then, not this one's
                return
        first = max(self.start, session - timedelta(days=100))
        if first >= self.end:
            return
        county = node.level is Level.COUNTY
        passing = max(1, round((sub.randint(7, 11) if county else sub.randint(3, 6)) * min(1.0, self.scale * 2)))
        failing = sub.choice((0, 1, 1, 2))
        unlisted = sub.randint(1, 4)
        titles: list[str] = []
        plans: list[_Plan] = []
        for k in range(passing + failing + unlisted):
            for _ in range(20):
                category, templates = sub.choice(_LIVELIHOOD)
                title = sub.choice(templates).format(v=sub.choice(node.villages), t=node.name)
                if title not in titles:
                    break
            else:
                title = f"{title}（{_cn(k + 1)}期）"
            titles.append(title)
            low, high = (300, 5000) if county else (50, 800)
            budget = Decimal(round(math.exp(sub.uniform(math.log(low), math.log(high))) * 100)) / 100
            proposed_by = sub.choice((ProposedBy.PUBLIC,) * 3 + (ProposedBy.DEPUTIES, ProposedBy.GOVERNMENT))
            listed, fails = k < passing + failing, passing <= k < passing + failing
            plans.append(_Plan(title, category, listed, fails, budget, proposed_by.value))
        s = (session - self.start).days
        f = (first - self.start).days
        last_proposal = max(f, s - 21)
        for plan in plans:
            self._at_day(node, sub.randint(f, last_proposal), self._propose, plan, year)
        candidates = [p for p in plans if p.listed]
        self._at_day(node, sub.randint(last_proposal + 1, s - 12), self._list_candidates, candidates)
        self._at_day(node, sub.randint(s - 10, s - 1), self._deliberate, candidates)
        self._at_day(node, s, self._vote, candidates, year)

    def _propose(self, node: _Node, plan: _Plan, year: int) -> None:
        plan.agg = LivelihoodProject.propose(
            node.ref, self._by(node), year=year, title=plan.title, category=plan.category, proposed_by=plan.proposed_by
        )
        self._touch(plan.agg)

    def _list_candidates(self, node: _Node, plans: list[_Plan]) -> None:
        by = self._by(node)
        for plan in plans:
            if plan.agg is None:
                continue
            estimate = (plan.budget * Decimal(self.rng.randint(90, 115)) / 100).quantize(Decimal("0.01"))
            plan.agg.list_as_candidate(by, estimate_wan=estimate)
            self._touch(plan.agg)

    def _congress_size(self, node: _Node) -> int:
        # at a large --scale a node has more active deputies than the law lets a congress have: its sessions count
        # the legal most (a run that stayed under it is unchanged)
        return min(MAX_DEPUTIES, max(1, sum(1 for d in node.deputies if d.active)))

    def _deliberate(self, node: _Node, plans: list[_Plan]) -> None:
        by = self._by(node)
        total = self._congress_size(node)
        for plan in plans:
            if plan.agg is not None and plan.agg.state is ProjectState.CANDIDATE:
                present = max(1, round(total * self.rng.uniform(0.7, 0.95)))
                plan.agg.deliberate(by, deputies_present=present, opinions=self.rng.randint(0, 12))
                self._touch(plan.agg)

    def _vote(self, node: _Node, plans: list[_Plan], year: int) -> None:
        rng = self.rng
        by = self._by(node)
        assert node.congress is not None
        term, session = session_of(node.congress, year)
        label = f"第{_cn(term)}届人民代表大会第{_cn(session)}次会议"
        total = self._congress_size(node)
        present = min(total, max(total // 2 + 1, round(total * rng.uniform(0.86, 0.98))))
        half = total // 2
        for plan in plans:
            project = plan.agg
            if project is None or project.state is not ProjectState.DELIBERATED:
                continue
            if plan.fails:
                yes = rng.randint(max(0, min(present, half) - max(2, total // 5)), min(present, half))
            else:
                yes = rng.randint(half + 1, max(half + 1, round(present * rng.uniform(0.85, 0.98))))
                yes = min(yes, present)
            rest = present - yes
            no = rng.randint(0, rest)
            abstain = rng.randint(0, rest - no)
            project.vote(by, session=label, yes=yes, no=no, abstain=abstain, present=present, total_deputies=total)
            self._touch(project)
            if project.state is ProjectState.PASSED:
                self._at(node, rng.randint(10, 30), self._implement, plan)
            else:
                self._at(node, rng.randint(1, 5), self._close_project, plan)

    def _implement(self, node: _Node, plan: _Plan) -> None:
        rng = self.rng
        assert plan.agg is not None
        unit = self._unit(
            node,
            {
                "道路交通": "交通运输",
                "饮水安全": "水利",
                "教育": "教育",
                "医疗卫生": "卫生健康",
                "养老服务": "民政",
                "人居环境": "住房和城乡建设",
                "农田水利": "水利",
                "文化体育": "文化旅游",
                "便民服务": "发展和改革",
            }[plan.category],
        )
        plan.agg.start_implementation(self._by(node), budget_wan=plan.budget, lead_unit=unit)
        self._touch(plan.agg)
        plan.begin = self.d
        plan.finish = self.d + rng.randint(150, 280)
        self._at(node, rng.randint(25, 40), self._progress, plan)
        for _ in range(rng.choice((1, 2, 2, 3))):
            self._at(node, rng.randint(20, plan.finish - self.d), self._supervise_project, plan)

    def _progress(self, node: _Node, plan: _Plan) -> None:
        rng = self.rng
        project = plan.agg
        assert project is not None
        done = self.d >= plan.finish
        elapsed = (self.d - plan.begin) / (plan.finish - plan.begin)
        progress = 100 if done else max(project.progress, min(99, round(100 * elapsed)))
        share = Decimal(progress) / 100 * Decimal(rng.randint(85, 100) if not done else rng.randint(93, 102)) / 100
        spent = max(project.spent_wan, (plan.budget * share).quantize(Decimal("0.01")))
        note = "项目已完工，待代表测评" if done else f"项目完成{progress}%，按计划推进"
        over = "工程量增加，经批准追加投资" if spent > project.budget_wan else ""
        project.report_progress(self._by(node), progress=progress, spent_wan=spent, note=note, overspend_reason=over)
        self._touch(project)
        if done:
            self._at(node, rng.randint(10, 40), self._evaluate_project, plan)
        else:
            self._at(node, min(rng.randint(25, 40), plan.finish - self.d), self._progress, plan)

    def _supervise_project(self, node: _Node, plan: _Plan) -> None:
        project = plan.agg
        if project is not None and project.state is ProjectState.IMPLEMENTING:
            action = self.rng.choice(_LIVELIHOOD_SUPERVISION)
            project.supervise(self._by(node), action=action, note=f"{node.name}人大{action}")
            self._touch(project)

    def _evaluate_project(self, node: _Node, plan: _Plan) -> None:
        rng = self.rng
        assert plan.agg is not None
        voters = max(1, round(self._congress_size(node) * rng.uniform(0.7, 0.95)))
        satisfied = round(voters * rng.uniform(0.7, 0.95))
        dissatisfied = rng.randint(0, max(0, (voters - satisfied) // 3))
        plan.agg.evaluate(
            self._by(node), satisfied=satisfied, basically_satisfied=voters - satisfied - dissatisfied, dissatisfied=dissatisfied
        )
        self._touch(plan.agg)
        self._at(node, rng.randint(3, 10), self._close_project, plan)

    def _close_project(self, node: _Node, plan: _Plan) -> None:
        assert plan.agg is not None
        plan.agg.close(self._by(node))
        self._touch(plan.agg)

    # stations and mandates ----------------------------------------------------------------------------------

    def _merge_stations(self, node: _Node) -> None:
        if len(node.stations) < 2:
            return
        merged, successor = sorted(self.rng.sample(node.stations, 2), key=lambda s: len(s.enrolled))
        merged.merge_into(successor, self._by(node))
        node.stations.remove(merged)
        self._touch(merged)
        self._touch(successor)
        self._rates(node)

    def _current_station(self, station: Station | None) -> Station | None:
        while station is not None and station.status is StationStatus.MERGED:
            station = self.stations_by_id.get(station.successor_id)  # type: ignore[arg-type]
        return station if station is not None and station.status is StationStatus.OPEN else None

    def _terminate(self, node: _Node, dep: _Dep) -> None:
        rng = self.rng
        deputy = dep.agg
        if deputy is None or not dep.active:
            return
        by = self._by(node)
        term = term_of(dep.congress, self.start.year)
        reason = rng.choice(("工作调动，辞去代表职务", "工作调动，辞去代表职务", "迁出原选区", "因病去世", "依法罢免"))
        deputy.terminate(by, congress=dep.congress.value, term=term, reason=reason)
        for group in list(deputy.groups):
            deputy.leave_group(by, group=group)
        self._touch(deputy)
        dep.active = False
        dep.agg = None
        station = self._current_station(dep.station)
        if station is not None and station.is_enrolled(dep.id):
            self._today(self.nodes_by_id[station.owner], self._unenrol, station, dep.id, reason)
        self._at(node, rng.randint(60, 150), self._by_election, dep, station)

    def _unenrol(self, node: _Node, station: Station, deputy_id: UUID, reason: str) -> None:
        station = self._current_station(station) or station
        if station.status is StationStatus.OPEN and station.is_enrolled(deputy_id):
            station.remove(self._by(node), deputy_id=deputy_id, reason=f"代表资格终止（{reason}）")
            self._touch(station)

    def _by_election(self, node: _Node, old: _Dep, station: Station | None) -> None:
        """补选: a new deputy takes the seat of a terminated (or void) mandate, in the same group and station."""
        rng = self.rng
        by = self._by(node)
        term = term_of(old.congress, self.start.year)
        node.person_seq += 1
        person_id = f"P{node.code}{node.person_seq:05d}"
        grassroots_share, leading_share = _FLAGS[old.congress]
        roll = rng.random()
        dep = _Dep(
            node,
            old.congress,
            person_id,
            self._name(),
            roll < grassroots_share,
            roll >= 1 - leading_share,
            old.elected_by,
            old.delegation,
        )
        home = old.elected_by.split("第")[0].removesuffix("人民代表大会")
        station = self._current_station(station or old.station)
        deputy = Deputy.register(
            node.ref,
            by,
            person_id=person_id,
            name=dep.name,
            gender="女" if rng.random() < 0.3 else "男",
            unit=self._person_unit(rng, old.congress, node.name, home, dep.grassroots, dep.leading),
            grassroots=dep.grassroots,
            leading_cadre=dep.leading,
            home_node=station.owner if station is not None else node.ref.node_id,
        )
        dep.id = deputy.id
        deputy.grant_mandate(
            node.ref,
            by,
            congress=old.congress,
            term=term,
            elected_by=old.elected_by,
            via=ElectedVia.BY_ELECTION,
            delegation=old.delegation,
        )
        deputy.review_credentials(by, congress=old.congress.value, term=term, passed=True, note="补选代表资格审查通过")
        dep.active = True
        group = old.group or next((g for g in node.groups if not g.endswith("专业小组")), "")
        if group:
            deputy.join_group(by, group=group, kind=GroupKind.AREA)
            dep.group = group
            members = node.groups[group]
            if old in members:
                members[members.index(old)] = dep
            else:
                members.append(dep)
        self._touch(deputy)
        node.deputies[node.deputies.index(old)] = dep
        for queue in (node.deed_queue, node.report_queue):
            if old in queue:
                queue[queue.index(old)] = dep
            else:
                queue.append(dep)
        if station is not None:
            dep.station = station
            self._today(self.nodes_by_id[station.owner], self._enrol_task, station, dep)

    def _enrol_task(self, node: _Node, station: Station, dep: _Dep) -> None:
        station = self._current_station(station)  # type: ignore[assignment]
        if station is not None and dep.active and not station.is_enrolled(dep.id):
            dep.station = station
            station.enrol(self._by(node), deputy_id=dep.id, deputy_name=dep.name, congress=dep.congress)
            self._touch(station)


#: Daily generators, in the order of ``_Node.rates``.
_NEW: tuple[Callable[[_Simulation, _Node, int], None], ...] = (
    _Simulation._new_visits,
    _Simulation._new_organ_meetings,
    _Simulation._new_group_activities,
    _Simulation._new_field_research,
    _Simulation._new_deeds,
    _Simulation._new_hotline_reports,
    _Simulation._new_snapshots,
    _Simulation._new_constituent_reports,
    _Simulation._new_recess_suggestions,
)
