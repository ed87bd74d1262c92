"""Jobs: schedule and run mention polling per account, schedule and send digests, alerts, likes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlmodel import col

from app.accounts.credentials import account_broke, account_credentials
from app.catalogue import label, t
from app.db import insert_for
from app.email.digest import DigestItem as EmailDigestItem
from app.email.digest import render_digest as render_email_digest
from app.kit.errors import AuthError, PermanentError, RetryableError, within
from app.kit.time import utcnow
from app.lanes import network_lane
from app.mentions import service as mention_service
from app.mentions.digest import Lang, compose_sms_digest, priority
from app.messages import outbox
from app.models import (
    AccountStatus,
    Business,
    DigestSettings,
    InboundMessage,
    Job,
    Member,
    MentionCursor,
    MentionRow,
    NetworkAccount,
)
from app.networks.base import ReplyTarget
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import JobInfo
from app.worker.schedule import slot_start

log = structlog.get_logger("ardoise.mentions")

UNAVAILABLE: dict[Lang, str] = {"fr": "réseau indisponible", "en": "network unavailable"}


def supports_mentions(rt: Runtime, network: str) -> bool:
    return hasattr(rt.networks.get(network), "fetch_mentions")


async def schedule_polls(rt: Runtime, job: JobInfo) -> None:
    """Enqueue one poll per active account for the current slot of its network's interval
    (``ARDOISE_MENTION_POLL_MINUTES``), spread over the slot (no burst). This runs at the shortest interval;
    a longer interval's slot is enqueued once whatever the number of runs, schedulers and restarts (its dedup
    key)."""
    now, minutes = utcnow(), rt.settings.poll_minutes()
    async with rt.db.write() as s:
        accounts = (
            await s.execute(
                select(col(NetworkAccount.id), col(NetworkAccount.network), col(NetworkAccount.handle)).where(
                    col(NetworkAccount.status) == AccountStatus.active.value
                )
            )
        ).all()
        for account_id, network, handle in accounts:
            if not supports_mentions(rt, network):
                continue
            every = timedelta(minutes=minutes.get(network, 5))
            start, spread = slot_start(now, every), int(every.total_seconds())
            await queue.enqueue(
                s,
                "mentions.poll",
                {"account_id": account_id},
                lane=network_lane(network, handle),
                dedup_key=f"poll:{account_id}:{start.isoformat(timespec='seconds')}",
                run_at=max(now, start + timedelta(seconds=((account_id or 0) * 37) % spread)),
                max_attempts=3,
            )


async def poll(rt: Runtime, job: JobInfo) -> None:
    await poll_account(rt, int(job.payload["account_id"]))


async def poll_business(rt: Runtime, business_id: int, *, seconds: float) -> None:
    """Poll every active account of the business at once, waiting at most ``seconds`` (``M`` answers with what
    arrived). A poll still running then is cancelled: its cursor is not saved, so the scheduled poll fetches the
    same items again and nothing is lost; a failure is left to the scheduled poll too."""
    if seconds <= 0:
        return
    async with rt.db.read() as s:
        rows = (
            await s.execute(
                select(col(NetworkAccount.id), col(NetworkAccount.network)).where(
                    col(NetworkAccount.business_id) == business_id,
                    col(NetworkAccount.status) == AccountStatus.active.value,
                )
            )
        ).all()
    ids = [account_id for account_id, network in rows if account_id is not None and supports_mentions(rt, network)]
    if not ids:
        return
    polls = [asyncio.ensure_future(poll_account(rt, account_id)) for account_id in ids]
    done, late = await asyncio.wait(polls, timeout=seconds)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.info("mentions.poll_on_command_failed", business_id=business_id, error=type(task.exception()).__name__)
    if late:
        log.info("mentions.poll_on_command_late", business_id=business_id, accounts=len(late))


async def poll_account(rt: Runtime, account_id: int) -> None:
    """Fetch the account's new mentions and store them (the ``mentions.poll`` job, and ``M``'s first step)."""
    async with rt.db.read() as s:  # one query: a poll is the most frequent job there is
        row = (
            await s.execute(
                select(NetworkAccount, Business, MentionCursor)
                .join(Business, col(Business.id) == col(NetworkAccount.business_id))
                .outerjoin(MentionCursor, col(MentionCursor.account_id) == col(NetworkAccount.id))
                .where(col(NetworkAccount.id) == account_id)
            )
        ).first()
    if row is None:
        return
    acct, biz, cur = row
    if acct.status != AccountStatus.active.value or biz.deleted_at is not None:
        return
    net: Any = rt.networks.get(acct.network)
    if not hasattr(net, "fetch_mentions"):
        return
    try:
        # tokens renewed during the poll are stored on the way out, failure or not (X rotates its refresh token at
        # every refresh)
        async with (
            account_credentials(rt, acct, biz) as creds,
            within(rt.settings.network_timeout_seconds, label(acct.network)),
        ):
            items, new_cursor = await net.fetch_mentions(creds, cur.cursor if cur else None)
    except AuthError as exc:
        await account_broke(rt, account_id, biz, exc.reason)
        return
    except (RetryableError, PermanentError) as exc:
        async with rt.db.write() as s:
            await _save_cursor(s, account_id, cur.cursor if cur else None, error=exc.reason)
        if isinstance(exc, RetryableError):
            raise  # a network outage delays collection; the cursor is untouched, nothing is lost
        return
    if not items:
        # Nothing new (almost every poll): one statement, the time of the poll and the cursor.
        async with rt.db.write(durable=False) as s:
            await _save_cursor(s, account_id, new_cursor, error=None)
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
    """Upsert the account's cursor, poll time and last error (one statement)."""
    values = {
        "account_id": account_id,
        "cursor": cursor,
        "polled_at": utcnow(),
        "last_error": (error or None) and error[:500],
    }
    await s.execute(
        insert_for(s, MentionCursor)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["account_id"], set_={k: v for k, v in values.items() if k != "account_id"}
        )
    )


