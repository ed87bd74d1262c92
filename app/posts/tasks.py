"""Jobs of the posts feature: deliver one post to one account, remove it, send the receipts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.credentials import account_credentials, mark_account_broken
from app.catalogue import label, t
from app.db import prepared
from app.kit import media as media_store
from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError, within
from app.kit.time import utcnow
from app.messages import outbox
from app.messages.outbox import ChannelName
from app.metrics import DELIVERIES
from app.models import (
    Business,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Job,
    JobState,
    Member,
    MentionRow,
    NetworkAccount,
    OutboundMessage,
    Post,
    PostStatus,
)
from app.networks.base import MediaItem, ReplyTarget
from app.networks.base import Post as NetPost
from app.posts import service as post_service
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.posts")


async def ensure_media(rt: Runtime, post: Post) -> list[dict[str, str]]:
    """Download media given only as a URL (API ``media_urls``) into Ardoise's media store."""
    out: list[dict[str, str]] = []
    changed = False
    for m in post.media:
        if m.get("path") and media_store.safe_path(rt.settings.media_dir, m["path"]):
            out.append(m)
            continue
        data, _ctype = await post_service.fetch_media(rt, m["source_url"])
        name = await post_service.store_image(rt, data)
        out.append({**m, "path": name, "url": f"{rt.settings.public_url}/media/{name}", "content_type": "image/jpeg"})
        changed = True
    if changed:
        async with rt.db.write() as s:
            await s.execute(update(Post).where(col(Post.id) == post.id).values(media=out))
    return out


def net_post(
    rt: Runtime,
    post: Post,
    biz: Business,
    d: Delivery,
    media: list[dict[str, str]],
    reply_to: ReplyTarget | None = None,
) -> NetPost:
    items = [
        MediaItem(
            path=str(Path(rt.settings.media_dir) / m["path"]),
            url=m.get("url", ""),
            content_type=m.get("content_type", "image/jpeg"),
            alt=m.get("alt", "") or post.text[:200],
        )
        for m in media
    ]
    return NetPost(
        text=post.text,
        idempotency_key=d.idempotency_key,
        media=items,
        link=post_service.permalink(rt.settings.public_url, biz, post.number),
        reply_to=reply_to,
        created_at=post.created_at,
    )


async def _reply_target(rt: Runtime, post: Post) -> ReplyTarget | None:
    """For an answer to a mention (R n): what it answers on the network."""
    if post.reply_to_mention_id is None:
        return None
    async with rt.db.read() as s:
        m = await s.get(MentionRow, post.reply_to_mention_id)
    if m is None:
        raise PermanentError("the mention being answered is gone")
    extra = dict(m.target)
    return ReplyTarget(remote_id=extra.pop("remote_id", m.remote_id), extra=extra)


async def _load(session: AsyncSession, delivery_id: int) -> tuple[Delivery, Post, NetworkAccount, Business] | None:
    """A delivery with its post, account and business, in one statement."""
    stmt = prepared(
        session,
        "posts.load_delivery",
        lambda _d: (
            select(Delivery, Post, NetworkAccount, Business)
            .join(Post, col(Post.id) == col(Delivery.post_id))
            .join(NetworkAccount, col(NetworkAccount.id) == col(Delivery.account_id))
            .join(Business, col(Business.id) == col(Post.business_id))
            .where(col(Delivery.id) == bindparam("b_delivery"))
        ),
    )
    row = (await session.execute(stmt, {"b_delivery": delivery_id})).first()
    if row is None:
        return None
    d, post, acct, biz = row
    return d, post, acct, biz


