from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from app.deps import PageDep, PrincipalDep, SessionDep
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


@router.get("", response_model=JobList)
async def list_jobs(
    session: SessionDep,
    who: PrincipalDep,
    page: PageDep,
    state: Annotated[Literal["queued", "running", "done", "dead"] | None, Query()] = None,
) -> JobList:
    q = select(Job).order_by(col(Job.id).desc()).limit(page.limit)
    if state:
        q = q.where(col(Job.state) == state)
    if who.business_id is not None:
        q = q.where(col(Job.business_id) == who.business_id)
    if page.before_id is not None:
        q = q.where(col(Job.id) < page.before_id)
    rows = list((await session.execute(q)).scalars())
    items = [
        JobRead(
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
        for j in rows
    ]
    return JobList(items=items, next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit))
