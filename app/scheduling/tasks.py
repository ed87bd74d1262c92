"""The job that publishes a scheduled post when its time comes (``scheduling.publish``)."""

from __future__ import annotations

import structlog

from app.runtime import Runtime
from app.scheduling import service as schedule_service
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.scheduling")


async def publish(rt: Runtime, job: JobInfo) -> None:
    """Publish the post once, in one transaction with its deliveries (see app/scheduling/service.py): a second run
    of this job, whatever the cause, finds the post no longer scheduled and does nothing."""
    post_id = int(job.payload["post_id"])
    async with rt.db.write() as s:
        note = await schedule_service.publish_due(
            s,
            post_id=post_id,
            receipt_deadline=rt.settings.receipt_deadline_seconds,
            public_url=rt.settings.public_url,
        )
    log.info("scheduled.publish", post_id=post_id, note=note, attempt=job.attempt)
