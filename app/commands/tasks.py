"""The job the Twilio webhook enqueues with each stored inbound SMS."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.commands import service as command_service
from app.kit import media as media_store
from app.kit.errors import PermanentError, RetryableError
from app.models import InboundMessage, InboundStatus
from app.ocr import flow as ocr_flow
from app.posts.tasks import _fetch_source
from app.runtime import Runtime
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.commands")


async def _fetch_media(rt: Runtime, inbound: InboundMessage) -> tuple[list[dict[str, str]], bool]:
    """Download the MMS images (Twilio credentials, size limit) before the write transaction opens."""
    out: list[dict[str, str]] = []
    failed = False
    for m in inbound.media[: rt.settings.sms_max_media + 1]:
        ctype = m.get("content_type", "")
        if not ctype.startswith("image/"):
            continue  # vCards, audio...: not something to post
        if len(inbound.media) > rt.settings.sms_max_media:
            out.append({"source_url": m["source_url"], "content_type": ctype})
            continue  # refused anyway; do not download
        try:
            data, real_type = await _fetch_source(rt, m["source_url"])
        except PermanentError:
            failed = True
            continue
        name = media_store.store(rt.settings.media_dir, data, real_type or ctype)
        out.append({"path": name, "url": f"{rt.settings.public_url}/media/{name}", "content_type": real_type or ctype})
    return out, failed


async def _is_member(s: AsyncSession, inbound: InboundMessage) -> bool:
    routed = await command_service.route(s, inbound)
    return bool(routed.memberships)


async def handle_inbound(rt: Runtime, job: JobInfo) -> None:
    inbound_id = int(job.payload["inbound_id"])
    async with rt.db.read() as s:
        inbound = await s.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != InboundStatus.received.value:
            return
        member = await _is_member(s, inbound)
    media: list[dict[str, str]] = []
    failed = False
    if inbound.media and member:  # a stranger's attachments are never downloaded
        try:
            media, failed = await _fetch_media(rt, inbound)
        except RetryableError:
            if not job.last_attempt:
                raise
            failed = True
    if media and len(media) <= rt.settings.sms_max_media:
        log.info("sms.ocr", inbound_id=inbound_id, note=await ocr_flow.read_photos(rt, inbound.body or "", media))
    async with rt.db.write() as s:
        inbound = await s.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != InboundStatus.received.value:
            return  # processed meanwhile by another worker
        note = await command_service.handle(rt, s, inbound, media, failed)
        inbound.note = note[:500]
        s.add(inbound)
    log.info("sms.handled", inbound_id=inbound_id, note=note)
