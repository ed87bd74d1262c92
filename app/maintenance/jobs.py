"""Jobs for the operator: list them, and put dead ones back in the queue once their cause is fixed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.models import Business, Job
from app.worker import queue


async def list_jobs(
    session: AsyncSession, *, state: str | None = None, kind: str | None = None, limit: int = 50
) -> list[tuple[Job, str | None]]:
    """The newest jobs first, with their business's slug (None: a job of no business)."""
    q = (
        select(Job, col(Business.slug))
        .join(Business, col(Business.id) == col(Job.business_id), isouter=True)
        .order_by(col(Job.id).desc())
        .limit(limit)
    )
    if state:
        q = q.where(col(Job.state) == state)
    if kind:
        q = q.where(col(Job.kind) == kind)
    return [(job, slug) for job, slug in (await session.execute(q)).all()]


async def retry_dead(
    session: AsyncSession, *, ids: list[int] | None = None, kind: str | None = None, actor: str = "cli"
) -> list[int]:
    """Re-queue dead jobs (the given ids, else every dead job, of ``kind`` if given) with a fresh set of
    attempts, due now. Jobs that are not dead are left alone. Returns the ids re-queued."""
    done = await queue.requeue_dead(session, ids=ids or None, kind=kind)
    if done:
        await audit.record(
            session, actor=actor, action="jobs.retry", target=",".join(map(str, done))[:128], detail=kind or ""
        )
    return done
