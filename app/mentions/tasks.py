"""Jobs: schedule and run mention polling per account, schedule and send digests, alerts, likes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlmodel import col

from app.catalogue import label, t
from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.mentions import service as mention_service
from app.mentions.digest import compose_sms_digest
from app.messages import service as sms_service
from app.models import AccountStatus, Business, Member, MentionCursor, MentionRow, NetworkAccount
from app.posts.tasks import credentials, mark_account_broken
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import JobInfo
from app.worker.schedule import slot_start

log = structlog.get_logger("ardoise.mentions")

POLL_EVERY = timedelta(minutes=5)


def supports_mentions(rt: Runtime, network: str) -> bool:
    return hasattr(rt.networks.get(network), "fetch_mentions")


async def schedule_polls(rt: Runtime, job: JobInfo) -> None:
    """Enqueue one poll per active account for this 5-minute slot, spread over the slot (no burst)."""
    start = slot_start(utcnow(), POLL_EVERY)
    async with rt.db.write() as s:
        accounts = (
            await s.execute(
                select(col(NetworkAccount.id), col(NetworkAccount.network)).where(
                    col(NetworkAccount.status) == AccountStatus.active.value
                )
            )
        ).all()
        spread = int(POLL_EVERY.total_seconds())
        for account_id, network in accounts:
            if not supports_mentions(rt, network):
                continue
            await queue.enqueue(
                s,
                "mentions.poll",
                {"account_id": account_id},
                dedup_key=f"poll:{account_id}:{start.isoformat(timespec='seconds')}",
                run_at=max(utcnow(), start + timedelta(seconds=((account_id or 0) * 37) % spread)),
                max_attempts=3,
            )


async def poll(rt: Runtime, job: JobInfo) -> None:
    account_id = int(job.payload["account_id"])
    async with rt.db.read() as s:
        acct = await s.get(NetworkAccount, account_id)
        biz = await s.get(Business, acct.business_id) if acct else None
        cur = await s.get(MentionCursor, account_id)
    if acct is None or biz is None or acct.status != AccountStatus.active.value or biz.deleted_at is not None:
        return
    net: Any = rt.networks.get(acct.network)
    if not hasattr(net, "fetch_mentions"):
        return
    try:
        items, new_cursor = await net.fetch_mentions(credentials(rt, acct, biz), cur.cursor if cur else None)
    except AuthError as exc:
        async with rt.db.write() as s:
            a = await s.get(NetworkAccount, account_id)
            if a is not None:
                await mark_account_broken(rt, s, a, biz, exc.reason)
        return
    except (RetryableError, PermanentError) as exc:
        async with rt.db.write() as s:
            await _save_cursor(s, account_id, cur.cursor if cur else None, error=exc.reason)
        if isinstance(exc, RetryableError):
            raise  # a network outage delays collection; the cursor is untouched, nothing is lost
        return
    async with rt.db.write() as s:
        a = await s.get(NetworkAccount, account_id)
        if a is None:
            return
        new = await mention_service.store(s, account=a, items=items)
        await _save_cursor(s, account_id, new_cursor, error=None)
        urgent = [m for m in new if m.is_question or (m.rating is not None and m.rating <= 3)]
        if urgent:
            await queue.enqueue(
                s, "mentions.alert", {"business_id": biz.id, "mention_ids": [m.id for m in urgent]}, business_id=biz.id
            )
    if new:
        log.info("mentions.collected", account_id=account_id, new=len(new))


async def _save_cursor(s: Any, account_id: int, cursor: str | None, *, error: str | None) -> None:
    row = await s.get(MentionCursor, account_id)
    if row is None:
        row = MentionCursor(account_id=account_id)
    row.cursor, row.polled_at, row.last_error = cursor, utcnow(), (error or None) and error[:500]
    s.add(row)


async def schedule_digests(rt: Runtime, job: JobInfo) -> None:
    """For every member, enqueue the digest of each slot that has started (one job per slot, ever)."""
    now = utcnow()
    async with rt.db.write() as s:
        rows = (
            await s.execute(
                select(Member, Business)
                .join(Business, col(Business.id) == col(Member.business_id))
                .where(col(Business.deleted_at).is_(None), col(Member.opted_out).is_(False))
            )
        ).all()
        for member, biz in rows:
            if not member.phone:
                continue
            st = await mention_service.settings_for(s, member)
            tz = ZoneInfo(biz.timezone)
            for slot in mention_service.due_slots(st, tz, now):
                local_now = now.astimezone(tz)
                run_at = now
                if mention_service.in_quiet_hours(st, local_now):
                    run_at = mention_service.quiet_end_after(st, local_now).astimezone(ZoneInfo("UTC"))
                key = f"digest:{member.id}:{slot.isoformat(timespec='minutes')}"
                await queue.enqueue(
                    s,
                    "mentions.send_digest",
                    {"member_id": member.id, "slot": slot.isoformat()},
                    dedup_key=key,
                    run_at=run_at,
                    business_id=biz.id,
                    max_attempts=3,
                )


async def send_digest(rt: Runtime, job: JobInfo) -> None:
    """One digest for one member and slot. Nothing new: nothing sent. Quiet hours: it waits."""
    member_id = int(job.payload["member_id"])
    async with rt.db.write() as s:
        member = await s.get(Member, member_id)
        biz = await s.get(Business, member.business_id) if member else None
        if member is None or biz is None or not member.phone or member.opted_out:
            return
        st = await mention_service.settings_for(s, member)
        tz = ZoneInfo(biz.timezone)
        local = utcnow().astimezone(tz)
        if st.paused_until is not None and st.paused_until > utcnow():
            return
        if mention_service.in_quiet_hours(st, local):
            delay = (mention_service.quiet_end_after(st, local) - local).total_seconds()
            raise RetryableError("quiet hours", retry_after=max(60.0, delay))
        if st.channel not in ("sms", "both"):
            return
        await _digest_sms(
            rt,
            s,
            member,
            biz,
            st.budget_segments,
            st.daily_cap_segments,
            tz,
            dedup=f"digest-sms:{member_id}:{job.payload.get('slot', '')}",
        )


async def _digest_sms(
    rt: Runtime, s: Any, member: Member, biz: Business, budget: int, cap: int, tz: ZoneInfo, *, dedup: str
) -> None:
    assert biz.id is not None
    items = await mention_service.pending_items(s, biz.id)
    if not items:
        return
    left = cap - await mention_service.segments_sent_today(s, member, tz)
    budget = min(budget, left)
    if budget <= 0:
        log.info("digest.capped", member_id=member.id)
        return
    digest = compose_sms_digest(
        [mention_service.to_item(m) for m in items],
        member.language,  # type: ignore[arg-type]
        budget_segments=budget,
    )
    if not digest.text:
        return
    msg = await sms_service.queue_sms(
        s,
        rt.settings,
        to=member.phone or "",
        text=digest.text,
        kind="digest",
        business_id=biz.id,
        member=member,
        dedup_key=dedup,
    )
    if msg is None:
        return
    shown = set(digest.shown)
    for m in items:
        if m.number in shown:
            m.digested_at = utcnow()
            s.add(m)


async def alert(rt: Runtime, job: JobInfo) -> None:
    """Questions and low ratings, at once, for members who opted in (ALERTES OUI), outside quiet hours."""
    ids = [int(x) for x in job.payload.get("mention_ids", [])]
    async with rt.db.write() as s:
        biz = await s.get(Business, int(job.payload["business_id"]))
        if biz is None or not ids:
            return
        rows = list(
            (
                await s.execute(
                    select(MentionRow).where(col(MentionRow.id).in_(ids), col(MentionRow.alerted_at).is_(None))
                )
            ).scalars()
        )
        if not rows:
            return
        tz = ZoneInfo(biz.timezone)
        members = (
            (await s.execute(select(Member).where(col(Member.business_id) == biz.id, col(Member.opted_out).is_(False))))
            .scalars()
            .all()
        )
        sent = False
        for member in members:
            st = await mention_service.settings_for(s, member)
            if not st.alerts or not member.phone or (st.paused_until and st.paused_until > utcnow()):
                continue
            if mention_service.in_quiet_hours(st, utcnow().astimezone(tz)):
                continue  # they will be in the next digest
            left = st.daily_cap_segments - await mention_service.segments_sent_today(s, member, tz)
            if left <= 0:
                continue
            digest = compose_sms_digest(
                [mention_service.to_item(m) for m in rows],
                member.language,  # type: ignore[arg-type]
                budget_segments=min(1, left),
            )
            if digest.text and await sms_service.queue_sms(
                s,
                rt.settings,
                to=member.phone,
                text=digest.text,
                kind="alert",
                business_id=biz.id,
                member=member,
                dedup_key=f"alert:{member.id}:{job.id}",
            ):
                sent = True
        if sent:
            for m in rows:
                m.alerted_at = utcnow()
                m.digested_at = m.digested_at or utcnow()
                s.add(m)


async def like(rt: Runtime, job: JobInfo) -> None:
    """J n: like the item on its network, then one SMS saying so (or why not)."""
    mention_id, member_id = int(job.payload["mention_id"]), int(job.payload["member_id"])
    async with rt.db.read() as s:
        m = await s.get(MentionRow, mention_id)
        member = await s.get(Member, member_id)
        acct = await s.get(NetworkAccount, m.account_id) if m else None
        biz = await s.get(Business, m.business_id) if m else None
    if m is None or member is None or acct is None or biz is None:
        return
    net: Any = rt.networks.get(acct.network)
    key, values = "like_done", {"number": m.number, "network": label(acct.network)}
    if not hasattr(net, "like_item"):
        key = "like_unsupported"
    elif m.liked_at is None:
        from app.networks.base import ReplyTarget

        target = dict(m.target)
        try:
            await net.like_item(
                ReplyTarget(remote_id=target.pop("remote_id", m.remote_id), extra=target), credentials(rt, acct, biz)
            )
        except RetryableError:
            if not job.last_attempt:
                raise
            key, values["reason"] = "like_failed", "reseau indisponible"
        except PermanentError as exc:
            key, values["reason"] = "like_failed", exc.reason[:40]
    async with rt.db.write() as s:
        row = await s.get(MentionRow, mention_id)
        if row is not None and key == "like_done":
            row.liked_at = row.liked_at or utcnow()
            s.add(row)
        await sms_service.queue_sms(
            s,
            rt.settings,
            to=member.phone or "",
            text=t(key, member.language, **values),
            kind="reply",
            business_id=biz.id,
            member=member,
            dedup_key=f"like-reply:{mention_id}:{job.payload.get('inbound_id', '')}",
        )


__all__ = ["alert", "datetime", "like", "poll", "schedule_digests", "schedule_polls", "send_digest"]
