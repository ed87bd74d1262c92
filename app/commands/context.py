"""What every command handler is given and may use: the context of one command (:class:`Ctx`), its one answer
through the outbox, and the open questions (``PendingAction``) a command asks and a later one answers.

Handlers live in their features (``app/posts/commands.py``, ``app/mentions/commands.py``, ...) and import this
module; it imports no feature, so no handler can make a cycle through it. The table of handlers is assembled
above the features (``app/command_table.py``) and rides on the context (``ctx.table``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.catalogue import t
from app.commands import parser as p
from app.kit.sms_text import to_gsm7
from app.kit.time import utcnow
from app.kit.when_fmt import fmt_time
from app.messages import outbox
from app.models import Business, InboundMessage, Member, PendingAction
from app.runtime import Runtime

Handler = Callable[["Ctx", Any], Awaitable[str]]
"""A command handler: acts on one parsed command, sends at most one answer, returns a note for the operator."""


@dataclass(frozen=True, slots=True)
class CommandTable:
    """The handlers, by the parser's result type (``app.command_table.COMMANDS``), the publish a confirmed
    question runs (``OUI`` or the PIN after ``Publier ce texte?``), the pipeline's dispatch (for the text a
    question held), and what the inbound job does before ``M`` (outside the write transaction)."""

    handlers: Mapping[type, Handler]
    publish: Callable[[Ctx, str], Awaitable[str]]
    dispatch: Callable[[Ctx, p.ParseResult], Awaitable[str]]
    before_mentions: Callable[[Runtime, int], Awaitable[None]]  # M: fetch the business's latest mentions first
    # the photos of an unverified mail, decoded once its member confirmed it (app.email.service.held_photos)
    held_photos: Callable[[Runtime, AsyncSession, int], Awaitable[list[dict[str, str]]]] | None = None


@dataclass
class Ctx:
    """One command from one member: where it came from, what it carries, and its one answer."""

    rt: Runtime
    s: AsyncSession
    inbound: InboundMessage  # the stored message (its status and note are the operator's record)
    biz: Business
    member: Member
    media: list[dict[str, str]]
    table: CommandTable
    target: outbox.Target = outbox.SMS  # where the answer goes: the channel the command came by, threaded to it
    text: str = ""  # the command's text (an email's new text, not the whole mail)
    media_error: bool = False
    pin_ok: bool = False
    unseen: bool = False  # the phone (address) was not seen for pin_unseen_days: publishing needs the PIN
    replied: bool = False

    @property
    def lang(self) -> str:
        return self.member.language

    @property
    def source(self) -> str:
        """The channel the command came by: posts record it, receipts go back by it."""
        return self.target.channel

    @property
    def trust(self) -> str:
        """The trust level of this command's channel, recorded on the questions it asks (``PendingAction``):
        a question is joined, confirmed or unlocked only from the same level (``TRUST_ANSWERS``)."""
        return self.source

    async def reply_text(
        self, text: str, *, kind: str = "reply", purpose: str = "reply", ignore_opt_out: bool = False
    ) -> None:
        """Send ``text`` (already composed, e.g. a digest) as this command's one answer."""
        if self.replied or not outbox.address(self.member, self.target.channel):
            return  # exactly one answer per command
        self.replied = True
        await outbox.send(
            self.s,
            self.rt.settings,
            self.member,
            text,
            to=self.target,
            # By SMS the kind says what the answer carries (a digest counts against the daily cap); by email
            # an answer to a command is one mail, recorded as a reply whatever it carries.
            kind=kind if self.target.channel == "sms" else "reply",
            business_id=self.biz.id,
            purpose=purpose,
            ignore_opt_out=ignore_opt_out,
        )

    async def reply(self, key: str, *, ignore_opt_out: bool = False, **values: Any) -> None:
        await self.reply_text(t(key, self.lang, **values), ignore_opt_out=ignore_opt_out)

    async def run(self, cmd: p.ParseResult) -> str:
        """Dispatch ``cmd`` through the whole pipeline (guards, then its handler): an answered question's text."""
        return await self.table.dispatch(self, cmd)

    async def handle(self, cmd: p.Command) -> str:
        """Hand ``cmd`` straight to its handler (the guards already passed for this message)."""
        return await self.table.handlers[type(cmd)](self, cmd)


# --- questions: asked by one command, answered by a later one -----------------------------------------

TRUST_ANSWERS: dict[str, frozenset[str]] = {
    "sms": frozenset({"sms"}),
    "email": frozenset({"email", "email-unverified"}),  # a signed reply proves the address it was sent to
    "email-unverified": frozenset(),  # an unverified mail never joins, confirms or unlocks anything
}
"""Which questions a command of each trust level may answer: text from an unauthenticated mail never joins or
confirms an SMS action, and an SMS ``OUI`` never runs text that came by an unverified mail."""


