"""Commands on deputies (人大代表) and standing-committee rosters (常委会组成人员)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from domain.base import DomainError
from domain.bodies import StandingCommittee
from domain.deputies import Deputy
from gateways.api import models as m
from gateways.api.context import Command, CommandResult, writer
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS, ApiError

router = APIRouter(route_class=DirectRoute, prefix="/nodes/{code}", tags=["代表 deputies"], responses=COMMAND_ERRORS)
Cmd = Annotated[Command, Depends(writer)]
DeputyId = Annotated[UUID, Path(description="代表 id")]
CommitteeId = Annotated[UUID, Path(description="常委会 id")]


@router.post("/deputies", status_code=201, response_model=CommandResult, summary="登记代表 / register a deputy")
async def register(body: m.DeputyRegister, cmd: Cmd) -> Response:
    def act(c: Command) -> Deputy:
        home = None
        if body.home_node:
            try:
                home = c.gw.hierarchy.by_code(body.home_node).id
            except DomainError:
                raise ApiError(422, f"no division has code {body.home_node}", field="home_node") from None
        deputy = Deputy.register(
            c.node.ref,
            c.by(body.occurred_at),
            person_id=body.person_id,
            name=body.name,
            gender=body.gender,
            unit=body.unit,
            grassroots=body.grassroots,
            leading_cadre=body.leading_cadre,
            home_node=home,
        )
        return c.create(deputy)

    return await cmd.run(body, act, creating=True)


@router.post("/deputies/{deputy_id}/mandates", response_model=CommandResult, summary="取得代表资格 / grant a mandate")
async def grant_mandate(deputy_id: DeputyId, body: m.MandateGrant, cmd: Cmd) -> Response:
    def act(c: Command) -> Deputy:
        d = c.load(Deputy, deputy_id, what="deputy_id")
        d.grant_mandate(
            c.node.ref,
            c.by(body.occurred_at),
            congress=body.congress,
            term=body.term,
            elected_by=body.elected_by,
            via=body.via,
            delegation=body.delegation,
        )
        return d

    return await cmd.run(body, act)


@router.post("/deputies/{deputy_id}/credentials", response_model=CommandResult, summary="代表资格审查 / credentials review")
async def review_credentials(deputy_id: DeputyId, body: m.CredentialsReview, cmd: Cmd) -> Response:
    return await cmd.step(
        Deputy,
        deputy_id,
        body,
        lambda d, by: d.review_credentials(by, congress=body.congress, term=body.term, passed=body.passed, note=body.note),
        what="deputy_id",
    )


@router.post("/deputies/{deputy_id}/termination", response_model=CommandResult, summary="终止代表资格 / terminate a mandate")
async def terminate(deputy_id: DeputyId, body: m.MandateTermination, cmd: Cmd) -> Response:
    return await cmd.step(
        Deputy,
        deputy_id,
        body,
        lambda d, by: d.terminate(by, congress=body.congress, term=body.term, reason=body.reason),
        what="deputy_id",
    )


@router.post("/deputies/{deputy_id}/flags", response_model=CommandResult, summary="设置代表类别 / grassroots or leading cadre")
async def set_flags(deputy_id: DeputyId, body: m.DeputyFlags, cmd: Cmd) -> Response:
    return await cmd.step(
        Deputy,
        deputy_id,
        body,
        lambda d, by: d.set_flags(by, grassroots=body.grassroots, leading_cadre=body.leading_cadre),
        what="deputy_id",
    )


@router.post(
    "/deputies/{deputy_id}/corrections", response_model=CommandResult, summary="更正代表类别 / correct the category from a day"
)
async def correct(deputy_id: DeputyId, body: m.DeputyCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(Deputy, deputy_id, body, what="deputy_id")


@router.post("/deputies/{deputy_id}/voids", response_model=CommandResult, summary="作废 (登记有误) / void the deputy's record")
async def void(deputy_id: DeputyId, body: m.Void, cmd: Cmd) -> Response:
    return await cmd.void(Deputy, deputy_id, body, what="deputy_id")


@router.post("/deputies/{deputy_id}/groups", response_model=CommandResult, summary="编入代表小组 / join a deputy group")
async def join_group(deputy_id: DeputyId, body: m.GroupJoin, cmd: Cmd) -> Response:
    return await cmd.step(
        Deputy, deputy_id, body, lambda d, by: d.join_group(by, group=body.group, kind=body.kind), what="deputy_id"
    )


@router.post("/deputies/{deputy_id}/groups/leave", response_model=CommandResult, summary="退出代表小组 / leave a deputy group")
async def leave_group(deputy_id: DeputyId, body: m.GroupLeave, cmd: Cmd) -> Response:
    return await cmd.step(Deputy, deputy_id, body, lambda d, by: d.leave_group(by, group=body.group), what="deputy_id")


@router.post(
    "/standing-committees", status_code=201, response_model=CommandResult, summary="组成人大常委会 / constitute the SC for a term"
)
async def constitute(body: m.CommitteeConstitute, cmd: Cmd) -> Response:
    def act(c: Command) -> StandingCommittee:
        return c.create(StandingCommittee.constitute(c.node.ref, c.by(body.occurred_at), term=body.term))

    return await cmd.run(body, act, creating=True)


@router.post(
    "/standing-committees/{committee_id}/members", response_model=CommandResult, summary="任命组成人员 / appoint a member"
)
async def appoint(committee_id: CommitteeId, body: m.MemberAppoint, cmd: Cmd) -> Response:
    return await cmd.step(
        StandingCommittee,
        committee_id,
        body,
        lambda sc, by: sc.appoint(by, member_id=body.member_id, name=body.name, post=body.post),
        what="committee_id",
    )


@router.post(
    "/standing-committees/{committee_id}/members/leave", response_model=CommandResult, summary="组成人员离任 / a member leaves"
)
async def remove_member(committee_id: CommitteeId, body: m.MemberLeave, cmd: Cmd) -> Response:
    return await cmd.step(
        StandingCommittee,
        committee_id,
        body,
        lambda sc, by: sc.remove_member(by, member_id=body.member_id, reason=body.reason),
        what="committee_id",
    )


@router.post(
    "/standing-committees/{committee_id}/corrections",
    response_model=CommandResult,
    summary="更正任命 / correct an appointment's name or post",
)
async def correct_appointment(committee_id: CommitteeId, body: m.AppointmentCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(StandingCommittee, committee_id, body, what="committee_id")