async def deliver(rt: Runtime, job: JobInfo) -> None:
    """Publish one post on one account, exactly once: the idempotency key (or record key) is fixed before the
    first attempt, and a retry first asks the network whether an earlier attempt got through."""
    delivery_id = int(job.payload["delivery_id"])
    async with rt.db.read() as s:
        loaded = await _load(s, delivery_id)
    if loaded is None:
        return
    d, post, acct, biz = loaded
    if d.status != DeliveryStatus.pending.value:
        return
    # An earlier attempt may have reached the network: one that failed (counted on the delivery), or a run cut
    # short by a crash (its job was claimed before: the claim counts every run). The idempotency key was fixed
    # with the delivery, in the post's own transaction, so asking first and then publishing with the same key
    # cannot make two posts; nothing needs writing before the call.
    earlier_attempts = d.attempts > 0 or job.attempt > 1
    net = rt.network(acct.network)
    bound = log.bind(delivery_id=delivery_id, network=acct.network, post=post.number, attempt=job.attempt)
    try:
        # Tokens the adapter renewed are stored on the way out, even when the call then failed (X replaces its
        # refresh token on every refresh): see app/accounts/credentials.py.
        async with account_credentials(rt, acct, biz) as creds:
            media = await ensure_media(rt, post)
            npost = net_post(rt, post, biz, d, media, await _reply_target(rt, post))
            async with within(rt.settings.network_timeout_seconds, label(acct.network)):
                result = await net.find_existing(npost, creds) if earlier_attempts else None
                if result is None:
                    result = await net.publish(npost, creds)
    except AdapterError as exc:
        if isinstance(exc, AuthError):
            bound.warning("delivery.auth_failed", error=exc.reason)
            DELIVERIES.labels(network=acct.network, outcome="auth_failed").inc()
            await _failed(rt, delivery_id, exc.reason, code=exc.code, broken_account=True)
            return
        if isinstance(exc, PermanentError):
            bound.warning("delivery.failed", error=exc.reason)
            DELIVERIES.labels(network=acct.network, outcome="failed").inc()
            await _failed(rt, delivery_id, exc.reason, code=exc.code)
            return
        if job.last_attempt or not isinstance(exc, RetryableError):
            DELIVERIES.labels(network=acct.network, outcome="gave_up").inc()
            await _failed(rt, delivery_id, f"gave up after {job.attempt} attempts: {exc.reason}", code="gave_up")
            return
        async with rt.db.write() as s:
            await s.execute(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id)
                .values(last_error=exc.reason[:1000], attempts=col(Delivery.attempts) + 1, updated_at=utcnow())
            )
        raise
    async with rt.db.write() as s:
        loaded = await _load(s, delivery_id)
        if loaded is None:
            return
        d, post, acct, biz = loaded
        d.attempts += 1
        d.remote_id = result.remote_id
        d.remote_url = result.url or None
        d.last_error = result.skipped
        d.updated_at = utcnow()
        if d.status == DeliveryStatus.pending.value:
            d.status = (DeliveryStatus.skipped if result.skipped else DeliveryStatus.published).value
            d.published_at = utcnow()
        s.add(d)
        await _after_change(rt, s, post)
        await job.complete_in(s)
    DELIVERIES.labels(network=acct.network, outcome="skipped" if result.skipped else "published").inc()
    bound.info("delivery.published", remote_id=result.remote_id, skipped=result.skipped)


async def _after_change(rt: Runtime, s: AsyncSession, post: Post) -> None:
    if s.bind is not None and s.bind.dialect.name == "postgresql":
        # Two deliveries of one post finishing at once would each see the other still pending (write skew
        # under READ COMMITTED) and leave the post "publishing": serialise them on the post's row, and read it
        # again once locked (the other may have just sent the receipt: receipt_sent must not be stale).
        await s.execute(
            select(Post).where(col(Post.id) == post.id).with_for_update().execution_options(populate_existing=True)
        )
    done, ds = await post_service.refresh_status(s, post)
    if post.status == PostStatus.deleted.value:
        await queue.reschedule(s, f"undo-receipt:{post.id}", utcnow())
    elif done and await _receipt_once(rt, s, post, ds):
        # Every delivery finished: the receipt went in this transaction; the job waiting for its deadline goes.
        await queue.drop(s, f"receipt:{post.id}")