def _wants_sms(st: DigestSettings, member: Member) -> bool:
    return st.channel in ("sms", "both") and bool(member.phone)


def _wants_email(st: DigestSettings, member: Member) -> bool:
    return st.channel in ("email", "both") and bool(member.email)


async def _job_exists(s: Any, dedup_key: str) -> bool:
    return (await s.execute(select(col(Job.id)).where(col(Job.dedup_key) == dedup_key))).first() is not None


async def schedule_digests(rt: Runtime, job: JobInfo) -> None:
    """For every member, enqueue the digest of each slot that has started (one job per slot, ever: the slot's
    dedup key holds across workers, schedulers and restarts). A slot that starts in quiet hours waits for
    their end."""
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
            if not member.phone and not member.email:
                continue
            st = await mention_service.settings_for(s, member)
            tz = ZoneInfo(biz.timezone)
            local_now = now.astimezone(tz)
            # Only the latest slot that started: one digest carries everything not yet seen, so slots missed
            # while Ardoise was down (or passed before a member was added) make one digest, not a burst.
            for slot in sorted(mention_service.due_slots(st, tz, now))[-1:]:
                run_at = now
                if mention_service.in_quiet_hours(st, local_now):
                    run_at = mention_service.quiet_end_after(st, local_now).astimezone(UTC)
                await queue.enqueue(
                    s,
                    "mentions.send_digest",
                    {"member_id": member.id, "slot": slot.isoformat()},
                    dedup_key=f"digest:{member.id}:{slot.isoformat(timespec='minutes')}",
                    run_at=run_at,
                    business_id=biz.id,
                    max_attempts=3,
                )


