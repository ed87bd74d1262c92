"""Two deliveries of one post finishing at the same moment on two workers (PostgreSQL, READ COMMITTED).

Found by the SIGKILL loop (test_scaleout.py): every delivery published, yet some posts stayed "publishing" for
ever. Each worker's final transaction (app/posts/tasks.py ``deliver``: mark its delivery published, then
``_after_change`` → ``post_service.refresh_status``) reads the post's deliveries before the other has committed,
so each sees the other one still pending: neither sets the post published nor sends the receipt (it then goes
out only at the deadline, 60 s by default). Here the two transactions are interleaved by hand, in the
same order two workers can run them, so the outcome is deterministic.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import migrate
from app.kit.time import utcnow
from app.models import Business, Delivery, Job, Member, OutboundMessage, Post
from app.posts import service as post_service
from app.posts.tasks import _after_change
from app.runtime import Runtime, build_runtime
from tests.resilience.cluster import create_database, drop_database, in_process_settings, seed_shops
from tests.resilience.mastodon_stub import FaultyMastodon

pytestmark = [pytest.mark.resilience, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
async def pg_rt() -> AsyncIterator[Runtime]:
    url = create_database()
    workdir = Path(tempfile.mkdtemp(prefix="ardoise-race-"))
    rt: Runtime | None = None
    try:
        migrate.upgrade(url)
        rt = build_runtime(in_process_settings(url, workdir))
        yield rt
    finally:
        if rt is not None:
            await rt.close()
        drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)


async def test_two_deliveries_finishing_at_once_leave_the_post_published(pg_rt: Runtime) -> None:
    rt = pg_rt
    business_id, post_id, delivery_ids = await _owner_post(rt, "Deux reseaux en meme temps")

    # Worker A (page) and worker B (Mastodon) run deliver()'s last transaction at the same time: both mark
    # their own delivery before either recomputes the post from all of them (the write-skew window). With the
    # post-row lock, the second recomputation waits for the first commit and sees both deliveries published.
    both_marked = asyncio.Event()
    marked = 0

    async def worker(delivery_id: int | None, remote_id: str) -> None:
        nonlocal marked
        async with rt.db.write() as s:
            post = await _mark(s, delivery_id, remote_id)
            marked += 1
            if marked == 2:
                both_marked.set()
            await asyncio.wait_for(both_marked.wait(), 30)
            await _after_change(rt, s, post)
            await s.flush()

    await asyncio.wait_for(
        asyncio.gather(worker(delivery_ids[0], "page-remote"), worker(delivery_ids[1], "masto-remote")), 60
    )

    async with rt.db.read() as s:
        statuses = [
            d.status for d in (await s.execute(select(Delivery).where(col(Delivery.post_id) == post_id))).scalars()
        ]
        post_status = (await s.execute(select(col(Post.status)).where(col(Post.id) == post_id))).scalar_one()
        receipt_job = (
            await s.execute(select(col(Job.state)).where(col(Job.dedup_key) == f"receipt:{post_id}"))
        ).scalar_one_or_none()
        receipts = await _receipts(s, business_id)
    assert statuses == ["published", "published"]
    assert post_status == "published", f"every delivery is published but the post says {post_status!r}"
    # The last transaction to finish wrote the receipt itself and dropped the job waiting for the deadline.
    assert receipt_job == "done", "every delivery is done but the receipt still waits for its deadline"
    assert receipts == 1


async def test_a_delivery_finishing_after_the_receipt_went_sends_no_second_one(pg_rt: Runtime) -> None:
    """Worker A has read the post (receipt not sent) and marked its delivery; meanwhile worker B finishes the last
    other delivery, sends the receipt and commits. A then takes the post's lock: it must read the post again, or
    its stale copy says "no receipt yet" and the owner gets two."""
    rt = pg_rt
    business_id, post_id, (page_id, masto_id) = await _owner_post(rt, "Le recu une seule fois")
    a_marked, b_done = asyncio.Event(), asyncio.Event()

    async def worker_a() -> None:  # a late re-run of the page delivery: its post copy is read before B commits
        async with rt.db.write() as s:
            post = await _mark(s, page_id, "page-again")
            a_marked.set()
            await asyncio.wait_for(b_done.wait(), 30)
            await _after_change(rt, s, post)

    async def worker_b() -> None:
        await asyncio.wait_for(a_marked.wait(), 30)
        async with rt.db.write() as s:
            await _after_change(rt, s, await _mark(s, masto_id, "masto-remote"))
        b_done.set()

    await asyncio.wait_for(asyncio.gather(worker_a(), worker_b()), 60)
    async with rt.db.read() as s:
        receipts = await _receipts(s, business_id)
        sent = (await s.execute(select(col(Post.receipt_sent)).where(col(Post.id) == post_id))).scalar_one()
    assert sent
    assert receipts == 1


async def _receipts(s: AsyncSession, business_id: int) -> int:
    """How many receipts the business's members were sent."""
    return int(
        (
            await s.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(col(OutboundMessage.kind) == "receipt", col(OutboundMessage.business_id) == business_id)
            )
        ).scalar_one()
    )


async def _owner_post(rt: Runtime, text: str) -> tuple[int, int, list[int]]:
    """A business with the page and a Mastodon account, and its owner's post: (business, post, [page delivery,
    Mastodon delivery]); the page's is already published (in place), Mastodon's pending."""
    (shop,) = await seed_shops(rt, FaultyMastodon(base_url="http://127.0.0.1:9"), 1, "shop")
    async with rt.db.write() as s:
        biz = await s.get(Business, shop.business_id)
        assert biz is not None
        owner = (await s.execute(select(Member).where(col(Member.business_id) == biz.id))).scalar_one()
        post, deliveries = await post_service.create(
            s, biz=biz, text=text, source="sms", actor="test", author_member_id=owner.id
        )
    ids = [d.id for d in deliveries if d.id is not None]
    assert len(ids) == 2  # the page and Mastodon
    assert post.id is not None
    return shop.business_id, post.id, ids


async def _mark(s: AsyncSession, delivery_id: int | None, remote_id: str) -> Post:
    """What deliver() does once the network said yes, before it recomputes the post: mark the delivery."""
    d = await s.get(Delivery, delivery_id)
    assert d is not None
    post = await s.get(Post, d.post_id)
    assert post is not None
    d.remote_id = remote_id
    d.status = "published"
    d.published_at = utcnow()
    d.updated_at = utcnow()
    s.add(d)
    await s.flush()
    return post
