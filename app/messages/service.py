"""Queue outbound SMS (composed to GSM-7, counted, deduplicated, loop-guarded) in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import bindparam, func, select, update
from sqlalchemy import text as text_sql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.channels import console
from app.channels.base import SendResult
from app.config import Settings
from app.db import run_prepared
from app.kit.sms_text import fit_owner_text, segment_info, to_gsm7
from app.kit.time import utcnow
from app.metrics import SMS_SEGMENTS, SMS_SENT
from app.models import BusinessNumber, Channel, InboundMessage, Member, OutboundMessage, OutboundStatus
from app.worker import queue

log = structlog.get_logger("ardoise.sms")

# Twilio status order: a late "sent" callback must not overwrite "delivered".
STATUS_RANK = {
    "queued": 0,
    "accepted": 0,
    "sending": 1,
    "sent": 2,
    "receiving": 2,
    "received": 2,
    "read": 4,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
}


async def sender_for(session: AsyncSession, business_id: int | None, preferred: str | None = None) -> str:
    if preferred:
        return preferred
    if business_id is None:
        return ""
    result = await run_prepared(
        session,
        "messages.sender_for",
        lambda _d: (
            select(col(BusinessNumber.number))
            .where(col(BusinessNumber.business_id) == bindparam("b_business"))
            .order_by(col(BusinessNumber.id))
            .limit(1)
        ),
        {"b_business": business_id},
    )
    row = result.first()
    return str(row[0]) if row else ""


def compose_sms(text: str, *, owner_text: bool = False) -> str:
    """The body an SMS carries for ``text``: our own words are transliterated to GSM-7, which keeps every accent
    GSM-7 has (é è à ù É Ç ...) and writes the others plainly (ê -> e, ç -> c, ’ -> '); an owner's words echoed
    back are transliterated only when that saves a segment. Email never goes through here: it keeps full French.
    """
    return fit_owner_text(text) if owner_text else to_gsm7(text)


async def queue_sms(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    text: str,
    kind: str,
    business_id: int | None,
    member: Member | None = None,
    sender: str | None = None,
    in_reply_to_id: int | None = None,
    owner_text: bool = False,
    ignore_opt_out: bool = False,
    dedup_key: str | None = None,
) -> OutboundMessage | None:
    """Record an SMS and enqueue its sending, in the caller's transaction.

    System text is transliterated to GSM-7; ``owner_text`` (an owner's words echoed back) is transliterated
    only when that saves a segment. Returns None when nothing is sent: the member opted out, or the same
    text went to the same number ``sms_loop_guard_count`` times in ``sms_loop_guard_minutes`` (loop guard).
    Such a message is still recorded, ``suppressed`` with the reason, for the operator (never sent).
    """
    body = compose_sms(text, owner_text=owner_text)

    async def record(
        provider: str, status: str = OutboundStatus.queued.value, error: str | None = None
    ) -> OutboundMessage:
        info = segment_info(body)
        row = OutboundMessage(
            channel=Channel.sms.value,
            business_id=business_id,
            member_id=member.id if member else None,
            peer=to,
            sender=await sender_for(session, business_id, sender),
            kind=kind,
            body=body,
            encoding=str(info.encoding),
            segments=info.segments,
            in_reply_to_id=in_reply_to_id,
            provider=provider,
            status=status,
            error_code=error,
        )
        session.add(row)
        return row

    if member is not None and member.opted_out and not ignore_opt_out:
        log.info("sms.suppressed", reason="opted_out", member_id=member.id, kind=kind)
        await record("none", OutboundStatus.suppressed.value, "opted_out")
        return None
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # The loop guard counts recent rows: serialise senders to one number until this transaction ends.
        await session.execute(text_sql("SELECT pg_advisory_xact_lock(hashtext(:peer))"), {"peer": to})
    since = utcnow() - timedelta(minutes=settings.sms_loop_guard_minutes)
    params = {"b_peer": to, "b_body": body, "b_since": since}
    result = await run_prepared(
        session,
        "messages.loop_guard",
        lambda _d: (
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                col(OutboundMessage.peer) == bindparam("b_peer"),
                col(OutboundMessage.body) == bindparam("b_body"),
                col(OutboundMessage.created_at) >= bindparam("b_since"),
                col(OutboundMessage.status) != OutboundStatus.suppressed.value,
            )
        ),
        params,
    )
    same = result.scalar_one()
    if same >= settings.sms_loop_guard_count:
        log.warning("sms.suppressed", reason="loop_guard", to_suffix=to[-4:], kind=kind)
        await record("none", OutboundStatus.suppressed.value, "loop_guard")
        return None
    if not settings.sms_uses_twilio and dedup_key is None:
        # The console provider records and logs: done here, in the transaction that writes the message. (A
        # message sent at most once per key, a digest slot, still goes through its job: the key is the job's.)
        msg = await record("console")
        mark_sent(msg, console.deliver(to, msg.sender, body))
        count_sent(msg)
        return msg
    msg = await record("twilio")
    await session.flush()
    await queue.enqueue(
        session,
        "messages.send_sms",
        {"message_id": msg.id},
        dedup_key=dedup_key or f"sms-out:{msg.id}",
        business_id=business_id,
        max_attempts=6,
        lane="sms",  # the SMS provider: if it hangs, other work keeps its slots
    )
    return msg


def mark_sent(msg: OutboundMessage, result: SendResult) -> None:
    """Record the provider's answer on ``msg``: its id, its status (``sent`` unless it said queued or accepted)."""
    msg.provider_id = result.provider_id
    msg.status = result.status if result.status in {"sent", "queued", "accepted"} else "sent"
    msg.status_rank = STATUS_RANK.get(msg.status, 0)
    msg.sent_at = utcnow()


def count_sent(msg: OutboundMessage) -> None:
    """The metrics of one SMS handed to the provider."""
    SMS_SENT.labels(kind=msg.kind).inc()
    SMS_SEGMENTS.labels(kind=msg.kind).inc(msg.segments)


async def apply_status(session: AsyncSession, provider_id: str, status: str, error_code: str | None) -> bool:
    """Apply a delivery status if it moves the message forward. Returns True when something changed."""
    rank = STATUS_RANK.get(status, 0)
    values: dict[str, object] = {"status": status, "status_rank": rank}
    if error_code:
        values["error_code"] = error_code
    res = await session.execute(
        update(OutboundMessage)
        .where(col(OutboundMessage.provider_id) == provider_id, col(OutboundMessage.status_rank) <= rank)
        .values(**values)
    )
    return bool(getattr(res, "rowcount", 0))


async def opt_out_number(session: AsyncSession, phone: str, opted_out: bool = True) -> int:
    """Mark every member with this phone as opted out (or back in). Returns how many rows changed."""
    res = await session.execute(update(Member).where(col(Member.phone) == phone).values(opted_out=opted_out))
    return int(getattr(res, "rowcount", 0) or 0)


__all__ = [
    "OutboundStatus",
    "apply_status",
    "compose_sms",
    "count_sent",
    "mark_sent",
    "opt_out_number",
    "queue_sms",
    "sender_for",
]


async def list_inbound(
    session: AsyncSession, *, business_id: int, limit: int, before_id: int | None = None
) -> list[InboundMessage]:
    """A business's inbound messages (SMS and email), newest first."""
    q = select(InboundMessage).where(col(InboundMessage.business_id) == business_id)
    if before_id is not None:
        q = q.where(col(InboundMessage.id) < before_id)
    return list((await session.execute(q.order_by(col(InboundMessage.id).desc()).limit(limit))).scalars())


async def list_outbound(
    session: AsyncSession, *, business_id: int, limit: int, before_id: int | None = None, suppressed: bool = False
) -> list[OutboundMessage]:
    """A business's outbound messages, newest first; those held back (``suppressed``) only when asked."""
    q = select(OutboundMessage).where(col(OutboundMessage.business_id) == business_id)
    if not suppressed:
        q = q.where(col(OutboundMessage.status) != OutboundStatus.suppressed.value)
    if before_id is not None:
        q = q.where(col(OutboundMessage.id) < before_id)
    return list((await session.execute(q.order_by(col(OutboundMessage.id).desc()).limit(limit))).scalars())
