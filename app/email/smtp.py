"""The built-in SMTP server (aiosmtpd) on ``ARDOISE_SMTP_PORT``, inside the service's event loop.

It accepts mail only for Ardoise's own domain (``ARDOISE_MAIL_DOMAIN``): anything else is refused at RCPT
(no open relay). Each accepted message is stored durably, unique on its Message-ID, before ``250`` is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
from email import message_from_bytes, policy
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from app.kit.time import utcnow
from app.models import Channel, InboundMessage, InboundStatus
from app.runtime import Runtime

log = structlog.get_logger("ardoise.smtp")

MAX_RECIPIENTS = 10


class Handler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.domain = rt.settings.mail_domain.lower()

    def _ours(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower().rstrip(">")
        return domain == self.domain or domain.endswith("." + self.domain)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._ours(address):
            return "550 5.7.1 Relaying denied: this server only takes mail for its own addresses"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw: bytes = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
        mid = str(msg.get("Message-ID", "")).strip()[:255] or "sha256:" + hashlib.sha256(raw).hexdigest()
        sender = str(msg.get("From", envelope.mail_from or ""))[:320]
        to = ",".join(envelope.rcpt_tos)[:320]
        try:
            async with self.rt.db.write() as s:
                ins = sqlite.insert(InboundMessage) if self.rt.db.is_sqlite else postgresql.insert(InboundMessage)
                stmt = ins.values(
                    channel=Channel.email.value,
                    provider_id=mid,
                    peer=sender,
                    to=to,
                    body=raw.decode("utf-8", "replace")[:1_000_000],
                    media=[],
                    raw={"mail_from": envelope.mail_from or ""},
                    status=InboundStatus.received.value,
                    note="",
                    created_at=utcnow(),
                )
                await s.execute(
                    stmt.on_conflict_do_nothing(index_elements=["channel", "provider_id"]).returning(
                        col(InboundMessage.id)
                    )
                )
        except Exception as exc:
            log.error("smtp.store_failed", error=str(exc)[:200])
            return "451 4.3.0 Temporary failure, try again later"
        log.info("smtp.received", message_id=mid[:80], size=len(raw))
        return "250 Message accepted"


async def start_smtp(rt: Runtime) -> asyncio.AbstractServer:
    handler = Handler(rt)
    loop = asyncio.get_running_loop()
    limit = 10 * 1024 * 1024

    def factory() -> Any:
        return SMTP(
            handler,
            hostname=rt.settings.mail_domain,
            data_size_limit=limit,
            enable_SMTPUTF8=True,
            ident="Ardoise ESMTP",
        )

    server = await loop.create_server(factory, host=rt.settings.smtp_host, port=rt.settings.smtp_port)
    log.info("smtp.listening", host=rt.settings.smtp_host, port=rt.settings.smtp_port)
    return server


async def stop_smtp(server: Any) -> None:
    server.close()
    await server.wait_closed()