async def send_digest(rt: Runtime, job: JobInfo) -> None:
    """One digest for one member and slot, by SMS, email or both. Nothing new: nothing sent. Paused: nothing
    sent. Quiet hours: it waits for their end (a new job, so waiting costs no attempt)."""
    member_id = int(job.payload["member_id"])
    slot = str(job.payload.get("slot", ""))
    async with rt.db.write() as s:
        member = await s.get(Member, member_id)
        biz = await s.get(Business, member.business_id) if member else None
        if member is None or biz is None or biz.deleted_at is not None or member.opted_out:
            return
        assert biz.id is not None
        st = await mention_service.settings_for(s, member)
        tz = ZoneInfo(biz.timezone)
        now = utcnow()
        local = now.astimezone(tz)
        if st.paused_until is not None and st.paused_until > now:
            log.info("digest.paused", member_id=member_id, slot=slot)
            return
        if mention_service.in_quiet_hours(st, local):
            later = mention_service.quiet_end_after(st, local).astimezone(UTC)
            await queue.enqueue(
                s,
                "mentions.send_digest",
                {"member_id": member_id, "slot": slot},
                dedup_key=f"digest:{member_id}:{slot}:after:{later.isoformat(timespec='minutes')}",
                run_at=later,
                business_id=biz.id,
                max_attempts=3,
            )
            return
        sms, email = _wants_sms(st, member), _wants_email(st, member)
        if not sms and not email:
            return
        assert member.id is not None
        items = await mention_service.pending_items(s, biz.id, member_id=member.id)
        if not items:
            return
        shown: set[int] = set()
        if email:
            shown |= await _digest_email(rt, s, member, biz, items, dedup=f"digest-email:{member_id}:{slot}")
        if sms:
            shown |= await _digest_sms(rt, s, member, biz, st, tz, items, dedup=f"digest-sms:{member_id}:{slot}")
        await mention_service.mark_seen(s, member.id, [m for m in items if m.number in shown])


async def _digest_sms(
    rt: Runtime,
    s: Any,
    member: Member,
    biz: Business,
    st: DigestSettings,
    tz: ZoneInfo,
    items: list[MentionRow],
    *,
    dedup: str,
) -> set[int]:
    """Queue the SMS digest within the segment budget and what is left of the daily cap; the numbers shown."""
    if await _job_exists(s, dedup):
        return set()  # this slot's SMS is already out (a job that ran again after its worker died)
    left = st.daily_cap_segments - await mention_service.segments_sent_today(s, member, tz)
    budget = min(st.budget_segments, left)
    if budget <= 0:
        log.info("digest.capped", member_id=member.id, cap=st.daily_cap_segments)
        return set()
    digest = compose_sms_digest(
        [mention_service.to_item(m) for m in items],
        _lang(member),
        budget_segments=budget,
        own_handles=await mention_service.own_handles(s, biz.id or 0),
    )
    if not digest.text:
        return set()
    msg = await outbox.send(
        s, rt.settings, member, digest.text, to=outbox.SMS, kind="digest", business_id=biz.id, dedup_key=dedup
    )
    return set(digest.shown) if msg is not None else set()


async def _digest_email(
    rt: Runtime, s: Any, member: Member, biz: Business, items: list[MentionRow], *, dedup: str
) -> set[int]:
    """Queue the email digest (every item, most important first, answerable line by line); the numbers shown."""
    if await _job_exists(s, dedup):
        return set()
    ordered = sorted(items, key=lambda m: priority(mention_service.to_item(m)))
    subject, text = render_email_digest(
        [EmailDigestItem(number=m.number, network=m.network, author=m.author, text=m.text, url=m.url) for m in ordered],
        business=biz.name,
        lang=member.language,
    )
    msg = await outbox.send(
        s,
        rt.settings,
        member,
        text,
        to=outbox.EMAIL,
        kind="digest",
        business_id=biz.id,
        subject=subject,
        purpose="digest",
        automatic=True,
        dedup_key=dedup,
    )
    return {m.number for m in items} if msg is not None else set()


def _lang(member: Member) -> Lang:
    return "en" if member.language == "en" else "fr"


