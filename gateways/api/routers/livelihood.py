"""Commands on livelihood projects voted by deputies (民生实事代表票决制), through every step."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from domain.livelihood import LivelihoodProject
from gateways.api import models as m
from gateways.api.context import Command, CommandResult, writer
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS

router = APIRouter(
    route_class=DirectRoute,
    prefix="/nodes/{code}",
    tags=["民生实事 livelihood projects"],
    responses=COMMAND_ERRORS,
)
Cmd = Annotated[Command, Depends(writer)]
ProjectId = Annotated[UUID, Path(description="项目 id")]


@router.post("/livelihood-projects", status_code=201, response_model=CommandResult, summary="群众提 / propose a project")
async def propose(body: m.ProjectPropose, cmd: Cmd) -> Response:
    def act(c: Command) -> LivelihoodProject:
        project = LivelihoodProject.propose(
            c.node.ref,
            c.by(body.occurred_at),
            year=body.year,
            title=body.title,
            category=body.category,
            proposed_by=body.proposed_by,
        )
        return c.create(project)

    return await cmd.run(body, act, creating=True)


@router.post("/livelihood-projects/{project_id}/candidate", response_model=CommandResult, summary="征集初定 / list as candidate")
async def list_candidate(project_id: ProjectId, body: m.ProjectList, cmd: Cmd) -> Response:
    return await cmd.step(
        LivelihoodProject,
        project_id,
        body,
        lambda p, by: p.list_as_candidate(by, estimate_wan=body.estimate_wan),
        what="project_id",
    )


@router.post("/livelihood-projects/{project_id}/deliberation", response_model=CommandResult, summary="代表议 / deliberation")
async def deliberate(project_id: ProjectId, body: m.ProjectDeliberate, cmd: Cmd) -> Response:
    return await cmd.step(
        LivelihoodProject,
        project_id,
        body,
        lambda p, by: p.deliberate(by, deputies_present=body.deputies_present, opinions=body.opinions),
        what="project_id",
    )


@router.post("/livelihood-projects/{project_id}/vote", response_model=CommandResult, summary="大会决 (票数) / the vote tally")
async def vote(project_id: ProjectId, body: m.ProjectVote, cmd: Cmd) -> Response:
    tally = body.model_dump(include={"session", "yes", "no", "abstain", "present", "total_deputies"})
    return await cmd.step(LivelihoodProject, project_id, body, lambda p, by: p.vote(by, **tally), what="project_id")


@router.post(
    "/livelihood-projects/{project_id}/implementation", response_model=CommandResult, summary="政府办 / implementation starts"
)
async def implement(project_id: ProjectId, body: m.ProjectImplement, cmd: Cmd) -> Response:
    return await cmd.step(
        LivelihoodProject,
        project_id,
        body,
        lambda p, by: p.start_implementation(by, budget_wan=body.budget_wan, lead_unit=body.lead_unit),
        what="project_id",
    )


@router.post("/livelihood-projects/{project_id}/progress", response_model=CommandResult, summary="进度报告 / progress report")
async def progress(project_id: ProjectId, body: m.ProjectProgress, cmd: Cmd) -> Response:
    return await cmd.step(
        LivelihoodProject,
        project_id,
        body,
        lambda p, by: p.report_progress(
            by, progress=body.progress, spent_wan=body.spent_wan, note=body.note, overspend_reason=body.overspend_reason
        ),
        what="project_id",
    )


@router.post("/livelihood-projects/{project_id}/supervision", response_model=CommandResult, summary="人大督 / supervision")
async def supervise(project_id: ProjectId, body: m.ProjectSupervise, cmd: Cmd) -> Response:
    return await cmd.step(
        LivelihoodProject, project_id, body, lambda p, by: p.supervise(by, action=body.action, note=body.note), what="project_id"
    )


@router.post(
    "/livelihood-projects/{project_id}/evaluation", response_model=CommandResult, summary="代表评 / deputies' evaluation"
)
async def evaluate(project_id: ProjectId, body: m.ProjectEvaluate, cmd: Cmd) -> Response:
    counts = body.model_dump(include={"satisfied", "basically_satisfied", "dissatisfied"})
    return await cmd.step(LivelihoodProject, project_id, body, lambda p, by: p.evaluate(by, **counts), what="project_id")


@router.post("/livelihood-projects/{project_id}/close", response_model=CommandResult, summary="办结 / close")
async def close(project_id: ProjectId, body: m.Empty, cmd: Cmd) -> Response:
    return await cmd.step(LivelihoodProject, project_id, body, lambda p, by: p.close(by), what="project_id")


@router.post(
    "/livelihood-projects/{project_id}/corrections", response_model=CommandResult, summary="更正 / correct a recorded fact"
)
async def correct(project_id: ProjectId, body: m.ProjectCorrection, cmd: Cmd) -> Response:
    return await cmd.correct(LivelihoodProject, project_id, body, what="project_id")


@router.post("/livelihood-projects/{project_id}/voids", response_model=CommandResult, summary="作废 (登记有误) / void the record")
async def void(project_id: ProjectId, body: m.Void, cmd: Cmd) -> Response:
    return await cmd.void(LivelihoodProject, project_id, body, what="project_id")
