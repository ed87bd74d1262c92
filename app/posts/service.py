"""Create, fan out and remove posts. Services take a session and never commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from app.accounts import service as account_service
from app.audit import service as audit
from app.catalogue import label, t
from app.db import prepared, run_prepared
from app.kit import media as media_store
from app.kit.errors import PermanentError
from app.kit.textclean import strip_control
from app.kit.time import utcnow
from app.lanes import network_lane
from app.models import (
    AccountStatus,
    Business,
    Delivery,
    DeliveryStatus,
    MentionRow,
    NetworkAccount,
    Post,
    PostStatus,
)
from app.networks.registry import is_local
from app.runtime import Runtime
from app.worker import queue

log = structlog.get_logger("ardoise.posts")
BUSINESS: Table = Business.__table__  # type: ignore[attr-defined]  # Core: the post counter's UPDATE

FINISHED = {DeliveryStatus.published.value, DeliveryStatus.failed.value, DeliveryStatus.skipped.value}
REMOVED = {
    DeliveryStatus.deleted.value,
    DeliveryStatus.delete_failed.value,
    DeliveryStatus.failed.value,
    DeliveryStatus.skipped.value,
}


# --- media given by URL (an MMS, the API's media_urls) ----------------------------------------------


async def fetch_media(rt: Runtime, url: str) -> tuple[bytes, str]:
    """Download a media URL a tenant or an MMS gave, through the egress guard (app/kit/egress.py): public
    addresses only, redirects re-checked, size and time capped, generic errors. Twilio's credentials go only
    to Twilio's configured API host, by exact origin."""
    limit = rt.settings.twilio_media_max_bytes
    if rt.twilio is not None:
        return await rt.twilio.fetch_media(url, limit, egress=rt.egress)
    got = await rt.egress.fetch(url, max_bytes=limit)
    return got.data, got.content_type


async def store_image(rt: Runtime, data: bytes) -> str:
    """Re-encode fetched bytes (app/kit/media.py: pixel cap from the header, EXIF dropped, fit for every
    network) and store them; the file name. Whatever the source said its type was, only a decodable image
    is kept."""
    try:
        return await asyncio.to_thread(media_store.store_image, rt.settings.media_dir, data)
    except media_store.ImageRefused as exc:
        log.info("media.refused", detail=str(exc))
        raise PermanentError("media is not a readable image", code="not_image") from None


def permalink(public_url: str, biz: Business, number: int) -> str:
    return f"{public_url}/b/{biz.slug}/p/{number}"


async def next_number(session: AsyncSession, biz: Business) -> int:
    """The business's next post number, taken under the row's write lock (no two posts share one)."""
    result = await run_prepared(
        session,
        "posts.next_number",
        lambda _d: (
            update(BUSINESS)
            .where(BUSINESS.c.id == bindparam("b_business"))
            .values(post_seq=BUSINESS.c.post_seq + 1)
            .returning(BUSINESS.c.post_seq)
        ),
        {"b_business": biz.id},
    )
    number = int(result.scalar_one())
    set_committed_value(biz, "post_seq", number)  # as the ORM's UPDATE did: the session's copy stays true
    return number


async def next_reply_number(session: AsyncSession, biz: Business) -> int:
    """The number of the business's next answer to a mention: -1, -2, ... so that ``R n`` takes no post number
    (the owner's posts go #6, #7, never #6, #8). Taken under the business row's write lock, like
    :func:`next_number`; owners never see it (the reply's receipt names the mention, ``Réponse à #4``)."""
    await session.execute(update(Business).where(col(Business.id) == biz.id).values(post_seq=col(Business.post_seq)))
    lowest = (
        await session.execute(
            select(func.min(col(Post.number))).where(col(Post.business_id) == biz.id, col(Post.number) < 0)
        )
    ).scalar_one()
    return int(lowest or 0) - 1