async def _failed(rt: Runtime, delivery_id: int, reason: str, *, code: str = "", broken_account: bool = False) -> None:
    async with rt.db.write() as s:
        loaded = await _load(s, delivery_id)
        if loaded is None:
            return
        d, post, acct, biz = loaded
        if d.status not in (DeliveryStatus.pending.value, DeliveryStatus.deleting.value):
            return
        d.status = DeliveryStatus.failed.value
        d.last_error = post_service.failure_error(reason, code, disconnected=broken_account)
        d.updated_at = utcnow()
        s.add(d)
        if broken_account:
            # The author's receipt names the disconnected account: it is their one SMS for this command.
            told = post.author_member_id if not post.receipt_sent else None
            await mark_account_broken(rt, s, acct, biz, reason, told_by_receipt=told)
        elif post.receipt_sent and post.author_member_id is not None and not d.owner_notified:
            # The receipt already went out saying "pending": tell the owner once that it failed.
            d.owner_notified = True
            member = await s.get(Member, post.author_member_id)
            if member is not None:
                await outbox.say(
                    s,
                    rt.settings,
                    member,
                    "followup_failed",
                    to=outbox.SMS,
                    kind="followup",
                    business_id=biz.id,
                    number=post.number,
                    network=label(d.network),
                    reason=t(post_service.failure_key(d), member.language),
                )
        await _after_change(rt, s, post)


async def remove(rt: Runtime, job: JobInfo) -> None:
    """Remove one delivery's post from its network. Something already gone counts as removed."""
    delivery_id = int(job.payload["delivery_id"])
    async with rt.db.write() as s:
        loaded = await _load(s, delivery_id)
        if loaded is None:
            return
        d, post, acct, biz = loaded
        if d.status != DeliveryStatus.deleting.value:
            return
        if d.remote_id is None:
            # Never published yet: cancel the deliver job if it has not started; wait for it if it has.
            res = await s.execute(
                update(Job)
                .where(col(Job.dedup_key) == f"deliver:{d.id}", col(Job.state) == JobState.queued.value)
                .values(state=JobState.done.value, finished_at=utcnow(), last_error="cancelled: post removed")
            )
            running = (await s.execute(select(col(Job.state)).where(col(Job.dedup_key) == f"deliver:{d.id}"))).first()
            if getattr(res, "rowcount", 0) or running is None or running[0] != JobState.running.value:
                d.status = DeliveryStatus.deleted.value
                d.updated_at = utcnow()
                s.add(d)
                await _after_change(rt, s, post)
                return
            raise RetryableError("delivery in flight", retry_after=5)
    net = rt.network(acct.network)
    try:
        async with (
            account_credentials(rt, acct, biz) as creds,
            within(rt.settings.network_timeout_seconds, label(acct.network)),
        ):
            await net.delete(d.remote_id, creds)
        status, error = DeliveryStatus.deleted.value, None
    except RetryableError as exc:
        if not job.last_attempt:
            raise
        status, error = DeliveryStatus.delete_failed.value, exc.reason
    except PermanentError as exc:
        status, error = DeliveryStatus.delete_failed.value, exc.reason
    async with rt.db.write() as s:
        loaded = await _load(s, delivery_id)
        if loaded is None:
            return
        d, post, acct, biz = loaded
        d.status = status
        d.last_error = error
        d.updated_at = utcnow()
        s.add(d)
        await _after_change(rt, s, post)


async def receipt(rt: Runtime, job: JobInfo) -> None:
    """The one message per publish command: when every delivery finished, or at the deadline with what is known."""
    post_id = int(job.payload["post_id"])
    async with rt.db.write() as s:
        # Locked (PostgreSQL): the last delivery may be sending it at this very moment (_after_change).
        post = await s.get(Post, post_id, with_for_update=True)
        if post is not None:
            await _receipt_once(rt, s, post)


async def _receipt_once(rt: Runtime, s: AsyncSession, post: Post, ds: list[Delivery] | None = None) -> bool:
    """Send ``post``'s receipt to its author in this transaction unless it went already (the caller holds the
    post's row: the deadline job or the last delivery). Returns whether this call marked it sent."""
    if post.receipt_sent or post.author_member_id is None:
        return False
    member = await s.get(Member, post.author_member_id)
    post.receipt_sent = True
    s.add(post)
    if member is not None:
        await send_receipt(rt, s, post, member, ds)
    return True


