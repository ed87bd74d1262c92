"""Weekly posts (CHAQUE lundi 11h ...): the rule. Each occurrence is a Post in state ``scheduled`` made when the one
before it is published, so an occurrence is listed, cancelled and published like any scheduled post."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class Schedule(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    weekday: int  # 0 Monday .. 6 Sunday, in the business's zone
    at: str = Field(max_length=5)  # "11:00", wall time in the business's zone
    text: str
    media: list[dict[str, str]] = json_field(list)
    source: str = Field(default="sms", max_length=16)
    author_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    source_message_id: int | None = Field(default=None)
    active: bool = Field(default=True)
    created_at: datetime = created_at_field()
    cancelled_at: datetime | None = dt_field()
