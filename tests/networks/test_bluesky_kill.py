"""Kill test against the REAL local Bluesky network: ``ardoise worker`` is SIGKILLed while it publishes, a
new one is started, and every post ends up on the network exactly once.

Five posts, created one at a time, one Bluesky delivery each. For each, the test waits until the
delivery's job is claimed (committed before the task runs; ``deliver`` itself writes nothing before its network
call, its idempotency key being fixed with the delivery), waits
0, 20, 50, 100 or 200 ms and SIGKILLs the worker, then starts a new one and waits until it has finished
the job (it gets it back when the lease expires). The next post goes to that worker, already up and
holding a session, so its first attempt reaches ``createRecord`` within milliseconds, as in production:
the kills land before ``createRecord``, after it, or after the delivery was recorded. The record key
derived from the idempotency key makes a retry find the earlier record (``find_existing``, or the
"already exists" collision) instead of posting a second one.

Which kills landed after the record was created is read from the record itself: its ``createdAt`` is set
by the worker just before ``createRecord``, so a record older than the kill was made by the killed
attempt (the retry found it), a newer one by the retry (the kill came first). Printed, not asserted: the
timing depends on the machine. Run with ``-s`` to see it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app import migrate
from app.accounts.service import link
from app.config import Settings
from app.models import Delivery, Job, JobState, Post
from app.networks.bluesky.records import record_key_for
from app.runtime import Runtime
from tests.helpers import make_business
from tests.support.worker import start_worker, stop, wait_for

if TYPE_CHECKING:
    from tests.bsky_support import BskyNet

DELAYS_MS = (0, 20, 50, 100, 200)  # one post per delay: the kill lands at a different moment each time
LEASE_SECONDS = 5  # the smallest lease Settings accepts (job_lease_seconds >= 5)
WORKER_START = 90.0  # seconds for a worker to start and take the next delivery (2 busy cores)
RETRY_PUBLISHED = 120.0  # a new worker starts, the killed job's lease expires, the retry publishes


@pytest.fixture
def settings(tmp_path: Path, make_settings: Callable[..., Settings]) -> Settings:
    """A migrated SQLite file of our own and a secret key of our own: the worker gets the same ones by env."""
    path = tmp_path / "kill.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return make_settings(url, secret_key="bsky-kill-" + uuid.uuid4().hex)


def _start_worker(rt: Runtime, workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    return start_worker(
        rt,
        workdir,
        log,
        ARDOISE_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        ARDOISE_WORKER_POLL_INTERVAL="0.05",
        ARDOISE_WORKER_CONCURRENCY="1",
        ARDOISE_JOB_BACKOFF_BASE="1",
    )


async def _bsky_deliveries(rt: Runtime) -> list[Delivery]:
    async with rt.db.read() as s:
        rows = await s.execute(select(Delivery).where(col(Delivery.network) == "bluesky").order_by(col(Delivery.id)))
        return list(rows.scalars().all())


async def _bsky_delivery_of(rt: Runtime, post_id: int) -> int:
    async with rt.db.read() as s:
        ids = (
            await s.execute(
                select(col(Delivery.id)).where(col(Delivery.post_id) == post_id, col(Delivery.network) == "bluesky")
            )
        ).scalars()
        return int(next(iter(ids)) or 0)


async def _delivery(rt: Runtime, delivery_id: int) -> Delivery:
    async with rt.db.read() as s:
        d = await s.get(Delivery, delivery_id)
    assert d is not None
    return d


@dataclass
class Kill:
    delay_ms: int
    target: int  # the delivery whose first attempt the kill aimed at
    at: datetime  # taken once the killed worker is gone: anything it stamped is older
    in_flight: int | None  # the Bluesky delivery the killed worker was running, if any
    already_published: bool  # that delivery was recorded as published before the kill
    reached: float  # seconds from creating the post to its first attempt being committed


async def _snapshot(rt: Runtime, pid: int, delay_ms: int, target: int, reached: float) -> Kill:
    at = datetime.now(UTC)
    async with rt.db.read() as s:
        jobs = (
            (
                await s.execute(
                    select(Job).where(
                        col(Job.state) == JobState.running.value,
                        col(Job.kind) == "posts.deliver",
                        col(Job.locked_by).like(f"%:{pid}:%"),  # worker ids are host:pid:random
                    )
                )
            )
            .scalars()
            .all()
        )
    bsky_ids = {int(d.id or 0) for d in await _bsky_deliveries(rt)}
    held = [i for i in (int(str(j.payload.get("delivery_id"))) for j in jobs) if i in bsky_ids]
    assert len(held) <= 1, f"concurrency 1, yet the killed worker held {held}"
    in_flight = held[0] if held else None
    published = in_flight is not None and (await _delivery(rt, in_flight)).status == "published"
    return Kill(delay_ms, target, at, in_flight, published, reached)


def _created_at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["value"]["createdAt"]).replace("Z", "+00:00"))


@pytest.mark.bsky
@pytest.mark.slow
async def test_worker_killed_while_publishing_to_bluesky_posts_each_text_exactly_once(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], bsky_net: BskyNet, tmp_path: Path
) -> None:
    account = bsky_net.create_account("kill")
    biz, _ = await make_business(client, auth, slug="killbsky")
    async with rt.db.write() as s:
        await link(
            s,
            business_id=biz["id"],
            network="bluesky",
            handle=account.handle,
            credentials={"handle": account.handle, "app_password": account.app_password, "pds_url": bsky_net.pds},
            settings={},
            vault=rt.vault,
            actor="test",
        )
    token = uuid.uuid4().hex[:6]
    texts = [f"Fournée n°{i + 1} ({token}) : croissants aux amandes tout chauds 🥐 #boulangerie" for i in DELAYS_MS]

    log = tmp_path / "worker.log"
    procs: list[subprocess.Popen[bytes]] = []
    kills: list[Kill] = []
    targets: list[int] = []
    started = time.monotonic()
    try:
        procs.append(_start_worker(rt, tmp_path, log))
        for text, delay_ms in zip(texts, DELAYS_MS, strict=True):
            # One post at a time, handed to a worker that has already published (but for the first one):
            # its first attempt goes straight to createRecord, as in production, not through cold imports.
            r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": text})
            assert r.status_code == 202, r.text
            assert sorted(d["network"] for d in r.json()["deliveries"]) == ["bluesky", "page"]
            target = await _bsky_delivery_of(rt, int(r.json()["id"]))
            targets.append(target)
            proc = procs[-1]
            posted = time.monotonic()

            async def attempt_started(target: int = target) -> bool:
                async with rt.db.read() as s:
                    job = (
                        await s.execute(select(Job).where(col(Job.dedup_key) == f"deliver:{target}"))
                    ).scalar_one_or_none()
                return job is not None and job.state == JobState.running.value and job.attempts >= 1

            await wait_for(attempt_started, f"delivery {target} to start", log, WORKER_START, proc, 0.005)
            reached = time.monotonic() - posted
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)  # the only sleep: where in the delivery the kill lands
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
            kills.append(await _snapshot(rt, proc.pid, delay_ms, target, reached))

            procs.append(_start_worker(rt, tmp_path, log))

            async def published(target: int = target) -> bool:
                # The job done, not only the delivery: the new worker has started and run it (even when the
                # kill came after the publish was recorded), so the next post goes to a worker already up.
                async with rt.db.read() as s:
                    job = (await s.execute(select(Job).where(col(Job.dedup_key) == f"deliver:{target}"))).scalar_one()
                return job.state == JobState.done.value and (await _delivery(rt, target)).status == "published"

            await wait_for(published, f"delivery {target} to be published", log, RETRY_PUBLISHED, procs[-1], 0.05)
    finally:
        for p in procs:
            stop(p)
    elapsed = time.monotonic() - started

    # On the network: each text exactly once, and nothing else.
    records = bsky_net.list_records(account.did)
    seen = [str(r["value"]["text"]) for r in records]
    for text in texts:
        assert seen.count(text) == 1, f"{seen.count(text)} records for {text!r}: {seen}"
    assert len(records) == len(texts), seen
    by_uri = {str(r["uri"]): r for r in records}

    # In the database: each delivery points at its record, whose key came from the idempotency key.
    deliveries = await _bsky_deliveries(rt)
    async with rt.db.read() as s:
        all_posts = (await s.execute(select(Post))).scalars().all()
        texts_by_post = {p.id: p.text for p in all_posts}
        made_at = {p.id: p.created_at for p in all_posts}
        for d in deliveries:
            job = (await s.execute(select(Job).where(col(Job.dedup_key) == f"deliver:{d.id}"))).scalar_one()
            assert job.state == JobState.done.value, (d.id, job.state, job.last_error)
    for d in deliveries:
        assert d.status == "published"
        assert d.remote_id is not None
        assert d.remote_id in by_uri, f"delivery {d.id}: {d.remote_id} is not on the network"
        assert by_uri[d.remote_id]["value"]["text"] == texts_by_post[d.post_id]
        rkey = record_key_for(d.idempotency_key, made_at[d.post_id])
        assert d.remote_id == f"at://{account.did}/app.bsky.feed.post/{rkey}"

    # Which side of createRecord each kill landed on.
    interrupted = [k for k in kills if k.in_flight is not None and not k.already_published]
    assert interrupted, f"no kill landed during a Bluesky delivery: {kills}"
    found, recreated = 0, 0
    lines = []
    for k in kills:
        if k.in_flight is None:
            verdict = "no Bluesky delivery in flight (the kill came between jobs)"
        elif k.already_published:
            verdict = f"delivery {k.in_flight} already recorded as published"
        else:
            d = next(x for x in deliveries if x.id == k.in_flight)
            async with rt.db.read() as s:
                runs = (
                    await s.execute(select(col(Job.attempts)).where(col(Job.dedup_key) == f"deliver:{d.id}"))
                ).scalar_one()
            assert runs >= 2, f"delivery {d.id} was interrupted yet its job ran {runs} time(s)"
            assert d.remote_id is not None
            if _created_at(by_uri[d.remote_id]) < k.at:
                found += 1
                verdict = f"delivery {d.id}: record created BEFORE the kill, the retry found it"
            else:
                recreated += 1
                verdict = f"delivery {d.id}: kill BEFORE the record was created, the retry created it"
        lines.append(
            f"  +{k.delay_ms:>3} ms after attempt 1 of delivery {k.target} "
            f"(started {k.reached:.2f} s after posting): {verdict}"
        )
    print(  # noqa: T201 -- the kill statistics are the point of running it with -s
        f"\nbluesky kill test: {len(kills)} kills, {elapsed:.1f} s, "
        f"{len(records)} records for {len(texts)} posts\n"
        + "\n".join(lines)
        + f"\n  after the record was created: {found}; before it: {recreated}; "
        f"outside a delivery: {len(kills) - found - recreated}"
    )
