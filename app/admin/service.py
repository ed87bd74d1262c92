"""The console's one view of its own: each business's health at a glance. The lists it shows elsewhere come from
the features' services (businesses, members, accounts, messages, posts, jobs, audit). Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import (
    AccountStatus,
    Business,
    Channel,
    InboundMessage,
    Job,
    JobState,
    NetworkAccount,
    OutboundMessage,
    OutboundStatus,
    Post,
)

# Outbound SMS the provider took (and bills): queued ones have not left, failed and suppressed ones never went.
BILLED = (
    OutboundStatus.sending.value,
    OutboundStatus.sent.value,
    OutboundStatus.delivered.value,
    OutboundStatus.undelivered.value,
)


@dataclass
class Health:
    business: Business
    accounts_ok: int = 0
    broken: list[NetworkAccount] = field(default_factory=list)
    last_post_at: datetime | None = None
    last_sms_in_at: datetime | None = None
    dead_jobs: int = 0
    segments_this_month: int = 0
    cost_estimate: float = 0.0

    @property
    def needs_attention(self) -> bool:
        return bool(self.broken or self.dead_jobs)


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s calendar month, in UTC (the month the estimate counts)."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def health(
    session: AsyncSession, businesses: Sequence[Business], *, since: datetime, segment_price: float
) -> list[Health]:
    """The health of ``businesses``, in their order: five grouped queries whatever their number (no N+1).
    ``since``: where the month's segment count starts (:func:`month_start`)."""
    out = {b.id: Health(business=b) for b in businesses if b.id is not None}
    ids = list(out)
    if not ids:
        return []
    accounts = await session.execute(
        select(NetworkAccount).where(
            col(NetworkAccount.business_id).in_(ids), col(NetworkAccount.status) != AccountStatus.disabled.value
        )
    )
    for a in accounts.scalars():
        if a.status == AccountStatus.broken.value:
            out[a.business_id].broken.append(a)
        else:
            out[a.business_id].accounts_ok += 1
    last_posts = await session.execute(
        select(col(Post.business_id), func.max(col(Post.created_at)))
        .where(col(Post.business_id).in_(ids))
        .group_by(col(Post.business_id))
    )
    for post_biz, at in last_posts:
        out[post_biz].last_post_at = at
    last_in = await session.execute(
        select(col(InboundMessage.business_id), func.max(col(InboundMessage.created_at)))
        .where(col(InboundMessage.business_id).in_(ids), col(InboundMessage.channel) == Channel.sms.value)
        .group_by(col(InboundMessage.business_id))
    )
    for biz_id, at in last_in:
        if biz_id is not None:
            out[biz_id].last_sms_in_at = at
    dead = await session.execute(
        select(col(Job.business_id), func.count())
        .where(col(Job.state) == JobState.dead.value, col(Job.business_id).in_(ids))
        .group_by(col(Job.business_id))
    )
    for biz_id, n in dead:
        if biz_id is not None:
            out[biz_id].dead_jobs = n
    segments = await session.execute(
        select(col(OutboundMessage.business_id), func.coalesce(func.sum(col(OutboundMessage.segments)), 0))
        .where(
            col(OutboundMessage.business_id).in_(ids),
            col(OutboundMessage.channel) == Channel.sms.value,
            col(OutboundMessage.status).in_(BILLED),
            col(OutboundMessage.created_at) >= since,
        )
        .group_by(col(OutboundMessage.business_id))
    )
    for biz_id, n in segments:
        if biz_id is not None:
            out[biz_id].segments_this_month = int(n)
            out[biz_id].cost_estimate = int(n) * segment_price
    return list(out.values())


async def dead_jobs_without_business(session: AsyncSession) -> int:
    """Dead jobs that belong to no business (the operator webhook, periodic jobs): shown to operator keys only."""
    q = (
        select(func.count())
        .select_from(Job)
        .where(col(Job.state) == JobState.dead.value, col(Job.business_id).is_(None))
    )
    return int((await session.execute(q)).scalar_one())
