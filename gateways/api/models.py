"""Request bodies of the commands, with Chinese descriptions for the OpenAPI documentation.

Every body may carry ``occurred_at`` (when it happened in the world; default now; without a time zone it is read
as Beijing time). Unknown fields are refused (422 naming the field), so a typo never passes silently.

Every bound the domain holds statically is stated here too (minimum/maximum, formats), so that a request the schema
accepts is refused only for what no schema can state: the state of the aggregate, time order against earlier steps,
a date after the gateway's present plus ``YIPANQI_FUTURE_TOLERANCE_DAYS`` (1 day), counts against the congress's
deputies as voted, spending over the budget without ``overspend_reason``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from domain.contacts import Channel, ContactKind, Handling, OrganiserKind
from domain.deputies import ElectedVia, GroupKind
from domain.levels import CongressLevel
from domain.livelihood import MAX_DEPUTIES, MAX_WAN, ProposedBy
from domain.suggestions import Evaluation, ReplyCategory, SupervisionType
from domain.timeline import FLOOR, FLOOR_AT

CST = timezone(timedelta(hours=8), "CST")
Text = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_WAN, max_digits=8, decimal_places=2, description="金额 (万元; 单个项目至多 100000 万元即 10 亿元)"),
]
Term = Annotated[int, Field(ge=1, le=99, description="届次 / term (届)")]
Deputies = Annotated[int, Field(ge=0, le=MAX_DEPUTIES, description="人数 (县级人大代表至多 450 名, 选举法第十二条)")]
Day = Annotated[
    date,
    Field(
        ge=FLOOR,
        le=date(2100, 12, 31),
        description="日期 (不早于 1954-09-15; 不晚于网关当前日期加容差, 默认 1 天, YIPANQI_FUTURE_TOLERANCE_DAYS)",
    ),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    occurred_at: datetime | None = Field(
        default=None,
        description="发生时间 (不早于 1954-09-15, 不晚于现在加容差 (默认 1 天); 默认: 现在; 不带时区按北京时间; "
        "不得早于其前一步骤的日期) / when it happened in the world: not before the step it follows, not in the future",
    )

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=CST)
        if value < FLOOR_AT or value.year > 2100 or value.astimezone(UTC).year > 2100:
            raise ValueError(f"occurred_at must be between {FLOOR} and 2100")
        return value


# ---------------------------------------------------------------------------------------------------- deputies


class DeputyRegister(Body):
    """登记代表 / register a deputy at the office that records their mandates."""

    person_id: str = Field(
        min_length=1, max_length=64, description="人员编号 (同一人在各级共用) / person id shared across levels"
    )
    name: str = Field(min_length=1, max_length=50, description="姓名")
    gender: str = Field(pattern="^(男|女)$", description="性别: 男 或 女")
    unit: str = Field(default="", max_length=200, description="工作单位及职务")
    grassroots: bool = Field(default=False, description="基层代表")
    leading_cadre: bool = Field(default=False, description="领导干部代表")
    home_node: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6}([0-9]{3})?$",
        description="居住或工作地区划代码 (默认: 本节点) / where they live or work",
    )


class MandateGrant(Body):
    """取得代表资格 / a mandate at this office's congress."""

    congress: CongressLevel = Field(
        description="代表层级: national 全国, provincial 省, prefecture 市州, county 县, township 乡镇"
    )
    term: Term
    elected_by: Text = Field(description="选举单位或原选区")
    via: ElectedVia = Field(default=ElectedVia.ELECTION, description="election 选举 / by_election 补选")
    delegation: str = Field(default="", max_length=200, description="所属代表团")


class CredentialsReview(Body):
    """代表资格审查 / the credentials committee's finding."""

    congress: CongressLevel
    term: Term
    passed: bool = Field(description="是否通过")
    note: str = Field(default="", max_length=500, description="说明")


