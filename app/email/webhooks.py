"""``POST /webhooks/mailgun/mime``: inbound mail from Mailgun's ``forward()`` route action, raw MIME.

Mailgun posts raw MIME when the route's URL ends in ``mime``: the form carries ``body-mime``, ``sender``
(SMTP MAIL FROM), ``recipient`` (RCPT TO) and the signature fields ``timestamp``, ``token``, ``signature``
= hex HMAC-SHA256(signing key, timestamp + token). A bad or stale (over 5 minutes) signature gets 403 and
nothing is stored. The signature is checked *before* the form is parsed: the body (at most
2 x ``ARDOISE_EMAIL_MAX_BYTES``) is spooled to disk as it arrives and scanned for the three small signature
fields only, so an unsigned 19 MB post costs a temporary file, not 19 MB of memory. Mail is stored exactly
as the SMTP listener stores it (unique on Message-ID, job in the same transaction), then 200; a mail not for our
domain gets 406, which Mailgun never retries.
"""

from __future__ import annotations

import hashlib
import hmac
import tempfile
import time
from typing import IO, Any
from urllib.parse import unquote_plus, unquote_to_bytes

import structlog
from fastapi import APIRouter, Request, Response
from python_multipart.multipart import MultipartParser, QuerystringParser, parse_options_header
from starlette.types import Message

from app.config import Settings
from app.deps import RuntimeDep
from app.email.smtp import store_inbound
from app.errors import Forbidden, Unprocessable
from app.kit.crypto import same_text
from app.kit.textclean import ascii_digits

router = APIRouter(prefix="/webhooks/mailgun", tags=["webhooks"])
log = structlog.get_logger("ardoise.email")

MAX_AGE_SECONDS = 300


def signing_key(settings: Settings) -> str:
    return settings.mailgun_signing_key.get_secret_value()


def verify_mailgun(key: str, timestamp: str, token: str, signature: str, *, now: float | None = None) -> bool:
    """Mailgun's webhook signature, with a freshness window against replays of old captures."""
    if not key or not ascii_digits(timestamp) or len(timestamp) > 12 or not token or not signature:
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return same_text(signature.lower(), expected)


SIGNED_FIELDS = ("timestamp", "token", "signature")
FIELD_CAP = 512  # each signature field is far shorter; more is not kept


def signature_fields(source: IO[bytes], content_type: str) -> dict[str, str]:
    """The signature fields of a form (multipart or urlencoded) read from ``source`` chunk by chunk, keeping
    nothing else: memory stays at one chunk whatever the size of ``body-mime``."""
    ctype, params = parse_options_header(content_type)
    found: dict[str, bytearray] = {}
    state: dict[str, Any] = {"name": None, "fname": b"", "header": b"", "value": b""}

    def keep(data: bytes, start: int, end: int) -> None:
        if state["name"] in SIGNED_FIELDS:
            buf = found.setdefault(state["name"], bytearray())
            buf += data[start:end][: max(0, FIELD_CAP - len(buf))]

    parser: MultipartParser | QuerystringParser
    if ctype == b"multipart/form-data" and params.get(b"boundary"):

        def header_field(data: bytes, start: int, end: int) -> None:
            state["header"] += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            state["value"] += data[start:end]

        def header_end() -> None:
            if bytes(state["header"]).lower() == b"content-disposition":
                state["name"] = parse_options_header(state["value"])[1].get(b"name", b"").decode("latin-1")
            state["header"], state["value"] = b"", b""

        def part_begin() -> None:
            state["name"] = None

        callbacks: dict[str, Any] = {
            "on_part_begin": part_begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": keep,
        }
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    elif ctype == b"application/x-www-form-urlencoded":

        def field_start() -> None:
            state["name"], state["fname"] = None, b""

        def field_name(data: bytes, start: int, end: int) -> None:
            state["fname"] += data[start:end]

        def field_data(data: bytes, start: int, end: int) -> None:
            if state["name"] is None:
                state["name"] = unquote_plus(bytes(state["fname"]).decode("latin-1"))
            keep(data, start, end)

        qs: dict[str, Any] = {"on_field_start": field_start, "on_field_name": field_name, "on_field_data": field_data}
        parser = QuerystringParser(qs)  # type: ignore[arg-type]
    else:
        return {}
    try:
        for chunk in iter(lambda: source.read(64 * 1024), b""):
            parser.write(chunk)
        parser.finalize()
    except Exception:  # a malformed form is an unsigned one
        return {}
    urlencoded = ctype == b"application/x-www-form-urlencoded"
    return {
        k: (unquote_to_bytes(bytes(v).replace(b"+", b" ")) if urlencoded else bytes(v)).decode("utf-8", "replace")
        for k, v in found.items()
    }


@router.post("/mime")
async def mailgun_mime(request: Request, rt: RuntimeDep) -> Response:
    limit = rt.settings.email_max_bytes
    if int(request.headers.get("content-length") or 0) > limit * 2:
        raise Unprocessable("message too large")
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit * 2:
                raise Unprocessable("message too large")
            spool.write(chunk)
        spool.seek(0)
        signed = signature_fields(spool, request.headers.get("content-type", ""))
        if not verify_mailgun(
            signing_key(rt.settings), signed.get("timestamp", ""), signed.get("token", ""), signed.get("signature", "")
        ):
            log.warning("mailgun.forged")
            raise Forbidden("invalid Mailgun signature")
        spool.seek(0)
        body_bytes = spool.read()  # signed by Mailgun: now the form may be parsed

    async def replay() -> Message:
        return {"type": "http.request", "body": body_bytes, "more_body": False}

    form = await Request(request.scope, replay).form(max_part_size=limit * 2)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
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