async def alert(rt: Runtime, job: JobInfo) -> None:
    """Questions and low ratings, at once, for members who opted in (ALERTES OUI). In quiet hours the alert
    waits for their end (one job per member); an item a digest or ``M`` has shown meanwhile is not repeated."""
    ids = [int(x) for x in job.payload.get("mention_ids", [])]
    only = job.payload.get("member_id")
    origin = int(job.payload.get("origin", job.id))
    async with rt.db.write() as s:
        biz = await s.get(Business, int(job.payload["business_id"]))
        if biz is None or biz.deleted_at is not None or not ids:
            return
        rows = list(
            (
                await s.execute(
                    select(MentionRow)
                    .where(col(MentionRow.id).in_(ids), col(MentionRow.answered_at).is_(None))
                    .order_by(col(MentionRow.id))
                )
            ).scalars()
        )
        if not rows:
            return
        tz = ZoneInfo(biz.timezone)
        q = select(Member).where(col(Member.business_id) == biz.id, col(Member.opted_out).is_(False))
        if only is not None:
            q = q.where(col(Member.id) == int(only))
        members = (await s.execute(q.order_by(col(Member.id)))).scalars().all()
        now = utcnow()
        for member in members:
            assert member.id is not None
            st = await mention_service.settings_for(s, member)
            if not st.alerts or not member.phone or (st.paused_until and st.paused_until > now):
                continue
            seen = await mention_service.seen_by(s, member.id, [m.id for m in rows if m.id is not None])
            fresh = [m for m in rows if m.id not in seen]  # what a digest or M showed this member is not repeated
            if not fresh:
                continue
            local = now.astimezone(tz)
            if mention_service.in_quiet_hours(st, local):
                later = mention_service.quiet_end_after(st, local).astimezone(UTC)
                await queue.enqueue(
                    s,
                    "mentions.alert",
                    {"business_id": biz.id, "mention_ids": ids, "member_id": member.id, "origin": origin},
                    dedup_key=f"alert-later:{member.id}:{origin}:{later.isoformat(timespec='minutes')}",
                    run_at=later,
                    business_id=biz.id,
                )
                continue
            left = st.daily_cap_segments - await mention_service.segments_sent_today(s, member, tz)
            if left <= 0:
                log.info("alert.capped", member_id=member.id, cap=st.daily_cap_segments)
                continue
            digest = compose_sms_digest(
                [mention_service.to_item(m) for m in fresh],
                _lang(member),
                budget_segments=min(1, left),
                own_handles=await mention_service.own_handles(s, biz.id or 0),
            )
            if digest.text and await outbox.send(
                s,
                rt.settings,
                member,
                digest.text,
                to=outbox.SMS,
                kind="alert",
                business_id=biz.id,
                dedup_key=f"alert:{member.id}:{job.id}",
            ):
                # an item the one-segment alert had no room for stays for this member's digest
                shown = set(digest.shown)
                await mention_service.mark_seen(s, member.id, [m for m in fresh if m.number in shown])
                for m in fresh:
                    if m.number in shown and m.alerted_at is None:
                        m.alerted_at = utcnow()
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
        target = dict(m.target)
        try:
            async with (
                account_credentials(rt, acct, biz) as creds,
                within(rt.settings.network_timeout_seconds, label(acct.network)),
            ):
                await net.like_item(ReplyTarget(remote_id=target.pop("remote_id", m.remote_id), extra=target), creds)
        except RetryableError:
            if not job.last_attempt:
                raise
            key, values["reason"] = "like_failed", UNAVAILABLE[_lang(member)]
        except PermanentError as exc:
            key, values["reason"] = "like_failed", exc.reason[:40]
    inbound_id = job.payload.get("inbound_id")
    async with rt.db.write() as s:
        row = await s.get(MentionRow, mention_id)
        if row is not None and key == "like_done":
            row.liked_at = row.liked_at or utcnow()
            s.add(row)
        dedup = f"like-reply:{mention_id}:{inbound_id or ''}"
        if not member.phone or await _job_exists(s, dedup):
            return
        inbound = await s.get(InboundMessage, int(inbound_id)) if inbound_id else None
        # the answer to the member's J n: from the number they texted, threaded to their SMS
        to = await outbox.target_of(s, inbound.id, "sms") if inbound is not None else outbox.SMS
        text = t(key, member.language, **values)
        await outbox.send(s, rt.settings, member, text, to=to, kind="reply", business_id=biz.id, dedup_key=dedup)


__all__ = ["alert", "datetime", "like", "poll", "schedule_digests", "schedule_polls", "send_digest"]
