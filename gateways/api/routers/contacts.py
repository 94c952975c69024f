"""Commands on contact activities (两个联系): organs and deputies, deputies and the public, 12345 reports."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from domain.contacts import ContactActivity, ContactKind
from gateways.api import models as m
from gateways.api.context import Command, CommandResult, writer
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS

router = APIRouter(route_class=DirectRoute, prefix="/nodes/{code}", tags=["联系活动 contacts"], responses=COMMAND_ERRORS)
Cmd = Annotated[Command, Depends(writer)]
ContactId = Annotated[UUID, Path(description="联系活动 id")]
OpinionNo = Annotated[int, Path(ge=1, le=10_000, description="意见序号 (从 1 起)")]


@router.post("/contacts", status_code=201, response_model=CommandResult, summary="记录联系活动 / record a contact")
async def record(body: m.ContactRecord, cmd: Cmd) -> Response:
    def act(c: Command) -> ContactActivity:
        for deputy_id in body.deputy_ids:
            c.deputy_exists(deputy_id, what="deputy_ids")
        contact = ContactActivity.record_contact(
            c.node.ref,
            c.by(body.occurred_at),
            kind=body.kind,
            channel=body.channel,
            title=body.title,
            held_on=body.held_on,
            organiser_kind=body.organiser_kind,
            organiser=body.organiser,
            organiser_id=body.organiser_id,
            deputy_ids=list(body.deputy_ids),
            public_count=body.public_count,
            ticket=body.ticket,
            # A 12345 work order is reported once: its ticket is its natural key. Other contacts have none.
            contact_id=ContactActivity.hotline_id(c.node.ref.node_id, body.ticket)
            if body.kind is ContactKind.HOTLINE_REPORT and body.ticket.strip()
            else c.new_id("contact"),
        )
        return c.create(contact)

    return await cmd.run(body, act, creating=True)


@router.post("/contacts/{contact_id}/opinions", response_model=CommandResult, summary="提出意见 / an opinion raised")
async def raise_opinion(contact_id: ContactId, body: m.OpinionRaise, cmd: Cmd) -> Response:
    def act(c: Command) -> ContactActivity:
        contact = c.load(ContactActivity, contact_id, what="contact_id")
        c.number = contact.raise_opinion(c.by(body.occurred_at), text=body.text, deputy_id=body.deputy_id)
        return contact

    return await cmd.run(body, act)


@router.post(
    "/contacts/{contact_id}/opinions/{number}/handle", response_model=CommandResult, summary="意见办理 / handle an opinion"
)
async def handle_opinion(contact_id: ContactId, number: OpinionNo, body: m.OpinionHandle, cmd: Cmd) -> Response:
    return await cmd.step(
        ContactActivity,
        contact_id,
        body,
        lambda contact, by: contact.handle_opinion(by, number=number, handling=body.handling, unit=body.unit, note=body.note),
        what="contact_id",
        number=number,
    )


@router.post(
    "/contacts/{contact_id}/opinions/{number}/feedback",
    response_model=CommandResult,
    summary="意见反馈 / feed back to the deputy",
)
async def feed_back(contact_id: ContactId, number: OpinionNo, body: m.OpinionFeedback, cmd: Cmd) -> Response:
    return await cmd.step(
        ContactActivity,
        contact_id,
        body,
        lambda contact, by: contact.feed_back(by, number=number, note=body.note),
        what="contact_id",
        number=number,
    )


@router.post(
    "/contacts/{contact_id}/hotline-outcome", response_model=CommandResult, summary="12345办理结果 / the hotline's outcome"
)
async def hotline_outcome(contact_id: ContactId, body: m.HotlineOutcome, cmd: Cmd) -> Response:
    return await cmd.step(
        ContactActivity,
        contact_id,
        body,
        lambda contact, by: contact.record_hotline_outcome(by, outcome=body.outcome),
        what="contact_id",
    )


@router.post("/contacts/{contact_id}/corrections", response_model=CommandResult, summary="更正 / correct a recorded fact")
async def correct(contact_id: ContactId, body: m.ContactCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(ContactActivity, contact_id, body, what="contact_id")


@router.post("/contacts/{contact_id}/voids", response_model=CommandResult, summary="作废 (登记有误) / void the contact")
async def void(contact_id: ContactId, body: m.Void, cmd: Cmd) -> Response:
    return await cmd.void(ContactActivity, contact_id, body, what="contact_id")
