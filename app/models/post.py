"""Posts and their deliveries: one delivery per post and account."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class PostStatus(StrEnum):
    scheduled = "scheduled"  # waits for scheduled_at (app/scheduling): no delivery yet, nowhere to be seen
    cancelled = "cancelled"  # a scheduled post cancelled before its time (ANNULER P14): never went out
    publishing = "publishing"
    published = "published"  # every delivery succeeded (or was skipped)
    partial = "partial"  # some failed for good
    failed = "failed"  # all failed
    deleting = "deleting"
    deleted = "deleted"


class DeliveryStatus(StrEnum):
    pending = "pending"
    published = "published"
    skipped = "skipped"  # the network cannot take this post (e.g. Instagram without a photo)
    failed = "failed"
    deleting = "deleting"
    deleted = "deleted"
    delete_failed = "delete_failed"


class Post(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("business_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    number: int
    text: str
    media: list[dict[str, str]] = json_field(list)
    source: str = Field(default="api", max_length=16)  # api | sms | email
    author_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    source_message_id: int | None = Field(default=None)
    reply_to_mention_id: int | None = Field(default=None, index=True)  # an answer to a mention (R n)
    status: str = Field(default=PostStatus.publishing.value, max_length=16)
    receipt_sent: bool = Field(default=False)
    created_at: datetime = created_at_field()  # a scheduled post: when it went out (set when it is published)
    deleted_at: datetime | None = dt_field()
    scheduled_at: datetime | None = dt_field()  # when a scheduled post goes out (UTC)
    schedule_id: int | None = Field(default=None, foreign_key="schedule.id", index=True, ondelete="SET NULL")


class Delivery(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("post_id", "account_id"),)
    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="networkaccount.id", index=True, ondelete="CASCADE")
    network: str = Field(max_length=32)
    status: str = Field(default=DeliveryStatus.pending.value, max_length=16)
    idempotency_key: str = Field(max_length=64)  # chosen before the first attempt, same on every retry
    attempts: int = Field(default=0)
    remote_id: str | None = Field(default=None, max_length=500)
    remote_url: str | None = Field(default=None, max_length=1000)
    last_error: str | None = Field(default=None, max_length=1000)
    owner_notified: bool = Field(default=False)  # a late failure was reported once
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    published_at: datetime | None = dt_field()
