"""Mentions, comments and reviews collected from the networks, and per-member digest settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class Mention(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("account_id", "remote_id"),)
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="networkaccount.id", index=True, ondelete="CASCADE")
    network: str = Field(max_length=32)
    number: int = Field(index=True)  # short per-business number (#4), valid for 7 days
    remote_id: str = Field(max_length=500)
    kind: str = Field(max_length=16)
    author: str = Field(default="", max_length=200)
    text: str = Field(default="")
    url: str = Field(default="", max_length=1000)
    rating: int | None = Field(default=None)
    is_question: bool = Field(default=False)
    is_reply_to_us: bool = Field(default=False)
    target: dict[str, str] = json_field()
    remote_created_at: datetime | None = dt_field()
    created_at: datetime = created_at_field()
    digested_at: datetime | None = dt_field()  # first shown to a member (per member: MentionSeen)
    alerted_at: datetime | None = dt_field()
    answered_at: datetime | None = dt_field()
    liked_at: datetime | None = dt_field()


class MentionSeen(SQLModel, table=True):
    """Which member has seen which item (in a digest, an alert or ``M``): each member gets every item once,
    whatever the others have seen."""

    mention_id: int = Field(foreign_key="mention.id", primary_key=True, ondelete="CASCADE")
    member_id: int = Field(foreign_key="member.id", primary_key=True, index=True, ondelete="CASCADE")
    seen_at: datetime = created_at_field()


class MentionCursor(SQLModel, table=True):
    """Where polling of one account stopped (since_id, cursor or timestamp, as the network wants)."""

    account_id: int = Field(foreign_key="networkaccount.id", primary_key=True, ondelete="CASCADE")
    cursor: str | None = Field(default=None, max_length=500)
    polled_at: datetime | None = dt_field()
    last_error: str | None = Field(default=None, max_length=500)


class DigestSettings(SQLModel, table=True):
    """Per member: when digests come, quiet hours, the daily SMS cap, the channel, pauses and alerts."""

    member_id: int = Field(foreign_key="member.id", primary_key=True, ondelete="CASCADE")
    hours: list[str] = json_field(lambda: ["08:00", "17:00"])  # local times in the business's timezone
    quiet_start: str = Field(default="21:00", max_length=5)
    quiet_end: str = Field(default="08:00", max_length=5)
    daily_cap_segments: int = Field(default=6)
    budget_segments: int = Field(default=2)
    channel: str = Field(default="sms", max_length=8)  # sms | email | both
    paused_until: datetime | None = dt_field()
    alerts: bool = Field(default=False)
