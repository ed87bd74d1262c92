"""Outgoing mail: compose (plain text first, marker on top, loop-safe headers), queue, send.

``queue_email`` records an ``OutboundMessage(channel="email")`` and enqueues ``email.send`` in the caller's
transaction (services never commit); the ``send_email`` task hands it to the configured
:class:`EmailSender`: :class:`SmtpRelaySender` (aiosmtplib to ``ARDOISE_SMTP_RELAY_URL``) or, with no relay,
:class:`ConsoleEmailSender`, which only logs, like the console SMS provider.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.catalogue import t
from app.config import Settings
from app.email.reply import MARKER
from app.email.tokens import reply_address
from app.kit.errors import PermanentError, RetryableError
from app.kit.time import utcnow
from app.models import Business, Channel, Member, OutboundMessage, OutboundStatus
from app.worker import queue

log = structlog.get_logger("ardoise.email")

AUTO_REPLIED = "auto-replied"  # an answer to a member's mail (RFC 3834)
AUTO_GENERATED = "auto-generated"  # receipts, digests, confirmations nobody asked for just now


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    message_id: str  # with angle brackets
    from_addr: str  # "Name <local@domain>" or a bare address
    to: str
    subject: str
    text: str
    envelope_from: str  # MAIL FROM: our bounce address, so bounces never reach the command parser
    reply_to: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    auto_submitted: str = AUTO_REPLIED
    lang: str = "fr"


class EmailSender(Protocol):
    name: ClassVar[str]

    async def send(self, msg: OutgoingEmail) -> str:
        """Hand the message over. Returns the provider's id (the Message-ID for SMTP).
        Raise RetryableError (connection, 4xx) or PermanentError (5xx, recipient refused)."""
        ...


def build_message(m: OutgoingEmail) -> EmailMessage:
    """The MIME message: one text/plain part (UTF-8, quoted-printable), loop-safe headers."""
    msg = EmailMessage()
    msg["From"] = m.from_addr
    msg["To"] = m.to
    msg["Subject"] = m.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = m.message_id
    if m.reply_to:
        msg["Reply-To"] = m.reply_to
    if m.in_reply_to:
        msg["In-Reply-To"] = m.in_reply_to
    refs = list(m.references) + ([m.in_reply_to] if m.in_reply_to and m.in_reply_to not in m.references else [])
    if refs:
        msg["References"] = " ".join(refs[-10:])
    msg["Auto-Submitted"] = m.auto_submitted
    msg["Precedence"] = "bulk"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = "ardoise"
    msg["Content-Language"] = m.lang
    msg.set_content(m.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    return msg


@dataclass
class ConsoleEmailSender:
    """No relay configured: log the mail (address suffix and subject, not the body) and keep it in memory."""

    name: ClassVar[str] = "console"
    sent: list[OutgoingEmail] = field(default_factory=list)

    async def send(self, msg: OutgoingEmail) -> str:
        self.sent.append(msg)
        log.info("email.console", to_domain=msg.to.rpartition("@")[2], subject=msg.subject[:80], chars=len(msg.text))
        return msg.message_id


class SmtpRelaySender:
    """aiosmtplib to ``smtp://user:pass@host:587`` (STARTTLS when offered; ``?starttls=required`` insists) or
    ``smtps://user:pass@host:465`` (implicit TLS)."""

    name: ClassVar[str] = "smtp"

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("ARDOISE_SMTP_RELAY_URL must start with smtp:// or smtps://")
        self.host = parts.hostname or "localhost"
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        mode = query.get("starttls", "auto")
        self.start_tls: bool | None = None if mode == "auto" else mode == "required"
        self.validate_certs = query.get("verify", "1") not in ("0", "false", "no")
        self.timeout = timeout

    def redact(self) -> Sequence[str]:
        return [self.password] if self.password else []

    async def send(self, msg: OutgoingEmail) -> str:
        try:
            await aiosmtplib.send(
                build_message(msg),
                sender=msg.envelope_from,
                recipients=[msg.to],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=False if self.use_tls else self.start_tls,
                validate_certs=self.validate_certs,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"recipient refused: {str(exc)[:200]}", code="recipient_refused") from None
        except aiosmtplib.SMTPAuthenticationError:
            raise PermanentError("relay refused our credentials", code="relay_auth") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentError(f"relay {exc.code}: {exc.message[:200]}", code=str(exc.code)) from None
            raise RetryableError(f"relay {exc.code}: {exc.message[:200]}", retry_after=60) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RetryableError(f"relay unreachable: {type(exc).__name__}") from None
        return msg.message_id


def relay_url(settings: Settings) -> str:
    """``ARDOISE_SMTP_RELAY_URL`` (a SecretStr: it holds a password)."""
    return settings.smtp_relay_url.get_secret_value()


def sender_from_settings(settings: Settings) -> EmailSender:
    url = relay_url(settings)
    return SmtpRelaySender(url) if url else ConsoleEmailSender()


# --- composing and queueing -------------------------------------------------------------------------


def compose_body(text: str, lang: str) -> str:
    """Our marker first (so it tops the quote in any reply), then the text, then one line of help."""
    return f"{MARKER}\n\n{text.strip()}\n\n{t('email_footer', lang)}\n"


def new_message_id(mail_domain: str) -> str:
    return f"<{uuid.uuid4().hex[:24]}@{mail_domain}>"


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())[:180]
    if not subject:
        return "Ardoise"
    return subject if subject.lower().startswith(("re:", "re :")) else f"Re: {subject}"


