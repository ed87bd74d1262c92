"""The checks every command passes before its handler, whichever channel it came by: the member's hourly limit,
the unseen phone (PIN), opt-out, and what no handler takes (too many photos, a text over the limit)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.commands import parser as p
from app.commands.context import Ctx, local_time
from app.db import run_prepared
from app.kit.time import utcnow
from app.messages import outbox
from app.models import InboundMessage, InboundStatus, Member, OutboundMessage
from app.runtime import Runtime

ALWAYS = (p.Help, p.Stop, p.Start)
"""STOP, START and HELP always work (carriers require it), whatever the rate and even after STOP."""


def note_seen(rt: Runtime, member: Member) -> bool:
    """Whether the member's phone (or address) counts as unseen, and mark it seen.

    Unseen means not seen for ``pin_unseen_days``: a member with a PIN must then give it before publishing. Such
    a phone stays unseen until the PIN is given (``pin``), so a harmless first command (``ETAT``) from a swapped
    SIM cannot unlock publishing.
    """
    last = member.last_seen_at
    unseen = last is None or utcnow() - last > timedelta(days=rt.settings.pin_unseen_days)
    if not (member.pin_hash and unseen and last is not None):
        member.last_seen_at = utcnow()
    return unseen


async def rate_limited(rt: Runtime, s: AsyncSession, member: Member, inbound: InboundMessage) -> datetime | None:
    """When more than ``sms_commands_per_hour`` commands (SMS and email) were acted on in the last hour: the
    moment the owner may try again (the oldest of them leaves the hour), else None. Messages already refused
    (ignored) do not count, so an owner who keeps writing is not locked out for longer."""
    limit = rt.settings.sms_commands_per_hour
    since = utcnow() - timedelta(hours=1)
    params = {"b_member": member.id, "b_since": since, "b_inbound": inbound.id}
    result = await run_prepared(
        s,
        "guards.recent_commands",
        lambda _d: (
            select(col(InboundMessage.created_at))
            .where(
                col(InboundMessage.member_id) == bindparam("b_member"),
                col(InboundMessage.created_at) >= bindparam("b_since"),
                col(InboundMessage.id) != bindparam("b_inbound"),
                col(InboundMessage.status) != InboundStatus.ignored.value,
            )
            .order_by(col(InboundMessage.created_at))
        ),
        params,
    )
    times: list[datetime] = list(result.scalars())
    if len(times) < limit:
        return None
    # One slot frees when the (len - limit + 1)-th oldest leaves the hour; round up to the next minute.
    free = times[len(times) - limit] + timedelta(hours=1, minutes=1)
    return free.replace(second=0, microsecond=0)


async def over_limit(ctx: Ctx) -> str | None:
    """When the member is over the hourly limit (:func:`rate_limited`): the message is ignored and, once an hour
    whichever channel it came by, answered with when to try again in the business's time zone and the owner's
    conventions (``Réessayez à 14 h 05`` / ``try again at 2:05 pm``); a note, else None."""
    retry_at = await rate_limited(ctx.rt, ctx.s, ctx.member, ctx.inbound)
    if retry_at is None:
        return None
    ctx.inbound.status = InboundStatus.ignored.value
    told = (
        await ctx.s.execute(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                col(OutboundMessage.member_id) == ctx.member.id,
                col(OutboundMessage.kind) == "rate_limited",
                col(OutboundMessage.created_at) >= utcnow() - timedelta(hours=1),
            )
        )
    ).scalar_one()
    if not told:
        ctx.replied = True
        await outbox.say(
            ctx.s,
            ctx.rt.settings,
            ctx.member,
            "rate_limited",
            to=ctx.target,
            kind="rate_limited",
            business_id=ctx.biz.id,
            time=local_time(ctx.biz, retry_at, ctx.lang),
        )
    return "rate limited"


async def refused(ctx: Ctx, cmd: p.ParseResult) -> str | None:
    """Why ``cmd`` goes no further (a note, after the one answer if any), or None to hand it to its handler."""
    if isinstance(cmd, ALWAYS):
        return None
    if ctx.member.opted_out:
        ctx.inbound.status = InboundStatus.ignored.value
        return "opted out: ignored until START"
    if len(ctx.media) > ctx.rt.settings.sms_max_media:
        await ctx.reply("too_many_media", count=len(ctx.media))
        return "refused: too many media"
    if isinstance(cmd, p.TooLong):
        await ctx.reply("too_long", length=cmd.length)
        return "refused: too long"
    return None
