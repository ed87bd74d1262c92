"""One inbound SMS → route to a business and member → parse → act → at most one reply.

Everything here runs inside the job's write transaction; the reply is queued in it, so a crash either
loses nothing (the job runs again) or has done everything (the inbound row is marked processed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts import service as account_service
from app.audit import service as audit
from app.catalogue import label, t
from app.commands import parser as p
from app.kit.sms_text import to_gsm7
from app.kit.time import utcnow
from app.kit.when_fmt import fmt_date, fmt_time, fmt_times
from app.members.service import check_pin
from app.messages import service as sms_service
from app.models import (
    AccountStatus,
    Business,
    BusinessNumber,
    InboundMessage,
    InboundStatus,
    Member,
    NetworkAccount,
    OutboundMessage,
    PendingAction,
    Post,
    PostStatus,
    PublishMode,
)
from app.ocr import flow as ocr_flow
from app.posts import service as post_service
from app.runtime import Runtime
from app.worker import queue

log = structlog.get_logger("ardoise.commands")

CANONICAL: dict[type, tuple[str, str]] = {
    p.Publish: ("PUBLIER", "POST"),
    p.Undo: ("ANNULER", "UNDO"),
    p.Status: ("ETAT", "STATUS"),
    p.Help: ("AIDE", "HELP"),
    p.Language: ("LANGUE", "LANGUAGE"),
    p.Reply: ("REPONDRE", "REPLY"),
    p.Like: ("J", "LIKE"),
    p.Mentions: ("MENTIONS", "MENTIONS"),
    p.Hours: ("HEURES", "HOURS"),
    p.Pause: ("PAUSE", "PAUSE"),
    p.Resume: ("REPRISE", "RESUME"),
    p.Alerts: ("ALERTES", "ALERTS"),
    p.Pin: ("PIN", "PIN"),
    p.Start: ("DEBUT", "START"),
    p.Stop: ("ARRET", "STOP"),
    p.Confirm: ("OUI", "YES"),
    p.Schedule: ("PUBLIER", "POST"),
    p.Scheduled: ("PROG", "SCHEDULED"),
    p.Unschedule: ("ANNULER", "UNDO"),
}


@dataclass
class Routed:
    business: Business | None
    member: Member | None
    candidates: list[Business] = field(default_factory=list)
    memberships: list[tuple[Business, Member]] = field(default_factory=list)


async def route(s: AsyncSession, inbound: InboundMessage) -> Routed:
    """``To`` → business; where a number serves several businesses, the sender's membership decides."""
    bizs = list(
        (
            await s.execute(
                select(Business)
                .join(BusinessNumber, col(BusinessNumber.business_id) == col(Business.id))
                .where(col(BusinessNumber.number) == inbound.to, col(Business.deleted_at).is_(None))
                .order_by(col(Business.id))
            )
        ).scalars()
    )
    if not bizs:
        return Routed(None, None)
    members = list(
        (
            await s.execute(
                select(Member)
                .where(col(Member.phone) == inbound.peer, col(Member.business_id).in_([b.id for b in bizs]))
                .order_by(col(Member.id))
            )
        ).scalars()
    )
    pairs = [(b, m) for m in members for b in bizs if b.id == m.business_id]
    if len(pairs) == 1:
        return Routed(pairs[0][0], pairs[0][1], bizs, pairs)
    if not pairs:
        return Routed(bizs[0] if len(bizs) == 1 else None, None, bizs, [])
    return Routed(None, None, bizs, pairs)


