"""Inbound and outbound messages (SMS, email), whatever the provider."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class Channel(StrEnum):
    sms = "sms"
    email = "email"


class InboundStatus(StrEnum):
    received = "received"
    processed = "processed"
    ignored = "ignored"  # stranger, opted out, rate-limited, auto-reply...


class OutboundStatus(StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    suppressed = "suppressed"  # not sent: opted out, loop guard


class InboundMessage(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "provider_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    provider_id: str = Field(max_length=255)  # Twilio MessageSid, email Message-ID: the dedup key
    business_id: int | None = Field(default=None, index=True)
    member_id: int | None = Field(default=None, index=True)
    peer: str = Field(max_length=320, index=True)  # the sender
    to: str = Field(max_length=320)
    body: str = Field(default="")
    media: list[dict[str, str]] = json_field(list)
    raw: dict[str, str] = json_field()
    status: str = Field(default=InboundStatus.received.value, max_length=16)
    note: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()


class OutboundMessage(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    business_id: int | None = Field(default=None, index=True)
    member_id: int | None = Field(default=None, index=True)
    peer: str = Field(max_length=320, index=True)
    sender: str = Field(default="", max_length=320)
    kind: str = Field(default="reply", max_length=32)
    body: str
    encoding: str = Field(default="GSM-7", max_length=8)
    segments: int = Field(default=1)
    status: str = Field(default=OutboundStatus.queued.value, max_length=16)
    status_rank: int = Field(default=0)
    provider: str = Field(default="console", max_length=16)
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    error_code: str | None = Field(default=None, max_length=32)
    in_reply_to_id: int | None = Field(default=None)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = dt_field()


class StatusEvent(SQLModel, table=True):
    """A provider status callback, unique on (provider id, status) so duplicates change nothing."""

    __table_args__ = (UniqueConstraint("provider_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64)
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=32)
    created_at: datetime = created_at_field()


class PendingAction(SQLModel, table=True):
    """Something a member must confirm (OUI/YES) or unlock with a PIN before it runs."""

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32)  # "publish" | "command"
    payload: dict[str, Any] = json_field()
    needs: str = Field(max_length=16)  # "confirm" | "pin"
    expires_at: datetime = created_at_field()
    created_at: datetime = created_at_field()
