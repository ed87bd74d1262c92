"""Owners and staff of a business: who may command it by SMS or email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field


class Member(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("business_id", "phone"),)
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    email: str | None = Field(default=None, max_length=254, index=True)
    language: str = Field(default="fr", max_length=2)
    role: str = Field(default="owner", max_length=16)
    opted_out: bool = Field(default=False)
    pin_hash: str | None = Field(default=None, max_length=128)
    last_seen_at: datetime | None = dt_field()
    created_at: datetime = created_at_field()
