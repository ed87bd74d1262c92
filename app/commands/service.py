"""One inbound command → route to a business and member → parse → guards → its handler → at most one answer.

Everything here runs inside the job's write transaction; the answer is queued in it (``app.messages.outbox``),
so a crash either loses nothing (the job runs again) or has done everything (the inbound row is processed).
The handlers live in their features and are handed in as a :class:`~app.commands.context.CommandTable`
(assembled in ``app/command_table.py``); this module knows the parser's results, not the features.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.catalogue import t
from app.commands import parser as p
from app.commands.context import CommandTable, Ctx, ask
from app.commands.guards import ALWAYS, note_seen, over_limit, refused
from app.commands.routing import answer_stranger, answer_to, choose, route
from app.models import Business, InboundMessage, InboundStatus, Member
from app.runtime import Runtime

STRANGER_KEYWORDS = ((p.Help, "help"), (p.Stop, "stop"), (p.Start, "start"))


async def handle(
    rt: Runtime,
    s: AsyncSession,
    inbound: InboundMessage,
    media: list[dict[str, str]],
    media_error: bool,
    table: CommandTable,
) -> str:
    """Process one stored inbound SMS. Returns a short note for the operator (what happened)."""
    routed = await route(s, inbound)
    body = inbound.body or ""
    parsed = p.parse(body)
    if routed.memberships and routed.member is None:
        if isinstance(parsed, ALWAYS):
            # Carrier keywords are answered at once, whichever business the number serves: opting out
            # applies to every membership of this phone.
            first_biz, first_member = routed.memberships[0]
            return await handle_member(rt, s, inbound, first_biz, first_member, parsed, media, media_error, table)
        chosen = await choose(rt, s, inbound, routed, body)
        if chosen is None:
            return "asked which business"
        chosen_biz, member, text, stored = chosen
        return await handle_member(rt, s, inbound, chosen_biz, member, p.parse(text), stored, False, table)
    if routed.member is None or routed.business is None:
        biz = routed.business or (routed.candidates[0] if routed.candidates else None)
        inbound.business_id = biz.id if biz else None
        inbound.status = InboundStatus.ignored.value
        # Canadian carriers require HELP/AIDE/INFO and STOP/ARRET to be answered for anyone, in the language
        # of the keyword; anything else from a stranger gets no reply (SMS cost, spam).
        for kind, key in STRANGER_KEYWORDS:
            if isinstance(parsed, kind):
                lang = parsed.keyword_lang or (biz.language if biz else "fr")
                await answer_stranger(rt, s, inbound, biz, lang, key)
                return f"{key} to a non-member"
        return "not a member: no reply" if biz else "unknown number: no reply"
    return await handle_member(rt, s, inbound, routed.business, routed.member, parsed, media, media_error, table)


async def handle_member(
    rt: Runtime,
    s: AsyncSession,
    inbound: InboundMessage,
    biz: Business,
    member: Member,
    parsed: p.ParseResult,
    media: list[dict[str, str]],
    media_error: bool,
    table: CommandTable,
) -> str:
    assert member.id is not None
    assert biz.id is not None
    if s.bind is not None and s.bind.dialect.name == "postgresql":
        # Serialise one member's commands across workers: the rate limit and the loop guard count rows
        # that a concurrent transaction would not see yet under READ COMMITTED.
        await s.execute(select(col(Member.id)).where(col(Member.id) == member.id).with_for_update())
    inbound.business_id, inbound.member_id = biz.id, member.id
    inbound.status = InboundStatus.processed.value
    to = answer_to(inbound)
    ctx = Ctx(rt, s, inbound, biz, member, media, table, to, inbound.body or "", media_error)
    ctx.unseen = note_seen(rt, member)
    s.add(member)
    if not isinstance(parsed, ALWAYS) and (limited := await over_limit(ctx)) is not None:
        return limited
    note = await dispatch(ctx, parsed)
    await audit.record(
        s,
        actor=f"member:{member.id}",
        action=f"sms.{note.split(':')[0]}",
        business_id=biz.id,
        target=f"in:{inbound.id}",
        detail=note,
    )
    return note


async def dispatch(ctx: Ctx, cmd: p.ParseResult) -> str:
    """Guards, then the handler registered for the result's type; what no handler takes is answered here."""
    if (note := await refused(ctx, cmd)) is not None:
        return note
    if isinstance(cmd, p.LoneWord) and (ctx.media or ctx.media_error):
        # A photo with a one-word caption ("Dessert!") is a post to confirm; one that could not be fetched is
        # refused as such (never answered as an unknown command, the photo silently dropped).
        cmd = p.Unknown(cmd.word)
    handler = ctx.table.handlers.get(type(cmd))
    if handler is not None:
        return await handler(ctx, cmd)
    if isinstance(cmd, p.Suggest):
        return await suggest(ctx, cmd)
    if isinstance(cmd, p.Invalid):
        reason = t(f"bad_{cmd.reason}", ctx.lang)
        await ctx.reply("invalid", keyword=cmd.keyword, reason=reason)
        return f"invalid: {cmd.keyword} {cmd.reason}"
    if isinstance(cmd, p.LoneWord):
        if p.is_acknowledgement(cmd.word):
            # "Merci!" or a thumbs-up after a receipt: an "unknown command" SMS would cost for nothing.
            return "acknowledged: no reply"
        await ctx.reply("help_short")
        return "unknown word"
    await ctx.reply("help_short")
    return f"unhandled: {type(cmd).__name__}"


async def suggest(ctx: Ctx, cmd: p.Suggest) -> str:
    """``PUBLIR Menu``: ask whether the member meant the command, spelled as Ardoise spells it in their language."""
    words = ctx.text.strip().split(None, 1)
    keyword = p.spelling(cmd.command, ctx.lang)
    corrected = keyword + (" " + words[1] if len(words) > 1 else "")
    await ask(ctx, "confirm", {"action": "command", "text": corrected, "media": ctx.media})
    await ctx.reply("confirm_suggest", keyword=keyword)
    return f"suggested {keyword}"