@dataclass
class Ctx:
    rt: Runtime
    s: AsyncSession
    inbound: InboundMessage
    biz: Business
    member: Member
    media: list[dict[str, str]]
    media_error: bool = False
    pin_ok: bool = False
    unseen: bool = False  # the phone (address) was not seen for pin_unseen_days: publishing needs the PIN
    replied: bool = False
    source: str = "sms"  # the channel the command came by: posts record it, answers go back by it

    @property
    def lang(self) -> str:
        return self.member.language

    @property
    def trust(self) -> str:
        """The trust level of this command's channel, recorded on the questions it asks (``PendingAction``):
        a question is joined, confirmed or unlocked only from the same level (``TRUST_ANSWERS``)."""
        return self.source

    async def reply_text(self, text: str, *, kind: str = "reply") -> None:
        """Send ``text`` (already composed, e.g. a digest) as this command's one answer."""
        if self.replied or not self.member.phone:
            return
        self.replied = True
        await sms_service.queue_sms(
            self.s,
            self.rt.settings,
            to=self.member.phone,
            text=text,
            kind=kind,
            business_id=self.biz.id,
            member=self.member,
            sender=self.inbound.to or None,
            in_reply_to_id=self.inbound.id,
        )

    async def reply(self, key: str, *, ignore_opt_out: bool = False, **values: Any) -> None:
        if self.replied or not self.member.phone:
            return  # exactly one SMS per command
        self.replied = True
        await sms_service.queue_sms(
            self.s,
            self.rt.settings,
            to=self.member.phone,
            text=t(key, self.lang, **values),
            kind="reply",
            business_id=self.biz.id,
            member=self.member,
            sender=self.inbound.to or None,
            in_reply_to_id=self.inbound.id,
            ignore_opt_out=ignore_opt_out,
        )


async def reply_stranger(
    rt: Runtime, s: AsyncSession, inbound: InboundMessage, biz: Business | None, lang: str, key: str
) -> None:
    await sms_service.queue_sms(
        s,
        rt.settings,
        to=inbound.peer,
        text=t(key, lang),
        kind="reply",
        business_id=biz.id if biz else None,
        sender=inbound.to or None,
        in_reply_to_id=inbound.id,
    )


async def handle(
    rt: Runtime, s: AsyncSession, inbound: InboundMessage, media: list[dict[str, str]], media_error: bool
) -> str:
    """Process one stored inbound SMS. Returns a short note for the operator (what happened)."""
    routed = await route(s, inbound)
    body = inbound.body or ""
    parsed = p.parse(body)
    if routed.memberships and routed.member is None:
        if isinstance(parsed, p.Help | p.Stop | p.Start):
            # Carrier keywords are answered at once, whichever business the number serves: opting out
            # applies to every membership of this phone.
            first_biz, first_member = routed.memberships[0]
            return await handle_member(rt, s, inbound, first_biz, first_member, parsed, media, media_error)
        return await _ambiguous(rt, s, inbound, routed, body)
    if routed.member is None or routed.business is None:
        biz = routed.business or (routed.candidates[0] if routed.candidates else None)
        inbound.business_id = biz.id if biz else None
        inbound.status = InboundStatus.ignored.value
        # Canadian carriers require HELP/AIDE/INFO and STOP/ARRET to be answered for anyone, in the language
        # of the keyword; anything else from a stranger gets no reply (SMS cost, spam).
        for kind, key in ((p.Help, "help"), (p.Stop, "stop"), (p.Start, "start")):
            if isinstance(parsed, kind):
                lang = parsed.keyword_lang or (biz.language if biz else "fr")
                await reply_stranger(rt, s, inbound, biz, lang, key)
                return f"{key} to a non-member"
        return "not a member: no reply" if biz else "unknown number: no reply"
    return await handle_member(rt, s, inbound, routed.business, routed.member, parsed, media, media_error)


