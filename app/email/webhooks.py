"""``POST /webhooks/mailgun/mime``: inbound mail from Mailgun's ``forward()`` route action, raw MIME.

Mailgun posts raw MIME when the route's URL ends in ``mime``: the form carries ``body-mime``, ``sender``
(SMTP MAIL FROM), ``recipient`` (RCPT TO) and the signature fields ``timestamp``, ``token``, ``signature``
= hex HMAC-SHA256(signing key, timestamp + token). A bad or stale (over 5 minutes) signature gets 403 and
nothing is stored. Mail is stored exactly as the SMTP listener stores it (unique on Message-ID, job in the
same transaction), then 200; a mail not for our domain gets 406, which Mailgun never retries.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import structlog
from fastapi import APIRouter, Request, Response

from app.deps import RuntimeDep
from app.email.smtp import store_inbound
from app.errors import Forbidden, Unprocessable
from app.kit.crypto import same_text
from app.kit.textclean import ascii_digits

router = APIRouter(prefix="/webhooks/mailgun", tags=["webhooks"])
log = structlog.get_logger("ardoise.email")

MAX_AGE_SECONDS = 300


def signing_key(settings: object) -> str:
    value = getattr(settings, "mailgun_signing_key", "")
    secret = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return str(secret or "")


def verify_mailgun(key: str, timestamp: str, token: str, signature: str, *, now: float | None = None) -> bool:
    """Mailgun's webhook signature, with a freshness window against replays of old captures."""
    if not key or not ascii_digits(timestamp) or len(timestamp) > 12 or not token or not signature:
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return same_text(signature.lower(), expected)


@router.post("/mime")
async def mailgun_mime(request: Request, rt: RuntimeDep) -> Response:
    limit = int(getattr(rt.settings, "email_max_bytes", 10 * 1024 * 1024))
    if int(request.headers.get("content-length") or 0) > limit * 2:
        raise Unprocessable("message too large")
    form = await request.form(max_part_size=limit * 2)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not verify_mailgun(
        signing_key(rt.settings), fields.get("timestamp", ""), fields.get("token", ""), fields.get("signature", "")
    ):
        log.warning("mailgun.forged")
        raise Forbidden("invalid Mailgun signature")
    body = form.get("body-mime")
    raw = (await body.read()) if body is not None and not isinstance(body, str) else (body or "").encode()
    recipient = fields.get("recipient", "").strip()
    domain = rt.settings.mail_domain.lower()
    if not raw or not recipient.lower().endswith("@" + domain):
        return Response(status_code=406)
    inbound_id = await store_inbound(
        rt, raw, mail_from=fields.get("sender"), rcpt_tos=[recipient], extra={"peer": "mailgun"}, source="mailgun"
    )
    log.info("mailgun.received", inbound_id=inbound_id, size=len(raw))
    return Response(status_code=200)
