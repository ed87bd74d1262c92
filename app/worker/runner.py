"""The worker loop: claim → run the task → done | retry with backoff | dead.

The runner is handed its task table and a dependency object; it imports no feature.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.kit.errors import PermanentError, RetryableError
from app.kit.time import utcnow
from app.worker import queue

log = structlog.get_logger("ardoise.worker")

D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int  # 1 on the first run
    max_attempts: int
    lane: str = ""
    worker_id: str = ""
    # Ids of the jobs a task marked done itself (complete_in), shared with the runner that made this JobInfo.
    completed: set[int] = field(default_factory=set, repr=False, compare=False)

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def complete_in(self, session: AsyncSession) -> None:
        """Mark this job done in ``session``'s transaction, the one that writes its effects (call it last in the
        task's final write): the effects and the completion commit together, so a worker killed after the
        commit never runs the job again, and one killed before it leaves nothing half done. Without it the
        runner marks the job done after the task returns, batched with other completions (at least once)."""
        await queue.complete_in(session, self.id, self.worker_id, self.attempt)
        self.completed.add(self.id)


TaskFn = Callable[[Any, JobInfo], Awaitable[None]]


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base·2^(attempt-1))), at least 1 s."""
    r = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return max(1.0, r.uniform(ceiling / 2, ceiling))


