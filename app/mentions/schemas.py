from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from app.schemas_base import Input

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class MentionRead(BaseModel):
    id: int
    number: int
    network: str
    account_id: int
    kind: str
    author: str
    text: str
    url: str
    rating: int | None
    is_question: bool
    created_at: datetime  # when Ardoise collected it
    posted_at: datetime | None  # when it was said on the network, when the network tells
    answered_at: datetime | None
    digested_at: datetime | None


class MentionList(BaseModel):
    items: list[MentionRead]
    next_cursor: str | None = None


class MentionReply(Input):
    text: str = Field(min_length=1, max_length=5000)


class DigestSettingsRead(BaseModel):
    hours: list[str]
    quiet_start: str
    quiet_end: str
    daily_cap_segments: int
    budget_segments: int
    channel: str
    paused_until: datetime | None
    alerts: bool


class DigestSettingsUpdate(Input):
    NOT_NULL = ("hours", "quiet_start", "quiet_end", "daily_cap_segments", "budget_segments", "channel", "alerts")

    hours: list[str] | None = Field(default=None, max_length=4, description="local times HH:MM")
    quiet_start: str | None = None
    quiet_end: str | None = None
    daily_cap_segments: int | None = Field(default=None, ge=0, le=50)
    budget_segments: int | None = Field(default=None, ge=1, le=4)
    channel: Literal["sms", "email", "both"] | None = None
    paused_until: datetime | None = None
    alerts: bool | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for h in v:
                if not HHMM.match(h):
                    raise ValueError(f"{h!r} is not a time like 08:00")
            return sorted(set(v))
        return v

    @field_validator("paused_until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v  # no zone: UTC

    @model_validator(mode="after")
    def _no_null(self) -> DigestSettingsUpdate:
        # Leaving a field out keeps it; null is only meaningful for paused_until (null: not paused).
        nulls = sorted(k for k in self.model_fields_set if k != "paused_until" and getattr(self, k) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave the field out to keep it)")
        return self

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _hm(cls, v: str | None) -> str | None:
        if v is not None and not HHMM.match(v):
            raise ValueError(f"{v!r} is not a time like 21:00")
        return v
