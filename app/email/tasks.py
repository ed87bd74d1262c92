"""Jobs of the email channel: ``email.handle_inbound`` (one stored mail) and ``email.send`` (one outgoing mail).
Receipts and every other mail Ardoise writes are queued by ``app.messages.outbox``."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import col

from app.commands.context import CommandTable
from app.email import security
from app.email import service as email_service
from app.email.parse import MimeTooDeep, ParsedEmail, parse_email, raw_bytes
from app.email.sender import EmailSender, outgoing_from_job, sender_from_settings
from app.kit.errors import PermanentError, RetryableError
from app.kit.time import utcnow
from app.models import Channel, InboundMessage, InboundStatus, OutboundMessage, OutboundStatus
from app.ocr import flow as ocr_flow
from app.runtime import Runtime
from app.worker.runner import JobInfo, TaskFn

log = structlog.get_logger("ardoise.email")


def email_sender(rt: Runtime) -> EmailSender:
    """The sender the runtime carries (``rt.email_sender``, set by tests or the lead), else from the settings."""
    sender: EmailSender | None = rt.email_sender
    if sender is None:
        sender = sender_from_settings(rt.settings)
        rt.email_sender = sender
    return sender


async def _finish(rt: Runtime, inbound_id: int, status: InboundStatus, note: str) -> None:
    async with rt.db.write() as s:
        await s.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == inbound_id, col(InboundMessage.status) == InboundStatus.received.value)
            .values(status=status.value, note=note[:500])
        )


def inbound_task(table: CommandTable) -> TaskFn:
    """``email.handle_inbound``, answering with ``table``'s handlers (made by ``app/tasks.py``)."""

    async def handle_inbound(rt: Runtime, job: JobInfo) -> None:
        await _handle_inbound(rt, job, table)

    return handle_inbound


async def _handle_inbound(rt: Runtime, job: JobInfo, table: CommandTable) -> None:
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
    trusted = who.by_token or auth.aligned  # an unverified mail acts on nothing: no poll for it either
    business_id = who.business.id if who.business is not None else None
    if business_id is not None and trusted and email_service.asks_for_mentions(mail, by_token=who.by_token):
        await table.before_mentions(rt, business_id)  # "M" shows the mention a fan just wrote
    media = await asyncio.to_thread(
        email_service.prepare_media,
        mail.attachments,
        settings.media_dir,
        settings.public_url,
        settings.sms_max_media,
        decode=who.by_token or auth.aligned,  # an unverified sender's photos wait, undecoded, for the member's OUI
    )
    if media.items:
        log.info("email.ocr", inbound_id=inbound_id, note=await ocr_flow.read_photos(rt, None, media.items))
    async with rt.db.write() as s:
        inbound = await s.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != InboundStatus.received.value:
            return
        note = await email_service.handle(rt, s, inbound, mail, auth=auth, media=media, table=table)
        inbound.note = note[:500]
        s.add(inbound)
    log.info("email.handled", inbound_id=inbound_id, note=note, auth=auth.method)


async def _authenticate(rt: Runtime, raw: bytes, mail: ParsedEmail, *, by_token: bool) -> security.Authenticity:
    if by_token:
        return security.Authenticity(True, "token")
    ids = rt.settings.email_trusted_authserv_ids
    return await security.authenticate(
        raw,
        mail,
        trusted_authserv_ids=[x for x in ids.split(",") if x.strip()],
        check_dkim=rt.settings.email_verify_dkim,
        dnsfunc=rt.dkim_dnsfunc,
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
