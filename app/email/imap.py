"""The IMAP poller (aioimaplib): for operators who point Ardoise at an existing mailbox instead of an MX.

``ARDOISE_IMAP_URL`` = ``imaps://user:password@imap.example:993/INBOX`` (``imap://`` for plain IMAP on
loopback). The periodic job ``email.poll_imap`` fetches UNSEEN messages (``BODY.PEEK[]``: fetching does not
mark them read), stores each one exactly as the SMTP listener does (unique on Message-ID, processing job in
the same transaction), and only then flags it ``\\Seen``: a crash in between stores nothing twice.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aioimaplib  # type: ignore[import-untyped]
import structlog

from app.email.smtp import store_inbound
from app.kit.errors import PermanentError, RetryableError
from app.runtime import Runtime
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.email")

MAX_PER_POLL = 50


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> ImapConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError("ARDOISE_IMAP_URL must start with imaps:// (or imap:// on loopback)")
        tls = parts.scheme == "imaps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
            tls=tls,
        )


def _literal(lines: list[Any]) -> bytes | None:
    """The message literal of a FETCH response (the line after ``… {size}``)."""
    for i, line in enumerate(lines[:-1]):
        if isinstance(line, bytes | bytearray) and re.search(rb"\{\d+\}\s*$", bytes(line)):
            nxt = lines[i + 1]
            if isinstance(nxt, bytes | bytearray):
                return bytes(nxt)
    return None


async def poll_once(rt: Runtime, cfg: ImapConfig, *, io_timeout: float = 30.0, criteria: str = "UNSEEN") -> int:
    """Store every unseen message of the mailbox; returns how many were new. (``criteria``: tests use a mock
    server that only knows ``UNKEYWORD \\Seen``.)"""
    client: Any
    if cfg.tls:
        client = aioimaplib.IMAP4_SSL(
            host=cfg.host, port=cfg.port, timeout=io_timeout, ssl_context=ssl.create_default_context()
        )
    else:
        client = aioimaplib.IMAP4(host=cfg.host, port=cfg.port, timeout=io_timeout)
    try:
        await client.wait_hello_from_server()
        login = await client.login(cfg.user, cfg.password)
        if login.result != "OK":
            raise PermanentError("IMAP login refused", code="imap_auth")
        sel = await client.select(cfg.mailbox)
        if sel.result != "OK":
            raise PermanentError(f"IMAP mailbox {cfg.mailbox!r} not found", code="imap_mailbox")
        found = await client.uid_search(criteria)
        words = bytes(found.lines[0]).split() if found.result == "OK" and found.lines else []
        uids = [w.decode() for w in words if w.isdigit()][:MAX_PER_POLL]
        new = 0
        for uid in uids:
            fetched = await client.uid("fetch", uid, "(BODY.PEEK[])")
            raw = _literal(list(fetched.lines)) if fetched.result == "OK" else None
            if raw is None:
                continue
            if await store_inbound(rt, raw, mail_from=None, rcpt_tos=[], extra={"peer": cfg.host}, source="imap"):
                new += 1
            await client.uid("store", uid, "+FLAGS", r"(\Seen)")
        await client.logout()
        return new
    except (OSError, TimeoutError) as exc:
        raise RetryableError(f"IMAP unreachable: {type(exc).__name__}") from None
    finally:
        if client.protocol is not None and client.protocol.transport is not None:
            client.protocol.transport.close()


async def poll_imap(rt: Runtime, job: JobInfo) -> None:
    """The periodic job: does nothing unless ``ARDOISE_IMAP_URL`` is set."""
    url = rt.settings.imap_url.get_secret_value()
    if not url:
        return
    n = await poll_once(rt, ImapConfig.from_url(url))
    if n:
        log.info("imap.polled", new=n)
