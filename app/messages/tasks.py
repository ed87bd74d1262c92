"""Jobs: send one outbound SMS; reconcile inbound SMS that never reached the webhook."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlmodel import col

from app.channels.base import OutboundSms
from app.kit.errors import PermanentError, RetryableError
from app.kit.time import utcnow
from app.messages import service as sms_service
from app.messages.webhooks import store_inbound
from app.metrics import SMS_FAILURES
from app.models import BusinessNumber, OutboundMessage, OutboundStatus, StatusEvent
from app.runtime import Runtime
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.sms")


async def send_sms(rt: Runtime, job: JobInfo) -> None:
    message_id = int(job.payload["message_id"])
    async with rt.db.write() as s:
        msg = await s.get(OutboundMessage, message_id)
        if msg is None:
            return
        # "sending" on a later attempt means a worker died between marking and recording the send: the
        # provider may or may not have it. Sending again risks one duplicate; not sending risks losing the
        # owner's only receipt. We send again (at least once).
        if msg.status != OutboundStatus.queued.value and not (msg.status == "sending" and job.attempt > 1):
            return  # already sent
        msg.status = OutboundStatus.sending.value
        s.add(msg)
    callback = f"{rt.settings.public_url}/webhooks/twilio/status" if rt.sms.name == "twilio" else None
    try:
        result = await rt.sms.send(
            OutboundSms(
                message_id=message_id, sender=msg.sender, to=msg.peer, text=msg.body, status_callback_url=callback
            )
        )
    except PermanentError as exc:
        async with rt.db.write() as s:
            m = await s.get(OutboundMessage, message_id)
            if m is not None:
                m.status, m.error_code = OutboundStatus.failed.value, exc.code[:32]
                s.add(m)
            if exc.code == "opted_out":  # Twilio 21610: the number replied STOP at the carrier
                await sms_service.opt_out_number(s, msg.peer)
        SMS_FAILURES.labels(code=exc.code[:32]).inc()
        log.warning("sms.failed", message_id=message_id, code=exc.code)
        return
    except RetryableError as exc:
        async with rt.db.write() as s:
            m = await s.get(OutboundMessage, message_id)
            if m is not None:
                m.status = (OutboundStatus.failed if job.last_attempt else OutboundStatus.queued).value
                m.error_code = exc.code[:32]
                s.add(m)
        if job.last_attempt:
            SMS_FAILURES.labels(code=exc.code[:32]).inc()
            return
        raise
    async with rt.db.write() as s:
        m = await s.get(OutboundMessage, message_id)
        if m is not None:
            sms_service.mark_sent(m, result)
            s.add(m)
            # A status callback may have beaten this bookkeeping: apply what arrived for this sid.
            early = await s.execute(select(StatusEvent).where(col(StatusEvent.provider_id) == result.provider_id))
            for ev in early.scalars():
                if sms_service.STATUS_RANK.get(ev.status, 0) >= m.status_rank:
                    m.status, m.status_rank = ev.status, sms_service.STATUS_RANK.get(ev.status, 0)
                    m.error_code = ev.error_code or m.error_code
                if ev.error_code == "21610":
                    await sms_service.opt_out_number(s, m.peer)
    sms_service.count_sent(msg)
    log.info("sms.sent", message_id=message_id, provider=rt.sms.name, segments=msg.segments)


async def reconcile(rt: Runtime, job: JobInfo) -> None:
    """List recent inbound messages through Twilio's API and process any MessageSid the webhook missed.

    Twilio does not retry a failed webhook for long; this closes the gap. Off without Twilio credentials.
    """
    if rt.twilio is None:
        return
    async with rt.db.read() as s:
        numbers = sorted({r[0] for r in await s.execute(select(col(BusinessNumber.number)))})
    since = (utcnow() - timedelta(minutes=rt.settings.twilio_reconcile_minutes * 3)).isoformat()
    found = 0
    for number in numbers:
        for m in await rt.twilio.list_inbound(number, since):
            if (
                await store_inbound(
                    rt, sid=m.provider_id, sender=m.sender, to=m.to, body=m.body, media=[], raw=dict(m.raw)
                )
                is not None
            ):
                found += 1
    if found:
        log.warning("twilio.reconciled", missed=found)
