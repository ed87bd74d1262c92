"""Enqueue and claim jobs.

Enqueue happens on the caller's session, so the job commits (or not) with the domain write. Claiming uses
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (many workers never block each other) and the single SQLite
writer lock (``BEGIN IMMEDIATE``) in the embedded mode.

The bookkeeping is SQLAlchemy Core on the ``job`` table (no ORM unit of work, no identity map): a claim takes a
batch of due jobs in one statement, and the completions of finished jobs ride in the next claim's transaction
(:func:`claim` with ``done=``) or in the job's own transaction (:func:`complete_in`).

Wake-ups: in one process a commit that enqueued work wakes the worker (:func:`install` registers the listener on
the database's session class); on PostgreSQL the enqueuing transaction also sends ``NOTIFY ardoise_jobs``, which
the workers of every process LISTEN to (:func:`listen`), so a multi-process deployment reacts at once and polls
only as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, Table, bindparam, case, event, func, literal, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import Database, insert_in, run_prepared
from app.kit.time import utcnow
from app.models.job import Job, JobState

log = structlog.get_logger("ardoise.worker")

JOBS: Table = Job.__table__  # type: ignore[attr-defined]  # Core table: bookkeeping without the ORM
C = JOBS.c
CHANNEL = "ardoise_jobs"  # PostgreSQL NOTIFY channel: "a job is due"
QUEUED, RUNNING, DONE, DEAD = (s.value for s in (JobState.queued, JobState.running, JobState.done, JobState.dead))


class Wakeup:
    """Wakes this process's worker right after a commit that enqueued work (other processes: NOTIFY or polling)."""

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


def _after_commit(session: Session) -> None:
    if session.info.pop("ardoise_wake", False):
        WAKEUP.set()


def _after_rollback(session: Session) -> None:
    session.info.pop("ardoise_wake", None)


def install(db: Database) -> None:
    """Wake this process's worker after every commit of ``db`` that enqueued work. Called by the runtime and the
    runner when they are built (idempotent), never at import: only the databases a process uses are hooked."""
    if db.info.get("queue_wakeups"):
        return
    db.info["queue_wakeups"] = True
    event.listen(db.session_class, "after_commit", _after_commit)
    event.listen(db.session_class, "after_rollback", _after_rollback)


async def _announce(session: AsyncSession) -> None:
    """Mark the session's transaction as having made work due: wake this process after the commit, and on
    PostgreSQL NOTIFY the other processes in the same transaction (once per transaction: delivered on commit,
    dropped on rollback)."""
    sync = session.sync_session
    sync.info["ardoise_wake"] = True
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        txn = sync.get_transaction()
        if txn is not None and sync.info.get("ardoise_notified") is not txn:
            sync.info["ardoise_notified"] = txn
            await session.execute(text(f"NOTIFY {CHANNEL}"))


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
    the job waits on (computed by the feature, e.g. ``app.lanes.network_lane``), which bounds how many such jobs
    one worker runs at once; "" is no lane."""
    now = utcnow()
    values: dict[str, Any] = {
        "kind": kind,
        "payload": dict(payload or {}),
        "state": QUEUED,
        "dedup_key": dedup_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or now,
        "business_id": business_id,
        "lane": lane[:40],
        "created_at": now,
    }
    once = dedup_key is not None
    job_id = (
        await run_prepared(session, f"jobs.enqueue.{once}", lambda d: _insert_stmt(d, once), values)
    ).scalar_one_or_none()
    if job_id is not None and (run_at is None or run_at <= now):
        await _announce(session)
    return job_id


def _insert_stmt(dialect: str, once: bool) -> Any:
    stmt = insert_in(dialect, JOBS)
    if once:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
    return stmt.returning(C.id)


async def reschedule(session: AsyncSession, dedup_key: str, run_at: datetime) -> bool:
    """Bring a queued job forward (e.g. the receipt once every delivery is done)."""
    res = await session.execute(
        update(JOBS).where(C.dedup_key == dedup_key, C.state == QUEUED, C.run_at > run_at).values(run_at=run_at)
    )
    moved = bool(getattr(res, "rowcount", 0))
    if moved:
        await _announce(session)
    return moved


async def drop(session: AsyncSession, dedup_key: str) -> bool:
    """Mark a queued job done without running it, in the caller's transaction (its work was done there)."""
    res = await run_prepared(
        session,
        "jobs.drop",
        lambda _d: (
            update(JOBS)
            .where(C.dedup_key == bindparam("b_key"), C.state == QUEUED)
            .values(state=DONE, finished_at=bindparam("b_now"))
        ),
        {"b_key": dedup_key, "b_now": utcnow()},
    )
    return bool(res.rowcount)