class MandateTermination(Body):
    """终止代表资格."""

    congress: CongressLevel
    term: Term
    reason: Text = Field(description="终止原因")


class DeputyFlags(Body):
    """设置代表类别 (基层 / 领导干部, 二者不兼)."""

    grassroots: bool
    leading_cadre: bool


class GroupJoin(Body):
    """编入代表小组 / join a deputy group."""

    group: str = Field(min_length=1, max_length=100, description="代表小组名称")
    kind: GroupKind = Field(default=GroupKind.AREA, description="area 按区域 / professional 专业小组")


class GroupLeave(Body):
    """退出代表小组."""

    group: str = Field(min_length=1, max_length=100)


class CommitteeConstitute(Body):
    """组成人大常委会 (县级及以上) / constitute this node's standing committee for a term."""

    term: Term


class MemberAppoint(Body):
    """任命常委会组成人员."""

    member_id: str = Field(min_length=1, max_length=64, description="组成人员编号")
    name: str = Field(min_length=1, max_length=50)
    post: str = Field(pattern="^(主任|副主任|秘书长|委员)$", description="职务: 主任, 副主任, 秘书长, 委员")


class MemberLeave(Body):
    """组成人员离任."""

    member_id: str = Field(min_length=1, max_length=64)
    reason: Text


# ---------------------------------------------------------------------------------------------------- stations


class StationEstablish(Body):
    """设立代表联络站."""

    name: str = Field(min_length=1, max_length=100, description="站名 (本节点内唯一)")
    address: str = Field(default="", max_length=200, description="地址")


class Enrolment(Body):
    """代表进站: 代表须在本节点日志 (本级或下级) 或上级下发的副本中存在."""

    deputy_id: UUID = Field(description="代表 id")
    congress: CongressLevel | None = Field(
        default=None, description="以哪一级代表身份进站 (默认: 代表唯一的或最高的层级) / which mandate"
    )


class Removal(Body):
    """代表出站."""

    deputy_id: UUID
    reason: Text


class Merge(Body):
    """并站: 本站并入另一站 (同一节点), 代表随之转入, 历史保留."""

    successor_id: UUID = Field(description="并入的站 id")


class Closure(Body):
    """撤销 (须无在站代表)."""

    reason: Text


class VisitRecord(Body):
    """进站接待: 值班代表须已编入该站. 同一站、同一日期、同一组值班代表即同一次接待 (自然键): 无论幂等键, 再次记录返回 409
    并指明已有记录 / the same station, date and deputies on duty is the same visit: refused with 409 whatever the key."""

    station_id: UUID
    visit_date: Day = Field(description="接待日期")
    deputy_ids: list[UUID] = Field(min_length=1, max_length=50, description="值班代表 id")
    people_received: int = Field(ge=0, le=10_000, description="接待群众人数")


class IssueRaise(Body):
    """群众反映问题 (姓名和电话属个人信息, 查询时按角色脱敏)."""

    summary: str = Field(min_length=1, max_length=500, description="问题摘要")
    category: str = Field(min_length=1, max_length=50, description="类别")
    raised_by_name: str = Field(default="", max_length=50, description="反映人姓名 (个人信息)")
    raised_by_phone: str = Field(default="", max_length=30, pattern=r"^[0-9+\- ]*$", description="反映人电话 (个人信息)")


class IssueResolve(Body):
    """当场解决."""

    outcome: str = Field(min_length=1, max_length=500)


class IssueTransfer(Body):
    """转交办理."""

    to_unit: str = Field(min_length=1, max_length=100, description="承办单位")


class Empty(Body):
    """无其他字段 / no other fields."""


# ---------------------------------------------------------------------------------------------------- contacts


