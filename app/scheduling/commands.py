"""The SMS (and email) commands of scheduled posts: ``PUBLIER demain 11h …`` / ``CHAQUE lundi 11h …`` (schedule),
``PROG`` (list), ``ANNULER P14`` (cancel). Each answers one message, in the member's language and the business's
time zone; the post's own receipt (``Publié #14: …``) goes out when it is published."""

from __future__ import annotations

from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from app.catalogue import t
from app.commands import parser as p
from app.commands.context import Ctx, needs_pin, refuse_empty
from app.kit.sms_text import fits, to_gsm7
from app.kit.time import utcnow
from app.mentions import service as mention_service
from app.models import Post, PostStatus, Schedule
from app.scheduling import service as schedule_service
from app.scheduling import words
from app.scheduling.grammar import Lang, resolve

SNIPPET = 28
"""Characters of a post's text shown per line of PROG."""


def _now_local(ctx: Ctx) -> datetime:
    return utcnow().astimezone(ZoneInfo(ctx.biz.timezone))


def _command_text(local: datetime, weekly: bool, text: str) -> str:
    """The command again, with the day resolved (``PUBLIER 10 dec 2026 11h00 …``), kept while Ardoise waits for
    the PIN: read after the PIN, it means the same moment, whatever the day and language then."""
    month = words.MONTHS_SHORT["en"][local.month - 1]  # not strftime's %b, which follows the process locale
    head = "CHAQUE " + words.WEEKDAYS["fr"][local.weekday()] if weekly else f"PUBLIER {local.day} {month} {local.year}"
    return f"{head} {local:%H}h{local:%M} {text}".rstrip()


async def schedule(ctx: Ctx, cmd: p.Schedule) -> str:
    now_local = _now_local(ctx)
    when = resolve(cmd.when, now_local, cast(Lang, ctx.biz.language if ctx.biz.language == "en" else "fr"))
    if when is None:
        await ctx.reply("schedule_bad_date")
        return "schedule: no such date"
    if when.problem == "past":
        await ctx.reply("schedule_past", when=words.moment(when.local, now_local, ctx.lang))
        return "schedule: past"
    if when.problem == "too_far":
        await ctx.reply("schedule_too_far")
        return "schedule: too far"
    text = cmd.text.strip()
    if refused := await refuse_empty(ctx, text):
        return refused
    # Scheduling is publishing: a phone unseen for a while gives the PIN first (as for PUBLIER).
    again = _command_text(when.local, when.weekly, text)
    if waiting := await needs_pin(
        ctx, {"action": "command", "text": again, "media": ctx.media}, "schedule: waiting for PIN"
    ):
        return waiting
    post = await schedule_service.create(
        ctx.s,
        biz=ctx.biz,
        local=when.local,
        text=text,
        media=ctx.media,
        source=ctx.source,
        author_member_id=ctx.member.id,
        source_message_id=ctx.inbound.id,
        actor=f"member:{ctx.member.id}",
        weekly=when.weekly,
    )
    assert post.scheduled_at is not None
    at = post.scheduled_at
    local = at.astimezone(ZoneInfo(ctx.biz.timezone))  # as it will happen: 2 h 30 the night clocks jump is 3 h 00
    moment = words.moment(local, now_local, ctx.lang)
    if when.weekly:
        await ctx.reply("scheduled_weekly", number=post.number, when=words.weekly(when.local, ctx.lang), first=moment)
    else:
        await ctx.reply("scheduled", number=post.number, when=moment)
    return f"schedule: #{post.number} at {at.isoformat()}{' weekly' if when.weekly else ''}"


def _said(post: Post, weekly: Schedule | None, tz: ZoneInfo, now_local: datetime, lang: str) -> str:
    """``demain, jeu. 10 déc. 11 h`` or, for a weekly post, ``chaque lundi à 11 h``."""
    assert post.scheduled_at is not None
    local = post.scheduled_at.astimezone(tz)
    if weekly is not None:
        return words.weekly(schedule_service.rule_time(weekly, local), lang)
    return words.moment(local, now_local, lang)


def _line(post: Post, weekly: Schedule | None, tz: ZoneInfo, now_local: datetime, lang: str) -> str:
    said = _said(post, weekly, tz, now_local, lang)
    text = " ".join(post.text.split()) or "(photo)"
    if len(text) > SNIPPET:
        text = text[: SNIPPET - 3].rstrip() + "..."
    return to_gsm7(f"P{post.number} {said} {text}")


async def listing(ctx: Ctx, cmd: p.Scheduled) -> str:
    """PROG: soonest first, one line each, as many as the member's budget (digest segments) holds."""
    assert ctx.biz.id is not None
    items = await schedule_service.pending(ctx.s, ctx.biz.id)
    if not items:
        await ctx.reply("scheduled_none")
        return "scheduled: none"
    budget = (await mention_service.settings_for(ctx.s, ctx.member)).budget_segments
    tz, now_local = ZoneInfo(ctx.biz.timezone), _now_local(ctx)
    lines = [_line(i.post, i.weekly, tz, now_local, ctx.lang) for i in items]
    shown = len(lines)
    while True:
        more = t("scheduled_more", ctx.lang, count=len(lines) - shown) if shown < len(lines) else ""
        body = t("scheduled_list", ctx.lang, items="\n".join(lines[:shown])) + more
        if fits(body, budget) or shown == 1:  # one line (under 90 characters) fits any budget
            break
        shown -= 1
    await ctx.reply_text(body, kind="reply")
    return f"scheduled: {shown} of {len(lines)} listed"


async def unschedule_command(ctx: Ctx, cmd: p.Unschedule) -> str:
    return await unschedule(ctx, cmd.number)


async def unschedule(ctx: Ctx, number: int) -> str:
    # Like ANNULER n: a member with a PIN gives it first.
    again = {"action": "command", "text": f"ANNULER P{number}"}
    if waiting := await needs_pin(ctx, again, "unschedule: waiting for PIN", unseen_only=False):
        return waiting
    post = (
        await ctx.s.execute(select(Post).where(col(Post.business_id) == ctx.biz.id, col(Post.number) == number))
    ).scalar_one_or_none()
    if post is None:
        await ctx.reply("unschedule_unknown", number=number)
        return f"unschedule: P{number} unknown"
    post = await schedule_service.lock(ctx.s, post.id or 0) or post
    return await cancel(ctx, post)


async def cancel(ctx: Ctx, post: Post) -> str:
    """Cancel ``post`` if it is still scheduled, and say so (``ANNULER P14``, or ``ANNULER 14`` on a scheduled one)."""
    if post.status == PostStatus.cancelled.value:
        await ctx.reply("unschedule_already", number=post.number)
        return f"unschedule: P{post.number} already cancelled"
    if post.status != PostStatus.scheduled.value:
        await ctx.reply("unschedule_published", number=post.number)
        return f"unschedule: #{post.number} is already out"
    series = await schedule_service.cancel(ctx.s, post=post, actor=f"member:{ctx.member.id}")
    said = _said(post, series, ZoneInfo(ctx.biz.timezone), _now_local(ctx), ctx.lang)
    await ctx.reply("unscheduled", number=post.number, when=said)
    return f"unschedule: P{post.number}{' (weekly)' if series is not None else ''}"