def trust_of(action: PendingAction) -> str:
    return str(action.payload.get("trust", "sms"))


async def pending(
    s: AsyncSession, member_ids: Sequence[int], needs: str, trust: str | None = None
) -> PendingAction | None:
    """The newest open question of ``needs`` for these members; with ``trust``, only one that level answers.
    An expired question is never returned (``ARDOISE_CONFIRM_MINUTES``, 30 by default)."""
    if not member_ids:
        return None
    rows = (
        await s.execute(
            select(PendingAction)
            .where(
                col(PendingAction.member_id).in_(member_ids),
                col(PendingAction.needs) == needs,
                col(PendingAction.expires_at) > utcnow(),
            )
            .order_by(col(PendingAction.id).desc())
            .limit(10)
        )
    ).scalars()
    allowed = TRUST_ANSWERS.get(trust or "", frozenset()) if trust is not None else None
    return next((a for a in rows if allowed is None or trust_of(a) in allowed), None)


async def ask(ctx: Ctx, needs: str, payload: dict[str, Any], *, trust: str | None = None) -> None:
    """Open a question (replacing the member's earlier one of the same kind and trust level)."""
    assert ctx.member.id is not None
    trust = trust or ctx.trust
    olds = (
        await ctx.s.execute(
            select(PendingAction).where(
                col(PendingAction.member_id) == ctx.member.id, col(PendingAction.needs) == needs
            )
        )
    ).scalars()
    for old in olds:
        if trust_of(old) == trust:
            await ctx.s.delete(old)
    payload = {**payload, "inbound_id": ctx.inbound.id, "trust": trust}
    ctx.s.add(
        PendingAction(
            member_id=ctx.member.id,
            kind=str(payload.get("action", "")),
            needs=needs,
            payload=payload,
            expires_at=utcnow() + timedelta(minutes=ctx.rt.settings.confirm_minutes),
        )
    )


async def run_pending(ctx: Ctx, action: PendingAction) -> str:
    """Run the action a question held (after OUI or the right PIN)."""
    payload = action.payload
    ctx.media = [dict(x) for x in payload.get("media", [])]
    if payload.get("photos_held") and ctx.table.held_photos is not None:
        ctx.media += await ctx.table.held_photos(ctx.rt, ctx.s, int(payload["inbound_id"]))
    await ctx.s.delete(action)
    if payload.get("action") == "publish":
        return await ctx.table.publish(ctx, str(payload.get("text", "")))
    return await ctx.run(p.parse(str(payload.get("text", ""))))


async def waiting_question(ctx: Ctx) -> PendingAction | None:
    """The newest question still open for this member (publish this text?, did you mean…?, PIN for a publish),
    unless it is itself a waiting ANNULER."""
    assert ctx.member.id is not None
    found = [
        a for needs in ("confirm", "pin") if (a := await pending(ctx.s, [ctx.member.id], needs, ctx.trust)) is not None
    ]
    found = [
        a
        for a in found
        if a.payload.get("action") == "publish" or not isinstance(p.parse(str(a.payload.get("text", ""))), p.Undo)
    ]
    return max(found, key=lambda a: a.id or 0, default=None)


async def needs_pin(ctx: Ctx, payload: dict[str, Any], note: str, *, unseen_only: bool = True) -> str | None:
    """When the member has a PIN and must give it first (always, or only from an unseen phone): ask for it,
    keeping ``payload`` to run afterwards, and return ``note``; else None."""
    if not ctx.member.pin_hash or ctx.pin_ok or (unseen_only and not ctx.unseen):
        return None
    await ask(ctx, "pin", payload)
    await ctx.reply("pin_needed")
    return note


async def refuse_empty(ctx: Ctx, text: str) -> str | None:
    """A post needs text or a photo that could be fetched: answer why not (None when it has one)."""
    if ctx.media_error and not ctx.media:
        await ctx.reply("media_failed")
        return "refused: media"
    if not text and not ctx.media:
        await ctx.reply("empty_post")
        return "empty"
    return None


# --- small shared words ----------------------------------------------------------------------------

QUOTE_CHARS = 40


def quote(text: str) -> str:
    """The start of ``text`` for a confirmation SMS: GSM-7, one line, at most ``QUOTE_CHARS`` characters cut at
    a word (``Pizza ce soir...``), so the owner sees what OUI will publish and the SMS stays one segment."""
    flat = " ".join(to_gsm7(text).split())
    if len(flat) <= QUOTE_CHARS:
        return flat
    cut = flat[: QUOTE_CHARS - 3]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:!?-") + "..."


def zone(biz: Business) -> ZoneInfo:
    try:
        return ZoneInfo(biz.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(biz: Business, moment: datetime, lang: str) -> str:
    """``14 h 05`` / ``2:05 pm``: ``moment`` in the business's time zone, as the owner writes times."""
    return fmt_time(moment.astimezone(zone(biz)).time(), lang)
