"""THE acceptance test of the job engine: a real ``ardoise worker`` process is SIGKILLed in the middle of a
delivery, a new one is started, and the delivery completes exactly once.

"In the middle" is made deterministic without mocks: the Mastodon account points at a real loopback
server (tests/worker/mastodon_stub.py) whose first ``POST /api/v1/statuses`` blocks until the test has
killed the worker. Then the request goes through: the network *has* the status, but the worker died before
recording it. The restarted worker must not make a second one.

On SQLite the restarted delivery finds the status in the account's timeline (``find_existing``); on
PostgreSQL the stub hides its timeline (a lagging instance), so only the ``Idempotency-Key`` sent again
with the retry keeps the status single.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import Delivery, Job
from app.runtime import Runtime
from tests.conftest import BOTH_BACKENDS
from tests.helpers import link_mastodon, make_business
from tests.support.worker import start_worker, stop, tail, wait_for
from tests.worker.mastodon_stub import MastodonStub, running_stub

TEXT = "Soupe à l'oignon gratinée ce midi, 9 $"


async def _mastodon_delivery(rt: Runtime) -> Delivery:
    async with rt.db.read() as s:
        d = (await s.execute(select(Delivery).where(col(Delivery.network) == "mastodon"))).scalar_one()
    return d


@pytest.mark.slow
@BOTH_BACKENDS
async def test_worker_killed_mid_delivery_publishes_exactly_once_after_restart(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], backend: str, tmp_path: Path
) -> None:
    stub = MastodonStub(block_first_status=True, list_statuses=backend == "sqlite")
    log = tmp_path / "worker.log"
    procs: list[subprocess.Popen[bytes]] = []
    with running_stub(stub):
        biz, _ = await make_business(client, auth, slug="kill")
        async with rt.db.write() as s:
            await link_mastodon(s, rt, biz["id"], stub.credentials())
        r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": TEXT})
        assert r.status_code == 202, r.text
        assert sorted(d["network"] for d in r.json()["deliveries"]) == ["mastodon", "page"]
        try:
            procs.append(start_worker(rt, tmp_path, log))
            arrived = await asyncio.to_thread(stub.arrived.wait, 90)
            assert arrived, "the worker never called Mastodon; log:\n" + tail(log)
            assert procs[0].poll() is None
            procs[0].send_signal(signal.SIGKILL)
            assert procs[0].wait(10) == -signal.SIGKILL

            # The network now accepts the request its client died waiting for.
            stub.release.set()
            assert await asyncio.to_thread(stub.created.wait, 30)
            assert stub.creations == 1
            d = await _mastodon_delivery(rt)
            assert (d.status, d.remote_id) == ("pending", None), "the kill did not land mid-delivery"
            async with rt.db.read() as s:
                job = (await s.execute(select(Job).where(col(Job.dedup_key) == f"deliver:{d.id}"))).scalar_one()
            assert job.state == "running"
            assert job.attempts == 1

            procs.append(start_worker(rt, tmp_path, log))

            async def published() -> bool:
                return (await _mastodon_delivery(rt)).status == "published"

            await wait_for(published, "the mastodon delivery to be published", log, within=90)

            async def job_done() -> bool:  # the job is marked done just after the delivery row
                d = await _mastodon_delivery(rt)
                async with rt.db.read() as s:
                    q = select(Job).where(col(Job.dedup_key) == f"deliver:{d.id}")
                    return (await s.execute(q)).scalar_one().state == "done"

            await wait_for(job_done, "the delivery job to be done", log, within=30)
        finally:
            for p in procs:
                stop(p)

        assert stub.creations == 1, f"{stub.creations} statuses on the network"
        d = await _mastodon_delivery(rt)
        assert d.remote_id == stub.statuses[0]["id"]
        assert d.remote_url == stub.statuses[0]["url"]
        if backend == "sqlite":
            assert stub.status_requests == 1, "the retry should have found the status instead of posting again"
        else:
            assert stub.status_requests == 2
            assert stub.idempotent_replays == 1
            assert len(set(stub.keys_seen)) == 1, "the retry used another Idempotency-Key"
        async with rt.db.read() as s:
            job = (await s.execute(select(Job).where(col(Job.dedup_key) == f"deliver:{d.id}"))).scalar_one()
        assert job.state == "done"

    posts = (await client.get(f"/api/v1/businesses/{biz['id']}/posts", headers=auth)).json()["items"]
    assert len(posts) == 1
    assert posts[0]["status"] == "published"
    assert sorted((x["network"], x["status"]) for x in posts[0]["deliveries"]) == [
        ("mastodon", "published"),
        ("page", "published"),
    ]
    page = await client.get("/b/kill")
    assert page.status_code == 200
    assert page.text.count("<article") == 1
    assert page.text.count(f"<p>{TEXT.replace(chr(39), '&#39;')}</p>") == 1
