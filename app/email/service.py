"""One stored inbound mail → who sent it → the new text → the same command logic as SMS → at most one mail back.

Order of checks, each one final:

1. Auto-replies, bounces, list mail and our own mail are dropped silently (marked ``ignored`` with why).
2. The sender: a reply to a signed ``reply+<token>@`` address (valid, unexpired, from the member's own
   address) is that member; otherwise
   the From address must be a member's email at the business addressed (``<slug>@<mail_domain>``).
   Strangers get no answer at all (no backscatter).
3. Trust: the token, or an aligned DKIM/SPF pass. An untrusted mail from a member's address never acts: the
   member is sent a signed confirmation mail and the action waits (``PendingAction``, trust level
   ``email-unverified``) for their ``OUI`` by a signed email reply; an SMS never joins or confirms it.
4. The text: :func:`app.email.reply.extract`; quoted-only mail and unsure extractions are confirmed first.
   The command is read from the subject of a fresh mail or from the first lines of the new text.
5. Photos: JPEG/PNG/HEIC re-encoded to JPEG ≤ 2048 px; anything else refuses the whole mail with a clear
   answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.catalogue import t
from app.commands import parser as p
from app.commands.context import CommandTable, Ctx, ask
from app.commands.guards import note_seen, over_limit
from app.email import reply as reply_mod
from app.email import security
from app.email.parse import Attachment, ParsedEmail, parse_email, raw_bytes
from app.kit import media as media_store
from app.kit.textclean import strip_control
from app.kit.time import utcnow
from app.messages import outbox
from app.models import Business, InboundMessage, InboundStatus, Member
from app.runtime import Runtime

log = structlog.get_logger("ardoise.email")

IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/heic", "image/heif"})
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".heic", ".heif")
LOGO_BYTES = 15_000  # inline images smaller than this are signature logos, not photos


# --- photos ------------------------------------------------------------------------------------------


@dataclass
class Media:
    items: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # not an image we take
    unreadable: list[str] = field(default_factory=list)
    held: int = 0  # photos of an unverified mail, kept undecoded in the stored mail until the member confirms


def reencode(data: bytes) -> bytes:
    """The stored form of a photo: app/kit/media.py's re-encoding, the same for every path (pixel cap from the
    header, EXIF dropped, orientation applied, fit for every network)."""
    return media_store.reencode(data)


def _is_image(a: Attachment) -> bool:
    if a.content_type in IMAGE_TYPES:
        return True
    return a.content_type == "application/octet-stream" and a.filename.lower().endswith(IMAGE_EXTENSIONS)


def prepare_media(
    attachments: Sequence[Attachment], media_dir: Path, public_url: str, max_count: int, *, decode: bool = True
) -> Media:
    """Re-encode and store the photos; list what was refused. CPU-bound: run it in a thread.

    ``decode=False`` (a mail whose sender is not verified): the photos are only counted. No image decoder runs on
    bytes anyone can send under a member's address until the member confirms from their own mailbox; then
    :func:`held_photos` decodes them from the stored mail."""
    out = Media()
    for a in attachments:
        name = a.filename or a.content_type
        if a.inline and (len(a.data) < LOGO_BYTES or not _is_image(a)) and a.content_type.startswith("image/"):
            continue  # a signature logo or a pasted icon
        if not _is_image(a):
            out.refused.append(name)
            continue
        if len(out.items) + out.held >= max_count:
            out.refused.append(name)
            continue
        if not decode:
            out.held += 1
            continue
        try:
            jpeg = reencode(a.data)
        except Exception:
            out.unreadable.append(name)
            continue
        stored = media_store.store(media_dir, jpeg, "image/jpeg")
        out.items.append({"path": stored, "url": f"{public_url}/media/{stored}", "content_type": "image/jpeg"})
    return out


async def held_photos(rt: Runtime, s: AsyncSession, inbound_id: int) -> list[dict[str, str]]:
    """The photos of an unverified mail, decoded now that its member confirmed it (``run_pending``)."""
    inbound = await s.get(InboundMessage, inbound_id)
    if inbound is None or inbound.channel != "email":
        return []
    rcpts = tuple(x.strip() for x in inbound.to.split(",") if x.strip())
    mail = parse_email(raw_bytes(inbound), mail_domain=rt.settings.mail_domain.lower(), envelope_recipients=rcpts)
    st = rt.settings
    media = await asyncio.to_thread(prepare_media, mail.attachments, st.media_dir, st.public_url, st.sms_max_media)
    return media.items


# --- who sent it ---------------------------------------------------------------------------------------


@dataclass
class Who:
    business: Business | None = None
    member: Member | None = None
    by_token: bool = False
    purpose: str = ""
    note: str = ""


async def identify(rt: Runtime, s: AsyncSession, mail: ParsedEmail) -> Who:
    keys = rt.settings.secret_keys()
    token_member: Member | None = None
    purpose = ""
    if mail.reply_token:
        tok = security.read_token(keys, mail.reply_token)
        if tok is not None:
            token_member = await s.get(Member, tok.member_id)
            purpose = tok.purpose
            # The token works only from the member's own address: a leaked or forwarded reply address used
            # from elsewhere falls back to the sender checks below (a stranger is then ignored).
            own = token_member is not None and (token_member.email or "").lower() == mail.from_addr.lower()
            if token_member is not None and own and not tok.expired(utcnow()):
                biz = await s.get(Business, token_member.business_id)
                if biz is not None and biz.deleted_at is None:
                    return Who(biz, token_member, True, tok.purpose)
    slugs = sorted({lp.split("+", 1)[0] for lp in mail.local_parts if not lp.startswith("reply+")})
    biz_ids: list[int] = []
    if slugs:
        rows = await s.execute(
            select(col(Business.id)).where(col(Business.slug).in_(slugs), col(Business.deleted_at).is_(None))
        )
        biz_ids = [int(r[0]) for r in rows if r[0] is not None]
    if token_member is not None:  # expired: its business, but the sender must prove who they are
        biz_ids.append(token_member.business_id)
    if not biz_ids:
        return Who(note="no business at this address")
    if not mail.from_addr:
        return Who(note="no sender address")
    member = (
        await s.execute(
            select(Member)
            .where(col(Member.business_id).in_(biz_ids), func.lower(col(Member.email)) == mail.from_addr)
            .order_by(col(Member.id))
            .limit(1)
        )
    ).scalar_one_or_none()
    if member is None:
        return Who(note="not a member")
    return Who(await s.get(Business, member.business_id), member, False, purpose)


# --- the command ---------------------------------------------------------------------------------------


def answer_to(inbound: InboundMessage, mail: ParsedEmail) -> outbox.Target:
    """An email answer to ``mail``: ``Re:`` its subject, threaded under it (one mail per command, like one SMS)."""
    return outbox.Target(
        "email", inbound.id, mail_id=mail.message_id, references=tuple(mail.references), subject=mail.subject
    )


_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|tr|fw|fwd|réf|ref|aw|sv|wg)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def clean_subject(subject: str) -> str:
    return _SUBJECT_PREFIX.sub("", subject).strip()


def command_text(mail: ParsedEmail, body: str, *, by_token: bool) -> str:
    """What to parse: the subject of a fresh mail when it is a command, else the new text."""
    if by_token:
        return body
    subject = clean_subject(mail.subject)
    if subject:
        parsed = p.parse(subject)
        if isinstance(parsed, p.Publish):
            return f"{subject}\n{body}" if body else subject
        if not isinstance(parsed, p.Unknown | p.LoneWord | p.Empty | p.Suggest | p.TooLong | p.Invalid):
            return subject
        if not body:
            return subject  # a one-line post written in the subject
    return body


def asks_for_mentions(mail: ParsedEmail, *, by_token: bool) -> bool:
    """Whether the mail's command is ``M``: its business's accounts are then polled first, outside the write
    transaction, as for an SMS ``M`` (``CommandTable.before_mentions``)."""
    text = command_text(mail, reply_mod.extract(mail.text).text, by_token=by_token)
    return isinstance(p.parse(strip_control(text)), p.Mentions)


def _is_digest_answer(body: str, purpose: str) -> bool:
    lines = [x for x in body.splitlines() if x.strip()]
    if not lines:
        return False
    answers = p.parse_email_reply_lines(body)
    return bool(answers) and (purpose == "digest" or len(answers) == len(lines))


def _preview(text: str, photos: int, lang: str) -> str:
    quoted = "\n".join("> " + line for line in text.strip().splitlines()[:20]) if text.strip() else ""
    extra = ""
    if photos:
        extra = f"\n> [{photos} photo{'s' if photos > 1 else ''}]"
    return (quoted + extra).strip("\n")


async def _ask(ctx: Ctx, payload: dict[str, Any], *, trusted: bool) -> None:
    """The commands' question, recorded at this mail's trust level: an unverified mail's text waits for a
    signed email reply and is never joined or confirmed by SMS (``app.commands.context.TRUST_ANSWERS``)."""
    await ask(ctx, "confirm", payload, trust="email" if trusted else "email-unverified")


def _pending_payload(parsed: p.ParseResult, text: str, media: list[dict[str, str]]) -> dict[str, Any]:
    if isinstance(parsed, p.Publish):
        return {"action": "publish", "text": parsed.text, "media": media}
    if isinstance(parsed, p.Unknown | p.Empty):
        return {"action": "publish", "text": parsed.text if isinstance(parsed, p.Unknown) else "", "media": media}
    return {"action": "command", "text": text, "media": media}


async def handle_member_mail(
    rt: Runtime,
    s: AsyncSession,
    inbound: InboundMessage,
    mail: ParsedEmail,
    biz: Business,
    member: Member,
    *,
    trusted: bool,
    by_token: bool,
    purpose: str,
    media: Media,
    table: CommandTable,
) -> str:
    """Act on a mail from a member (inside the job's write transaction). Returns a note for the operator."""
    assert member.id is not None
    assert biz.id is not None
    inbound.business_id, inbound.member_id = biz.id, member.id
    inbound.status = InboundStatus.processed.value
    extracted = reply_mod.extract(mail.text)
    body = extracted.text
    text = strip_control(command_text(mail, body, by_token=by_token))  # stored in pending actions and posts
    ctx = Ctx(rt, s, inbound, biz, member, list(media.items), table, answer_to(inbound, mail), text)
    if (limited := await over_limit(ctx)) is not None:
        return limited  # one mail an hour says when to try again, as by SMS
    if media.refused or media.unreadable:
        names = ", ".join((media.refused + media.unreadable)[:4])[:80]
        await ctx.reply("email_bad_attachment" if media.refused else "email_bad_image", names=names)
        return f"refused: attachment ({names})"
    parsed = p.parse(text)
    if not trusted:
        # Never act on an unverified sender: ask the member, at their registered address, with a signed
        # reply address; their OUI by a reply to that mail runs the action (never an SMS OUI: finding #11.4).
        if not isinstance(parsed, p.Confirm | p.Pin):
            held = {"photos_held": media.held} if media.held else {}
            await _ask(ctx, {**_pending_payload(parsed, text, ctx.media), **held}, trusted=False)
        _forget_pin(inbound, parsed)
        preview = _preview(text, len(ctx.media) + media.held, member.language)
        await ctx.reply_text(
            t("email_confirm_sender", ctx.lang) + ("\n\n" + preview if preview else ""), purpose="confirm"
        )
        return "unverified sender: asked to confirm"
    ctx.unseen = note_seen(rt, member)
    s.add(member)
    if _is_digest_answer(body, purpose):
        # "4: merci!" / "R 4 merci!" lines: each answers its mention, like R n by SMS; one mail per line.
        notes = []
        for reply_cmd in p.parse_email_reply_lines(body):
            ctx.replied = False
            notes.append(await ctx.handle(reply_cmd))
        ctx.replied = True
        return "digest answers: " + "; ".join(notes)
    if extracted.quoted_only and not ctx.media:
        await ctx.reply("email_quoted_only")
        return "no new text"
    if not extracted.confident:
        await _ask(ctx, _pending_payload(parsed, text, ctx.media), trusted=True)
        await ctx.reply_text(t("email_confirm_unsure", ctx.lang) + "\n\n" + _preview(text, len(ctx.media), ctx.lang))
        return "unsure extraction: asked to confirm"
    note = await ctx.run(parsed)
    _forget_pin(inbound, parsed)
    return note


PIN_REMOVED = "(PIN ****: the mail that held it is not kept)"


def _forget_pin(inbound: InboundMessage, parsed: p.ParseResult) -> None:
    """A mail answering with the PIN is not kept: the stored mail becomes a note (an SMS PIN is stored as
    ``PIN ****`` the same way, app/messages/webhooks.py), so no reader of the message log learns the code."""
    if isinstance(parsed, p.Pin):
        inbound.body = PIN_REMOVED
        inbound.raw = {k: v for k, v in inbound.raw.items() if k != "encoding"} | {"removed": "pin"}


async def handle(
    rt: Runtime,
    s: AsyncSession,
    inbound: InboundMessage,
    mail: ParsedEmail,
    *,
    auth: security.Authenticity,
    media: Media,
    table: CommandTable,
) -> str:
    """Process one stored inbound mail that is not automatic mail (the task checked that)."""
    who = await identify(rt, s, mail)
    if who.member is None or who.business is None:
        inbound.status = InboundStatus.ignored.value
        inbound.business_id = who.business.id if who.business else None
        return f"{who.note or 'unknown sender'}: no reply"
    trusted = who.by_token or auth.aligned
    note = await handle_member_mail(
        rt,
        s,
        inbound,
        mail,
        who.business,
        who.member,
        trusted=trusted,
        by_token=who.by_token,
        purpose=who.purpose,
        media=media,
        table=table,
    )
    how = "token" if who.by_token else (auth.method or "none")
    await audit.record(
        s,
        actor=f"member:{who.member.id}",
        action=f"email.{note.split(':')[0]}",
        business_id=who.business.id,
        target=f"in:{inbound.id}",
        detail=f"{note} (trust: {how}{'' if trusted else ', unverified'})",
    )
    return note