async def _ambiguous(rt: Runtime, s: AsyncSession, inbound: InboundMessage, routed: Routed, body: str) -> str:
    """One number, several businesses for this sender: a digit answers an earlier question, else ask."""
    first_member = routed.memberships[0][1]
    assert first_member.id is not None
    pending = await _pending(s, [m.id for _, m in routed.memberships if m.id is not None], "choose")
    choice = body.strip().rstrip(".")
    if pending is not None and choice.isdigit():
        options: list[int] = [int(x) for x in pending.payload.get("options", [])]
        idx = int(choice) - 1
        if 0 <= idx < len(options):
            pair = next((bm for bm in routed.memberships if bm[0].id == options[idx]), None)
            await s.delete(pending)
            if pair is not None:
                original = str(pending.payload.get("text", ""))
                stored = [dict(m) for m in pending.payload.get("media", [])]
                return await handle_member(rt, s, inbound, pair[0], pair[1], p.parse(original), stored, False)
    choices = ", ".join(f"{i + 1} = {b.name}" for i, (b, _) in enumerate(routed.memberships))
    await s.execute(
        delete(PendingAction).where(
            col(PendingAction.member_id) == first_member.id, col(PendingAction.needs) == "choose"
        )
    )
    s.add(
        PendingAction(
            member_id=first_member.id,
            kind="choose",
            needs="choose",
            payload={"text": body, "options": [b.id for b, _ in routed.memberships]},
            expires_at=utcnow() + timedelta(minutes=30),
        )
    )
    inbound.status = InboundStatus.processed.value
    inbound.business_id = routed.memberships[0][0].id
    await sms_service.queue_sms(
        s,
        rt.settings,
        to=inbound.peer,
        kind="reply",
        text=t("which_business", first_member.language, choices=choices),
        business_id=inbound.business_id,
        member=first_member,
        sender=inbound.to or None,
        in_reply_to_id=inbound.id,
    )
    return "asked which business"


TRUST_ANSWERS: dict[str, frozenset[str]] = {
    "sms": frozenset({"sms"}),
    "email": frozenset({"email", "email-unverified"}),  # a signed reply proves the address it was sent to
    "email-unverified": frozenset(),  # an unverified mail never joins, confirms or unlocks anything
}
"""Which questions a command of each trust level may answer: text from an unauthenticated mail never joins or
confirms an SMS action, and an SMS ``OUI`` never runs text that came by an unverified mail."""


def trust_of(action: PendingAction) -> str:
    return str(action.payload.get("trust", "sms"))