async def queue_email(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    kind: str,
    business_id: int | None,
    member: Member | None = None,
    in_reply_to_message_id: str = "",
    references: Sequence[str] = (),
    in_reply_to_id: int | None = None,
    purpose: str = "reply",
    auto_submitted: str = AUTO_REPLIED,
    ignore_opt_out: bool = False,
    rate_limit: bool = True,
    dedup_key: str | None = None,
    lang: str | None = None,
) -> OutboundMessage | None:
    """Record a mail and enqueue ``email.send``, in the caller's transaction.

    The body is ``text`` under our bilingual reply marker; ``Reply-To`` is a signed ``reply+<token>@`` bound
    to ``member`` and ``purpose``. Returns None when nothing is sent: no address, the member opted out, or
    the per-address limit of automatic mails (``email_auto_per_hour``, default 10) is reached, the loop
    breaker of RFC 3834 §2.
    """
    to = to.strip()
    if not to or "@" not in to:
        return None
    if member is not None and member.opted_out and not ignore_opt_out:
        log.info("email.suppressed", reason="opted_out", member_id=member.id, kind=kind)
        return None
    if rate_limit:
        since = utcnow() - timedelta(hours=1)
        sent = (
            await session.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    col(OutboundMessage.channel) == Channel.email.value,
                    func.lower(col(OutboundMessage.peer)) == to.lower(),
                    col(OutboundMessage.created_at) >= since,
                )
            )
        ).scalar_one()
        if int(sent) >= settings.email_auto_per_hour:
            log.warning("email.suppressed", reason="rate_limit", to_domain=to.rpartition("@")[2], kind=kind)
            return None
    domain = settings.mail_domain.lower()
    biz = await session.get(Business, business_id) if business_id is not None else None
    local = biz.slug if biz is not None else "ardoise"
    from_addr = formataddr((biz.name if biz is not None else "Ardoise", f"{local}@{domain}"))
    language = lang or (member.language if member is not None else (biz.language if biz is not None else "fr"))
    # The signed Reply-To is made when the mail is sent, from these: a token is a credential and is never
    # stored (job payloads are rows like any other).
    reply: dict[str, Any] = {}
    if member is not None and member.id is not None:
        reply = {"reply_member_id": member.id, "reply_purpose": purpose, "reply_issued": utcnow().isoformat()}
    mid = new_message_id(domain)
    body = compose_body(text, language)
    msg = OutboundMessage(
        channel=Channel.email.value,
        business_id=business_id,
        member_id=member.id if member is not None else None,
        peer=to[:320],
        sender=from_addr[:320],
        kind=kind[:32],
        body=body,
        encoding="utf-8",
        segments=1,
        provider="smtp" if relay_url(settings) else "console",
        provider_id=mid[:64],
        in_reply_to_id=in_reply_to_id,
    )
    session.add(msg)
    await session.flush()
    await queue.enqueue(
        session,
        "email.send",
        {
            "message_id": msg.id,
            "subject": subject[:250],
            "from": from_addr,
            **reply,
            "in_reply_to": in_reply_to_message_id,
            "references": list(references)[-10:],
            "auto_submitted": auto_submitted,
            "mid": mid,
            "lang": language,
        },
        dedup_key=dedup_key or f"email-out:{msg.id}",
        business_id=business_id,
        max_attempts=8,
        lane="smtp",
    )
    return msg


def address_of(formatted: str) -> str:
    """The bare address of ``Name <a@b>``."""
    try:
        return str(Address(addr_spec=formatted.rpartition("<")[2].rstrip(">").strip()).addr_spec)
    except Exception:
        return formatted


def _reply_to(payload: dict[str, Any], mail_domain: str, secrets: Sequence[str]) -> str:
    if payload.get("reply_to"):  # a job queued before tokens left the payload
        return str(payload["reply_to"])
    if not payload.get("reply_member_id") or not secrets:
        return ""
    return reply_address(
        secrets,
        mail_domain.lower(),
        member_id=int(payload["reply_member_id"]),
        purpose=str(payload.get("reply_purpose") or "reply"),
        now=datetime.fromisoformat(str(payload["reply_issued"])),
    )


def outgoing_from_job(
    row: OutboundMessage, payload: dict[str, Any], mail_domain: str, secrets: Sequence[str] = ()
) -> OutgoingEmail:
    return OutgoingEmail(
        message_id=str(payload.get("mid") or row.provider_id or new_message_id(mail_domain)),
        from_addr=str(payload.get("from") or f"ardoise@{mail_domain}"),
        to=row.peer,
        subject=str(payload.get("subject") or "Ardoise"),
        text=row.body,
        envelope_from=f"bounces@{mail_domain}",
        reply_to=_reply_to(payload, mail_domain, secrets),
        in_reply_to=str(payload.get("in_reply_to") or ""),
        references=tuple(str(r) for r in payload.get("references") or ()),
        auto_submitted=str(payload.get("auto_submitted") or AUTO_REPLIED),
        lang=str(payload.get("lang") or "fr"),
    )


__all__ = [
    "AUTO_GENERATED",
    "AUTO_REPLIED",
    "ConsoleEmailSender",
    "EmailSender",
    "OutboundStatus",
    "OutgoingEmail",
    "SmtpRelaySender",
    "build_message",
    "queue_email",
    "sender_from_settings",
]
