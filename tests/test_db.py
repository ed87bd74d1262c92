from __future__ import annotations

import asyncio

from app.db import PriorityLock


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
