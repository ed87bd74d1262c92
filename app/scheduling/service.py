"""Scheduled posts: create, list, cancel, publish when due. Services take a session and never commit.

A scheduled post is a :class:`Post` in state ``scheduled`` with ``scheduled_at`` (UTC). It takes its number when it
is scheduled: the ``Programmé #14`` SMS, ``PROG``, ``ANNULER P14`` and the ``Publié #14`` receipt all say 14. It has
no delivery until its time, so the page and the feed (which show posts whose page delivery is published) cannot
show it early. Its time comes as one job, ``scheduling.publish``, whose dedup key names the post and the occurrence
(``scheduled:<post id>:<UTC minute>``); the job publishes only a post still ``scheduled``, under the post's row lock,
in one transaction with its deliveries: a job run twice (a worker killed after the commit, two workers, a clock
jump) publishes once.

A weekly post is a :class:`Schedule` row (weekday and wall time in the business's zone) and, at any time, one
occurrence: a scheduled Post. Publishing an occurrence makes the next one (a new number), computed from the wall
time each week, so it stays at 11 h across daylight-saving changes. Cancelling an occurrence ends the series.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.kit.time import utcnow
from app.models import Business, Post, PostStatus, Schedule
from app.posts import service as post_service
from app.worker import queue

JOB_KIND = "scheduling.publish"


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant a wall time ``local`` (naive) names in ``tz``.

    A time that does not exist (the spring-forward gap: 2 h 30 when clocks jump from 2 h to 3 h) is the first valid
    minute after the gap (3 h 00); a time that happens twice (fall back: 1 h 30) is its first occurrence."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == local:
        return first
    # In the gap: fold=1 reads it with the offset after the change (an instant before the gap), fold=0 with the
    # offset before it (after the gap). The change lies between; find its first minute.
    lo, hi = local.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    while hi - lo > timedelta(minutes=1):
        mid = lo + timedelta(minutes=(hi - lo) // timedelta(minutes=1) // 2)
        if mid.astimezone(tz).replace(tzinfo=None) >= local:
            hi = mid
        else:
            lo = mid
    return hi


def weekly_after(schedule: Schedule, tz: ZoneInfo, after: datetime) -> datetime:
    """The first occurrence of a weekly rule strictly after the instant ``after`` (UTC)."""
    local_after = after.astimezone(tz).replace(tzinfo=None)
    day = local_after.date() + timedelta(days=(schedule.weekday - local_after.weekday()) % 7)
    while True:
        at = to_utc(rule_time(schedule, datetime.combine(day, time())), tz)
        if at > after:
            return at
        day += timedelta(days=7)


def job_key(post: Post) -> str:
    assert post.scheduled_at is not None
    return f"scheduled:{post.id}:{post.scheduled_at.astimezone(UTC):%Y%m%dT%H%MZ}"


async def _enqueue(session: AsyncSession, post: Post) -> None:
    await queue.enqueue(
        session,
        JOB_KIND,
        {"post_id": post.id},
        run_at=post.scheduled_at,
        dedup_key=job_key(post),
        business_id=post.business_id,
        max_attempts=8,
    )


async def create(
    session: AsyncSession,
    *,
    biz: Business,
    local: datetime,
    text: str,
    media: list[dict[str, str]],
    source: str,
    author_member_id: int | None,
    source_message_id: int | None,
    actor: str,
    weekly: bool = False,
) -> Post:
    """Schedule a post for the wall time ``local`` (naive) in the business's zone (:func:`to_utc`); ``weekly``:
    every week on that weekday at that wall time."""
    assert biz.id is not None
    at = to_utc(local, ZoneInfo(biz.timezone))
    schedule: Schedule | None = None
    if weekly:
        schedule = Schedule(
            business_id=biz.id,
            weekday=local.weekday(),
            at=f"{local:%H:%M}",
            text=text,
            media=media,
            source=source,
            author_member_id=author_member_id,
            source_message_id=source_message_id,
        )
        session.add(schedule)
        await session.flush()
    post = await _occurrence(
        session,
        biz=biz,
        at=at,
        text=text,
        media=media,
        source=source,
        author_member_id=author_member_id,
        source_message_id=source_message_id,
        schedule=schedule,
    )
    await audit.record(
        session,
        actor=actor,
        action="post.schedule",
        business_id=biz.id,
        target=f"post:{post.number}",
        detail=f"at={at.isoformat()} weekly={weekly}",
    )
    return post


async def _occurrence(
    session: AsyncSession,
    *,
    biz: Business,
    at: datetime,
    text: str,
    media: list[dict[str, str]],
    source: str,
    author_member_id: int | None,
    source_message_id: int | None,
    schedule: Schedule | None,
) -> Post:
    assert biz.id is not None
    post = Post(
        business_id=biz.id,
        number=await post_service.next_number(session, biz),
        text=text,
        media=[dict(m) for m in media],
        source=source,
        author_member_id=author_member_id,
        source_message_id=source_message_id,
        status=PostStatus.scheduled.value,
        scheduled_at=at,
        schedule_id=schedule.id if schedule is not None else None,
    )
    session.add(post)
    await session.flush()
    await _enqueue(session, post)
    return post


@dataclass(frozen=True, slots=True)
class Item:
    """One line of PROG: the post, and its weekly rule if it has one."""

    post: Post
    weekly: Schedule | None


async def pending(session: AsyncSession, business_id: int) -> list[Item]:
    """The business's scheduled posts, soonest first."""
    rows = (
        await session.execute(
            select(Post, Schedule)
            .outerjoin(Schedule, col(Schedule.id) == col(Post.schedule_id))
            .where(col(Post.business_id) == business_id, col(Post.status) == PostStatus.scheduled.value)
            .order_by(col(Post.scheduled_at), col(Post.number))
        )
    ).all()
    return [Item(post, schedule) for post, schedule in rows]


