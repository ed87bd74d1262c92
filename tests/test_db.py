from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

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


def _threads_of(db: Database) -> tuple[list[tuple[str, int]], object]:
    """Record, for every statement SQLite runs on ``db``'s connections, the statement and the thread it ran on."""
    import threading

    from sqlalchemy import event

    seen: list[tuple[str, int]] = []

    def on_connect(dbapi_conn: object, _record: object) -> None:
        raw = dbapi_conn.driver_connection._conn  # type: ignore[attr-defined]
        raw.set_trace_callback(lambda sql: seen.append((sql.split()[0].upper(), threading.get_ident())))

    event.listen(db.engine.sync_engine, "connect", on_connect)
    return seen, on_connect


async def test_sqlite_statements_that_cannot_wait_run_on_the_loop_thread_and_the_rest_off_it(tmp_path: Path) -> None:
    """Reads, and writes under a held write lock, run in place (no thread hand-off); BEGIN IMMEDIATE and COMMIT,
    which may wait for the lock or the disk, run on the connection's thread."""
    import threading

    db = Database(f"sqlite:///{tmp_path}/t.db")
    seen, _ = _threads_of(db)
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
        seen.clear()
        async with db.write() as s:
            await s.execute(text("INSERT INTO t VALUES (1)"))
            await s.execute(text("UPDATE t SET x = 2"))
        async with db.read() as s:
            assert (await s.execute(text("SELECT x FROM t"))).scalar_one() == 2
        loop_thread = threading.get_ident()
        where = {(verb, ident == loop_thread) for verb, ident in seen}
        assert ("INSERT", True) in where
        assert ("UPDATE", True) in where
        assert ("SELECT", True) in where
        assert ("BEGIN", False) in where  # BEGIN IMMEDIATE
        assert ("COMMIT", False) in where
        assert ("INSERT", False) not in where
        assert ("SELECT", False) not in where
    finally:
        await db.dispose()


async def test_sqlite_a_wait_for_another_process_s_write_lock_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    """Another process (here a plain sqlite3 connection) holds the write lock: a write transaction waiting for it,
    and a write attempted in a read session, wait on the connection's thread while the loop keeps running."""
    import sqlite3

    path = tmp_path / "t.db"
    db = Database(f"sqlite:///{path}")
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (7)")

        async def write() -> None:
            async with db.write() as s:
                await s.execute(text("INSERT INTO t VALUES (1)"))

        async def write_in_a_read_session() -> None:
            async with db.read() as s:
                await s.execute(text("DELETE FROM t WHERE x = 7"))

        waiting = [asyncio.create_task(write()), asyncio.create_task(write_in_a_read_session())]
        ticks = 0
        for _ in range(10):  # the loop is free while both wait for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 10
        assert not any(t.done() for t in waiting)
        async with db.read() as s:  # and a read goes through meanwhile (WAL: readers never wait)
            assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        other.execute("COMMIT")
        other.close()
        async with asyncio.timeout(10):
            await asyncio.gather(*waiting)
        async with db.read() as s:
            # the read session's DELETE went through, then was rolled back with the session, as reads are
            assert sorted((await s.execute(text("SELECT x FROM t"))).scalars()) == [1, 7]
    finally:
        await db.dispose()


async def test_sqlite_hand_offs_to_the_connection_thread_per_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read session makes no thread hand-off at all (a cursor's close included); a write transaction makes two:
    BEGIN IMMEDIATE and COMMIT."""
    import aiosqlite

    hand_offs: list[str] = []
    threaded = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hand_offs.append(str(args[0]).split()[0] if args else getattr(fn, "__name__", "?"))
        return await threaded(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    db = Database(f"sqlite:///{tmp_path}/t.db")
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
        async with db.read() as s:
            await s.execute(text("SELECT count(*) FROM t"))
            await s.execute(text("SELECT x FROM t"))
        assert hand_offs == []
        async with db.write() as s:
            await s.execute(text("INSERT INTO t VALUES (1)"))
            await s.execute(text("SELECT x FROM t"))
        assert hand_offs == ["BEGIN", "commit"]
    finally:
        await db.dispose()


async def test_sqlite_many_concurrent_reads_share_one_connection(tmp_path: Path) -> None:
    """A read session neither waits on its connection nor holds it past its block (closed in place): fifty jobs
    reading at once open no new connection (SQLAlchemy's own exit held each connection across a hand-over of the
    loop, and a burst opened and closed dozens)."""
    from sqlalchemy import event

    db = Database(f"sqlite:///{tmp_path}/t.db")
    opened = 0
    in_use = most = 0

    def on_connect(*_a: object) -> None:
        nonlocal opened
        opened += 1

    def on_checkout(*_a: object) -> None:
        nonlocal in_use, most
        in_use += 1
        most = max(most, in_use)

    def on_checkin(*_a: object) -> None:
        nonlocal in_use
        in_use -= 1

    try:
        async with db.read() as s:
            await s.execute(text("SELECT 1"))
        event.listen(db.engine.sync_engine.pool, "connect", on_connect)
        event.listen(db.engine.sync_engine.pool, "checkout", on_checkout)
        event.listen(db.engine.sync_engine.pool, "checkin", on_checkin)

        async def job() -> None:
            await asyncio.sleep(0)
            async with db.read() as s:
                await s.execute(text("SELECT 1"))

        await asyncio.gather(*(job() for _ in range(50)))
        assert opened == 0
        assert most == 1
    finally:
        await db.dispose()
