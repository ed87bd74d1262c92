from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.db import URGENT, Database, PriorityLock


async def test_priority_lock_serves_urgent_waiters_first_and_fifo_within_a_class() -> None:
    lock = PriorityLock()
    order: list[str] = []
    await lock.acquire(urgent=False)  # held by a worker transaction

    async def take(name: str, urgent: bool) -> None:
        async with lock.hold(urgent):
            order.append(name)

    tasks = [asyncio.create_task(take(n, u)) for n, u in (("w1", False), ("r1", True), ("w2", False), ("r2", True))]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["r1", "r2", "w1", "w2"]


async def test_priority_lock_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = PriorityLock()
    await lock.acquire(urgent=False)
    waiter = asyncio.create_task(lock.acquire(urgent=True))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    lock.release()
    async with asyncio.timeout(1):
        await lock.acquire(urgent=False)  # free again
    lock.release()


@pytest.mark.postgres
async def test_background_work_leaves_half_the_postgres_pool_to_requests(pg_url: str) -> None:
    """The worker may run a hundred jobs at once: they hold at most half the pool, so a request (URGENT) still
    gets a connection at once; a background task's nested session does not wait for a second place."""
    db = Database(pg_url, pool_size=4)  # two places for background work
    try:
        inside, release = asyncio.Event(), asyncio.Event()
        holding = 0

        async def job() -> None:
            nonlocal holding
            async with db.read() as s:
                await s.execute(text("SELECT 1"))
                async with db.write() as nested:  # same task: no second place needed
                    await nested.execute(text("SELECT 1"))
                holding += 1
                if holding == 2:
                    inside.set()
                await release.wait()

        jobs = [asyncio.create_task(job()) for _ in range(5)]
        async with asyncio.timeout(10):
            await inside.wait()
        await asyncio.sleep(0.05)
        assert holding == 2  # the other three wait for a place

        async def request() -> int:
            URGENT.set(True)
            async with db.write() as s:
                return int((await s.execute(text("SELECT 41 + 1"))).scalar_one())

        async with asyncio.timeout(5):
            assert await asyncio.create_task(request()) == 42
        release.set()
        async with asyncio.timeout(10):
            await asyncio.gather(*jobs)
        assert holding == 5
    finally:
        await db.dispose()