async def create(
    session: AsyncSession,
    *,
    biz: Business,
    text: str,
    media: Sequence[dict[str, str]] = (),
    source: str = "api",
    author_member_id: int | None = None,
    source_message_id: int | None = None,
    actor: str,
    receipt_deadline: float = 60.0,
    reply_to: MentionRow | None = None,
    public_url: str = "",
) -> tuple[Post, list[Delivery]]:
    """Create the post, one delivery per active account and their jobs, all in the caller's transaction.

    A post from a member (SMS, email) also gets its receipt job, due after ``receipt_deadline`` seconds at the
    latest and brought forward as soon as every delivery has finished.
    """
    assert biz.id is not None
    number = await next_number(session, biz) if reply_to is None else await next_reply_number(session, biz)
    post = Post(
        business_id=biz.id,
        number=number,
        text=strip_control(text),  # whichever way it came: no feed, page or network gets a control character
        media=[dict(m) for m in media],
        source=source,
        author_member_id=author_member_id,
        source_message_id=source_message_id,
        reply_to_mention_id=reply_to.id if reply_to is not None else None,
    )
    session.add(post)
    await session.flush()
    deliveries = await fan_out(
        session, post=post, biz=biz, receipt_deadline=receipt_deadline, reply_to=reply_to, public_url=public_url
    )
    await audit.record(
        session,
        actor=actor,
        action="post.create",
        business_id=biz.id,
        target=f"post:{post.number}",
        detail=f"source={source} deliveries={len(deliveries)}",
    )
    return post, deliveries


async def fan_out(
    session: AsyncSession,
    *,
    post: Post,
    biz: Business,
    receipt_deadline: float = 60.0,
    reply_to: MentionRow | None = None,
    public_url: str = "",
) -> list[Delivery]:
    """One delivery per active account of ``biz`` and their jobs, and the author's receipt job: a new post, or a
    scheduled one whose time has come (app/scheduling). ``public_url`` makes the page's permalink."""
    assert post.id is not None
    accounts = (
        (
            await session.execute(
                select(NetworkAccount)
                .where(
                    col(NetworkAccount.business_id) == biz.id,
                    col(NetworkAccount.status) != AccountStatus.disabled.value,
                    # a reply goes only where the mention came from
                    *([col(NetworkAccount.id) == reply_to.account_id] if reply_to is not None else []),
                )
                .order_by(col(NetworkAccount.id))
            )
        )
        .scalars()
        .all()
    )
    deliveries: list[Delivery] = []
    # The built-in page needs no call: published in this transaction, unless a photo is still only a URL (the
    # API's media_urls), which the delivery job downloads first.
    in_place = all(m.get("path") for m in post.media)
    for acct in accounts:
        assert acct.id is not None
        d = Delivery(post_id=post.id, account_id=acct.id, network=acct.network, idempotency_key=uuid.uuid4().hex)
        if acct.status == AccountStatus.broken.value:
            d.status = DeliveryStatus.failed.value
            d.last_error = failure_error(acct.status_reason or "", disconnected=True)
        elif in_place and is_local(acct.network):
            d.status = DeliveryStatus.published.value
            d.remote_id = d.idempotency_key
            d.remote_url = permalink(public_url, biz, post.number) if public_url else None
            d.published_at = utcnow()
        session.add(d)
        deliveries.append(d)
    await session.flush()
    lanes = {a.id: account_service.lane_of(a) for a in accounts}
    for d in deliveries:
        if d.status == DeliveryStatus.pending.value:
            await _enqueue_for(session, "posts.deliver", d, f"deliver:{d.id}", biz.id, lanes[d.account_id])
    done = finish_status(post, deliveries)
    session.add(post)
    if post.author_member_id is not None:
        # Due at the deadline at the latest, brought forward when the last delivery finishes; at once when none
        # is left to wait for.
        await queue.enqueue(
            session,
            "posts.receipt",
            {"post_id": post.id},
            dedup_key=f"receipt:{post.id}",
            run_at=None if done else utcnow() + timedelta(seconds=receipt_deadline),
            business_id=biz.id,
        )
    return deliveries


async def deliveries_of(session: AsyncSession, post_id: int) -> list[Delivery]:
    stmt = prepared(
        session,
        "posts.deliveries_of",
        lambda _d: select(Delivery).where(col(Delivery.post_id) == bindparam("b_post")).order_by(col(Delivery.id)),
    )
    return list((await session.execute(stmt, {"b_post": post_id})).scalars())


async def refresh_status(session: AsyncSession, post: Post) -> tuple[bool, list[Delivery]]:
    """Recompute the post's status from its deliveries. Returns whether every delivery has finished (been
    removed, for a post being removed), and the deliveries it read."""
    assert post.id is not None
    if post.status in (PostStatus.scheduled.value, PostStatus.cancelled.value):
        return False, []  # not out yet (or never): no delivery to look at
    ds = await deliveries_of(session, post.id)
    if post.status in (PostStatus.deleting.value, PostStatus.deleted.value):
        done = all(d.status in REMOVED for d in ds)
        if done and post.status == PostStatus.deleting.value:
            post.status = PostStatus.deleted.value
            session.add(post)
        return done, ds
    done = finish_status(post, ds)
    session.add(post)
    return done, ds


