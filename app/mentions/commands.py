"""The mentions commands: ``M`` (the digest, page by page), ``R n`` (answer), ``J n`` (like), and the digest
settings ``HEURES``, ``PAUSE``, ``REPRISE``, ``ALERTES``. An email answering a digest line by line (``4: merci``)
runs ``R n`` once per line (``app.email.service``)."""

from __future__ import annotations

from datetime import timedelta

from app.accounts import service as account_service
from app.commands import parser as p
from app.commands.context import Ctx, needs_pin, zone
from app.kit.time import utcnow
from app.kit.when_fmt import fmt_date, fmt_times
from app.lanes import network_lane
from app.mentions import service as mention_service
from app.mentions import tasks as mention_tasks
from app.mentions.digest import compose_sms_digest
from app.posts import service as post_service
from app.runtime import Runtime
from app.worker import queue

AUTHOR_PREFIXED = {"mastodon", "x"}


async def poll_before_digest(rt: Runtime, business_id: int) -> None:
    """``M`` right after a fan's mention must show it: poll the business's accounts (bounded) before composing,
    outside the write transaction (network calls, and the polls write what they find)."""
    await mention_tasks.poll_business(rt, business_id, seconds=rt.settings.mention_command_poll_seconds)


async def mentions(ctx: Ctx, cmd: p.Mentions) -> str:
    assert ctx.biz.id is not None
    assert ctx.member.id is not None
    st = await mention_service.settings_for(ctx.s, ctx.member)
    items = await mention_service.pending_items(ctx.s, ctx.biz.id, only_new=False)
    digest = compose_sms_digest(
        [mention_service.to_item(m) for m in items],
        ctx.lang,  # type: ignore[arg-type]
        budget_segments=st.budget_segments,
        page=cmd.page,
        own_handles=await mention_service.own_handles(ctx.s, ctx.biz.id),
    )
    if not digest.text:
        await ctx.reply("no_mentions")
        return "mentions: none"
    await ctx.reply_text(digest.text, kind="digest")
    shown = set(digest.shown)
    await mention_service.mark_seen(ctx.s, ctx.member.id, [m for m in items if m.number in shown])
    return f"mentions: page {cmd.page}, {len(shown)} shown"


async def answer(ctx: Ctx, cmd: p.Reply | p.Like) -> str:
    """R n (a public answer: a post of its own, whose receipt is the command's answer) and J n (a like: its job
    sends the answer)."""
    assert ctx.biz.id is not None
    await mention_service.settings_for(ctx.s, ctx.member)  # the member's digest settings exist from here on
    m = await mention_service.by_number(ctx.s, ctx.biz.id, cmd.number)
    if m is None:
        await ctx.reply("mention_unknown", number=cmd.number)
        return f"mention #{cmd.number}: unknown"
    if isinstance(cmd, p.Like):
        await queue.enqueue(
            ctx.s,
            "mentions.like",
            {"mention_id": m.id, "member_id": ctx.member.id, "inbound_id": ctx.inbound.id},
            lane=(await account_service.lanes_of(ctx.s, [m.account_id])).get(m.account_id, network_lane(m.network)),
            dedup_key=f"like:{m.id}:{ctx.inbound.id}",
            business_id=ctx.biz.id,
        )
        ctx.replied = True  # the like job sends this command's one SMS
        return f"like #{m.number}"
    # A reply is public like a post: a phone unseen for a month gives the PIN first.
    again = {"action": "command", "text": f"R {cmd.number} {cmd.text.strip()}"}
    if await needs_pin(ctx, again, "waiting"):
        return f"reply #{m.number}: waiting for PIN"
    text = cmd.text.strip()
    if m.network in AUTHOR_PREFIXED and m.author and not text.lower().startswith(m.author.lower()):
        text = f"{m.author} {text}"  # Mastodon and X expect the author's handle at the start of a reply
    post, _ = await post_service.create(
        ctx.s,
        biz=ctx.biz,
        text=text,
        source="reply",
        author_member_id=ctx.member.id,
        source_message_id=ctx.inbound.id,
        actor=f"member:{ctx.member.id}",
        receipt_deadline=ctx.rt.settings.receipt_deadline_seconds,
        reply_to=m,
    )
    m.answered_at = utcnow()
    ctx.s.add(m)
    ctx.replied = True  # the receipt job is this command's one answer
    return f"reply #{m.number}: post {post.number}"


async def hours(ctx: Ctx, cmd: p.Hours) -> str:
    st = await mention_service.settings_for(ctx.s, ctx.member)
    st.hours = [h.strftime("%H:%M") for h in cmd.hours]
    ctx.s.add(st)
    await ctx.reply("hours_set", hours=fmt_times(cmd.hours, ctx.lang))
    return "hours"


async def pause(ctx: Ctx, cmd: p.Pause) -> str:
    st = await mention_service.settings_for(ctx.s, ctx.member)
    st.paused_until = utcnow() + timedelta(days=cmd.days)
    ctx.s.add(st)
    until = st.paused_until.astimezone(zone(ctx.biz))
    await ctx.reply("paused", date=fmt_date(until.date(), ctx.lang))
    return f"pause {cmd.days}d"


async def resume(ctx: Ctx, cmd: p.Resume) -> str:
    st = await mention_service.settings_for(ctx.s, ctx.member)
    st.paused_until = None
    ctx.s.add(st)
    await ctx.reply("resumed")
    return "resume"


async def alerts(ctx: Ctx, cmd: p.Alerts) -> str:
    st = await mention_service.settings_for(ctx.s, ctx.member)
    st.alerts = cmd.on
    ctx.s.add(st)
    await ctx.reply("alerts_on" if cmd.on else "alerts_off")
    return f"alerts {'on' if cmd.on else 'off'}"