async def requeue_dead(
    session: AsyncSession, *, ids: Sequence[int] | None = None, kind: str | None = None
) -> list[int]:
    """Send dead jobs back to the queue, due now, with a fresh set of attempts (their last error stays until they
    run again): the given ``ids``, else every dead job, of ``kind`` if given. Returns the ids re-queued, sorted.
    One conditional UPDATE: a job that is not dead (queued, running, done) is left alone, so two operators
    pressing retry at once run it once."""
    where = [C.state == DEAD]
    if ids is not None:
        where.append(C.id.in_(list(ids)))
    if kind:
        where.append(C.kind == kind)
    res = await session.execute(
        update(JOBS)
        .where(*where)
        .values(state=QUEUED, attempts=0, run_at=utcnow(), finished_at=None, locked_until=None, locked_by=None)
        .returning(C.id)
    )
    done = sorted(i for i in res.scalars() if i is not None)
    if done:
        await _announce(session)
    return done


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lane: str = ""


def _done_stmt(ids: Iterable[int], worker_id: str) -> Any:
    return (
        update(JOBS)
        .where(C.id.in_(sorted(ids)), C.locked_by == worker_id, C.state == RUNNING)
        .values(state=DONE, finished_at=utcnow(), locked_until=None, last_error=None)
    )


