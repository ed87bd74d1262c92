"""A scheduled post goes out exactly once when the worker that runs it is SIGKILLed at the scheduled minute, on
SQLite and PostgreSQL.

"At the scheduled minute" is made deterministic without mocks: a worker process of our own
(tests/scheduling/doomed_worker.py) claims the post's ``scheduling.publish`` job with the real queue code and runs the
real publication, then stops either inside its write transaction (``mid``: nothing committed) or just after the commit,
before the job is marked done (``committed``: the job will run a second time). It is SIGKILLed there. Then two real
``ardoise worker`` processes start at once (a restart, and several workers): the expired lease brings the job back, and
the post must be published once: one delivery, one page entry, one receipt, one ``Publié`` SMS.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from app.catalogue import t
from app.kit.time import utcnow
from app.models import Business, Delivery, Job, OutboundMessage, Post
from app.runtime import Runtime
from app.scheduling import service as schedule_service
from tests.conftest import BOTH_BACKENDS
from tests.helpers import make_business
from tests.support.worker import start_worker, stop, wait_for

TEXT = "Menu du jour : soupe à l'oignon, jarret d'agneau"
OURS = ("scheduling.publish", "posts.receipt")  # one each, once (the page and the console SMS need no job)


async def _count(rt: Runtime, model: type, *where: object) -> int:
    async with rt.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one())  # type: ignore[arg-type]


@pytest.mark.slow
@BOTH_BACKENDS
@pytest.mark.parametrize("moment", ["mid", "committed"])
async def test_a_worker_killed_at_the_scheduled_minute_publishes_once(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], backend: str, tmp_path: Path, moment: str
) -> None:
    b, member = await make_business(client, auth, slug="prog")
    async with rt.db.write() as s:
        biz = await s.get(Business, b["id"])
        assert biz is not None
        now_local = utcnow().astimezone(ZoneInfo(biz.timezone)).replace(tzinfo=None, microsecond=0)
        post = await schedule_service.create(
            s,
            biz=biz,
            local=now_local,  # this very minute: the job is due
            text=TEXT,
            media=[],
            source="sms",
            author_member_id=member["id"],
            source_message_id=None,
            actor="test",
        )
        post_id, number = post.id, post.number
    log = tmp_path / "worker.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        doomed = start_worker(rt, tmp_path, log, [sys.executable, "-m", "tests.scheduling.doomed_worker", moment])
        procs.append(doomed)

        async def ready() -> bool:
            assert doomed.poll() is None, log.read_text(errors="replace")[-3000:]
            return log.exists() and "READY" in log.read_text(errors="replace")

        await wait_for(ready, "the doomed worker to stop at its point", log, within=60)
        async with rt.db.read() as s:
            job = (await s.execute(select(Job).where(col(Job.kind) == "scheduling.publish"))).scalar_one()
            seen = await s.get(Post, post_id)
        assert seen is not None
        assert (job.state, job.locked_by, job.attempts) == ("running", "doomed", 1)
        # committed: the page was written with the post, in the publish job's transaction
        assert seen.status == ("scheduled" if moment == "mid" else "published")
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(10) == -signal.SIGKILL

        procs += [start_worker(rt, tmp_path, log), start_worker(rt, tmp_path, log)]

        async def receipt_sent() -> bool:
            return await _count(rt, OutboundMessage, col(OutboundMessage.kind) == "receipt") > 0

        await wait_for(receipt_sent, "the receipt of the scheduled post", log, within=90)

        async def jobs_done() -> bool:
            async with rt.db.read() as s:
                states = (await s.execute(select(col(Job.kind), col(Job.state)))).all()
            ours = [state for kind, state in states if kind in OURS]
            return len(ours) == len(OURS) and all(state == "done" for state in ours)

        await wait_for(jobs_done, "every job to be done", log, within=60)
    finally:
        for proc in procs:
            stop(proc)

    async with rt.db.read() as s:
        job = (await s.execute(select(Job).where(col(Job.kind) == "scheduling.publish"))).scalar_one()
        final = await s.get(Post, post_id)
        receipts = (
            (await s.execute(select(OutboundMessage).where(col(OutboundMessage.kind) == "receipt"))).scalars().all()
        )
    assert (job.state, job.attempts) == ("done", 2)  # the killed attempt, then one more
    assert final is not None
    assert (final.number, final.status) == (number, "published")
    assert await _count(rt, Delivery, col(Delivery.post_id) == post_id) == 1
    assert await _count(rt, Delivery, col(Delivery.post_id) == post_id, col(Delivery.status) == "published") == 1
    assert await _count(rt, Job, col(Job.kind) == "posts.deliver") == 0  # the page is written in place
    assert await _count(rt, Post) == 1
    assert [r.body for r in receipts] == [t("receipt", "fr", number=number, parts="Page OK")]
    page = (await client.get("/b/prog")).text
    assert page.count("<article") == 1
