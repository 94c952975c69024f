"""Commands on deputies' suggestions (代表建议), through every step; the evaluation by the lead deputy only."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from domain.suggestions import Suggestion
from gateways.api import models as m
from gateways.api.context import Command, CommandResult, deputy_writer, writer
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS

router = APIRouter(
    route_class=DirectRoute,
    prefix="/nodes/{code}",
    tags=["代表建议 suggestions"],
    responses=COMMAND_ERRORS,
)
Cmd = Annotated[Command, Depends(writer)]
SuggestionId = Annotated[UUID, Path(description="建议 id")]


@router.post("/suggestions", status_code=201, response_model=CommandResult, summary="提出建议 / submit a suggestion")
async def submit(body: m.SuggestionSubmit, cmd: Cmd) -> Response:
    def act(c: Command) -> Suggestion:
        c.deputy_exists(body.lead_deputy_id, what="lead_deputy_id")
        for co in body.co_deputy_ids:
            c.deputy_exists(co, what="co_deputy_ids")
        suggestion = Suggestion.submit(
            c.node.ref,
            c.by(body.occurred_at),
            number=body.number,
            congress=body.congress,
            term=body.term,
            session=body.session,
            title=body.title,
            content=body.content,
            category=body.category,
            lead_deputy_id=body.lead_deputy_id,
            co_deputy_ids=list(body.co_deputy_ids),
        )
        return c.create(suggestion)

    return await cmd.run(body, act, creating=True)


@router.post("/suggestions/{suggestion_id}/assign", response_model=CommandResult, summary="交办 / assign to handling units")
async def assign(suggestion_id: SuggestionId, body: m.SuggestionAssign, cmd: Cmd) -> Response:
    return await cmd.step(
        Suggestion,
        suggestion_id,
        body,
        lambda s, by: s.assign(by, lead_unit=body.lead_unit, co_units=list(body.co_units), due_on=body.due_on),
        what="suggestion_id",
    )


@router.post(
    "/suggestions/{suggestion_id}/start-handling", response_model=CommandResult, summary="开始办理 (已联系代表) / handling starts"
)
async def start_handling(suggestion_id: SuggestionId, body: m.HandlingStart, cmd: Cmd) -> Response:
    return await cmd.step(
        Suggestion, suggestion_id, body, lambda s, by: s.start_handling(by, contacted_on=body.contacted_on), what="suggestion_id"
    )


@router.post("/suggestions/{suggestion_id}/reply", response_model=CommandResult, summary="答复 (A/B/C) / the unit's reply")
async def reply(suggestion_id: SuggestionId, body: m.SuggestionReply, cmd: Cmd) -> Response:
    return await cmd.step(
        Suggestion,
        suggestion_id,
        body,
        lambda s, by: s.reply(by, category=body.category, text=body.text, replied_on=body.replied_on),
        what="suggestion_id",
    )


@router.post(
    "/suggestions/{suggestion_id}/evaluation",
    response_model=CommandResult,
    summary="代表评价 (仅领衔代表本人) / the lead deputy's evaluation",
    description="只接受角色为 deputy、主体为领衔代表 id 的令牌: 任何机关账号 (录入员、管理员等) 都无法记录评价, 杜绝“被满意”。"
    " / Only a token of role deputy whose subject is the lead deputy's id; no office account can record it.",
)
async def evaluate(
    suggestion_id: SuggestionId, body: m.SuggestionEvaluate, cmd: Annotated[Command, Depends(deputy_writer)]
) -> Response:
    def act(c: Command) -> Suggestion:
        deputy_id = UUID(c.who.subject)
        s = c.load(Suggestion, suggestion_id, what="suggestion_id")
        s.evaluate(c.by(body.occurred_at), deputy_id=deputy_id, evaluation=body.evaluation, comment=body.comment)
        return s

    return await cmd.run(body, act)


@router.post(
    "/suggestions/{suggestion_id}/evaluation-entry",
    response_model=CommandResult,
    summary="办公室代录代表评价 (据签字评价表) / the office enters a signed evaluation form",
    description="录入员或管理员据领衔代表签字的纸质评价表录入评价: 事件记为办公室代录 (entry=office), 含评价表编号,"
    " 记录人为录入员本人; 统计中与代表本人评价分开计数。 / Recorded as the office's entry with the form's number and the"
    " clerk as actor; counted apart from the deputy's own evaluations.",
)
async def enter_evaluation(suggestion_id: SuggestionId, body: m.SuggestionEvaluationEntry, cmd: Cmd) -> Response:
    def act(c: Command) -> Suggestion:
        s = c.load(Suggestion, suggestion_id, what="suggestion_id")
        s.enter_evaluation(
            c.node.ref,
            c.by(body.occurred_at),
            deputy_id=body.deputy_id,
            evaluation=body.evaluation,
            form_number=body.form_number,
            comment=body.comment,
        )
        return s

    return await cmd.run(body, act)


@router.post(
    "/suggestions/{suggestion_id}/solved", response_model=CommandResult, summary="跟踪督办后解决 / solved after follow-up"
)
async def solved(suggestion_id: SuggestionId, body: m.SuggestionSolved, cmd: Cmd) -> Response:
    return await cmd.step(
        Suggestion,
        suggestion_id,
        body,
        lambda s, by: s.mark_solved(by, note=body.note, solved_on=body.solved_on),
        what="suggestion_id",
    )


@router.post("/suggestions/{suggestion_id}/priority", response_model=CommandResult, summary="重点处理建议 / mark as priority")
async def priority(suggestion_id: SuggestionId, body: m.SuggestionPriority, cmd: Cmd) -> Response:
    return await cmd.step(
        Suggestion, suggestion_id, body, lambda s, by: s.mark_priority(by, leader=body.leader), what="suggestion_id"
    )


@router.post("/suggestions/{suggestion_id}/supervision", response_model=CommandResult, summary="督办 / a supervision action")
async def supervise(suggestion_id: SuggestionId, body: m.SuggestionSupervise, cmd: Cmd) -> Response:
    return await cmd.step(
        Suggestion,
        suggestion_id,
        body,
        lambda s, by: s.supervise(by, supervision=body.supervision, note=body.note),
        what="suggestion_id",
    )


@router.post("/suggestions/{suggestion_id}/close", response_model=CommandResult, summary="办结 / close")
async def close(suggestion_id: SuggestionId, body: m.Empty, cmd: Cmd) -> Response:
    return await cmd.step(Suggestion, suggestion_id, body, lambda s, by: s.close(by), what="suggestion_id")


@router.post("/suggestions/{suggestion_id}/corrections", response_model=CommandResult, summary="更正 / correct a recorded fact")
async def correct(suggestion_id: SuggestionId, body: m.SuggestionCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(Suggestion, suggestion_id, body, what="suggestion_id")


@router.post("/suggestions/{suggestion_id}/voids", response_model=CommandResult, summary="作废 (登记有误) / void the record")
async def void(suggestion_id: SuggestionId, body: m.Void, cmd: Cmd) -> Response:
    return await cmd.void(Suggestion, suggestion_id, body, what="suggestion_id")