class ContactRecord(Body):
    """联系活动 (两个联系): 机关联系代表, 代表联系群众 (小组活动, 调研视察, 办实事, 12345, 随手拍, 向选民报告).

    同一天可有两次字段完全相同的真实联系活动 (如两次同题座谈): 以不同的 Idempotency-Key 发送则两次都记录, 不视为重复。
    12345 热线反映以工单号为自然键: 同一工单号再次记录返回 409, 并指明已有记录。
    / Two genuine contacts may share every field: sent under different Idempotency-Keys both are kept. A 12345
    hotline report is keyed by its ticket: the same ticket again is refused with 409 naming the existing record.
    """

    kind: ContactKind = Field(
        description="organ_meeting 机关联系代表, group_activity 代表小组活动, field_research 专题调研视察, "
        "practical_deed 为民办实事, hotline_report 向12345反映社情民意, snapshot 随手拍, constituent_report 向选民报告履职"
    )
    channel: Channel = Field(description="渠道: face_to_face 面对面, symposium 座谈, visit 走访, ..., hotline 12345热线")
    title: Text = Field(description="主题")
    held_on: Day = Field(description="日期")
    organiser_kind: OrganiserKind = Field(description="组织者类别")
    organiser: str = Field(min_length=1, max_length=100, description="组织者名称")
    organiser_id: str = Field(default="", max_length=100, description="组织者编号 (常委会组成人员编号, 代表 id, 或小组名)")
    deputy_ids: list[UUID] = Field(min_length=1, max_length=500, description="参加的代表 id")
    public_count: Count = Field(default=0, description="参加的群众人数")
    ticket: str = Field(default="", max_length=64, description="12345 工单号 (热线反映必填)")


class OpinionRaise(Body):
    """提出意见."""

    text: str = Field(min_length=1, max_length=1000)
    deputy_id: UUID | None = Field(default=None, description="提出意见的代表 (须参加了本次活动)")


class OpinionHandle(Body):
    """意见办理: adopted 采纳 / assigned 转交办理 (须写单位) / explained 解释说明."""

    handling: Handling
    unit: str = Field(default="", max_length=100)
    note: str = Field(default="", max_length=500)


class OpinionFeedback(Body):
    """意见反馈给代表."""

    note: str = Field(default="", max_length=500)


class HotlineOutcome(Body):
    """12345 办理结果反馈."""

    outcome: str = Field(min_length=1, max_length=1000)


# ------------------------------------------------------------------------------------------------- suggestions


class SuggestionSubmit(Body):
    """提出代表建议 (领衔代表与附议代表须为本节点已知代表)."""

    number: str = Field(min_length=1, max_length=32, description="建议编号")
    congress: CongressLevel = Field(description="代表层级 (须为本办公室所办)")
    term: Term
    session: int = Field(ge=1, le=10, description="第几次会议 (闭会期间为最近一次)")
    title: Text
    content: str = Field(min_length=1, max_length=20_000)
    category: str = Field(min_length=1, max_length=50)
    lead_deputy_id: UUID = Field(description="领衔代表 id")
    co_deputy_ids: list[UUID] = Field(default_factory=list, max_length=100, description="附议代表 id")


class SuggestionAssign(Body):
    """交办: 主办单位, 会办单位, 办理期限 (一般三个月)."""

    lead_unit: str = Field(min_length=1, max_length=100)
    co_units: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)
    due_on: Day


class HandlingStart(Body):
    """开始办理: 承办单位联系代表的日期."""

    contacted_on: Day


class SuggestionReply(Body):
    """答复: A 已解决或基本解决, B 正在解决或列入计划, C 留作参考."""

    category: ReplyCategory
    text: str = Field(min_length=1, max_length=20_000)
    replied_on: Day


class SuggestionEvaluate(Body):
    """代表评价: 只能由领衔代表本人 (deputy 角色令牌) 记录; 满意, 基本满意, 不满意 (不满意则重新办理)."""

    evaluation: Evaluation
    comment: str = Field(default="", max_length=1000)