def finish_status(post: Post, ds: Sequence[Delivery]) -> bool:
    """Set a post going out from its deliveries (publishing, or published / partial / failed once every one
    has finished). Returns True when every delivery has finished."""
    done = all(d.status in FINISHED for d in ds)
    if done:
        ok = [d for d in ds if d.status in (DeliveryStatus.published.value, DeliveryStatus.skipped.value)]
        failed = [d for d in ds if d.status == DeliveryStatus.failed.value]
        post.status = (
            PostStatus.published if not failed else PostStatus.failed if not ok else PostStatus.partial
        ).value
    else:
        post.status = PostStatus.publishing.value
    return done


DISCONNECTED = "account disconnected"
"""How ``Delivery.last_error`` starts when the account was (or became) disconnected: the receipt says so."""


def reason_key(code: str, reason: str) -> str:
    """The catalogue key of a failure, in the owner's words: never the adapter's technical text (English,
    possibly not GSM-7), which stays on the delivery (``last_error``) for the operator."""
    r = f"{code} {reason}".lower()
    if "too_long" in r or "too long" in r:
        return "why_too_long"
    if any(w in r for w in ("image", "media", "photo")):
        return "why_photo"
    if code in ("gave_up", "timeout", "network", "rate_limited") or code.startswith("http_5"):
        return "why_unreachable"
    if any(w in r for w in ("gave up", "timeout", "timed out", "unreachable")):
        return "why_unreachable"
    return "why_refused"


def failure_error(reason: str, code: str = "", *, disconnected: bool = False) -> str:
    """What a failed delivery keeps in ``last_error``: the reason for the operator, its code and, for a
    disconnected account, the :data:`DISCONNECTED` mark that :func:`failure_key` reads back."""
    if disconnected:
        return f"{DISCONNECTED}: {reason}"[:1000]
    return (f"[{code}] {reason}" if code else reason)[:1000]


def failure_key(d: Delivery) -> str:
    """The catalogue key saying why delivery ``d`` failed: ``st_disconnected`` or one of the ``why_`` keys."""
    error = d.last_error or ""
    if error.startswith(DISCONNECTED):
        return "st_disconnected"
    code, _, rest = error.partition("] ")
    if code.startswith("[") and rest:
        return reason_key(code[1:], rest)
    return reason_key("", error)


def receipt_parts(ds: Sequence[Delivery], lang: str, *, removal: bool = False) -> str:
    """``Page OK, Bluesky OK, Mastodon en attente`` in delivery order, one entry per account.

    A failure says why (``Mastodon trop long``), never a bare "failed"; the last disconnected account carries the
    note that the adviser was told (``Mastodon déconnecté (conseiller avisé)``), so the receipt is the only SMS.
    """
    parts = []
    failed = [i for i, d in enumerate(ds) if d.status == DeliveryStatus.failed.value]
    last_disconnected = max((i for i in failed if failure_key(ds[i]) == "st_disconnected"), default=-1)
    for i, d in enumerate(ds):
        if removal:
            if d.status == DeliveryStatus.deleted.value:
                st = t("st_deleted", lang)
            elif d.status in (DeliveryStatus.failed.value, DeliveryStatus.skipped.value):
                continue  # it never reached that network
            elif d.status == DeliveryStatus.delete_failed.value:
                st = t("st_not_removed", lang)
            else:
                st = t("st_pending", lang)
        elif d.status == DeliveryStatus.published.value:
            st = t("st_ok", lang)
        elif d.status == DeliveryStatus.failed.value:
            st = t("st_disconnected_note" if i == last_disconnected else failure_key(d), lang)
        elif d.status == DeliveryStatus.skipped.value:
            st = t("st_skipped", lang)
        else:
            st = t("st_pending", lang)
        parts.append(f"{label(d.network)} {st}")
    return ", ".join(parts)


