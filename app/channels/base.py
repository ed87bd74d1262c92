"""Plug-in shapes for SMS providers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class InboundMedia:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class InboundSms:
    provider_id: str
    sender: str
    to: str
    body: str
    media: Sequence[InboundMedia] = ()
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundSms:
    message_id: int
    sender: str
    to: str
    text: str
    status_callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str
    status: str = "sent"


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    provider_id: str
    status: str
    error_code: str | None = None


class SmsProvider(Protocol):
    name: ClassVar[str]

    async def send(self, msg: OutboundSms) -> SendResult:
        """Send one SMS. Raise RetryableError (timeout, 5xx, 429) or PermanentError (bad number, opted out:
        ``code="opted_out"``)."""
        ...

    def redact(self) -> Sequence[str]:
        """Secrets to scrub from anything logged or stored."""
        ...