async def send_receipt(
    rt: Runtime, s: AsyncSession, post: Post, member: Member, ds: list[Delivery] | None = None
) -> OutboundMessage | None:
    """The receipt of ``post`` to its author, in the caller's transaction, by the channel the post came by:
    threaded under the mail that made it, or from the number the member texted. ``ds``: its deliveries, when the
    caller has just read them."""
    channel: ChannelName = "email" if await _came_by_email(s, post) else "sms"
    if not outbox.address(member, channel):
        return None  # no fallback to the other channel: the member chose this one by writing on it
    assert post.id is not None
    if ds is None:
        ds = await post_service.deliveries_of(s, post.id)
    lang = member.language
    body = await receipt_text(s, post, ds, lang)
    to = await outbox.target_of(s, post.source_message_id, channel)
    # An answer to a mention has no post number (-1, -2...): its subject is its receipt, "Réponse à #4 ..."
    subject = (t("email_subject_receipt", lang, number=post.number) if post.number > 0 else body) + (
        f" - {to.subject}" if to.subject else ""
    )
    return await outbox.send(
        s,
        rt.settings,
        member,
        body,
        to=to,
        kind="receipt",
        business_id=post.business_id,
        subject=subject,
        purpose="receipt",
        automatic=True,
        hourly_limit=False,
    )


async def receipt_text(s: AsyncSession, post: Post, ds: list[Delivery], lang: str) -> str:
    """The receipt of a post (or of an answer to a mention), the same words by SMS and by email."""
    if post.reply_to_mention_id is not None and ds:
        mention = await s.get(MentionRow, post.reply_to_mention_id)
        network, _, status = post_service.receipt_parts(ds, lang).partition(" ")
        return t(
            "reply_receipt", lang, number=mention.number if mention else post.number, network=network, status=status
        )
    if ds:
        return t("receipt", lang, number=post.number, parts=post_service.receipt_parts(ds, lang))
    return t("receipt_none", lang, number=post.number)


async def _came_by_email(s: AsyncSession, post: Post) -> bool:
    if post.source in ("email", "sms"):
        return post.source == "email"
    if post.source_message_id is None:
        return False
    msg = await s.get(InboundMessage, post.source_message_id)
    return msg is not None and msg.channel == "email"


async def undo_receipt(rt: Runtime, job: JobInfo) -> None:
    """The one message per ANNULER, by the channel the command came by (not threaded: the removal is its own
    news)."""
    post_id, member_id = int(job.payload["post_id"]), int(job.payload["member_id"])
    async with rt.db.write() as s:
        post = await s.get(Post, post_id)
        member = await s.get(Member, member_id)
        if post is None or member is None:
            return
        to = outbox.EMAIL if job.payload.get("channel") == "email" else outbox.SMS
        if not outbox.address(member, to.channel):
            return
        ds = await post_service.deliveries_of(s, post_id)
        lang = member.language
        parts = post_service.receipt_parts(ds, lang, removal=True) or "Page"
        await outbox.send(
            s,
            rt.settings,
            member,
            t("undo_receipt", lang, number=post.number, parts=parts),
            to=to,
            kind="undo_receipt",
            business_id=post.business_id,
            subject=t("email_subject_undo", lang, number=post.number),
            purpose="receipt",
            automatic=True,
            hourly_limit=False,
        )


async def notify_operator(rt: Runtime, job: JobInfo) -> None:
    """POST the event to ``ARDOISE_OPERATOR_WEBHOOK_URL``, signed with HMAC-SHA256 of the body."""
    url = rt.settings.operator_webhook_url
    if not url:
        return
    body = json.dumps(job.payload, sort_keys=True).encode()
    sig = rt.vault.sign(body.decode())
    try:
        r = await rt.http.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "X-Ardoise-Signature": f"sha256={sig}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise RetryableError(f"operator webhook unreachable: {type(exc).__name__}") from None
    if r.status_code >= 500 or r.status_code == 429:
        raise RetryableError(f"operator webhook {r.status_code}")
    if r.status_code >= 400:
        raise PermanentError(f"operator webhook {r.status_code}")


__all__ = ["deliver", "notify_operator", "receipt", "remove", "undo_receipt"]
