"""Enqueue and claim jobs.

Enqueue happens on the caller's session, so the job commits (or not) with the domain write. Claiming uses
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (many workers never block each other) and the single SQLite
writer lock (``BEGIN IMMEDIATE``) in the embedded mode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, event, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import Database, insert_for
from app.kit.time import utcnow
from app.models.job import Job, JobState


class Wakeup:
    """Wakes this process's worker right after a commit that enqueued work (cross-process: polling)."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def _ev(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def set(self) -> None:
        self._ev().set()

    async def wait(self, seconds: float) -> None:
        ev = self._ev()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), seconds)
        ev.clear()


WAKEUP = Wakeup()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # One class-level listener: a commit that enqueued work wakes this process's worker at once.
    if session.info.pop("ardoise_wake", False):
        WAKEUP.set()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("ardoise_wake", None)


def _wake_after_commit(session: AsyncSession) -> None:
    session.sync_session.info["ardoise_wake"] = True


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedup_key: str | None = None,
    max_attempts: int = 8,
    business_id: int | None = None,
    lane: str = "",
) -> int | None:
    """Add a job in the caller's transaction. With ``dedup_key``, a second enqueue of the same key is a no-op
    (returns None). The job is visible to workers when the caller commits. ``lane`` names the remote service
    the job waits on (:func:`network_lane`), which bounds how many such jobs one worker runs at once."""
    values: dict[str, Any] = {
        "kind": kind,
        "payload": dict(payload or {}),
        "state": JobState.queued.value,
        "dedup_key": dedup_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or utcnow(),
        "business_id": business_id,
        "lane": lane[:40],
        "created_at": utcnow(),
    }
    stmt = insert_for(session, Job).values(**values)
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
    result = await session.execute(stmt.returning(col(Job.id)))
    job_id = result.scalar_one_or_none()
    _wake_after_commit(session)
    return job_id


async def reschedule(session: AsyncSession, dedup_key: str, run_at: datetime) -> bool:
    """Bring a queued job forward (e.g. the receipt once every delivery is done)."""
    res = await session.execute(
        update(Job)
        .where(col(Job.dedup_key) == dedup_key, col(Job.state) == JobState.queued.value, col(Job.run_at) > run_at)
        .values(run_at=run_at)
    )
    _wake_after_commit(session)
    return bool(getattr(res, "rowcount", 0))


async def requeue_dead(
    session: AsyncSession, *, ids: Sequence[int] | None = None, kind: str | None = None
) -> list[int]:
    """Send dead jobs back to the queue, due now, with a fresh set of attempts (their last error stays until they
    run again): the given ``ids``, else every dead job, of ``kind`` if given. Returns the ids re-queued, sorted.
    One conditional UPDATE: a job that is not dead (queued, running, done) is left alone, so two operators
    pressing retry at once run it once."""
    where = [col(Job.state) == JobState.dead.value]
    if ids is not None:
        where.append(col(Job.id).in_(list(ids)))
    if kind:
        where.append(col(Job.kind) == kind)
    res = await session.execute(
        update(Job)
        .where(*where)
        .values(
            state=JobState.queued.value,
            attempts=0,
            run_at=utcnow(),
            finished_at=None,
            locked_until=None,
            locked_by=None,
        )
        .returning(col(Job.id))
    )
    done = sorted(i for i in res.scalars() if i is not None)
    if done:
        _wake_after_commit(session)
    return done


def network_lane(network: str, handle: str = "") -> str:
    """The lane of jobs that call ``network`` (deliveries, removals, polls, likes). Each Mastodon instance is its
    own server, so its lane is the instance (from the ``@user@instance`` handle): one stuck instance does not
    hold back the accounts on the others."""
    if network == "mastodon" and "@" in handle.lstrip("@"):
        return f"net:mastodon:{handle.rsplit('@', 1)[1].strip().lower()}"[:40]
    return f"net:{network}"


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lane: str = ""