async def _pending(
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


async def _rate_limited(rt: Runtime, s: AsyncSession, member: Member, inbound: InboundMessage) -> datetime | None:
    """When more than ``sms_commands_per_hour`` commands were acted on in the last hour: the moment the owner may
    try again (the oldest of them leaves the hour), else None. Messages already refused for the limit do not
    count, so an owner who keeps texting is not locked out for longer."""
    limit = rt.settings.sms_commands_per_hour
    since = utcnow() - timedelta(hours=1)
    times = list(
        (
            await s.execute(
                select(col(InboundMessage.created_at))
                .where(
                    col(InboundMessage.member_id) == member.id,
                    col(InboundMessage.created_at) >= since,
                    col(InboundMessage.id) != inbound.id,
                    col(InboundMessage.status) != InboundStatus.ignored.value,
                )
                .order_by(col(InboundMessage.created_at))
            )
        ).scalars()
    )
    if len(times) < limit:
        return None
    # One slot frees when the (len - limit + 1)-th oldest leaves the hour; round up to the next minute.
    free = times[len(times) - limit] + timedelta(hours=1, minutes=1)
    return free.replace(second=0, microsecond=0)


async def handle_member(
    rt: Runtime,
    s: AsyncSession,
    inbound: InboundMessage,
    biz: Business,
    member: Member,
    parsed: p.ParseResult,
    media: list[dict[str, str]],
    media_error: bool,
) -> str:
    assert member.id is not None
    assert biz.id is not None
    if s.bind is not None and s.bind.dialect.name == "postgresql":
        # Serialise one member's commands across workers: the rate limit and the loop guard count rows
        # that a concurrent transaction would not see yet under READ COMMITTED.
        await s.execute(select(col(Member.id)).where(col(Member.id) == member.id).with_for_update())
    inbound.business_id, inbound.member_id = biz.id, member.id
    inbound.status = InboundStatus.processed.value
    ctx = Ctx(rt, s, inbound, biz, member, media, media_error)
    ctx.unseen = note_seen(rt, member)
    s.add(member)
    # STOP, START and HELP always work (carriers require it), whatever the rate.
    retry_at = None if isinstance(parsed, p.Stop | p.Start | p.Help) else await _rate_limited(rt, s, member, inbound)
    if retry_at is not None:
        inbound.status = InboundStatus.ignored.value
        since = utcnow() - timedelta(hours=1)
        told = (
            await s.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    col(OutboundMessage.member_id) == member.id,
                    col(OutboundMessage.kind) == "rate_limited",
                    col(OutboundMessage.created_at) >= since,
                )
            )
        ).scalar_one()
        if not told and member.phone:
            await sms_service.queue_sms(
                s,
                rt.settings,
                to=member.phone,
                text=t("rate_limited", member.language, time=_local_time(biz, retry_at, member.language)),
                kind="rate_limited",
                business_id=biz.id,
                member=member,
                sender=inbound.to or None,
                in_reply_to_id=inbound.id,
            )
        return "rate limited"
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
    m = ctx.member
    if isinstance(cmd, p.Help):
        if m.opted_out:  # after STOP, nothing until START (the carrier would refuse it anyway: 21610)
            ctx.inbound.status = InboundStatus.ignored.value
            return "help: opted out, no reply"
        if cmd.topic is not None and cmd.topic != "help":
            await ctx.reply(f"help_{cmd.topic}")
            return f"help: {cmd.topic}"
        await ctx.reply("help")
        return "help"
    if isinstance(cmd, p.Stop):
        await sms_service.opt_out_number(ctx.s, m.phone or "")
        m.opted_out = True
        await ctx.reply("stop", ignore_opt_out=True)
        return "stop"
    if isinstance(cmd, p.Start):
        await sms_service.opt_out_number(ctx.s, m.phone or "", opted_out=False)
        m.opted_out = False
        await ctx.reply("start", ignore_opt_out=True)
        return "start"
    if m.opted_out:
        ctx.inbound.status = InboundStatus.ignored.value
        return "opted out: ignored until START"
    if len(ctx.media) > ctx.rt.settings.sms_max_media:
        await ctx.reply("too_many_media", count=len(ctx.media))
        return "refused: too many media"
    if isinstance(cmd, p.TooLong):
        await ctx.reply("too_long", length=cmd.length)
        return "refused: too long"
    if isinstance(cmd, p.Language):
        m.language = cmd.lang
        await ctx.reply("language")
        return f"language: {cmd.lang}"
    if isinstance(cmd, p.Publish):
        if (board := await ocr_flow.intercept(ctx, cmd.text)) is not None:
            return board  # a bare PUBLIER with a chalkboard photo, or the text correcting one
        return await publish(ctx, cmd.text)
    if isinstance(cmd, p.Schedule | p.Scheduled | p.Unschedule):
        from app.scheduling import commands as schedule_commands

        return await schedule_commands.handle(ctx, cmd)
    if isinstance(cmd, p.LoneWord) and ctx.media:
        cmd = p.Unknown(cmd.word)  # a photo with a one-word caption ("Dessert!") is a post to confirm
    if isinstance(cmd, p.Unknown | p.Empty):
        text = cmd.text if isinstance(cmd, p.Unknown) else ""
        if not text and not ctx.media:
            await ctx.reply("empty_post" if ctx.media_error is False else "media_failed")
            return "empty"
        if (board := await ocr_flow.intercept(ctx, text)) is not None:
            return board  # a chalkboard photo without a caption, or the text correcting one
        if ctx.biz.publish_mode == PublishMode.direct.value:
            return await publish(ctx, text)
        if ctx.media_error and not ctx.media:
            # Same answer as PUBLIER: the photo could not be fetched, so do not offer to post the text alone.
            await ctx.reply("media_failed")
            return "refused: media"
        assert m.id is not None
        earlier = await _pending(ctx.s, [m.id], "confirm", ctx.trust)
        joined = ""
        if earlier is not None and earlier.payload.get("action") == "publish":
            # A second text while the first waits for OUI (a phone that split a long message, or an
            # afterthought): one post with both, so that OUI loses neither.
            before = str(earlier.payload.get("text", "")).strip()
            text = "\n".join(x for x in (before, text) if x)
            ctx.media = [*(dict(x) for x in earlier.payload.get("media", [])), *ctx.media]
            joined = " (joined to the text waiting for OUI)"
        await ask(ctx, "confirm", {"action": "publish", "text": text, "media": ctx.media})
        minutes = ctx.rt.settings.confirm_minutes
        if text:
            await ctx.reply("confirm_publish", quote=quote(text), minutes=minutes)
        else:
            await ctx.reply("confirm_photo", minutes=minutes)
        return "asked to confirm a publish" + joined
    if isinstance(cmd, p.Suggest):
        words = ctx.inbound.body.strip().split(None, 1)
        fr, en = CANONICAL.get(type(cmd.command), ("AIDE", "HELP"))
        keyword = fr if ctx.lang == "fr" else en
        corrected = keyword + (" " + words[1] if len(words) > 1 else "")
        await ask(ctx, "confirm", {"action": "command", "text": corrected, "media": ctx.media})
        await ctx.reply("confirm_suggest", keyword=keyword)
        return f"suggested {keyword}"
    if isinstance(cmd, p.Confirm):
        return await confirm(ctx, cmd.yes)
    if isinstance(cmd, p.Pin):
        return await pin(ctx, cmd.code)
    if isinstance(cmd, p.Undo):
        return await undo(ctx, cmd.number)
    if isinstance(cmd, p.Status):
        return await status(ctx)
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
    return await mention_command(ctx, cmd)


