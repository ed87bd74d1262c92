"""The member's own commands: ``AIDE``, ``ARRET``/``DEBUT`` (carriers require them), ``LANGUE``, and the answers
to a question Ardoise asked: ``OUI``/``NON`` and the ``PIN``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.commands import parser as p
from app.commands.context import Ctx, pending, quote, run_pending
from app.kit.time import utcnow
from app.members.service import check_pin
from app.messages import outbox
from app.messages import service as sms_service
from app.models import InboundMessage, InboundStatus, Member
from app.worker import queue


async def help_(ctx: Ctx, cmd: p.Help) -> str:
    if ctx.member.opted_out:  # after STOP, nothing until START (the carrier would refuse it anyway: 21610)
        ctx.inbound.status = InboundStatus.ignored.value
        return "help: opted out, no reply"
    if cmd.topic is not None and cmd.topic != "help":
        await ctx.reply(f"help_{cmd.topic}")
        return f"help: {cmd.topic}"
    await ctx.reply("help")
    return "help"


async def stop(ctx: Ctx, cmd: p.Stop) -> str:
    await sms_service.opt_out_number(ctx.s, ctx.member.phone or "")
    ctx.member.opted_out = True
    await ctx.reply("stop", ignore_opt_out=True)
    return "stop"


async def start(ctx: Ctx, cmd: p.Start) -> str:
    await sms_service.opt_out_number(ctx.s, ctx.member.phone or "", opted_out=False)
    ctx.member.opted_out = False
    await ctx.reply("start", ignore_opt_out=True)
    return "start"


async def language(ctx: Ctx, cmd: p.Language) -> str:
    ctx.member.language = cmd.lang
    await ctx.reply("language")
    return f"language: {cmd.lang}"


async def confirm(ctx: Ctx, cmd: p.Confirm) -> str:
    assert ctx.member.id is not None
    action = await pending(ctx.s, [ctx.member.id], "confirm", ctx.trust)
    if action is None and not cmd.yes:
        # NON while Ardoise waits for a PIN: the owner does not want that action any more.
        action = await pending(ctx.s, [ctx.member.id], "pin", ctx.trust)
    if action is None:
        await ctx.reply("nothing_to_confirm")
        return "confirm: nothing pending"
    if not cmd.yes:
        await ctx.s.delete(action)
        await ctx.reply("cancelled")
        return "confirm: cancelled"
    return await run_pending(ctx, action)


PIN_TRIES_PER_ACTION = 3
PIN_FAILURES_PER_DAY = 5


async def pin_failures(s: AsyncSession, member_id: int) -> int:
    """Wrong PINs this member gave in the last 24 hours, by any channel: counted from the stored inbound
    messages (their note), so sending the command again does not reset the count."""
    n = (
        await s.execute(
            select(func.count())
            .select_from(InboundMessage)
            .where(
                col(InboundMessage.member_id) == member_id,
                col(InboundMessage.created_at) >= utcnow() - timedelta(hours=24),
                col(InboundMessage.note).startswith("pin: wrong"),
            )
        )
    ).scalar_one()
    return int(n)


async def _pin_locked_alert(ctx: Ctx) -> None:
    """One SMS to each other owner of the business, and the operator's webhook, when a member's PIN locks."""
    owners = (
        await ctx.s.execute(
            select(Member).where(
                col(Member.business_id) == ctx.biz.id, col(Member.role) == "owner", col(Member.id) != ctx.member.id
            )
        )
    ).scalars()
    for owner in owners:
        await outbox.say(
            ctx.s,
            ctx.rt.settings,
            owner,
            "pin_locked_owner",
            to=outbox.SMS,
            kind="pin_locked",
            business_id=ctx.biz.id,
            dedup_key=f"pin-locked:{ctx.member.id}:{owner.id}:{ctx.inbound.id}",
            name=quote(ctx.member.name),
        )
    await queue.enqueue(
        ctx.s,
        "ops.notify_operator",
        {"event": "pin.locked", "business": ctx.biz.slug, "member_id": ctx.member.id, "channel": ctx.source},
        business_id=ctx.biz.id,
        lane="operator-webhook",
    )


async def pin(ctx: Ctx, cmd: p.Pin) -> str:
    """Unlock the waiting action. Three wrong codes drop that action; five wrong codes in 24 hours (any
    action, any channel) lock the member's PIN until they age out, with one alert to the owners and the
    operator. While locked, no code is even checked."""
    assert ctx.member.id is not None
    action = await pending(ctx.s, [ctx.member.id], "pin", ctx.trust)
    if action is None:
        await ctx.reply("pin_none")
        return "pin: nothing pending"
    failures = await pin_failures(ctx.s, ctx.member.id)
    if failures >= PIN_FAILURES_PER_DAY:
        await ctx.s.delete(action)
        await ctx.reply("pin_locked")
        return "pin: locked"
    if not check_pin(ctx.member.pin_hash, cmd.code):
        tries = int(str(action.payload.get("tries", 0))) + 1
        if failures + 1 >= PIN_FAILURES_PER_DAY:
            await ctx.s.delete(action)
            await ctx.reply("pin_locked")
            await _pin_locked_alert(ctx)
            return "pin: wrong, now locked for 24 h"
        if tries >= PIN_TRIES_PER_ACTION:
            await ctx.s.delete(action)  # three wrong codes: the action is dropped, and the owner is told
            await ctx.reply("pin_dropped")
            return "pin: wrong, action dropped"
        action.payload = {**action.payload, "tries": tries}
        ctx.s.add(action)
        await ctx.reply("pin_wrong")
        return "pin: wrong"
    ctx.pin_ok = True
    ctx.member.last_seen_at = utcnow()  # the PIN proves the phone: it is seen again
    ctx.s.add(ctx.member)
    return await run_pending(ctx, action)
