"""The job the Twilio webhook enqueues with each stored inbound SMS (made with the command table by
``app/tasks.py``: :func:`inbound_task`)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.commands import service as command_service
from app.commands.context import CommandTable
from app.commands.parser import Mentions, parse
from app.commands.routing import route
from app.kit.errors import PermanentError, RetryableError
from app.models import InboundMessage, InboundStatus
from app.ocr import flow as ocr_flow
from app.posts import service as post_service
from app.runtime import Runtime
from app.worker.runner import JobInfo, TaskFn

log = structlog.get_logger("ardoise.commands")


async def _fetch_media(rt: Runtime, refs: list[dict[str, str]]) -> tuple[list[dict[str, str]], bool]:
    """Download the MMS images (egress guard, Twilio credentials to Twilio only, size limit) and re-encode them,
    before the write transaction opens."""
    out: list[dict[str, str]] = []
    failed = False
    for m in refs[: rt.settings.sms_max_media + 1]:
        ctype = m.get("content_type", "")
        if not ctype.startswith("image/"):
            continue  # vCards, audio...: not something to post
        if len(refs) > rt.settings.sms_max_media:
            out.append({"source_url": m["source_url"], "content_type": ctype})
            continue  # refused anyway; do not download
        try:
            data, _real_type = await post_service.fetch_media(rt, m["source_url"])
            name = await post_service.store_image(rt, data)
        except PermanentError:
            failed = True
            continue
        out.append({"path": name, "url": f"{rt.settings.public_url}/media/{name}", "content_type": "image/jpeg"})
    return out, failed


async def _is_member(s: AsyncSession, inbound: InboundMessage) -> tuple[bool, int | None]:
    """Whether the sender is a member, and the business when ``M`` should poll it first."""
    routed = await route(s, inbound)
    wants_mentions = routed.business is not None and isinstance(parse(inbound.body or ""), Mentions)
    return bool(routed.memberships), routed.business.id if wants_mentions and routed.business else None


def inbound_task(table: CommandTable) -> TaskFn:
    """``commands.handle_inbound``, answering with ``table``'s handlers."""

    async def handle_inbound(rt: Runtime, job: JobInfo) -> None:
        await _handle_inbound(rt, job, table)

    return handle_inbound


async def _handle_inbound(rt: Runtime, job: JobInfo, table: CommandTable) -> None:
    inbound_id = int(job.payload["inbound_id"])
    member, poll_first, media_refs, caption = False, None, [], ""
    if job.payload.get("prepare", True):  # a photo to fetch or an "M" to poll for (the webhook says which)
        async with rt.db.read() as s:
            inbound = await s.get(InboundMessage, inbound_id)
            if inbound is None or inbound.status != InboundStatus.received.value:
                return
            member, poll_first = await _is_member(s, inbound)
            media_refs, caption = inbound.media, inbound.body or ""
    if poll_first is not None:
        # "M" right after a fan's mention must show it: poll the business's accounts (bounded) before composing,
        # outside the write transaction (network calls, and the polls write what they find).
        await table.before_mentions(rt, poll_first)
    media: list[dict[str, str]] = []
    failed = False
    if media_refs and member:  # a stranger's attachments are never downloaded
        try:
            media, failed = await _fetch_media(rt, media_refs)
        except RetryableError:
            if not job.last_attempt:
                raise
            failed = True
    if media and len(media) <= rt.settings.sms_max_media:
        log.info("sms.ocr", inbound_id=inbound_id, note=await ocr_flow.read_photos(rt, caption, media))
    async with rt.db.write() as s:
        inbound = await s.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != InboundStatus.received.value:
            return  # processed meanwhile by another worker
        secret = rt.vault.decrypt(str(job.payload.get("secret_body", "")))
        if secret.get("body"):
            # A PIN answer: the row holds "PIN ****"; the code is read here and never written back.
            s.expunge(inbound)
            masked = inbound.body
            inbound.body = secret["body"]
            note = await command_service.handle(rt, s, inbound, media, failed, table)
            inbound.body = masked
            inbound = await s.merge(inbound)
        else:
            note = await command_service.handle(rt, s, inbound, media, failed, table)
        inbound.note = note[:500]
        s.add(inbound)
        await job.complete_in(s)
    log.info("sms.handled", inbound_id=inbound_id, note=note)