class SuggestionEvaluationEntry(Body):
    """办公室代录代表评价: 领衔代表在纸质评价表上签字后, 承办机关录入员或管理员据表录入; 记为“办公室代录”
    (含评价表编号, 录入人与令牌), 永远不会显示为代表本人评价。"""

    deputy_id: UUID = Field(description="领衔代表 id (须与建议的领衔代表一致)")
    evaluation: Evaluation
    form_number: str = Field(min_length=1, max_length=50, description="代表签字的纸质评价表编号")
    comment: str = Field(default="", max_length=1000)


class SuggestionSolved(Body):
    """跟踪督办后解决."""

    note: str = Field(min_length=1, max_length=2000)
    solved_on: Day


class SuggestionPriority(Body):
    """确定为重点处理建议 (可写领办的政府领导)."""

    leader: str = Field(default="", max_length=50)


class SuggestionSupervise(Body):
    """督办."""

    supervision: SupervisionType
    note: str = Field(default="", max_length=500)


# ------------------------------------------------------------------------------------------------- livelihood


class ProjectPropose(Body):
    """民生实事项目: 群众提 (镇/乡及县级人大)."""

    year: int = Field(ge=2000, le=2100, description="年度")
    title: Text
    category: str = Field(min_length=1, max_length=50)
    proposed_by: ProposedBy = Field(default=ProposedBy.PUBLIC, description="public 群众 / deputies 代表 / government 政府")


class ProjectList(Body):
    """征集初定: 列入候选, 估算投资 (万元)."""

    estimate_wan: Money


class ProjectDeliberate(Body):
    """代表议."""

    deputies_present: int = Field(ge=1, le=MAX_DEPUTIES, description="出席代表 (至多 450)")
    opinions: int = Field(default=0, ge=0, le=100 * MAX_DEPUTIES, description="意见条数")


class ProjectVote(Body):
    """大会决: 只记票数, 不记谁投了什么; 赞成票须过全体代表半数."""

    session: str = Field(min_length=1, max_length=50, description="会议名称")
    yes: Deputies = Field(description="赞成")
    no: Deputies = Field(description="反对")
    abstain: Deputies = Field(description="弃权")
    present: Deputies = Field(description="出席代表 (不超过全体代表, 且不少于其三分之二)")
    total_deputies: int = Field(ge=1, le=MAX_DEPUTIES, description="全体代表 (至多 450)")


class ProjectImplement(Body):
    """政府办: 预算 (万元) 与牵头单位."""

    budget_wan: Money
    lead_unit: str = Field(min_length=1, max_length=100)


class ProjectProgress(Body):
    """进度报告: 百分比与已支出 (万元), 均不可倒退; 超出预算须写明超支理由."""

    progress: int = Field(ge=0, le=100)
    spent_wan: Money
    note: str = Field(default="", max_length=500)
    overspend_reason: str = Field(
        default="", max_length=500, description="超支理由: 已支出超过预算时必填, 未超支时须为空 / required over the budget only"
    )


class ProjectSupervise(Body):
    """人大督."""

    action: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=500)


class ProjectEvaluate(Body):
    """代表评: 满意度测评票数 (合计不超过票决时的全体代表)."""

    satisfied: Deputies
    basically_satisfied: Deputies
    dissatisfied: Deputies


# ------------------------------------------------------------------------------------------ corrections, voids

Reason = Annotated[str, Field(min_length=1, max_length=500, description="理由 / why")]


class Correction(Body):
    """更正: 登记单位 (本节点) 对已登记事实的指定字段给出新值及理由; 原记录保留, 更正作为新事件记录, 视图随之更正.
    按记录时间回看, 更正记录之前显示原值; 按发生时间回看, 自原事实发生之时起即为更正后的值."""

    fact: str
    number: int = Field(default=1, ge=1, le=10_000, description="第几项 (问题、进度报告的序号; 其余事实为 1)")
    changes: BaseModel
    reason: Reason


class VisitChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people_received: int | None = Field(default=None, ge=0, le=10_000, description="接待群众人数 (fact=visit)")
    summary: str | None = Field(default=None, min_length=1, max_length=500, description="问题摘要 (fact=issue)")
    category: str | None = Field(default=None, min_length=1, max_length=50, description="问题类别 (fact=issue)")


class VisitCorrection(Correction):
    """更正进站接待: visit 接待人数; issue 第 number 个问题的摘要、类别. 站点、日期、值班代表是接待的自然键, 不可更正:
    请作废后重新登记."""

    fact: Literal["visit", "issue"] = Field(description="visit 接待本身 / issue 反映的问题")
    changes: VisitChanges


class StationChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, description="站名")
    address: str | None = Field(default=None, max_length=200, description="地址")


class StationCorrection(Correction):
    """更正联络站: establishment 站名、地址 (笔误). 站点 id 仍为设立时的站名所定; 合并、撤销等请用各自的操作."""

    fact: Literal["establishment"] = Field(default="establishment", description="establishment 设立联络站")
    changes: StationChanges


class AppointmentChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=50, description="姓名")
    post: str | None = Field(default=None, pattern="^(主任|副主任|秘书长|委员)$", description="职务: 主任, 副主任, 秘书长, 委员")


class AppointmentCorrection(Correction):
    """更正常委会组成人员的任命: 第 number 次任命 (按任命先后, 1 为第一次) 的姓名、职务. 任命的是谁 (member_id) 即任命本身,
    不可更正."""

    fact: Literal["appointment"] = Field(default="appointment", description="appointment 任命组成人员")
    changes: AppointmentChanges


class ProjectChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    estimate_wan: Money | None = Field(default=None, description="估算 (万元; fact=candidate)")
    budget_wan: Money | None = Field(default=None, description="预算 (万元; fact=implementation)")
    lead_unit: str | None = Field(default=None, min_length=1, max_length=100, description="牵头单位 (fact=implementation)")
    progress: int | None = Field(
        default=None, ge=0, le=100, description="进度百分比 (fact=progress; 不低于前一报告, 不高于后一报告)"
    )
    spent_wan: Money | None = Field(default=None, description="已支出 (万元; fact=progress)")
    overspend_reason: str | None = Field(default=None, max_length=500, description="超支理由 (fact=progress)")
    deputies_present: int | None = Field(default=None, ge=1, le=MAX_DEPUTIES, description="出席代表 (fact=deliberation)")
    opinions: int | None = Field(default=None, ge=0, le=100 * MAX_DEPUTIES, description="意见条数 (fact=deliberation)")
    yes: Deputies | None = Field(default=None, description="赞成 (fact=vote; 更正不得改变是否通过)")
    no: Deputies | None = Field(default=None, description="反对 (fact=vote)")
    abstain: Deputies | None = Field(default=None, description="弃权 (fact=vote)")
    present: Deputies | None = Field(default=None, description="出席代表 (fact=vote)")
    total_deputies: int | None = Field(default=None, ge=1, le=MAX_DEPUTIES, description="全体代表 (fact=vote)")
    satisfied: Deputies | None = Field(default=None, description="满意 (fact=evaluation)")
    basically_satisfied: Deputies | None = Field(default=None, description="基本满意 (fact=evaluation)")
    dissatisfied: Deputies | None = Field(default=None, description="不满意 (fact=evaluation)")


class ProjectCorrection(Correction):
    """更正民生实事项目: candidate 估算; deliberation 出席、意见; vote 票数 (不得改变是否通过); implementation 预算、
    牵头单位; progress 第 number 次进度报告的数字; evaluation 测评票数."""

    fact: Literal["candidate", "deliberation", "vote", "implementation", "progress", "evaluation"] = Field(
        description="candidate 列入候选 / deliberation 代表审议 / vote 大会票决 / implementation 政府实施 / progress 进度报告"
        " / evaluation 代表测评"
    )
    changes: ProjectChanges


class ContactChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200, description="标题 (fact=record)")
    organiser: str | None = Field(default=None, min_length=1, max_length=100, description="组织者名称 (fact=record)")
    public_count: int | None = Field(default=None, ge=0, le=100_000, description="群众人数 (fact=record)")
    text: str | None = Field(default=None, min_length=1, max_length=1000, description="意见内容 (fact=opinion)")


class ContactCorrection(Correction):
    """更正联系活动: record 标题、组织者名称、群众人数; opinion 第 number 条意见的内容. 活动类别、形式、日期与参加代表
    是活动本身, 不可更正."""

    fact: Literal["record", "opinion"] = Field(description="record 联系活动 / opinion 意见")
    changes: ContactChanges


class SuggestionChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200, description="标题 (fact=submission)")
    category: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="类别: fact=submission 为建议分类 (文本); fact=reply 为答复类别 A/B/C",
    )
    lead_unit: str | None = Field(default=None, min_length=1, max_length=100, description="主办单位 (fact=assignment)")
    due_on: Day | None = Field(default=None, description="答复期限 (fact=assignment; 须晚于交办日)")


class SuggestionCorrection(Correction):
    """更正代表建议: submission 标题、分类; assignment 主办单位、答复期限; reply 第 number 次答复的类别 (代表评价之前).
    编号、届次、代表是建议的自然键, 不可更正."""

    fact: Literal["submission", "assignment", "reply"] = Field(description="submission 提出建议 / assignment 交办 / reply 答复")
    changes: SuggestionChanges


class CategoryChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grassroots: bool | None = Field(default=None, description="基层代表")
    leading_cadre: bool | None = Field(default=None, description="领导干部代表 (与基层代表不兼)")


class CategoryCorrection(Correction):
    """更正代表类别 (基层 / 领导干部): 自 effective_from 起为新值 (如自 2021 年起即登记有误)."""

    fact: Literal["category"] = Field(default="category", description="category 代表类别")
    changes: CategoryChanges
    effective_from: Day = Field(description="新值自哪一天起成立 / the day from which the new values hold")


class RegistrationChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=50, description="姓名")
    gender: str | None = Field(default=None, pattern="^(男|女)$", description="性别: 男 或 女")
    unit: str | None = Field(default=None, max_length=200, description="工作单位及职务")


class RegistrationCorrection(Correction):
    """更正代表登记信息 (笔误): 姓名、性别、工作单位, 一向即为新值. 人员编号是代表记录的自然键, 不可更正."""

    fact: Literal["registration"] = Field(description="registration 登记信息")
    changes: RegistrationChanges


class MandateChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    elected_by: str | None = Field(default=None, min_length=1, max_length=200, description="选举单位或原选区")
    via: Literal["election", "by_election"] | None = Field(default=None, description="election 选举 / by_election 补选")
    delegation: str | None = Field(default=None, max_length=100, description="所在代表团")


class MandateCorrection(Correction):
    """更正代表资格: 第 number 项代表资格 (按取得先后, 1 为第一项) 的选举单位、产生方式、代表团. 人大级别与届次即资格本身,
    不可更正."""

    fact: Literal["mandate"] = Field(description="mandate 代表资格")
    changes: MandateChanges


#: 更正代表: 类别 (fact=category, 缺省)、登记信息 (fact=registration) 或代表资格 (fact=mandate).
DeputyCorrection = Annotated[
    Annotated[CategoryCorrection, Tag("category")]
    | Annotated[RegistrationCorrection, Tag("registration")]
    | Annotated[MandateCorrection, Tag("mandate")],
    Discriminator(lambda body: (body.get("fact") if isinstance(body, dict) else getattr(body, "fact", None)) or "category"),
]


class Void(Body):
    """作废 (登记有误): 登记单位作废整条记录; 原事件保留, 此后不再接受任何操作, 视图中不再计入."""

    reason: Reason
