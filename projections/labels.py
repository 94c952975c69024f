"""Chinese labels for everything a person reads in a report (English keys stay in JSON)."""

from __future__ import annotations

from domain.contacts import Channel, ContactKind, Handling, OrganiserKind
from domain.deputies import MandateStatus
from domain.levels import CongressLevel, Level
from domain.livelihood import ProjectState
from domain.suggestions import Evaluation, ReplyCategory, SuggestionState

LEVEL = {lv.value: lv.label for lv in Level}
CONGRESS = {c.value: c.label for c in CongressLevel}
CONTACT_KIND = {k.value: k.label for k in ContactKind}
CHANNEL = {c.value: c.label for c in Channel}
HANDLING = {h.value: h.label for h in Handling}
ORGANISER = {
    OrganiserKind.SC_MEMBER.value: "常委会组成人员",
    OrganiserKind.CHAIR_COUNCIL.value: "主任会议成员",
    OrganiserKind.SPECIAL_COMMITTEE.value: "专门委员会",
    OrganiserKind.SC_OFFICE.value: "常委会工作机构",
    OrganiserKind.TOWNSHIP_PRESIDIUM.value: "乡镇人大主席团",
    OrganiserKind.STREET_COMMITTEE.value: "人大街道工委",
    OrganiserKind.DEPUTY_GROUP.value: "代表小组",
    OrganiserKind.DEPUTY.value: "代表",
}
SUGGESTION_STATE = {st.value: st.label for st in SuggestionState}
REPLY_CATEGORY = {c.value: c.label for c in ReplyCategory}
EVALUATION = {e.value: e.label for e in Evaluation}
PROJECT_STATE = {st.value: st.label for st in ProjectState}
MANDATE_STATUS = {m.value: m.label for m in MandateStatus}
STATION_STATUS = {"open": "运行中", "merged": "已合并", "closed": "已撤销"}
ISSUE_OUTCOME = {"resolved": "已解决", "transferred": "已转办", "pending": "待处理"}

#: Short names of the targets, for narrow tables.
TARGET_SHORT = {
    "sc_face_to_face": "常委会组成人员面对面联系代表",
    "grassroots_provincial_invited": "基层省人大代表参加联系活动",
    "leading_cadre_group": "领导干部代表参加小组活动",
    "body_research": "常委会/主席团专题调研视察",
    "practical_deed": "代表为群众办实事",
    "constituent_report": "县乡代表向选民报告履职(每届)",
    "follow_up": "B类/不满意建议跟踪至解决",
    "opinions": "意见建议办理并反馈",
}

TARGETS = {
    "sc_face_to_face": ("常委会组成人员每年至少面对面联系代表一次", "2025年工作要点 §4"),
    "grassroots_provincial_invited": ("基层省人大代表每年至少参加一次联系活动(全覆盖)", "2023年实施意见 §4"),
    "leading_cadre_group": ("领导干部代表每年至少参加一次代表小组活动", "2023年指导意见 §2"),
    "body_research": ("常委会、乡镇人大主席团每年至少组织一次专题调研视察", "2023年指导意见 §3"),
    "practical_deed": ("每名代表每年至少为群众办一件实事", "2023年指导意见 §4"),
    "constituent_report": ("县乡人大代表每届至少向原选区选民报告履职一次", "2023年指导意见 §8"),
    "follow_up": ("B类答复和不满意建议跟踪督办直至解决", "2025年工作要点 §9"),
    "opinions": ("代表意见建议件件有办理、有反馈", "两个联系"),
}

VIEWS = {
    "coverage": "联系覆盖(一盘棋指标)",
    "stations": "代表联络站",
    "suggestions": "代表建议办理",
    "livelihood": "民生实事票决",
    "duty": "代表履职档案",
}
