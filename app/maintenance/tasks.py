from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col

from app.kit.time import utcnow
from app.models import Job, JobState, PendingAction
from app.runtime import Runtime
from app.worker.runner import JobInfo


async def prune_jobs(rt: Runtime, job: JobInfo) -> None:
    """Delete finished jobs after 7 days (dead ones stay for the operator) and expired pending actions."""
    async with rt.db.write() as s:
        await s.execute(
            delete(Job).where(
                col(Job.state) == JobState.done.value, col(Job.finished_at) < utcnow() - timedelta(days=7)
            )
        )
        await s.execute(delete(PendingAction).where(col(PendingAction.expires_at) < utcnow() - timedelta(days=1)))
