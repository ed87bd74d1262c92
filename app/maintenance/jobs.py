"""Jobs for the operator: list them, and put dead ones back in the queue once their cause is fixed."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.kit.time import utcnow
from app.models import Business, Job, JobState


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
    where = [col(Job.state) == JobState.dead.value]
    if ids:
        where.append(col(Job.id).in_(ids))
    if kind:
        where.append(col(Job.kind) == kind)
    done: list[int] = [
        i
        for i in (
            await session.execute(
                update(Job)
                .where(*where)
                .values(
                    state=JobState.queued.value,
                    attempts=0,
                    run_at=utcnow(),
                    finished_at=None,
                    locked_until=None,
                    locked_by=None,
                )
                .returning(col(Job.id))
            )
        ).scalars()
        if i is not None
    ]
    if done:
        await audit.record(
            session, actor=actor, action="jobs.retry", target=",".join(map(str, done))[:128], detail=kind or ""
        )
    return sorted(done)
