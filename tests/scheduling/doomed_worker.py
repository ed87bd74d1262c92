"""A worker that dies at the scheduled minute, run as its own process by test_exactly_once.py.

It claims the ``scheduling.publish`` job with the real queue code and runs the real publication
(``app.scheduling.service.publish_due``), then stops where the test wants it killed, prints ``READY`` and waits for
the SIGKILL:

- ``mid``: inside the publication's write transaction, before the commit (everything it did is lost);
- ``committed``: after the commit, before the job is marked done (the job will run again).

Usage: ``python -m tests.scheduling.doomed_worker mid|committed`` with the ``ARDOISE_*`` environment of a worker.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from app.config import get_settings
from app.runtime import build_runtime
from app.scheduling import service as schedule_service
from app.scheduling.service import JOB_KIND
from app.worker import queue


def _ready() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()


async def main(mode: str) -> None:
    rt = build_runtime(get_settings())
    jobs = await queue.claim(rt.db, "doomed", 10, timedelta(seconds=3))
    [job] = [j for j in jobs if j.kind == JOB_KIND]
    post_id = int(job.payload["post_id"])
    async with rt.db.write() as s:
        note = await schedule_service.publish_due(s, post_id=post_id, receipt_deadline=60)
        assert note.endswith("published"), note
        if mode == "mid":
            await s.flush()
            _ready()
            await asyncio.Event().wait()  # the SIGKILL comes here, the transaction still open
    _ready()
    await asyncio.Event().wait()  # committed; the job stays "running" under our lease until the SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