async def mention_command(ctx: Ctx, cmd: p.ParseResult) -> str:
    """M, R n, J n, HEURES, PAUSE, REPRISE, ALERTES."""
    from app.mentions import service as mention_service
    from app.mentions.digest import compose_sms_digest

    assert ctx.biz.id is not None
    st = await mention_service.settings_for(ctx.s, ctx.member)
    if isinstance(cmd, p.Mentions):
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
        assert ctx.member.id is not None
        await mention_service.mark_seen(ctx.s, ctx.member.id, [m for m in items if m.number in shown])
        return f"mentions: page {cmd.page}, {len(shown)} shown"
    if isinstance(cmd, p.Reply | p.Like):
        found = await mention_service.by_number(ctx.s, ctx.biz.id, cmd.number)
        if found is None:
            await ctx.reply("mention_unknown", number=cmd.number)
            return f"mention #{cmd.number}: unknown"
        m = found
        if isinstance(cmd, p.Like):
            await queue.enqueue(
                ctx.s,
                "mentions.like",
                {"mention_id": m.id, "member_id": ctx.member.id, "inbound_id": ctx.inbound.id},
                lane=(await account_service.lanes_of(ctx.s, [m.account_id])).get(
                    m.account_id, queue.network_lane(m.network)
                ),
                dedup_key=f"like:{m.id}:{ctx.inbound.id}",
                business_id=ctx.biz.id,
            )
            ctx.replied = True  # the like job sends this command's one SMS
            return f"like #{m.number}"
        if ctx.member.pin_hash and ctx.unseen and not ctx.pin_ok:
            # A reply is public like a post: a phone unseen for a month gives the PIN first.
            await ask(ctx, "pin", {"action": "command", "text": f"R {cmd.number} {cmd.text.strip()}"})
            await ctx.reply("pin_needed")
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
        ctx.replied = True  # the receipt job is this command's one SMS
        return f"reply #{m.number}: post {post.number}"
    if isinstance(cmd, p.Hours):
        st.hours = [h.strftime("%H:%M") for h in cmd.hours]
        ctx.s.add(st)
        await ctx.reply("hours_set", hours=fmt_times(cmd.hours, ctx.lang))
        return "hours"
    if isinstance(cmd, p.Pause):
        st.paused_until = utcnow() + timedelta(days=cmd.days)
        ctx.s.add(st)
        until = st.paused_until.astimezone(_zone(ctx.biz))
        await ctx.reply("paused", date=fmt_date(until.date(), ctx.lang))
        return f"pause {cmd.days}d"
    if isinstance(cmd, p.Resume):
        st.paused_until = None
        ctx.s.add(st)
        await ctx.reply("resumed")
        return "resume"
    if isinstance(cmd, p.Alerts):
        st.alerts = cmd.on
        ctx.s.add(st)
        await ctx.reply("alerts_on" if cmd.on else "alerts_off")
        return f"alerts {'on' if cmd.on else 'off'}"
    await ctx.reply("help_short")
    return f"unhandled: {type(cmd).__name__}"


