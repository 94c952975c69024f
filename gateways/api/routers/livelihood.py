"""Commands on livelihood projects voted by deputies (民生实事代表票决制), through every step."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from domain.livelihood import LivelihoodProject
from gateways.api import models as m
from gateways.api.context import Command, CommandResult, writer
from gateways.api.errors import responses

router = APIRouter(
    prefix="/nodes/{code}", tags=["民生实事 livelihood projects"], responses=responses(400, 401, 403, 404, 409, 422)
)
Cmd = Annotated[Command, Depends(writer)]
ProjectId = Annotated[UUID, Path(description="项目 id")]


def _project(c: Command, project_id: UUID) -> LivelihoodProject:
    return c.load(LivelihoodProject, project_id, what="project_id")  # type: ignore[no-any-return]


@router.post("/livelihood-projects", status_code=201, response_model=CommandResult, summary="群众提 / propose a project")
def propose(body: m.ProjectPropose, cmd: Cmd) -> JSONResponse:
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

    return cmd.run(body, act, creating=True, fields=set(m.ProjectPropose.model_fields))


@router.post("/livelihood-projects/{project_id}/candidate", response_model=CommandResult, summary="征集初定 / list as candidate")
def list_candidate(project_id: ProjectId, body: m.ProjectList, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.list_as_candidate(c.by(body.occurred_at), estimate_wan=body.estimate_wan)
        return p

    return cmd.run(body, act, fields=set(m.ProjectList.model_fields))


@router.post("/livelihood-projects/{project_id}/deliberation", response_model=CommandResult, summary="代表议 / deliberation")
def deliberate(project_id: ProjectId, body: m.ProjectDeliberate, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.deliberate(c.by(body.occurred_at), deputies_present=body.deputies_present, opinions=body.opinions)
        return p

    return cmd.run(body, act, fields=set(m.ProjectDeliberate.model_fields))


@router.post("/livelihood-projects/{project_id}/vote", response_model=CommandResult, summary="大会决 (票数) / the vote tally")
def vote(project_id: ProjectId, body: m.ProjectVote, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.vote(
            c.by(body.occurred_at),
            session=body.session,
            yes=body.yes,
            no=body.no,
            abstain=body.abstain,
            present=body.present,
            total_deputies=body.total_deputies,
        )
        return p

    return cmd.run(body, act, fields=set(m.ProjectVote.model_fields))


@router.post(
    "/livelihood-projects/{project_id}/implementation", response_model=CommandResult, summary="政府办 / implementation starts"
)
def implement(project_id: ProjectId, body: m.ProjectImplement, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.start_implementation(c.by(body.occurred_at), budget_wan=body.budget_wan, lead_unit=body.lead_unit)
        return p

    return cmd.run(body, act, fields=set(m.ProjectImplement.model_fields))


@router.post("/livelihood-projects/{project_id}/progress", response_model=CommandResult, summary="进度报告 / progress report")
def progress(project_id: ProjectId, body: m.ProjectProgress, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.report_progress(c.by(body.occurred_at), progress=body.progress, spent_wan=body.spent_wan, note=body.note)
        return p

    return cmd.run(body, act, fields=set(m.ProjectProgress.model_fields))


@router.post("/livelihood-projects/{project_id}/supervision", response_model=CommandResult, summary="人大督 / supervision")
def supervise(project_id: ProjectId, body: m.ProjectSupervise, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.supervise(c.by(body.occurred_at), action=body.action, note=body.note)
        return p

    return cmd.run(body, act, fields=set(m.ProjectSupervise.model_fields))


@router.post(
    "/livelihood-projects/{project_id}/evaluation", response_model=CommandResult, summary="代表评 / deputies' evaluation"
)
def evaluate(project_id: ProjectId, body: m.ProjectEvaluate, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.evaluate(
            c.by(body.occurred_at),
            satisfied=body.satisfied,
            basically_satisfied=body.basically_satisfied,
            dissatisfied=body.dissatisfied,
        )
        return p

    return cmd.run(body, act, fields=set(m.ProjectEvaluate.model_fields))


@router.post("/livelihood-projects/{project_id}/close", response_model=CommandResult, summary="办结 / close")
def close(project_id: ProjectId, body: m.Empty, cmd: Cmd) -> JSONResponse:
    def act(c: Command) -> LivelihoodProject:
        p = _project(c, project_id)
        p.close(c.by(body.occurred_at))
        return p

    return cmd.run(body, act)
