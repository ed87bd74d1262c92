"""The built-in SMTP server (aiosmtpd) on ``ARDOISE_SMTP_PORT``, inside the service's event loop.

It accepts mail only for Ardoise's own addresses at ``ARDOISE_MAIL_DOMAIN``: ``<slug>@`` of a business,
``reply+<token>@`` with a valid signature, and ``postmaster@``/``abuse@``/``bounces@``. Anything else is
refused at RCPT (no open relay, no backscatter). Limits: message size (``ARDOISE_EMAIL_MAX_BYTES``, 10 MB),
recipients per message, and messages per minute per client IP (``ARDOISE_SMTP_RATE_PER_MINUTE``).
STARTTLS is offered when ``ARDOISE_SMTP_TLS_CERT``/``ARDOISE_SMTP_TLS_KEY`` are set.

Each accepted message is stored durably, unique on its Message-ID (a redelivery changes nothing), and the
``email.handle_inbound`` job is enqueued in the same transaction, before ``250`` is sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import time
from collections import deque
from email.parser import BytesHeaderParser
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlmodel import col

from app.db import URGENT, insert_for
from app.email.tokens import read_token
from app.kit.time import utcnow
from app.models import Business, Channel, InboundMessage, InboundStatus
from app.runtime import Runtime
from app.worker import queue

log = structlog.get_logger("ardoise.smtp")

MAX_RECIPIENTS = 10
SERVICE_LOCALS = frozenset({"postmaster", "abuse", "bounces"})


def stored_body(raw: bytes) -> tuple[str, str]:
    """(text, encoding): the raw mail as text when it is clean UTF-8, else base64 (8-bit latin-1 mail, NULs)."""
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), "base64"


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (in memory, per process)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.events: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        q = self.events.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        if len(self.events) > 10_000:  # forget idle peers
            for k in [k for k, v in self.events.items() if not v or now - v[-1] > self.window][:5000]:
                self.events.pop(k, None)
        return True


class Handler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.domain = rt.settings.mail_domain.lower()
        self.limiter = RateLimiter(rt.settings.smtp_rate_per_minute)

    def _ours(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower().rstrip(">")
        return domain == self.domain or domain.endswith("." + self.domain)

    async def _known_local(self, local: str) -> bool:
        local = local.lower()
        if local in SERVICE_LOCALS:
            return True
        if local.startswith("reply+"):
            return read_token(self.rt.settings.secret_keys(), local[len("reply+") :]) is not None
        slug = local.split("+", 1)[0]
        async with self.rt.db.read() as s:
            row = await s.execute(
                select(col(Business.id)).where(col(Business.slug) == slug, col(Business.deleted_at).is_(None))
            )
            return row.first() is not None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        peer = str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)
        if not self.limiter.allow(peer):
            log.warning("smtp.rate_limited", peer=peer)
            return "450 4.7.1 Too many messages from your address, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._ours(address):
            return "550 5.7.1 Relaying denied: this server only takes mail for its own addresses"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            known = await self._known_local(address.rpartition("@")[0])
        except Exception as exc:
            log.error("smtp.rcpt_lookup_failed", error=str(exc)[:200])
            return "451 4.3.0 Temporary failure, try again later"
        if not known:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        URGENT.set(True)  # the sending server waits for our 250: go before the worker's writes
        raw: bytes = envelope.original_content or b""
        try:
            inbound_id = await store_inbound(
                self.rt,
                raw,
                mail_from=str(envelope.mail_from or ""),
                rcpt_tos=list(envelope.rcpt_tos),
                extra={
                    "peer": str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer),
                    "helo": str(session.host_name or "")[:200],
                    "tls": "yes" if session.ssl else "no",
                },
            )
        except Exception as exc:
            log.error("smtp.store_failed", error=str(exc)[:200])
            return "451 4.3.0 Temporary failure, try again later"
        log.info("smtp.received", inbound_id=inbound_id, size=len(raw))
        return "250 Message accepted"


async def store_inbound(
    rt: Runtime,
    raw: bytes,
    *,
    mail_from: str | None,
    rcpt_tos: list[str],
    extra: dict[str, str] | None = None,
    source: str = "smtp",
) -> int | None:
    """Store one raw mail (unique on Message-ID) and enqueue its processing, in one transaction.

    Shared by the SMTP server, the IMAP poller and the provider webhook. ``mail_from`` None: the envelope
    sender is unknown (IMAP, webhooks); ``""``: the null reverse-path of a bounce. Returns the new row's id,
    or None for a message already stored.
    """
    headers = BytesHeaderParser().parsebytes(raw)
    mid = " ".join(str(headers.get("Message-ID", "")).split())[:255]
    mid = mid or "sha256:" + hashlib.sha256(raw).hexdigest()
    sender = " ".join(str(headers.get("From", mail_from or "")).split())[:320]
    body, encoding = stored_body(raw)
    meta = {"source": source, "encoding": encoding, **(extra or {})}
    if mail_from is not None:
        meta["mail_from"] = mail_from
    async with rt.db.write() as s:
        stmt = insert_for(s, InboundMessage).values(
            channel=Channel.email.value,
            provider_id=mid,
            peer=sender,
            to=",".join(rcpt_tos)[:320],
            body=body,
            media=[],
            raw=meta,
            status=InboundStatus.received.value,
            note="",
            created_at=utcnow(),
        )
        result = await s.execute(
            stmt.on_conflict_do_nothing(index_elements=["channel", "provider_id"]).returning(col(InboundMessage.id))
        )
        inbound_id = result.scalar_one_or_none()
        if inbound_id is not None:
            await queue.enqueue(
                s, "email.handle_inbound", {"inbound_id": inbound_id}, dedup_key=f"email-in:{inbound_id}"
            )
    return inbound_id


def tls_context(rt: Runtime) -> ssl.SSLContext | None:
    cert = rt.settings.smtp_tls_cert
    key = rt.settings.smtp_tls_key
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key or None)
    return ctx


async def start_smtp(rt: Runtime) -> asyncio.AbstractServer:
    handler = Handler(rt)
    loop = asyncio.get_running_loop()
    limit = rt.settings.email_max_bytes
    tls = tls_context(rt)

    def factory() -> Any:
        return SMTP(
            handler,
            hostname=rt.settings.mail_domain,
            data_size_limit=limit,
            enable_SMTPUTF8=True,
            ident="Ardoise ESMTP",
            tls_context=tls,
            require_starttls=False,  # MX to MX: opportunistic TLS, as every public MX does
        )

    server = await loop.create_server(factory, host=rt.settings.smtp_host, port=rt.settings.smtp_port)
    log.info("smtp.listening", host=rt.settings.smtp_host, port=rt.settings.smtp_port, starttls=tls is not None)
    return server


async def stop_smtp(server: Any) -> None:
    server.close()
    await server.wait_closed()
