"""The console SMS provider: the default without credentials. The message is already recorded in the
database (outbound messages); this prints it to the log so a newcomer sees what the owner would get."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import ClassVar

import structlog

from app.channels.base import OutboundSms, SendResult

log = structlog.get_logger("ardoise.sms.console")


class ConsoleSmsProvider:
    name: ClassVar[str] = "console"

    async def send(self, msg: OutboundSms) -> SendResult:
        log.info("sms.console", to=msg.to, sender=msg.sender, text=msg.text)
        return SendResult(provider_id="CO" + uuid.uuid4().hex, status="sent")

    def redact(self) -> Sequence[str]:
        return ()