class Runner(Generic[D]):
    def __init__(
        self,
        db: Database,
        tasks: Mapping[str, TaskFn],
        deps: D,
        *,
        concurrency: int = 4,
        poll_interval: float = 0.5,
        lease_seconds: int = 120,
        backoff_base: float = 5.0,
        backoff_cap: float = 3600.0,
        reaper_interval: float = 15.0,
        worker_id: str | None = None,
        lane_limit: int | None = None,
        batch_size: int = 32,
    ) -> None:
        queue.install(db)
        self.db = db
        self.tasks = dict(tasks)
        self.deps = deps
        self.concurrency = concurrency
        # At most this many jobs of one lane (one remote network) at once: with 4 slots and a network that
        # hangs, 2 slots stay for everything else (other networks, commands, receipts).
        self.lane_limit = max(1, lane_limit if lane_limit is not None else concurrency // 2)
        self._lanes: dict[int, str] = {}
        # One claim takes at most this many jobs (each claim is one transaction, whatever its size).
        self.batch_size = max(1, batch_size)
        # Finished jobs not yet marked done: the next claim's transaction marks them (one statement).
        self._done: list[int] = []
        # Finished, not yet recorded done: their leases are still renewed, so no reaper re-runs them meanwhile.
        self._finished: set[int] = set()
        self._completed_in: set[int] = set()  # done by the task itself (JobInfo.complete_in)
        self._last_full = False  # the last claim filled every free slot: more is probably due
        self.poll_interval = poll_interval
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.reaper_interval = reaper_interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 30):x}"
        self._stopping = asyncio.Event()
        self._active: dict[int, asyncio.Task[None]] = {}
        self._loop_done = asyncio.Event()
        self.processed = 0

    def stop(self) -> None:
        self._stopping.set()
        queue.WAKEUP.set()

    async def run(self) -> None:
        """Claim and run jobs until :meth:`stop`."""
        side = [asyncio.create_task(self._heartbeats(), name="worker-heartbeat")]
        if not self.db.is_sqlite:
            side.append(asyncio.create_task(queue.listen(self.db, self._stopping), name="worker-listen"))
        try:
            await self._run()
        finally:
            for t in side:
                t.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            self._loop_done.set()

    async def _run(self) -> None:
        log.info("worker.start", worker=self.worker_id, concurrency=self.concurrency)
        last_reap = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            done, self._done = self._done, []
            try:
                free = min(self.batch_size, self.concurrency - len(self._active))
                room = {lane: self.lane_limit - n for lane, n in Counter(self._lanes.values()).items()}
                jobs = await queue.claim(
                    self.db,
                    self.worker_id,
                    max(0, free),
                    self.lease,
                    lane_limit=self.lane_limit,
                    lane_room=room,
                    done=done,
                    look_first=not self._last_full,
                )
                self._finished.difference_update(done)
                if loop.time() - last_reap > self.reaper_interval:
                    last_reap = loop.time()
                    n = await queue.reap(self.db)
                    if n:
                        log.warning("worker.reaped", jobs=n)
            except Exception as exc:  # database down: keep the loop alive, try again
                self._done.extend(j for j in done if j in self._finished)  # not recorded: with the next claim
                log.error("worker.claim_failed", error=str(exc)[:300])
                await asyncio.sleep(min(5.0, self.poll_interval * 4))
                continue
            self._last_full = free > 0 and len(jobs) >= free
            for job in jobs:
                self._start(job)
            if not self._last_full and not self._done:
                await queue.WAKEUP.wait(self.poll_interval)

    def _start(self, job: queue.ClaimedJob) -> None:
        task = asyncio.create_task(self._run_one(job))
        self._active[job.id] = task
        if job.lane:
            self._lanes[job.id] = job.lane
        task.add_done_callback(self._forget(job.id))

    async def drain(self, grace: float = 8.0) -> None:
        """Graceful stop: let running jobs finish for ``grace`` seconds, then give the rest back."""
        self.stop()
        # A claim may be in flight: wait for the loop to leave so every claimed job is in _active.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loop_done.wait(), 2.0)
        if self._active:
            _done, pending = await asyncio.wait(list(self._active.values()), timeout=grace)
            ids = [jid for jid, t in list(self._active.items()) if t in pending]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._safe(queue.release(self.db, ids, self.worker_id))
            if ids:
                log.warning("worker.released", jobs=ids)
        await self._flush()
        log.info("worker.stopped", worker=self.worker_id, processed=self.processed)

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Run due jobs until none is left (tests, CLI one-shots). Returns how many ran."""
        ran = 0
        heartbeat = asyncio.create_task(self._heartbeats())
        try:
            for _ in range(max_rounds):
                await queue.reap(self.db)
                done, self._done = self._done, []
                jobs = await queue.claim(
                    self.db, self.worker_id, min(self.batch_size, self.concurrency), self.lease, done=done
                )
                self._finished.difference_update(done)
                if not jobs:
                    break
                for job in jobs:
                    self._active[job.id] = asyncio.current_task()  # type: ignore[assignment]  # for the heartbeat
                try:
                    await asyncio.gather(*(self._run_one(j) for j in jobs))
                finally:
                    for job in jobs:
                        self._active.pop(job.id, None)
                ran += len(jobs)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self._flush()
        return ran

    async def _flush(self) -> None:
        """Mark the finished jobs done now (stop, one-shot runs); the loop otherwise batches them into its claims."""
        done, self._done = self._done, []
        if done:
            try:
                await queue.complete(self.db, done, self.worker_id)
            except Exception as exc:  # the leases expire and the jobs run again: at least once
                log.error("job.bookkeeping_failed", error=str(exc)[:300])
            self._finished.difference_update(done)

    async def _run_one(self, job: queue.ClaimedJob) -> None:
        info = JobInfo(
            job.id, job.kind, job.payload, job.attempts, job.max_attempts, job.lane, self.worker_id, self._completed_in
        )
        fn = self.tasks.get(job.kind)
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        try:
            if fn is None:
                raise PermanentError(f"no task named {job.kind!r}")
            await fn(self.deps, info)
        except asyncio.CancelledError:
            raise
        except queue.LeaseLost as exc:  # another run owns the job now: its transaction rolled back, record nothing
            bound.warning("job.lease_lost", error=str(exc))
        except PermanentError as exc:
            bound.warning("job.dead", error=exc.reason)
            await self._fail(job, exc.reason, None)
        except Exception as exc:
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            reason = exc.reason if isinstance(exc, RetryableError) else f"{type(exc).__name__}: {exc}"
            if info.last_attempt:
                bound.error("job.dead", error=reason)
                await self._fail(job, reason, None)
            else:
                delay = (
                    retry_after
                    if retry_after is not None
                    else backoff(job.attempts, base=self.backoff_base, cap=self.backoff_cap)
                )
                if not isinstance(exc, RetryableError):
                    bound.exception("job.crashed", error=reason)
                else:
                    bound.info("job.retry", error=reason, delay=round(delay, 1))
                retry_at = utcnow() + timedelta(seconds=delay)
                await self._fail(job, reason, retry_at)
        else:
            if job.id in self._completed_in:
                self._completed_in.discard(job.id)
            else:
                self._done.append(job.id)  # marked done by the next claim (or _flush), batched with others
                self._finished.add(job.id)
                queue.WAKEUP.set()
        finally:
            self._completed_in.discard(job.id)
        self.processed += 1

    async def _fail(self, job: queue.ClaimedJob, error: str, retry_at: datetime | None) -> None:
        await self._safe(
            queue.fail(self.db, job.id, self.worker_id, error=error, retry_at=retry_at, attempt=job.attempts)
        )

    async def _heartbeats(self) -> None:
        """Renew the leases of every running job, in one statement, so a slow job is never re-run by another
        worker meanwhile."""
        every = max(1.0, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(every)
            ids = sorted(self._active.keys() | self._finished)
            if not ids:
                continue
            try:
                await queue.extend(self.db, ids, self.worker_id, self.lease)
            except Exception as exc:
                log.warning("job.heartbeat_failed", jobs=len(ids), error=str(exc)[:200])

    def _forget(self, job_id: int) -> Callable[[asyncio.Task[None]], None]:
        def done(_t: asyncio.Task[None]) -> None:
            saturated = len(self._active) >= self.concurrency or job_id in self._lanes
            self._active.pop(job_id, None)
            self._lanes.pop(job_id, None)
            if saturated:
                queue.WAKEUP.set()  # a slot (or a lane) is free again: claim now, not at the next poll

        return done

    async def _safe(self, aw: Awaitable[None]) -> None:
        # If the database is down the lease simply expires and the reaper re-queues the job.
        try:
            await aw
        except Exception as exc:
            log.error("job.bookkeeping_failed", error=str(exc)[:300])
