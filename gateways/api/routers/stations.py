"""Commands on liaison stations (代表联络站) and station visits (进站履职)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from domain.deputies import Deputy, MandateStatus
from domain.levels import CongressLevel
from domain.stations import Station
from domain.visits import StationVisit
from gateways.api import models as m
from gateways.api.context import Command, CommandResult, writer
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS, ApiError

router = APIRouter(route_class=DirectRoute, prefix="/nodes/{code}", tags=["联络站 stations"], responses=COMMAND_ERRORS)
visits = APIRouter(
    route_class=DirectRoute,
    prefix="/nodes/{code}",
    tags=["进站接待 station visits"],
    responses=COMMAND_ERRORS,
)
Cmd = Annotated[Command, Depends(writer)]
StationId = Annotated[UUID, Path(description="联络站 id")]
VisitId = Annotated[UUID, Path(description="进站接待 id")]
IssueNo = Annotated[int, Path(ge=1, le=10_000, description="问题序号 (从 1 起)")]

_SERVING = {MandateStatus.PENDING_REVIEW.value, MandateStatus.ACTIVE.value}


def enrolment_level(deputy: Deputy, wanted: CongressLevel | None) -> CongressLevel:
    """The mandate a deputy is enrolled with: the one named, else their only serving level."""
    serving = [CongressLevel(x["congress"]) for x in deputy.mandates.values() if x["status"] in _SERVING]
    levels = sorted(set(serving), key=list(CongressLevel).index)
    if wanted is not None:
        if wanted not in levels:
            held = ", ".join(v.value for v in levels) or "none"
            raise ApiError(
                422, f"deputy {deputy.name} holds no serving {wanted.label} mandate (serving: {held})", field="congress"
            )
        return wanted
    if not levels:
        raise ApiError(
            409, f"deputy {deputy.name} ({deputy.id}) holds no serving mandate", field="deputy_id", state="not serving"
        )
    if len(levels) > 1:
        raise ApiError(
            422,
            f"deputy {deputy.name} serves at several levels ({', '.join(v.value for v in levels)}): name the congress",
            field="congress",
        )
    return levels[0]


@router.post("/stations", status_code=201, response_model=CommandResult, summary="设立联络站 / establish a station")
async def establish(body: m.StationEstablish, cmd: Cmd) -> Response:
    def act(c: Command) -> Station:
        return c.create(Station.establish(c.node.ref, c.by(body.occurred_at), name=body.name, address=body.address))

    return await cmd.run(body, act, creating=True)


@router.post("/stations/{station_id}/enrolments", response_model=CommandResult, summary="代表进站 / enrol a deputy")
async def enrol(station_id: StationId, body: m.Enrolment, cmd: Cmd) -> Response:
    def act(c: Command) -> Station:
        station = c.load(Station, station_id, what="station_id")
        deputy = c.deputy(body.deputy_id)
        level = enrolment_level(deputy, body.congress)
        station.enrol(c.by(body.occurred_at), deputy_id=deputy.id, deputy_name=deputy.name, congress=level)
        return station

    return await cmd.run(body, act)


@router.post("/stations/{station_id}/removals", response_model=CommandResult, summary="代表出站 / remove a deputy")
async def remove(station_id: StationId, body: m.Removal, cmd: Cmd) -> Response:
    return await cmd.step(
        Station,
        station_id,
        body,
        lambda station, by: station.remove(by, deputy_id=body.deputy_id, reason=body.reason),
        what="station_id",
    )


@router.post("/stations/{station_id}/merge", response_model=CommandResult, summary="并站 / merge into another station")
async def merge(station_id: StationId, body: m.Merge, cmd: Cmd) -> Response:
    def act(c: Command) -> Station:
        station = c.load(Station, station_id, what="station_id")
        successor = c.load(Station, body.successor_id, what="successor_id")
        station.merge_into(successor, c.by(body.occurred_at))
        c.touch(successor)
        return station

    return await cmd.run(body, act)


@router.post("/stations/{station_id}/close", response_model=CommandResult, summary="撤销联络站 / close a station")
async def close(station_id: StationId, body: m.Closure, cmd: Cmd) -> Response:
    return await cmd.step(Station, station_id, body, lambda station, by: station.close(by, reason=body.reason), what="station_id")


@router.post("/stations/{station_id}/corrections", response_model=CommandResult, summary="更正 / correct the name or address")
async def correct(station_id: StationId, body: m.StationCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(Station, station_id, body, what="station_id")


@visits.post("/visits", status_code=201, response_model=CommandResult, summary="记录进站接待 / record a station visit")
async def record_visit(body: m.VisitRecord, cmd: Cmd) -> Response:
    def act(c: Command) -> StationVisit:
        station = c.load(Station, body.station_id, what="station_id", read_only=True)
        for deputy_id in body.deputy_ids:
            c.deputy_exists(deputy_id, what="deputy_ids")
        visit = StationVisit.record_visit(
            c.node.ref,
            c.by(body.occurred_at),
            station=station,
            visit_date=body.visit_date,
            deputy_ids=list(body.deputy_ids),
            people_received=body.people_received,
        )  # its natural key (station, date, deputies on duty) names it, whatever the Idempotency-Key
        return c.create(visit)

    return await cmd.run(body, act, creating=True)


@visits.post("/visits/{visit_id}/issues", response_model=CommandResult, summary="群众反映问题 / an issue raised")
async def raise_issue(visit_id: VisitId, body: m.IssueRaise, cmd: Cmd) -> Response:
    def act(c: Command) -> StationVisit:
        visit = c.load(StationVisit, visit_id, what="visit_id")
        c.number = visit.raise_issue(
            c.by(body.occurred_at),
            summary=body.summary,
            category=body.category,
            raised_by_name=body.raised_by_name,
            raised_by_phone=body.raised_by_phone,
        )
        return visit

    return await cmd.run(body, act)


@visits.post("/visits/{visit_id}/issues/{number}/resolve", response_model=CommandResult, summary="当场解决 / resolve an issue")
async def resolve_issue(visit_id: VisitId, number: IssueNo, body: m.IssueResolve, cmd: Cmd) -> Response:
    return await cmd.step(
        StationVisit,
        visit_id,
        body,
        lambda visit, by: visit.resolve_issue(by, number=number, outcome=body.outcome),
        what="visit_id",
        number=number,
    )


@visits.post("/visits/{visit_id}/issues/{number}/transfer", response_model=CommandResult, summary="转交办理 / transfer an issue")
async def transfer_issue(visit_id: VisitId, number: IssueNo, body: m.IssueTransfer, cmd: Cmd) -> Response:
    return await cmd.step(
        StationVisit,
        visit_id,
        body,
        lambda visit, by: visit.transfer_issue(by, number=number, to_unit=body.to_unit),
        what="visit_id",
        number=number,
    )


@visits.post("/visits/{visit_id}/close", response_model=CommandResult, summary="接待办结 / close a visit")
async def close_visit(visit_id: VisitId, body: m.Empty, cmd: Cmd) -> Response:
    return await cmd.step(StationVisit, visit_id, body, lambda visit, by: visit.close(by), what="visit_id")


@visits.post("/visits/{visit_id}/corrections", response_model=CommandResult, summary="更正 / correct the visit or an issue")
async def correct_visit(visit_id: VisitId, body: m.VisitCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(StationVisit, visit_id, body, what="visit_id")


@visits.post("/visits/{visit_id}/voids", response_model=CommandResult, summary="作废 (登记有误) / void the visit")
async def void_visit(visit_id: VisitId, body: m.Void, cmd: Cmd) -> Response:
    return await cmd.void(StationVisit, visit_id, body, what="visit_id")