async def claim(
    db: Database,
    worker_id: str,
    limit: int,
    lease: timedelta,
    *,
    lane_limit: int | None = None,
    lane_room: Mapping[str, int] | None = None,
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs, leased to ``worker_id`` until now + ``lease``, oldest first.

    With ``lane_limit``, at most that many jobs of one lane, and at most ``lane_room[lane]`` of a lane the worker
    already runs jobs of (0: none); jobs without a lane are not limited. The cap is applied in the statement
    (a window over the due jobs), so a claim never takes a job it would have to give back.
    """
    now = utcnow()
    due = (col(Job.state) == JobState.queued.value, col(Job.run_at) <= now)
    # Look before taking the write lock: an idle worker polls twice a second, and on SQLite an empty claim
    # would still queue behind (and hold up) the webhooks' writes.
    async with db.read() as session:
        if (await session.execute(select(col(Job.id)).where(*due).limit(1))).first() is None:
            return []
    ids: Any
    if lane_limit is None:
        sub: Select[Any] = select(col(Job.id)).where(*due).order_by(col(Job.run_at), col(Job.id)).limit(limit)
        if not db.is_sqlite:
            sub = sub.with_for_update(skip_locked=True)
        ids = sub.scalar_subquery()
    else:
        room = dict(lane_room or {})
        full = sorted(lane for lane, n in room.items() if n <= 0)
        cand = select(col(Job.id), col(Job.lane), col(Job.run_at)).where(*due)
        if full:
            cand = cand.where(col(Job.lane).not_in(full))
        cand = cand.order_by(col(Job.run_at), col(Job.id)).limit(limit * 8 + 16)
        if not db.is_sqlite:
            cand = cand.with_for_update(skip_locked=True)
        c = cand.subquery("cand")
        rank = func.row_number().over(partition_by=c.c.lane, order_by=(c.c.run_at, c.c.id))
        ranked = select(c.c.id, c.c.lane, c.c.run_at, rank.label("rn")).subquery("ranked")
        open_lanes = [(ranked.c.lane == lane, n) for lane, n in sorted(room.items()) if n > 0]
        cap = case(*open_lanes, else_=lane_limit) if open_lanes else literal(lane_limit)
        ids = (
            select(ranked.c.id)
            .where(or_(ranked.c.lane == "", ranked.c.rn <= cap))
            .order_by(ranked.c.run_at, ranked.c.id)
            .limit(limit)
            .scalar_subquery()
        )
    async with db.write(durable=False) as session:
        stmt = (
            update(Job)
            .where(col(Job.id).in_(ids), col(Job.state) == JobState.queued.value)
            .values(
                state=JobState.running.value,
                attempts=col(Job.attempts) + 1,
                locked_until=now + lease,
                locked_by=worker_id,
            )
            .returning(
                col(Job.id), col(Job.kind), col(Job.payload), col(Job.attempts), col(Job.max_attempts), col(Job.lane)
            )
        )
        rows = (await session.execute(stmt)).all()
    return [
        ClaimedJob(int(r[0] or 0), str(r[1]), dict(r[2] or {}), int(r[3] or 0), int(r[4] or 0), str(r[5] or ""))
        for r in rows
    ]


async def complete(db: Database, job_id: int, worker_id: str) -> None:
    async with db.write(durable=False) as session:
        await session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.locked_by) == worker_id)
            .values(state=JobState.done.value, finished_at=utcnow(), locked_until=None, last_error=None)
        )


async def fail(db: Database, job_id: int, worker_id: str, *, error: str, retry_at: datetime | None) -> None:
    """Record a failure: back in the queue at ``retry_at``, or dead when ``retry_at`` is None."""
    values: dict[str, Any] = {"last_error": error[:2000], "locked_until": None}
    if retry_at is None:
        values.update(state=JobState.dead.value, finished_at=utcnow())
    else:
        values.update(state=JobState.queued.value, run_at=retry_at, locked_by=None)
    async with db.write(durable=False) as session:
        await session.execute(
            update(Job).where(col(Job.id) == job_id, col(Job.locked_by) == worker_id).values(**values)
        )


async def extend(db: Database, job_id: int, worker_id: str, lease: timedelta) -> bool:
    """Renew a running job's lease (heartbeat); False when the job is no longer ours."""
    async with db.write(durable=False) as session:
        res = await session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.locked_by) == worker_id, col(Job.state) == JobState.running.value)
            .values(locked_until=utcnow() + lease)
        )
    return bool(getattr(res, "rowcount", 0))


async def release(db: Database, job_ids: list[int], worker_id: str) -> None:
    """Give claimed jobs back untouched (graceful shutdown): the attempt is not counted."""
    if not job_ids:
        return
    async with db.write(durable=False) as session:
        await session.execute(
            update(Job)
            .where(col(Job.id).in_(job_ids), col(Job.locked_by) == worker_id, col(Job.state) == "running")
            .values(state=JobState.queued.value, locked_until=None, locked_by=None, attempts=col(Job.attempts) - 1)
        )


async def reap(db: Database) -> int:
    """Re-queue jobs whose lease expired (their worker died); bury those out of attempts."""
    now = utcnow()
    async with db.write(durable=False) as session:
        dead = await session.execute(
            update(Job)
            .where(
                col(Job.state) == JobState.running.value,
                col(Job.locked_until) < now,
                col(Job.attempts) >= col(Job.max_attempts),
            )
            .values(state=JobState.dead.value, finished_at=now, last_error="lease expired on the last attempt")
        )
        back = await session.execute(
            update(Job)
            .where(col(Job.state) == JobState.running.value, col(Job.locked_until) < now)
            .values(state=JobState.queued.value, locked_until=None, locked_by=None, run_at=now)
        )
    n = int(getattr(back, "rowcount", 0) or 0) + int(getattr(dead, "rowcount", 0) or 0)
    if n:
        WAKEUP.set()
    return n


async def depth(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = (await session.execute(select(col(Job.state), func.count()).group_by(col(Job.state)))).all()
    return {str(s): int(n) for s, n in rows}
