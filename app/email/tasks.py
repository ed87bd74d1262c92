"""Jobs of the email channel: ``email.handle_inbound`` (one stored mail) and ``email.send`` (one outgoing mail),
plus the email receipts the posts feature calls for posts that came by email."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.catalogue import t
from app.email import security
from app.email import service as email_service
from app.email.parse import MimeTooDeep, ParsedEmail, parse_email
from app.email.sender import AUTO_GENERATED, EmailSender, outgoing_from_job, queue_email, sender_from_settings
from app.kit.errors import PermanentError, RetryableError
from app.kit.time import utcnow
from app.models import Channel, InboundMessage, InboundStatus, Member, OutboundMessage, OutboundStatus, Post
from app.ocr import flow as ocr_flow
from app.posts import service as post_service
from app.runtime import Runtime
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.email")


def raw_bytes(inbound: InboundMessage) -> bytes:
    """The mail exactly as received: stored as text when it was UTF-8, else base64 (see app/email/smtp.py)."""
    if inbound.raw.get("encoding") == "base64":
        return base64.b64decode(inbound.body)
    return inbound.body.encode("utf-8", "surrogateescape")


def email_sender(rt: Runtime) -> EmailSender:
    """The sender the runtime carries (``rt.email_sender``, set by tests or the lead), else from the settings."""
    sender: EmailSender | None = getattr(rt, "email_sender", None)
    if sender is None:
        sender = sender_from_settings(rt.settings)
        setattr(rt, "email_sender", sender)  # noqa: B010 (Runtime has no such field until the lead adds it)
    return sender


async def _finish(rt: Runtime, inbound_id: int, status: InboundStatus, note: str) -> None:
    async with rt.db.write() as s:
        await s.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == inbound_id, col(InboundMessage.status) == InboundStatus.received.value)
            .values(status=status.value, note=note[:500])
        )


async def handle_inbound(rt: Runtime, job: JobInfo) -> None:
    """Parse, drop automatic mail, identify and authenticate the sender, prepare photos, then act in one
    write transaction (which also queues the one answer)."""
    inbound_id = int(job.payload["inbound_id"])
    async with rt.db.read() as s:
        inbound = await s.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != InboundStatus.received.value:
            return
        raw = raw_bytes(inbound)
        envelope_from = inbound.raw.get("mail_from") if "mail_from" in inbound.raw else None
        rcpts = tuple(x.strip() for x in inbound.to.split(",") if x.strip())
    settings = rt.settings
    domain = settings.mail_domain.lower()
    try:
        mail = parse_email(raw, mail_domain=domain, envelope_recipients=rcpts)
    except MimeTooDeep as exc:
        await _finish(rt, inbound_id, InboundStatus.ignored, f"not answered: MIME {exc}")
        log.info("email.ignored", inbound_id=inbound_id, reason="mime too deep")
        return
    reason = security.auto_reason(mail, envelope_from=envelope_from, mail_domain=domain)
    if reason is not None:
        await _finish(rt, inbound_id, InboundStatus.ignored, f"not answered: {reason}")
        log.info("email.ignored", inbound_id=inbound_id, reason=reason)
        return
    async with rt.db.read() as s:
        who = await email_service.identify(rt, s, mail)
    if who.member is None:
        await _finish(rt, inbound_id, InboundStatus.ignored, f"{who.note or 'unknown sender'}: no reply")
        return
    auth = await _authenticate(rt, raw, mail, by_token=who.by_token)
    media = await asyncio.to_thread(
        email_service.prepare_media,
        mail.attachments,
        settings.media_dir,
        settings.public_url,
        int(getattr(settings, "sms_max_media", 10)),
    )
    if media.items:
        log.info("email.ocr", inbound_id=inbound_id, note=await ocr_flow.read_photos(rt, None, media.items))
    async with rt.db.write() as s:
        inbound = await s.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != InboundStatus.received.value:
            return
        note = await email_service.handle(rt, s, inbound, mail, auth=auth, media=media)
        inbound.note = note[:500]
        s.add(inbound)
    log.info("email.handled", inbound_id=inbound_id, note=note, auth=auth.method)


async def _authenticate(rt: Runtime, raw: bytes, mail: ParsedEmail, *, by_token: bool) -> security.Authenticity:
    if by_token:
        return security.Authenticity(True, "token")
    ids = str(getattr(rt.settings, "email_trusted_authserv_ids", "") or "")
    return await security.authenticate(
        raw,
        mail,
        trusted_authserv_ids=[x for x in ids.split(",") if x.strip()],
        check_dkim=bool(getattr(rt.settings, "email_verify_dkim", True)),
        dnsfunc=getattr(rt, "dkim_dnsfunc", None),
    )


async def send_email(rt: Runtime, job: JobInfo) -> None:
    """Send one queued mail; permanent failures mark it failed, temporary ones retry with backoff."""
    message_id = int(job.payload["message_id"])
    async with rt.db.read() as s:
        row = await s.get(OutboundMessage, message_id)
        if row is None or row.channel != Channel.email.value or row.status != OutboundStatus.queued.value:
            return
        out = outgoing_from_job(row, job.payload, rt.settings.mail_domain, rt.settings.secret_keys())
    sender = email_sender(rt)
    try:
        provider_id = await sender.send(out)
    except PermanentError as exc:
        await _mark(rt, message_id, OutboundStatus.failed, error=exc.code)
        log.warning("email.failed", message_id=message_id, error=exc.reason[:200])
        return
    except RetryableError as exc:
        if job.last_attempt:
            await _mark(rt, message_id, OutboundStatus.failed, error="gave_up")
            return
        log.info("email.retry", message_id=message_id, error=exc.reason[:200])
        raise
    await _mark(rt, message_id, OutboundStatus.sent, provider=sender.name, provider_id=provider_id)
    log.info("email.sent", message_id=message_id, provider=sender.name)


async def _mark(
    rt: Runtime,
    message_id: int,
    status: OutboundStatus,
    *,
    error: str | None = None,
    provider: str | None = None,
    provider_id: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status.value, "status_rank": 2 if status == OutboundStatus.sent else 3}
    if error:
        values["error_code"] = error[:32]
    if provider:
        values["provider"] = provider[:16]
    if provider_id:
        values["provider_id"] = provider_id[:64]
    if status == OutboundStatus.sent:
        values["sent_at"] = utcnow()
    async with rt.db.write() as s:
        await s.execute(update(OutboundMessage).where(col(OutboundMessage.id) == message_id).values(**values))


# --- receipts by email (called by app.posts.tasks for posts whose source is "email") -----------------


async def _source_mail(s: AsyncSession, inbound_id: int | None) -> tuple[str, tuple[str, ...], str]:
    """Message-ID, references and subject of the mail that made the post, to thread the receipt under it."""
    if inbound_id is None:
        return "", (), ""
    msg = await s.get(InboundMessage, inbound_id)
    if msg is None or msg.channel != Channel.email.value:
        return "", (), ""
    try:
        mail = parse_email(raw_bytes(msg)[:200_000])  # the headers are all we need
    except Exception:  # MimeTooDeep included
        return msg.provider_id, (), ""
    return mail.message_id, mail.references, mail.subject


async def email_receipt(rt: Runtime, s: AsyncSession, post: Post, member: Member) -> OutboundMessage | None:
    """The receipt of a post made by email, by email, in the caller's transaction (same content as the SMS)."""
    if not member.email:
        return None
    assert post.id is not None
    ds = await post_service.deliveries_of(s, post.id)
    lang = member.language
    from app.posts.tasks import receipt_text

    body = await receipt_text(s, post, ds, lang)
    mid, refs, subject = await _source_mail(s, post.source_message_id)
    return await queue_email(
        s,
        rt.settings,
        to=member.email,
        # An answer to a mention has no post number (-1, -2...): its subject is its receipt, "Réponse à #4 ..."
        subject=(t("email_subject_receipt", lang, number=post.number) if post.number > 0 else body)
        + (f" - {subject}" if subject else ""),
        text=body,
        kind="receipt",
        business_id=post.business_id,
        member=member,
        in_reply_to_message_id=mid,
        references=refs,
        in_reply_to_id=post.source_message_id,
        purpose="receipt",
        auto_submitted=AUTO_GENERATED,
        rate_limit=False,
    )


async def email_undo_receipt(rt: Runtime, s: AsyncSession, post: Post, member: Member) -> OutboundMessage | None:
    if not member.email:
        return None
    assert post.id is not None
    ds = await post_service.deliveries_of(s, post.id)
    parts = post_service.receipt_parts(ds, member.language, removal=True) or "Page"
    return await queue_email(
        s,
        rt.settings,
        to=member.email,
        subject=t("email_subject_undo", member.language, number=post.number),
        text=t("undo_receipt", member.language, number=post.number, parts=parts),
        kind="undo_receipt",
        business_id=post.business_id,
        member=member,
        purpose="receipt",
        auto_submitted=AUTO_GENERATED,
        rate_limit=False,
    )


TASKS = {"email.handle_inbound": handle_inbound, "email.send": send_email}
"""The email jobs, for the lead to merge into ``app.tasks.TASKS``."""
