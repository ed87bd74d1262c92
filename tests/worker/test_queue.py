"""The job engine on both backends: transactional enqueue, dedup keys, leases, the reaper, retries with
backoff, dead jobs, graceful release and periodic slot keys. The clock is frozen with ``set_clock``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.config import Settings
from app.db import Database
from app.kit.errors import PermanentError, RetryableError
from app.kit.time import utcnow
from app.lanes import network_lane
from app.models import Job
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import JobInfo, Runner
from app.worker.schedule import Periodic, tick
from tests.conftest import BOTH_BACKENDS
from tests.support.clock import Clock

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def clock_start() -> datetime:
    return T0


TaskFn = Callable[[Any, JobInfo], Awaitable[None]]


def make(rt: Runtime, tasks: dict[str, TaskFn], **kwargs: Any) -> Runner[list[JobInfo]]:
    """A runner over ``tasks`` whose dependency is a list of the jobs that ran."""
    seen: list[JobInfo] = []
    kwargs.setdefault("lease_seconds", int(LEASE.total_seconds()))
    kwargs.setdefault("poll_interval", 0.02)
    return Runner(rt.db, tasks, seen, worker_id="test-worker", **kwargs)


async def record(deps: list[JobInfo], job: JobInfo) -> None:
    deps.append(job)


async def add(rt: Runtime, kind: str = "t.record", **kwargs: Any) -> int:
    async with rt.db.write() as s:
        job_id = await queue.enqueue(s, kind, {"n": 1}, **kwargs)
    assert job_id is not None
    return job_id


async def get_job(rt: Runtime, job_id: int) -> Job:
    async with rt.db.read() as s:
        job = await s.get(Job, job_id)
    assert job is not None
    return job


async def jobs_where(rt: Runtime, *conds: Any) -> list[Job]:
    async with rt.db.read() as s:
        return list((await s.execute(select(Job).where(*conds).order_by(col(Job.id)))).scalars())


# --- enqueue ----------------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_enqueue_with_the_same_dedup_key_twice_is_a_noop(rt: Runtime) -> None:
    async with rt.db.write() as s:
        first = await queue.enqueue(s, "t.record", {"n": 1}, dedup_key="once:1")
        second = await queue.enqueue(s, "t.record", {"n": 2}, dedup_key="once:1")
    async with rt.db.write() as s:  # and in a later transaction too
        third = await queue.enqueue(s, "t.record", {"n": 3}, dedup_key="once:1")
    assert first is not None
    assert second is None
    assert third is None
    rows = await jobs_where(rt, col(Job.dedup_key) == "once:1")
    assert [(j.id, j.payload) for j in rows] == [(first, {"n": 1})]
    runner = make(rt, {"t.record": record})
    assert await runner.run_until_idle() == 1
    assert [j.payload for j in runner.deps] == [{"n": 1}]


@BOTH_BACKENDS
async def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(rt: Runtime) -> None:
    async def write_then_fail() -> None:
        async with rt.db.write() as s:
            await queue.enqueue(s, "t.record", {"n": 1}, dedup_key="rolled-back")
            raise RuntimeError("domain write failed")

    with pytest.raises(RuntimeError, match="domain write failed"):
        await write_then_fail()
    runner = make(rt, {"t.record": record})
    assert await runner.run_until_idle() == 0
    assert runner.deps == []
    assert await jobs_where(rt) == []
    # The key was never taken: the same fact enqueued again (committed) runs once.
    await add(rt, dedup_key="rolled-back")
    assert await runner.run_until_idle() == 1


# --- claim and lease ---------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_claim_leases_the_job_and_a_second_claim_gets_nothing(rt: Runtime, clock: Clock) -> None:
    job_id = await add(rt)
    claimed = await queue.claim(rt.db, "w1", 10, LEASE)
    assert [(c.id, c.kind, c.attempts) for c in claimed] == [(job_id, "t.record", 1)]
    job = await get_job(rt, job_id)
    assert (job.state, job.locked_by, job.attempts) == ("running", "w1", 1)
    assert job.locked_until == T0 + LEASE
    assert await queue.claim(rt.db, "w2", 10, LEASE) == []


@BOTH_BACKENDS
async def test_claim_skips_jobs_that_are_not_due(rt: Runtime, clock: Clock) -> None:
    later = await add(rt, run_at=T0 + timedelta(seconds=60))
    assert await queue.claim(rt.db, "w1", 10, LEASE) == []
    clock.advance(seconds=60)
    assert [c.id for c in await queue.claim(rt.db, "w1", 10, LEASE)] == [later]


@BOTH_BACKENDS
async def test_two_concurrent_claimers_get_disjoint_jobs(rt: Runtime, settings: Settings) -> None:
    n = 120
    async with rt.db.write() as s:
        for i in range(n):
            await queue.enqueue(s, "t.record", {"i": i})
    dbs = [Database(settings.database_url), Database(settings.database_url)]
    got: dict[str, list[int]] = {"w1": [], "w2": []}
    try:
        for _ in range(n):
            a, b = await asyncio.gather(
                queue.claim(dbs[0], "w1", 7, LEASE),
                queue.claim(dbs[1], "w2", 7, LEASE),
            )
            got["w1"] += [j.id for j in a]
            got["w2"] += [j.id for j in b]
            if not a and not b:
                break
    finally:
        for db in dbs:
            await db.dispose()
    every = got["w1"] + got["w2"]
    assert len(every) == len(set(every)) == n, "a job was claimed twice or never"
    rows = await jobs_where(rt)
    assert {j.id: j.locked_by for j in rows} == {i: w for w, ids in got.items() for i in ids}
    assert {j.attempts for j in rows} == {1}


@BOTH_BACKENDS
async def test_reaper_requeues_an_expired_lease(rt: Runtime, clock: Clock) -> None:
    job_id = await add(rt)
    assert len(await queue.claim(rt.db, "dead-worker", 1, LEASE)) == 1
    clock.advance(seconds=29)
    assert await queue.reap(rt.db) == 0, "a live lease was reaped"
    assert (await get_job(rt, job_id)).state == "running"
    clock.advance(seconds=2)
    assert await queue.reap(rt.db) == 1
    job = await get_job(rt, job_id)
    assert (job.state, job.locked_by, job.locked_until, job.attempts) == ("queued", None, None, 1)
    # The dead worker's late bookkeeping no longer touches the job (it is not its lease any more).
    await queue.complete(rt.db, job_id, "dead-worker")
    assert (await get_job(rt, job_id)).state == "queued"
    runner = make(rt, {"t.record": record})
    assert await runner.run_until_idle() == 1
    assert [j.attempt for j in runner.deps] == [2]
    assert (await get_job(rt, job_id)).state == "done"


@BOTH_BACKENDS
async def test_reaper_buries_an_expired_lease_on_the_last_attempt(rt: Runtime, clock: Clock) -> None:
    job_id = await add(rt, max_attempts=1)
    await queue.claim(rt.db, "dead-worker", 1, LEASE)
    clock.advance(seconds=31)
    assert await queue.reap(rt.db) == 1
    job = await get_job(rt, job_id)
    assert job.state == "dead"
    assert "lease expired" in (job.last_error or "")


# --- failures -------------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_retryable_error_requeues_at_exactly_retry_after(rt: Runtime, clock: Clock) -> None:
    async def rate_limited(deps: list[JobInfo], job: JobInfo) -> None:
        deps.append(job)
        raise RetryableError("429 from the network", retry_after=120)

    job_id = await add(rt)
    runner = make(rt, {"t.record": rate_limited})
    assert await runner.run_until_idle() == 1
    job = await get_job(rt, job_id)
    assert (job.state, job.attempts, job.locked_by) == ("queued", 1, None)
    assert job.run_at == T0 + timedelta(seconds=120)
    assert job.last_error == "429 from the network"
    clock.advance(seconds=119)
    assert await runner.run_until_idle() == 0, "ran before retry_after"
    clock.advance(seconds=1)
    assert await runner.run_until_idle() == 1
    assert [j.attempt for j in runner.deps] == [1, 2]


@BOTH_BACKENDS
async def test_retry_without_retry_after_backs_off_exponentially(rt: Runtime, clock: Clock) -> None:
    async def flaky(deps: list[JobInfo], job: JobInfo) -> None:
        raise RetryableError("503")

    async def crashes(deps: list[JobInfo], job: JobInfo) -> None:
        raise KeyError("a bug")  # an unclassified exception is retried like a retryable one

    runner = make(rt, {"t.flaky": flaky, "t.crash": crashes}, backoff_base=10.0, backoff_cap=1000.0)
    flaky_id = await add(rt, "t.flaky")
    crash_id = await add(rt, "t.crash")
    for attempt in range(1, 4):
        assert await runner.run_until_idle() == 2
        for job_id in (flaky_id, crash_id):
            job = await get_job(rt, job_id)
            assert (job.state, job.attempts) == ("queued", attempt)
            delay = (job.run_at - clock.now).total_seconds()
            ceiling = 10.0 * 2 ** (attempt - 1)
            assert ceiling / 2 <= delay <= ceiling, (attempt, delay)
        clock.now = max([(await get_job(rt, flaky_id)).run_at, (await get_job(rt, crash_id)).run_at])
    assert "KeyError" in ((await get_job(rt, crash_id)).last_error or "")


@BOTH_BACKENDS
async def test_permanent_error_kills_the_job_at_once(rt: Runtime, clock: Clock) -> None:
    async def refused(deps: list[JobInfo], job: JobInfo) -> None:
        deps.append(job)
        raise PermanentError("invalid_number")

    job_id = await add(rt, max_attempts=8)
    runner = make(rt, {"t.record": refused})
    assert await runner.run_until_idle() == 1
    clock.advance(hours=2)
    assert await runner.run_until_idle() == 0
    job = await get_job(rt, job_id)
    assert (job.state, job.attempts, job.last_error) == ("dead", 1, "invalid_number")
    assert job.finished_at == T0
    assert len(runner.deps) == 1


@BOTH_BACKENDS
async def test_unknown_kind_is_dead_not_retried(rt: Runtime) -> None:
    job_id = await add(rt, "t.nobody")
    assert await make(rt, {}).run_until_idle() == 1
    job = await get_job(rt, job_id)
    assert job.state == "dead"
    assert "no task named" in (job.last_error or "")


@BOTH_BACKENDS
async def test_last_attempt_is_dead_and_listed_by_the_api(
    rt: Runtime, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def down(deps: list[JobInfo], job: JobInfo) -> None:
        deps.append(job)
        raise RetryableError(f"network down (attempt {job.attempt})", retry_after=10)

    job_id = await add(rt, max_attempts=3)
    ok_id = await add(rt, "t.ok")
    runner = make(rt, {"t.record": down, "t.ok": record})
    for _ in range(3):
        await runner.run_until_idle()
        clock.advance(seconds=10)
    assert [j.attempt for j in runner.deps if j.kind == "t.record"] == [1, 2, 3]
    assert runner.deps[-1].last_attempt
    job = await get_job(rt, job_id)
    assert (job.state, job.attempts) == ("dead", 3)
    assert await runner.run_until_idle() == 0
    r = await client.get("/api/v1/jobs", params={"state": "dead"}, headers=auth)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["id"], i["kind"], i["state"], i["attempts"]) for i in items] == [(job_id, "t.record", "dead", 3)]
    assert items[0]["last_error"] == "network down (attempt 3)"
    assert ok_id not in [i["id"] for i in items]


# --- graceful stop -------------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_drain_releases_running_jobs_without_counting_the_attempt(rt: Runtime) -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def slow(deps: list[JobInfo], job: JobInfo) -> None:
        started.set()
        await never.wait()

    job_id = await add(rt)
    runner = make(rt, {"t.record": slow})
    loop_task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        running = await get_job(rt, job_id)
        assert (running.state, running.attempts) == ("running", 1)
        await runner.drain(grace=0.1)
        await asyncio.wait_for(loop_task, 10)
    finally:
        if not loop_task.done():
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
    job = await get_job(rt, job_id)
    assert (job.state, job.attempts, job.locked_by, job.locked_until) == ("queued", 0, None, None)
    # Another worker picks it up at once, as a first attempt.
    again = make(rt, {"t.record": record})
    assert await again.run_until_idle() == 1
    assert [j.attempt for j in again.deps] == [1]


@BOTH_BACKENDS
async def test_drain_lets_a_quick_job_finish(rt: Runtime) -> None:
    started = asyncio.Event()
    go = asyncio.Event()

    async def quick(deps: list[JobInfo], job: JobInfo) -> None:
        started.set()
        await go.wait()
        deps.append(job)

    job_id = await add(rt)
    runner = make(rt, {"t.record": quick})
    loop_task = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), 10)
    asyncio.get_running_loop().call_later(0.05, go.set)
    await runner.drain(grace=5.0)
    await asyncio.wait_for(loop_task, 10)
    assert (await get_job(rt, job_id)).state == "done"
    assert len(runner.deps) == 1


# --- periodic jobs -----------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_periodic_slot_fires_once_across_schedulers_and_restarts(rt: Runtime, settings: Settings) -> None:
    every = [Periodic("t.periodic", timedelta(minutes=5))]
    dbs = [Database(settings.database_url), Database(settings.database_url)]
    try:
        # Two schedulers (two processes) tick inside the same slot at the same moment.
        made = await asyncio.gather(tick(dbs[0], every, T0 + timedelta(seconds=1)), tick(dbs[1], every, T0))
        assert sorted(made) == [0, 1]
        # A restart later in the same slot: nothing new.
        assert await tick(dbs[0], every, T0 + timedelta(minutes=4, seconds=59)) == 0
        assert len(await jobs_where(rt, col(Job.kind) == "t.periodic")) == 1
        # The next slot fires once more, whoever ticks first.
        made = await asyncio.gather(
            tick(dbs[0], every, T0 + timedelta(minutes=5)), tick(dbs[1], every, T0 + timedelta(minutes=6))
        )
        assert sorted(made) == [0, 1]
        # Everything down for an hour: the missed slots fire once, not twelve times.
        assert await tick(dbs[1], every, T0 + timedelta(hours=1, minutes=2)) == 1
        assert await tick(dbs[0], every, T0 + timedelta(hours=1, minutes=3)) == 0
    finally:
        for db in dbs:
            await db.dispose()
    rows = await jobs_where(rt, col(Job.kind) == "t.periodic")
    assert [j.dedup_key for j in rows] == [
        "t.periodic:2026-11-26T12:00:00+00:00",
        "t.periodic:2026-11-26T12:05:00+00:00",
        "t.periodic:2026-11-26T13:00:00+00:00",
    ]


@BOTH_BACKENDS
async def test_disabled_periodic_is_not_enqueued(rt: Runtime) -> None:
    off = [Periodic("t.off", timedelta(minutes=5), enabled=lambda: False)]
    assert await tick(rt.db, off, utcnow()) == 0
    assert await jobs_where(rt) == []


# --- lanes: a network that hangs keeps its hands off the other slots ---------------------------------------


@BOTH_BACKENDS
async def test_a_hanging_lane_takes_at_most_its_share_of_the_slots(rt: Runtime) -> None:
    """4 slots, lane limit 2: six jobs of a lane that never answers run 2 at a time, and the jobs queued after
    them (another network, an SMS) run meanwhile, in one claim round each."""
    never = asyncio.Event()
    running: set[int] = set()
    most = 0

    async def hang(deps: list[JobInfo], job: JobInfo) -> None:
        nonlocal most
        running.add(job.id)
        most = max(most, len(running))
        try:
            await never.wait()
        finally:
            running.discard(job.id)

    slow = [await add(rt, "t.hang", lane=network_lane("mastodon")) for _ in range(6)]
    quick = [await add(rt, lane=network_lane("bluesky")) for _ in range(3)] + [await add(rt, lane="sms")]
    runner = make(rt, {"t.hang": hang, "t.record": record}, concurrency=4)
    assert runner.lane_limit == 2
    loop_task = asyncio.create_task(runner.run())
    try:
        for _ in range(500):
            if len(runner.deps) == len(quick):
                break
            await asyncio.sleep(0.02)
        assert sorted(j.id for j in runner.deps) == quick
        assert most == 2
        states = [(await get_job(rt, j)).state for j in slow]
        assert states.count("running") == 2
        assert states.count("queued") == 4
        # the jobs beyond the lane's share were never claimed (no attempt counted)
        waiting = [j for j, st in zip(slow, states, strict=True) if st == "queued"]
        assert [(await get_job(rt, j)).attempts for j in waiting] == [0] * 4
    finally:
        await runner.drain(grace=0.1)
        await asyncio.wait_for(loop_task, 10)


@BOTH_BACKENDS
async def test_claim_takes_at_most_each_lanes_room(rt: Runtime) -> None:
    xs = [await add(rt, lane="net:x") for _ in range(3)]
    gs = [await add(rt, lane="net:google") for _ in range(4)]
    ms = [await add(rt, lane="net:mastodon") for _ in range(3)]
    free = [await add(rt) for _ in range(3)]
    got = await queue.claim(rt.db, "w", 20, LEASE, lane_limit=2, lane_room={"net:x": 0, "net:google": 1})
    assert sorted(j.id for j in got) == sorted([gs[0], *ms[:2], *free])  # x is full, google has room for 1
    assert {j.id: j.lane for j in got}[gs[0]] == "net:google"
    assert [(await get_job(rt, j)).state for j in xs] == ["queued"] * 3
    # the limit still bounds the whole claim, oldest first
    again = await queue.claim(rt.db, "w2", 2, LEASE, lane_limit=2)
    assert [j.id for j in again] == [xs[0], xs[1]]


def test_each_mastodon_instance_is_its_own_lane() -> None:
    assert network_lane("mastodon", "@bistro@Mastodon.Social") == "net:mastodon:mastodon.social"
    assert network_lane("mastodon", "@bistro@masto.qc.ca") != network_lane("mastodon", "@b@piaille.fr")
    assert network_lane("mastodon", "") == "net:mastodon"
    assert network_lane("bluesky", "bistro.bsky.social") == "net:bluesky"
    assert network_lane("facebook", "Le Bistro") == "net:facebook"
    assert len(network_lane("mastodon", "@a@" + "x" * 80 + ".example")) == 40  # the column's size


# --- batches: one claim and one completion statement for many jobs --------------------------------------------


@BOTH_BACKENDS
async def test_a_batch_of_jobs_costs_two_write_transactions(rt: Runtime) -> None:
    """32 due jobs: one claim takes them all, and their completions ride in the next claim's transaction."""
    ids = [await add(rt) for _ in range(32)]
    commits = 0

    def count(*_a: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(rt.db.engine.sync_engine, "commit", count)
    try:
        runner = make(rt, {"t.record": record}, concurrency=32)
        assert await runner.run_until_idle() == 32
    finally:
        event.remove(rt.db.engine.sync_engine, "commit", count)
    assert commits == 2
    assert sorted(j.id for j in runner.deps) == ids
    assert {j.state for j in await jobs_where(rt)} == {"done"}


@BOTH_BACKENDS
async def test_complete_in_commits_with_the_jobs_own_writes(rt: Runtime) -> None:
    job_id = await add(rt)
    [claimed] = await queue.claim(rt.db, "w1", 10, LEASE)

    async def failing_write() -> None:
        async with rt.db.write() as s:
            await queue.complete_in(s, claimed.id, "w1")
            raise RuntimeError("the job's write failed")

    with pytest.raises(RuntimeError):
        await failing_write()
    assert (await get_job(rt, job_id)).state == "running"  # rolled back with the job's write
    async with rt.db.write() as s:
        await queue.complete_in(s, claimed.id, "w2")  # not the lease holder: no effect
    assert (await get_job(rt, job_id)).state == "running"
    async with rt.db.write() as s:
        await queue.complete_in(s, claimed.id, "w1")
    job = await get_job(rt, job_id)
    assert (job.state, job.locked_until) == ("done", None)
    # A failure reported afterwards (a task that raised after its commit) cannot undo it.
    await queue.fail(rt.db, job_id, "w1", error="late", retry_at=None)
    assert (await get_job(rt, job_id)).state == "done"


@BOTH_BACKENDS
async def test_a_task_that_completes_in_its_transaction_is_not_completed_again(rt: Runtime) -> None:
    async def own(deps: list[JobInfo], job: JobInfo) -> None:
        async with rt.db.write() as s:
            await job.complete_in(s)
        deps.append(job)

    job_id = await add(rt, "t.own")
    runner = make(rt, {"t.own": own})
    assert await runner.run_until_idle() == 1
    assert runner._done == []
    assert runner._completed_in == set()
    assert (await get_job(rt, job_id)).state == "done"


def test_the_wakeup_listeners_are_installed_per_database_not_at_import(settings: Settings) -> None:
    # Read from a session's own dispatch: event.contains() keys classes by id(), which a new session class can
    # share with a collected one (other tests make and drop databases), and then answers for the old class.
    def hooked(cls: type[Session]) -> list[object]:
        return [fn for fn in cls().dispatch.after_commit if fn is queue._after_commit]

    assert not hooked(Session)
    db = Database(settings.database_url)
    assert not hooked(db.session_class)
    queue.install(db)
    queue.install(db)  # idempotent
    assert len(hooked(db.session_class)) == 1
    assert not hooked(Session)


# --- PostgreSQL: LISTEN/NOTIFY wakes workers of other processes -------------------------------------------


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_commit_in_another_process_wakes_the_worker_at_once(rt: Runtime, settings: Settings) -> None:
    """The runner polls every 30 s here; a job enqueued through another engine (no in-process wake-up: as from
    another process) still runs within a second, woken by the NOTIFY its transaction sent on commit. A rolled
    back enqueue notifies nobody."""
    ran = asyncio.Event()
    seen: list[float] = []

    async def mark(deps: list[JobInfo], job: JobInfo) -> None:
        seen.append(asyncio.get_running_loop().time())
        ran.set()

    runner = make(rt, {"t.mark": mark}, poll_interval=30.0)
    other = Database(settings.database_url)  # not installed: its commits wake nobody in this process
    loop_task = asyncio.create_task(runner.run())
    try:
        for _ in range(200):
            if rt.db.info.get("listening"):
                break
            await asyncio.sleep(0.02)
        assert rt.db.info.get("listening")
        await asyncio.sleep(0.2)  # the first (empty) claim is behind us: the runner now waits 30 s

        async def rolled_back() -> None:
            async with other.write() as s:
                await queue.enqueue(s, "t.mark", {}, dedup_key="never")
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await rolled_back()
        async with other.write() as s:
            await queue.enqueue(s, "t.mark", {})
            await queue.enqueue(s, "t.mark", {})  # one NOTIFY per transaction, whatever it enqueues
        sent = asyncio.get_running_loop().time()
        await asyncio.wait_for(ran.wait(), 5)
        assert seen[0] - sent < 1.0
    finally:
        await runner.drain(grace=1.0)
        await asyncio.wait_for(loop_task, 10)
        await other.dispose()
    assert len(seen) == 2


@BOTH_BACKENDS
async def test_a_run_whose_lease_expired_cannot_complete_in_its_transaction(rt: Runtime, clock: Clock) -> None:
    """The lease expired and the same worker claimed the job again: the first run's write rolls back."""
    job_id = await add(rt)
    [first] = await queue.claim(rt.db, "w1", 10, LEASE)
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert await queue.reap(rt.db) == 1
    [second] = await queue.claim(rt.db, "w1", 10, LEASE)
    assert (first.attempts, second.attempts) == (1, 2)

    async def stale_run() -> None:
        async with rt.db.write() as s:
            await queue.complete_in(s, job_id, "w1", first.attempts)

    with pytest.raises(queue.LeaseLost):
        await stale_run()
    await queue.fail(rt.db, job_id, "w1", error="stale", retry_at=None, attempt=first.attempts)  # no effect
    assert (await get_job(rt, job_id)).state == "running"
    async with rt.db.write() as s:
        await queue.complete_in(s, job_id, "w1", second.attempts)
    assert (await get_job(rt, job_id)).state == "done"