async def claim(
    db: Database,
    worker_id: str,
    limit: int,
    lease: timedelta,
    *,
    lane_limit: int | None = None,
    lane_room: Mapping[str, int] | None = None,
    done: Sequence[int] = (),
    look_first: bool = True,
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs, leased to ``worker_id`` until now + ``lease``, oldest first, in one
    statement; mark the jobs in ``done`` (finished by this worker) done in the same transaction.

    With ``lane_limit``, at most that many jobs of one lane, and at most ``lane_room[lane]`` of a lane the worker
    already runs jobs of (0: none); jobs without a lane are not limited. The cap is applied in the statement
    (a window over the due jobs), so a claim never takes a job it would have to give back.

    ``look_first``: with nothing to complete, look for a due job in a read before taking the write lock (an idle
    worker polls, and on SQLite an empty claim would still queue behind, and hold up, the webhooks' writes). A
    worker whose last claim was full skips the look: more work is likely due.
    """
    now = utcnow()
    due = (C.state == QUEUED, C.run_at <= now)
    if limit <= 0 and not done:
        return []
    if limit > 0 and look_first and not done:
        async with db.read() as session:
            conn = await session.connection()
            if (await conn.execute(select(C.id).where(*due).limit(1))).first() is None:
                return []
    rows: list[Any] = []
    async with db.write(durable=False) as session:
        conn = await session.connection()
        if done:
            await conn.execute(_done_stmt(done, worker_id))
        if limit > 0:
            stmt = (
                update(JOBS)
                .where(C.id.in_(_due_ids(db, due, limit, lane_limit, lane_room)), C.state == QUEUED)
                .values(state=RUNNING, attempts=C.attempts + 1, locked_until=now + lease, locked_by=worker_id)
                .returning(C.id, C.kind, C.payload, C.attempts, C.max_attempts, C.lane)
            )
            rows = list((await conn.execute(stmt)).all())
    jobs = [
        ClaimedJob(int(r[0] or 0), str(r[1]), dict(r[2] or {}), int(r[3] or 0), int(r[4] or 0), str(r[5] or ""))
        for r in rows
    ]
    jobs.sort(key=lambda j: j.id)
    return jobs


def _due_ids(
    db: Database, due: tuple[Any, ...], limit: int, lane_limit: int | None, lane_room: Mapping[str, int] | None
) -> Any:
    if lane_limit is None:
        sub: Select[Any] = select(C.id).where(*due).order_by(C.run_at, C.id).limit(limit)
        if not db.is_sqlite:
            sub = sub.with_for_update(skip_locked=True)
        return sub.scalar_subquery()
    room = dict(lane_room or {})
    full = sorted(lane for lane, n in room.items() if n <= 0)
    cand = select(C.id, C.lane, C.run_at).where(*due)
    if full:
        cand = cand.where(C.lane.not_in(full))
    cand = cand.order_by(C.run_at, C.id).limit(limit * 8 + 16)
    if not db.is_sqlite:
        cand = cand.with_for_update(skip_locked=True)
    c = cand.subquery("cand")
    rank = func.row_number().over(partition_by=c.c.lane, order_by=(c.c.run_at, c.c.id))
    ranked = select(c.c.id, c.c.lane, c.c.run_at, rank.label("rn")).subquery("ranked")
    open_lanes = [(ranked.c.lane == lane, n) for lane, n in sorted(room.items()) if n > 0]
    cap = case(*open_lanes, else_=lane_limit) if open_lanes else literal(lane_limit)
    return (
        select(ranked.c.id)
        .where(or_(ranked.c.lane == "", ranked.c.rn <= cap))
        .order_by(ranked.c.run_at, ranked.c.id)
        .limit(limit)
        .scalar_subquery()
    )


async def complete(db: Database, job_id: int | Sequence[int], worker_id: str) -> None:
    """Mark finished jobs done (one statement for all of them)."""
    ids = [job_id] if isinstance(job_id, int) else list(job_id)
    if not ids:
        return
    async with db.write(durable=False) as session:
        await (await session.connection()).execute(_done_stmt(ids, worker_id))


class LeaseLost(Exception):
    """The job is no longer this run's (its lease expired and it was claimed again): its effects must not commit."""


def _complete_stmt(fenced: bool) -> Any:
    """:func:`_done_stmt` for one job, its values as parameters (built once: see ``app.db.prepared``)."""
    stmt = update(JOBS).where(C.id == bindparam("b_id"), C.locked_by == bindparam("b_worker"), C.state == RUNNING)
    if fenced:
        stmt = stmt.where(C.attempts == bindparam("b_attempt"))
    return stmt.values(state=DONE, finished_at=bindparam("b_now"), locked_until=None, last_error=None)


async def complete_in(session: AsyncSession, job_id: int, worker_id: str, attempt: int | None = None) -> None:
    """Mark a job done in the caller's transaction, the one that writes the job's effects: they commit together,
    so a crash can neither lose the completion of committed work nor re-run it. With ``attempt``, fenced: a run
    whose lease expired and whose job was claimed again (even by this worker) raises :class:`LeaseLost`, which
    rolls its transaction back, so only one run's effects ever commit."""
    params = {"b_id": job_id, "b_worker": worker_id, "b_now": utcnow(), "b_attempt": attempt}
    fenced = attempt is not None
    res = await run_prepared(session, f"jobs.complete.{fenced}", lambda _d: _complete_stmt(fenced), params)
    if attempt is not None and not res.rowcount:
        raise LeaseLost(f"job {job_id} attempt {attempt} is no longer leased to {worker_id}")


async def fail(
    db: Database, job_id: int, worker_id: str, *, error: str, retry_at: datetime | None, attempt: int | None = None
) -> None:
    """Record a failure: back in the queue at ``retry_at``, or dead when ``retry_at`` is None (only for the run of
    ``attempt`` when given: a run whose job was claimed again records nothing)."""
    values: dict[str, Any] = {"last_error": error[:2000], "locked_until": None}
    if retry_at is None:
        values.update(state=DEAD, finished_at=utcnow())
    else:
        values.update(state=QUEUED, run_at=retry_at, locked_by=None)
    stmt = update(JOBS).where(C.id == job_id, C.locked_by == worker_id, C.state == RUNNING).values(**values)
    if attempt is not None:
        stmt = stmt.where(C.attempts == attempt)
    async with db.write(durable=False) as session:
        await (await session.connection()).execute(stmt)


async def extend(db: Database, job_id: int | Sequence[int], worker_id: str, lease: timedelta) -> bool:
    """Renew the lease of running jobs (heartbeat); False when none of them is ours any more."""
    ids = [job_id] if isinstance(job_id, int) else list(job_id)
    if not ids:
        return False
    async with db.write(durable=False) as session:
        res = await (await session.connection()).execute(
            update(JOBS)
            .where(C.id.in_(ids), C.locked_by == worker_id, C.state == RUNNING)
            .values(locked_until=utcnow() + lease)
        )
    return bool(getattr(res, "rowcount", 0))


async def release(db: Database, job_ids: list[int], worker_id: str) -> None:
    """Give claimed jobs back untouched (graceful shutdown): the attempt is not counted."""
    if not job_ids:
        return
    async with db.write(durable=False) as session:
        await (await session.connection()).execute(
            update(JOBS)
            .where(C.id.in_(job_ids), C.locked_by == worker_id, C.state == RUNNING)
            .values(state=QUEUED, locked_until=None, locked_by=None, attempts=C.attempts - 1)
        )


async def reap(db: Database) -> int:
    """Re-queue jobs whose lease expired (their worker died); bury those out of attempts."""
    now = utcnow()
    expired = (C.state == RUNNING, C.locked_until < now)
    # Look first: the reaper runs every few seconds on every worker, and there is usually nothing to reap.
    async with db.read() as session:
        if (await (await session.connection()).execute(select(C.id).where(*expired).limit(1))).first() is None:
            return 0
    async with db.write(durable=False) as session:
        conn = await session.connection()
        dead = await conn.execute(
            update(JOBS)
            .where(*expired, C.attempts >= C.max_attempts)
            .values(state=DEAD, finished_at=now, last_error="lease expired on the last attempt")
        )
        back = await conn.execute(
            update(JOBS).where(*expired).values(state=QUEUED, locked_until=None, locked_by=None, run_at=now)
        )
        if back.rowcount:
            await _announce(session)
    n = int(getattr(back, "rowcount", 0) or 0) + int(getattr(dead, "rowcount", 0) or 0)
    if n:
        WAKEUP.set()
    return n


async def depth(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = (await session.execute(select(C.state, func.count()).group_by(C.state))).all()
    return {str(s): int(n) for s, n in rows}


def _libpq_url(db: Database) -> str:
    return make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(db: Database, stop: asyncio.Event, *, retry: float = 2.0) -> None:
    """PostgreSQL: wake this process's worker on every ``NOTIFY ardoise_jobs`` (another process enqueued work),
    on a dedicated connection outside the pool, reconnecting after a failure. Polling stays the fallback: a
    notification lost while reconnecting only waits for the next poll. No-op on SQLite (one process)."""
    if db.is_sqlite:
        return
    import psycopg  # only PostgreSQL deployments load the driver's async connection here

    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(_libpq_url(db), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                db.info["listening"] = True
                WAKEUP.set()  # anything enqueued while we were not listening
                try:
                    while not stop.is_set():
                        # A bounded wait, so a stop is seen within a second.
                        async for _note in conn.notifies(timeout=1.0):
                            WAKEUP.set()
                finally:
                    db.info["listening"] = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            db.info["listening"] = False
            log.warning("worker.listen_failed", error=str(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry)
