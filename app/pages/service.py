"""What the public page may show. Services take a session and never commit.

A post is shown once its page delivery is ``published`` (the worker put it on the page) and while it is not
deleted; replies to mentions are not posts of the page. Other states a post may gain (scheduled, held) never
show, because only ``published`` page deliveries do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Business, Delivery, DeliveryStatus, Post

PAGE_SIZE = 20
FEED_SIZE = 50


def _visible(biz: Business) -> list[ColumnElement[bool]]:
    return [
        col(Post.business_id) == biz.id,
        col(Post.deleted_at).is_(None),
        col(Post.reply_to_mention_id).is_(None),
        col(Delivery.network) == "page",
        col(Delivery.status) == DeliveryStatus.published.value,
    ]


async def visible_posts(
    session: AsyncSession, biz: Business, *, limit: int, before: int | None = None
) -> list[tuple[Post, datetime | None]]:
    """Visible posts, newest first, with when the page showed them; keyset ``before``: numbers below it."""
    q = (
        select(Post, col(Delivery.published_at))
        .join(Delivery, col(Delivery.post_id) == col(Post.id))
        .where(*_visible(biz))
        .order_by(col(Post.number).desc())
        .limit(limit)
    )
    if before is not None:
        q = q.where(col(Post.number) < before)
    return [(p, at) for p, at in (await session.execute(q)).all()]


async def one_post(session: AsyncSession, biz: Business, number: int) -> tuple[Post | None, datetime | None, bool]:
    """``(post, shown_at, gone)``: the visible post ``number``; ``gone`` when it existed and was deleted."""
    rows = await visible_posts(session, biz, limit=1, before=number + 1)
    if rows and rows[0][0].number == number:
        return rows[0][0], rows[0][1], False
    deleted = await session.execute(
        select(col(Post.id)).where(
            col(Post.business_id) == biz.id, col(Post.number) == number, col(Post.deleted_at).is_not(None)
        )
    )
    return None, None, deleted.first() is not None


async def last_change(session: AsyncSession, biz: Business) -> datetime:
    """When anything the page shows last changed: a profile edit, a post shown, a post deleted."""
    changed = (
        await session.execute(
            select(func.max(Delivery.updated_at))
            .join(Post, col(Delivery.post_id) == col(Post.id))
            .where(col(Post.business_id) == biz.id, col(Delivery.network) == "page")
        )
    ).scalar_one_or_none()
    deleted = (
        await session.execute(select(func.max(Post.deleted_at)).where(col(Post.business_id) == biz.id))
    ).scalar_one_or_none()
    stamps = [biz.updated_at or biz.created_at, *(d for d in (changed, deleted) if d is not None)]
    return max(stamps)