AUTHOR_PREFIXED = {"mastodon", "x"}


def _zone(biz: Business) -> ZoneInfo:
    try:
        return ZoneInfo(biz.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local_time(biz: Business, moment: datetime, lang: str) -> str:
    """``14 h 05`` / ``2:05 pm``: ``moment`` in the business's time zone, as the owner writes times."""
    return fmt_time(moment.astimezone(_zone(biz)).time(), lang)


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


async def refuse_empty(ctx: Ctx, text: str) -> str | None:
    """A post needs text or a photo that could be fetched: answer why not (None when it has one)."""
    if ctx.media_error and not ctx.media:
        await ctx.reply("media_failed")
        return "refused: media"
    if not text and not ctx.media:
        await ctx.reply("empty_post")
        return "empty"
    return None


async def publish(ctx: Ctx, text: str) -> str:
    text = text.strip()
    if refused := await refuse_empty(ctx, text):
        return refused
    if ctx.member.pin_hash and ctx.unseen and not ctx.pin_ok:
        await ask(ctx, "pin", {"action": "publish", "text": text, "media": ctx.media})
        await ctx.reply("pin_needed")
        return "publish: waiting for PIN"
    post, _ = await post_service.create(
        ctx.s,
        biz=ctx.biz,
        text=text,
        media=ctx.media,
        source=ctx.source,
        author_member_id=ctx.member.id,
        source_message_id=ctx.inbound.id,
        actor=f"member:{ctx.member.id}",
        receipt_deadline=ctx.rt.settings.receipt_deadline_seconds,
    )
    ctx.replied = True  # the receipt job is this command's one SMS
    return f"publish: #{post.number}"


async def _run_pending(ctx: Ctx, action: PendingAction) -> str:
    payload = action.payload
    media = [dict(x) for x in payload.get("media", [])]
    ctx.media = media
    await ctx.s.delete(action)
    if payload.get("action") == "publish":
        return await publish(ctx, str(payload.get("text", "")))
    return await dispatch(ctx, p.parse(str(payload.get("text", ""))))


async def confirm(ctx: Ctx, yes: bool) -> str:
    assert ctx.member.id is not None
    action = await _pending(ctx.s, [ctx.member.id], "confirm", ctx.trust)
    if action is None and not yes:
        # NON while Ardoise waits for a PIN: the owner does not want that action any more.
        action = await _pending(ctx.s, [ctx.member.id], "pin", ctx.trust)
    if action is None:
        await ctx.reply("nothing_to_confirm")
        return "confirm: nothing pending"
    if not yes:
        await ctx.s.delete(action)
        await ctx.reply("cancelled")
        return "confirm: cancelled"
    return await _run_pending(ctx, action)


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
        if owner.phone:
            await sms_service.queue_sms(
                ctx.s,
                ctx.rt.settings,
                to=owner.phone,
                text=t("pin_locked_owner", owner.language, name=quote(ctx.member.name)),
                kind="pin_locked",
                business_id=ctx.biz.id,
                member=owner,
                dedup_key=f"pin-locked:{ctx.member.id}:{owner.id}:{ctx.inbound.id}",
            )
    await queue.enqueue(
        ctx.s,
        "ops.notify_operator",
        {"event": "pin.locked", "business": ctx.biz.slug, "member_id": ctx.member.id, "channel": ctx.source},
        business_id=ctx.biz.id,
        lane="operator-webhook",
    )


async def pin(ctx: Ctx, code: str) -> str:
    """Unlock the waiting action. Three wrong codes drop that action; five wrong codes in 24 hours (any
    action, any channel) lock the member's PIN until they age out, with one alert to the owners and the
    operator. While locked, no code is even checked."""
    assert ctx.member.id is not None
    action = await _pending(ctx.s, [ctx.member.id], "pin", ctx.trust)
    if action is None:
        await ctx.reply("pin_none")
        return "pin: nothing pending"
    failures = await pin_failures(ctx.s, ctx.member.id)
    if failures >= PIN_FAILURES_PER_DAY:
        await ctx.s.delete(action)
        await ctx.reply("pin_locked")
        return "pin: locked"
    if not check_pin(ctx.member.pin_hash, code):
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
    return await _run_pending(ctx, action)


async def _waiting_question(ctx: Ctx) -> PendingAction | None:
    """The newest question still open for this member (publish this text?, did you mean…?, PIN for a publish),
    unless it is itself a waiting ANNULER."""
    assert ctx.member.id is not None
    found = [
        a for needs in ("confirm", "pin") if (a := await _pending(ctx.s, [ctx.member.id], needs, ctx.trust)) is not None
    ]
    found = [
        a
        for a in found
        if a.payload.get("action") == "publish" or not isinstance(p.parse(str(a.payload.get("text", ""))), p.Undo)
    ]
    return max(found, key=lambda a: a.id or 0, default=None)


async def undo(ctx: Ctx, number: int | None) -> str:
    if number is None and not ctx.pin_ok and (question := await _waiting_question(ctx)) is not None:
        # "Publier ce texte? Repondez OUI" answered ANNULER means no, not "delete my last post".
        await ctx.s.delete(question)
        await ctx.reply("cancelled")
        return "undo: cancelled the open question"
    if ctx.member.pin_hash and not ctx.pin_ok:
        await ask(ctx, "pin", {"action": "command", "text": f"ANNULER {number}" if number else "ANNULER"})
        await ctx.reply("pin_needed")
        return "undo: waiting for PIN"
    q = select(Post).where(col(Post.business_id) == ctx.biz.id)
    if number is not None:
        q = q.where(col(Post.number) == number)
    else:
        # "your last post": a colleague's post (or the operator's) is removed only by its number
        q = q.where(
            col(Post.author_member_id) == ctx.member.id,
            col(Post.status).notin_(
                [
                    PostStatus.deleting.value,
                    PostStatus.deleted.value,
                    PostStatus.scheduled.value,
                    PostStatus.cancelled.value,
                ]
            ),
        )
    post = (await ctx.s.execute(q.order_by(col(Post.number).desc()).limit(1))).scalar_one_or_none()
    if post is None:
        if number is None:
            await ctx.reply("undo_none")
        else:
            await ctx.reply("undo_unknown", number=number)
        return "undo: nothing"
    if post.status in (PostStatus.deleting.value, PostStatus.deleted.value):
        await ctx.reply("undo_already", number=post.number)
        return f"undo: #{post.number} already removed"
    if post.status in (PostStatus.scheduled.value, PostStatus.cancelled.value):
        from app.scheduling import commands as schedule_commands

        return await schedule_commands.cancel(ctx, post)  # ANNULER 14 on a scheduled post: ANNULER P14
    await post_service.remove(
        ctx.s,
        post=post,
        actor=f"member:{ctx.member.id}",
        notify_member_id=ctx.member.id,
        receipt_deadline=ctx.rt.settings.receipt_deadline_seconds,
        channel=ctx.source,
    )
    ctx.replied = True  # the undo receipt job is this command's one SMS
    return f"undo: #{post.number}"


async def status(ctx: Ctx) -> str:
    accts = list(
        (
            await ctx.s.execute(
                select(NetworkAccount)
                .where(
                    col(NetworkAccount.business_id) == ctx.biz.id,
                    col(NetworkAccount.status) != AccountStatus.disabled.value,
                )
                .order_by(col(NetworkAccount.id))
            )
        ).scalars()
    )
    parts = []
    for a in accts:
        st = "acct_ok" if a.status == AccountStatus.active.value else "acct_broken"
        parts.append(f"{label(a.network)} {t(st, ctx.lang)}")
    going = list(
        (
            await ctx.s.execute(
                select(col(Post.number))
                .where(col(Post.business_id) == ctx.biz.id, col(Post.status) == PostStatus.publishing.value)
                .order_by(col(Post.number))
                .limit(5)
            )
        ).scalars()
    )
    pending = t("status_pending", ctx.lang, posts=", ".join(f"#{n}" for n in going)) if going else ""
    await ctx.reply("status", accounts=", ".join(parts), pending=pending)
    return "status"
