"""``/webhooks/twilio/{sms,status}``: verify with Twilio's own validator, store durably, enqueue, answer.

The signature is checked over ``ARDOISE_PUBLIC_URL`` + path + raw query string, never ``request.url``
(behind a TLS proxy they differ). A forged request gets 403 and nothing is stored. A signed form with a
MessageSid or status Twilio never sends (over 64 characters, not alphanumeric) is a 422, before the database.
Control characters are stripped from the body (newline and tab kept), and a PIN answer is stored masked
(``PIN ****``, also in the stored form): the code itself travels encrypted in the job's payload.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Table
from sqlmodel import col

from app.channels.twilio import provider as twilio
from app.commands import parser as command_parser
from app.db import insert_for, insert_in, run_prepared
from app.deps import RuntimeDep
from app.errors import Forbidden, Unprocessable
from app.kit.phone import InvalidPhone, normalize_e164
from app.kit.textclean import strip_control
from app.kit.time import utcnow
from app.messages import service as sms_service
from app.models import Channel, InboundMessage, InboundStatus, Member, StatusEvent
from app.runtime import Runtime
from app.worker import queue

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])
log = structlog.get_logger("ardoise.webhooks")
INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]  # Core: the webhook's one INSERT

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SID = re.compile(r"[A-Za-z0-9]{1,64}")  # Twilio's are 34 (SM + 32 hex); the column holds 64 for status events
STATUS = re.compile(r"[a-z_-]{1,16}")


def _e164(raw: str) -> str:
    try:
        return normalize_e164(raw)
    except InvalidPhone:
        return raw.replace("\x00", "").strip()[:32]


async def verified_form(request: Request, rt: RuntimeDep) -> dict[str, str]:
    """The form Twilio posted, after its signature checked out (403 otherwise)."""
    body = await request.body()
    if len(body) > 64 * 1024:
        raise Unprocessable("webhook body too large")
    form = await request.form()
    fields: dict[str, str] = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    url = rt.settings.public_url + request.url.path
    if request.scope.get("query_string"):
        url += "?" + request.scope["query_string"].decode("latin-1")
    tokens = rt.settings.twilio_validation_tokens()
    if not tokens:  # production without ARDOISE_TWILIO_AUTH_TOKEN: never the public development token
        log.error("twilio.no_token", path=request.url.path)
        raise Forbidden("Twilio webhooks are refused: ARDOISE_TWILIO_AUTH_TOKEN is not set")
    if not twilio.verify_signature(tokens, url, fields, request.headers.get("x-twilio-signature")):
        log.warning("twilio.forged", path=request.url.path, has_signature="x-twilio-signature" in request.headers)
        raise Forbidden("invalid X-Twilio-Signature")
    return fields


FormDep = Annotated[dict[str, str], Depends(verified_form)]


def mask_pin(body: str, parsed: command_parser.ParseResult) -> str | None:
    """``PIN ****`` when ``body`` (parsed as ``parsed``) is a PIN answer, even a mistyped one (its keyword kept, the
    code hidden)."""
    mistyped = isinstance(parsed, command_parser.Invalid) and parsed.reason == "bad_pin"
    if not isinstance(parsed, command_parser.Pin) and not mistyped:
        return None
    keyword = body.strip().split(None, 1)[0]
    return f"{keyword} ****"


async def store_inbound(
    rt: Runtime, *, sid: str, sender: str, to: str, body: str, media: list[dict[str, str]], raw: dict[str, Any]
) -> int | None:
    """Insert the inbound SMS once (unique MessageSid) and enqueue its processing in the same transaction.

    A PIN answer is stored masked, in ``body`` and in ``raw``; the job's payload carries it encrypted.
    Returns the new row's id, or None when this MessageSid was already stored (a retry or the fallback URL).
    """
    payload: dict[str, Any] = {}
    parsed = command_parser.parse(body)
    masked = mask_pin(body, parsed)
    if masked is not None:
        payload["secret_body"] = rt.vault.encrypt({"body": body})
        body = masked
        raw = {k: (masked if k == "Body" else v) for k, v in raw.items()}
    async with rt.db.write() as s:
        values = {
            "channel": Channel.sms.value,
            "provider_id": sid,
            "peer": sender,
            "to": to,
            "body": body,
            "media": media,
            "raw": raw,
            "status": InboundStatus.received.value,
            "note": "",
            "created_at": utcnow(),
        }
        result = await run_prepared(
            s,
            "inbound.store_once",
            lambda d: (
                insert_in(d, INBOUND)
                .on_conflict_do_nothing(index_elements=["channel", "provider_id"])
                .returning(INBOUND.c.id)
            ),
            values,
        )
        new_id = result.scalar_one_or_none()
        if new_id is not None:
            # "prepare": work the command job does before its write transaction (a photo to fetch, an "M" to
            # poll for); without it the job goes straight to that transaction.
            prepare = bool(media) or isinstance(parsed, command_parser.Mentions)
            await queue.enqueue(
                s,
                "commands.handle_inbound",
                {"inbound_id": new_id, "prepare": prepare, **payload},
                dedup_key=f"in:sms:{sid}",
                max_attempts=6,
            )
    return new_id


@router.post("/sms", response_class=Response)
async def inbound_sms(form: FormDep, rt: RuntimeDep) -> Response:
    try:
        msg = twilio.parse_inbound(form)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    if not SID.fullmatch(msg.provider_id):
        raise Unprocessable("MessageSid is not a Twilio message SID")
    media = [{"source_url": m.url, "content_type": m.content_type} for m in msg.media]
    new_id = await store_inbound(
        rt,
        sid=msg.provider_id,
        sender=_e164(msg.sender),
        to=_e164(msg.to),
        body=strip_control(msg.body)[:10000],  # PostgreSQL text cannot hold NUL; no XML feed takes \x0b
        media=media,
        raw={strip_control(k)[:64]: strip_control(v)[:10000] for k, v in msg.raw.items()},
    )
    log.info("twilio.inbound", sid=msg.provider_id, new=new_id is not None, media=len(media))
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/status", response_class=Response)
async def status_callback(form: FormDep, rt: RuntimeDep) -> Response:
    update = twilio.parse_status(form)
    if update is None:
        raise Unprocessable("MessageSid and MessageStatus are required")
    if not SID.fullmatch(update.provider_id) or not STATUS.fullmatch(update.status):
        raise Unprocessable("MessageSid or MessageStatus is not one Twilio sends")
    if update.error_code is not None and not SID.fullmatch(update.error_code[:32]):
        update = type(update)(provider_id=update.provider_id, status=update.status, error_code=None)
    async with rt.db.write() as s:
        ins = insert_for(s, StatusEvent)
        stmt = ins.values(
            provider_id=update.provider_id, status=update.status, error_code=update.error_code, created_at=utcnow()
        ).on_conflict_do_nothing(index_elements=["provider_id", "status"])
        fresh = (await s.execute(stmt.returning(col(StatusEvent.id)))).scalar_one_or_none()
        if fresh is not None:
            await sms_service.apply_status(s, update.provider_id, update.status, update.error_code)
            if update.error_code == "21610":
                from sqlalchemy import select

                from app.models import OutboundMessage

                out = (
                    await s.execute(
                        select(OutboundMessage).where(col(OutboundMessage.provider_id) == update.provider_id)
                    )
                ).scalar_one_or_none()
                if out is not None:
                    await sms_service.opt_out_number(s, out.peer)
    return Response(EMPTY_TWIML, media_type="text/xml")


__all__ = ["Member", "router", "store_inbound"]
