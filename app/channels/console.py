"""The console SMS provider: the default without credentials. The message is already recorded in the
database (outbound messages); this prints it to the log so a newcomer sees what the owner would get."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import ClassVar

import structlog

from app.channels.base import OutboundSms, SendResult

log = structlog.get_logger("ardoise.sms.console")


def deliver(to: str, sender: str, text: str) -> SendResult:
    """What the console does with an SMS: log it, and call it sent. Pure and instant, so the outbox applies it
    in the transaction that records the message (no send job); :meth:`ConsoleSmsProvider.send` is the same."""
    log.info("sms.console", to=to, sender=sender, text=text)
    return SendResult(provider_id="CO" + uuid.uuid4().hex, status="sent")


class ConsoleSmsProvider:
    name: ClassVar[str] = "console"

    async def send(self, msg: OutboundSms) -> SendResult:
        return deliver(msg.to, msg.sender, msg.text)

    def redact(self) -> Sequence[str]:
        return ()
