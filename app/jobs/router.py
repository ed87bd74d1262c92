from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.deps import Id, PageDep, PrincipalDep, SessionDep
from app.jobs import service as job_service
from app.models import Job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobRead(BaseModel):
    id: int
    kind: str
    state: str
    attempts: int
    max_attempts: int
    run_at: datetime
    last_error: str | None
    business_id: int | None
    created_at: datetime
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[JobRead]
    next_cursor: str | None = None


def to_read(j: Job) -> JobRead:
    return JobRead(
        id=j.id or 0,
        kind=j.kind,
        state=j.state,
        attempts=j.attempts,
        max_attempts=j.max_attempts,
        run_at=j.run_at,
        last_error=j.last_error,
        business_id=j.business_id,
        created_at=j.created_at,
        finished_at=j.finished_at,
    )


@router.get("", response_model=JobList)
async def list_jobs(
    session: SessionDep,
    who: PrincipalDep,
    page: PageDep,
    state: Annotated[Literal["queued", "running", "done", "dead"] | None, Query()] = None,
) -> JobList:
    rows = await job_service.list_jobs(
        session, business_id=who.business_id, state=state, limit=page.limit, before_id=page.before_id
    )
    return JobList(
        items=[to_read(j) for j in rows],
        next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit),
    )


@router.post("/{job_id}/retry", response_model=JobRead)
async def retry_job(job_id: Id, session: SessionDep, who: PrincipalDep) -> JobRead:
    """Send a dead job back to the queue, due now, with a fresh set of attempts. 409 if it is not dead."""
    job = await job_service.visible(session, job_id=job_id, business_id=who.business_id)
    await job_service.retry(session, job=job, actor=who.actor)
    await session.refresh(job)
    return to_read(job)
