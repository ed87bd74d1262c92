"""Jobs as the operator sees them: list, and send a dead job back to the queue. Services never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.errors import Conflict, NotFound
from app.models import Job
from app.worker import queue


async def list_jobs(
    session: AsyncSession, *, business_id: int | None, state: str | None, limit: int, before_id: int | None = None
) -> list[Job]:
    """Newest first. ``business_id`` None: every job (operator); otherwise only that business's jobs."""
    q = select(Job).order_by(col(Job.id).desc()).limit(limit)
    if state:
        q = q.where(col(Job.state) == state)
    if business_id is not None:
        q = q.where(col(Job.business_id) == business_id)
    if before_id is not None:
        q = q.where(col(Job.id) < before_id)
    return list((await session.execute(q)).scalars())


async def visible(session: AsyncSession, *, job_id: int, business_id: int | None) -> Job:
    """The job, if a key scoped to ``business_id`` (None: operator) may see it; otherwise NotFound."""
    job = await session.get(Job, job_id)
    if job is None or (business_id is not None and job.business_id != business_id):
        raise NotFound(f"no job {job_id}")
    return job


async def retry(session: AsyncSession, *, job: Job, actor: str) -> None:
    """Send a dead job back to the queue (:func:`app.worker.queue.requeue_dead`) and audit it. A job that is
    not dead is a Conflict: a queued or running one is already on its way, a done one must not run twice."""
    assert job.id is not None
    if not await queue.requeue_dead(session, ids=[job.id]):
        raise Conflict(f"job {job.id} is {job.state}, not dead")
    await audit.record(
        session, actor=actor, action="job.retry", business_id=job.business_id, target=f"job:{job.id}", detail=job.kind
    )