async def _enqueue_for(
    session: AsyncSession, kind: str, d: Delivery, dedup_key: str, business_id: int | None, lane: str
) -> None:
    """One job of ``kind`` (deliver or remove) acting on delivery ``d``, in the lane of its account."""
    await queue.enqueue(
        session, kind, {"delivery_id": d.id}, dedup_key=dedup_key, business_id=business_id, max_attempts=8, lane=lane
    )


def _lane(lanes: dict[int, str], d: Delivery) -> str:
    """The lane of the delivery's account (``account_service.lanes_of``), its network's if the account is gone."""
    return lanes.get(d.account_id, network_lane(d.network))


async def remove(
    session: AsyncSession,
    *,
    post: Post,
    actor: str,
    notify_member_id: int | None = None,
    receipt_deadline: float = 60.0,
    channel: str = "sms",
) -> list[Delivery]:
    """Start removing a post from every network it reached (jobs); pending deliveries are cancelled."""
    assert post.id is not None
    post.status = PostStatus.deleting.value
    post.deleted_at = utcnow()
    session.add(post)
    ds = await deliveries_of(session, post.id)
    lanes = await account_service.lanes_of(session, [d.account_id for d in ds])
    for d in ds:
        # A pending one too: its deliver job sees the post is being removed and removes what it may still publish.
        if d.status in (DeliveryStatus.published.value, DeliveryStatus.pending.value):
            d.status = DeliveryStatus.deleting.value
            session.add(d)
            await _enqueue_for(session, "posts.remove", d, f"remove:{d.id}", post.business_id, _lane(lanes, d))
    await session.flush()
    if notify_member_id is not None:
        await queue.enqueue(
            session,
            "posts.undo_receipt",
            {"post_id": post.id, "member_id": notify_member_id, "channel": channel},
            dedup_key=f"undo-receipt:{post.id}",
            run_at=utcnow() + timedelta(seconds=receipt_deadline),
            business_id=post.business_id,
        )
    await refresh_status(session, post)
    await audit.record(
        session, actor=actor, action="post.delete", business_id=post.business_id, target=f"post:{post.number}"
    )
    return ds


async def list_with_deliveries(
    session: AsyncSession,
    *,
    business_id: int,
    limit: int,
    before_id: int | None = None,
    number: int | None = None,
    state: str | None = None,
) -> list[tuple[Post, list[Delivery]]]:
    """A business's posts, newest first (only those in ``state`` when given), each with its deliveries (two
    queries, whatever the page size)."""
    q = select(Post).where(col(Post.business_id) == business_id).order_by(col(Post.id).desc()).limit(limit)
    if number is not None:
        q = q.where(col(Post.number) == number)
    if state is not None:
        q = q.where(col(Post.status) == state)
    if before_id is not None:
        q = q.where(col(Post.id) < before_id)
    posts = list((await session.execute(q)).scalars())
    by_post: dict[int, list[Delivery]] = {}
    if posts:
        rows = await session.execute(
            select(Delivery).where(col(Delivery.post_id).in_([p.id for p in posts])).order_by(col(Delivery.id))
        )
        for d in rows.scalars():
            by_post.setdefault(d.post_id, []).append(d)
    return [(p, by_post.get(p.id or 0, [])) for p in posts]


async def retry_failed(session: AsyncSession, *, post: Post, actor: str) -> list[Delivery]:
    """Try again the deliveries of ``post`` that failed for good (one new ``posts.deliver`` job each) and return
    them. The delivery keeps its idempotency key and its attempt count, so the job first asks the network whether
    an earlier attempt got through: a retry never publishes twice. Nothing to retry on a post being removed."""
    assert post.id is not None
    if post.status in (PostStatus.deleting.value, PostStatus.deleted.value):
        return []
    ds = [d for d in await deliveries_of(session, post.id) if d.status == DeliveryStatus.failed.value]
    lanes = await account_service.lanes_of(session, [d.account_id for d in ds])
    for d in ds:
        d.status = DeliveryStatus.pending.value
        d.updated_at = utcnow()
        session.add(d)
        # Two operators retrying at once make one job: the key names the attempt being retried.
        dedup_key = f"deliver:{d.id}:retry:{d.attempts}"
        await _enqueue_for(session, "posts.deliver", d, dedup_key, post.business_id, _lane(lanes, d))
    if ds:
        await refresh_status(session, post)
        await audit.record(
            session,
            actor=actor,
            action="post.retry",
            business_id=post.business_id,
            target=f"post:{post.number}",
            detail=", ".join(d.network for d in ds),
        )
    return ds
