"""A worker process over one test task, run by test_kill_batch.py: ``t.effect`` writes one row per run in
``batch_effect`` (no unique key: a second run of a job leaves a second row) and marks its job done in that same
transaction (``JobInfo.complete_in``). It claims 32 jobs at a time, so a SIGKILL lands in the middle of a batch.

Usage: ``python -m tests.worker.batch_worker`` with ``ARDOISE_DATABASE_URL`` set.
"""

from __future__ import annotations

import asyncio
import os
import random

from sqlalchemy import text

from app.db import Database
from app.worker.runner import JobInfo, Runner


async def main() -> None:
    db = Database(os.environ["ARDOISE_DATABASE_URL"])

    async def effect(_deps: None, job: JobInfo) -> None:
        await asyncio.sleep(random.uniform(0.0, 0.3))  # the batch finishes over time, not all at once
        async with db.write() as s:
            await s.execute(
                text("INSERT INTO batch_effect (job_id, pid) VALUES (:j, :p)"), {"j": job.id, "p": os.getpid()}
            )
            await job.complete_in(s)

    runner: Runner[None] = Runner(
        db,
        {"t.effect": effect},
        None,
        concurrency=32,
        batch_size=32,
        poll_interval=0.1,
        lease_seconds=3,
        reaper_interval=0.5,
        worker_id=f"batch:{os.getpid()}",
    )
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main())
