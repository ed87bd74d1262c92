"""The one way a message leaves Ardoise for a person: SMS or email, in the caller's transaction.

Features say *what* to tell *whom* and *where the answer goes* (a :class:`Target`); this module chooses the
channel's queue, composes from the catalogue, and leaves the rest to the one queue of each channel:
``app.messages.service.queue_sms`` (GSM-7, opt-out, loop guard, a ``suppressed`` row for what is held back)
and ``app.email.sender.queue_email`` (marker and footer, opt-out, the hourly limit of automatic mail). Nothing
else in app/ calls those two. The mentions digests keep their own schedule, quiet hours, daily cap and segment
budget (``app.mentions.tasks``): those decide *whether* and *how long* a digest is before it is composed, and
then it goes through here like any other message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import t
from app.config import Settings
from app.email.parse import parse_email, raw_bytes
from app.email.sender import AUTO_GENERATED, AUTO_REPLIED, queue_email, reply_subject
from app.messages.service import queue_sms
from app.models import Channel, InboundMessage, Member, OutboundMessage

ChannelName = Literal["sms", "email"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes and what threads it to the message it answers."""

    channel: ChannelName = "sms"
    inbound_id: int | None = None  # the stored message this answers (``OutboundMessage.in_reply_to_id``)
    sms_from: str | None = None  # our number the member texted: the answer comes from the same number
    mail_id: str = ""  # Message-ID of the mail answered (In-Reply-To)
    references: tuple[str, ...] = ()
    subject: str | None = None  # subject of the mail answered; None when no mail is answered


SMS = Target("sms")
EMAIL = Target("email")


def address(member: Member | None, channel: ChannelName) -> str:
    """The member's address on ``channel`` ("" when they have none there)."""
    if member is None:
        return ""
    return (member.email if channel == "email" else member.phone) or ""


async def _source_mail(s: AsyncSession, msg: InboundMessage) -> tuple[str, tuple[str, ...], str]:
    """Message-ID, references and subject of a stored mail, to thread an answer under it."""
    try:
        mail = parse_email(raw_bytes(msg)[:200_000])  # the headers are all we need
    except Exception:  # MimeTooDeep included
        return msg.provider_id, (), ""
    return mail.message_id, mail.references, mail.subject


async def target_of(s: AsyncSession, inbound_id: int | None, channel: ChannelName) -> Target:
    """The target answering stored message ``inbound_id`` on ``channel`` (a receipt, a like's answer): by SMS
    from the number it was sent to, by email threaded under the mail (when it was one)."""
    msg = await s.get(InboundMessage, inbound_id) if inbound_id is not None else None
    if channel == "sms":
        sms_from = msg.to if msg is not None and msg.channel == Channel.sms.value and msg.to else None
        return Target("sms", inbound_id, sms_from=sms_from)
    if msg is None or msg.channel != Channel.email.value:
        return Target("email", inbound_id, subject="")
    mid, refs, subject = await _source_mail(s, msg)
    return Target("email", inbound_id, mail_id=mid, references=refs, subject=subject)


async def send(
    s: AsyncSession,
    settings: Settings,
    member: Member | None,
    text: str,
    *,
    to: Target,
    kind: str,
    business_id: int | None,
    address_override: str | None = None,
    subject: str | None = None,
    purpose: str = "reply",
    automatic: bool = False,
    hourly_limit: bool = True,
    ignore_opt_out: bool = False,
    dedup_key: str | None = None,
) -> OutboundMessage | None:
    """Record ``text`` for ``member`` on ``to.channel`` and enqueue its sending. None when nothing goes out
    (no address there, opted out, loop guard or hourly limit; the SMS queue records why).

    ``address_override`` answers a sender who is not (yet) a member, or a phone shared by several memberships.
    Email only: ``subject`` (default ``Re:`` the mail answered), ``purpose`` (what a reply to it may do, bound in
    its signed Reply-To), ``automatic`` (Auto-Submitted: auto-generated instead of auto-replied) and
    ``hourly_limit`` (receipts are exempt: each answers one command).
    """
    addr = address_override or address(member, to.channel)
    if not addr:
        return None
    if to.channel == "email":
        return await queue_email(
            s,
            settings,
            to=addr,
            subject=subject
            if subject is not None
            else reply_subject(to.subject if to.subject is not None else "Ardoise"),
            text=text,
            kind=kind,
            business_id=business_id,
            member=member,
            in_reply_to_message_id=to.mail_id,
            references=to.references,
            in_reply_to_id=to.inbound_id,
            purpose=purpose,
            auto_submitted=AUTO_GENERATED if automatic else AUTO_REPLIED,
            ignore_opt_out=ignore_opt_out,
            rate_limit=hourly_limit,
            dedup_key=dedup_key,
        )
    return await queue_sms(
        s,
        settings,
        to=addr,
        text=text,
        kind=kind,
        business_id=business_id,
        member=member,
        sender=to.sms_from,
        in_reply_to_id=to.inbound_id,
        ignore_opt_out=ignore_opt_out,
        dedup_key=dedup_key,
    )


async def say(
    s: AsyncSession,
    settings: Settings,
    member: Member | None,
    key: str,
    *,
    to: Target,
    kind: str,
    business_id: int | None,
    lang: str | None = None,
    address_override: str | None = None,
    ignore_opt_out: bool = False,
    dedup_key: str | None = None,
    **values: Any,
) -> OutboundMessage | None:
    """:func:`send` the catalogue's ``key`` in the member's language (or ``lang``, for a stranger)."""
    language = lang or (member.language if member is not None else "fr")
    return await send(
        s,
        settings,
        member,
        t(key, language, **values),
        to=to,
        kind=kind,
        business_id=business_id,
        address_override=address_override,
        ignore_opt_out=ignore_opt_out,
        dedup_key=dedup_key,
    )