def rule_time(schedule: Schedule, on: datetime) -> datetime:
    """The rule's wall time on the local day ``on`` (for saying ``chaque lundi à 2 h 30`` even on the night the
    occurrence goes out at 3 h)."""
    hour, minute = (int(x) for x in schedule.at.split(":"))
    return on.replace(hour=hour, minute=minute, second=0, microsecond=0)


async def cancel(session: AsyncSession, *, post: Post, actor: str) -> Schedule | None:
    """Cancel a scheduled post before its time (its job then does nothing); for a weekly one, the whole series.
    Returns the weekly rule it belonged to, if any."""
    post.status = PostStatus.cancelled.value
    session.add(post)
    schedule = await session.get(Schedule, post.schedule_id) if post.schedule_id is not None else None
    if schedule is not None:
        schedule.active = False
        schedule.cancelled_at = utcnow()
        session.add(schedule)
    await audit.record(
        session, actor=actor, action="post.unschedule", business_id=post.business_id, target=f"post:{post.number}"
    )
    return schedule


async def lock(session: AsyncSession, post_id: int) -> Post | None:
    """The post, under its row's write lock on PostgreSQL (SQLite: the transaction already holds the write lock)."""
    q = select(Post).where(col(Post.id) == post_id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def publish_due(session: AsyncSession, *, post_id: int, receipt_deadline: float, public_url: str = "") -> str:
    """Publish a scheduled post whose time has come, once: a post no longer ``scheduled`` (published already,
    cancelled) is left alone. For a weekly post, schedule the next occurrence. Returns what happened."""
    post = await lock(session, post_id)
    if post is None:
        return "gone"
    if post.status != PostStatus.scheduled.value:
        return f"#{post.number} is {post.status}: nothing to do"
    biz = await session.get(Business, post.business_id)
    if biz is None or biz.deleted_at is not None:
        post.status = PostStatus.cancelled.value
        session.add(post)
        return f"#{post.number}: business gone, cancelled"
    post.status = PostStatus.publishing.value
    post.created_at = utcnow()  # the page and the feed date a post by when it went out
    session.add(post)
    ds = await post_service.fan_out(
        session, post=post, biz=biz, receipt_deadline=receipt_deadline, public_url=public_url
    )
    await audit.record(
        session,
        actor="scheduler",
        action="post.create",
        business_id=biz.id,
        target=f"post:{post.number}",
        detail=f"source={post.source} scheduled deliveries={len(ds)}",
    )
    note = f"#{post.number} published"
    schedule = await session.get(Schedule, post.schedule_id) if post.schedule_id is not None else None
    if schedule is not None and schedule.active:
        assert post.scheduled_at is not None
        tz = ZoneInfo(biz.timezone)
        after = max(post.scheduled_at, utcnow())  # after a long outage, the next one still ahead (no burst)
        following = await _occurrence(
            session,
            biz=biz,
            at=weekly_after(schedule, tz, after),
            text=schedule.text,
            media=schedule.media,
            source=schedule.source,
            author_member_id=schedule.author_member_id,
            source_message_id=schedule.source_message_id,
            schedule=schedule,
        )
        note += f", next #{following.number}"
    return note
