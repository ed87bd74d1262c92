"""Tenants and who may call the admin API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class Lang(StrEnum):
    fr = "fr"
    en = "en"


class PublishMode(StrEnum):
    confirm = "confirm"  # free text gets "Publier ce texte? Repondez OUI"
    direct = "direct"  # free text from a member is published at once


class Business(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=64, unique=True, index=True)
    timezone: str = Field(default="America/Toronto", max_length=64)
    language: str = Field(default="fr", max_length=2)
    publish_mode: str = Field(default=PublishMode.confirm.value, max_length=16)
    phone: str | None = Field(default=None, max_length=20)  # public phone, for calls to action
    # The public profile shown on /b/{slug} and in its JSON-LD (all optional).
    description: str | None = Field(default=None, max_length=500)
    address: str | None = Field(default=None, max_length=300)
    website: str | None = Field(default=None, max_length=300)
    opening_hours: list[str] = json_field(list)  # schema.org form: ["Mo-Fr 11:00-21:00", "Sa 17:00-22:00"]
    logo: str | None = Field(default=None, max_length=64)  # a media file name (uploaded through the admin API)
    post_seq: int = Field(default=0)  # last post number given; incremented under the row's write lock
    mention_seq: int = Field(default=0)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = dt_field()  # last profile change (the page's Last-Modified)
    deleted_at: datetime | None = dt_field()


class BusinessNumber(SQLModel, table=True):
    """An SMS number (E.164) that routes to a business. One number may serve several businesses."""

    __table_args__ = (UniqueConstraint("business_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    number: str = Field(max_length=20, index=True)


class ApiKey(SQLModel, table=True):
    """Admin API key. Only a SHA-256 of the key is stored; ``business_id`` None = operator key."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    business_id: int | None = Field(default=None, foreign_key="business.id", index=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = dt_field()
    revoked_at: datetime | None = dt_field()


class AuditEvent(SQLModel, table=True):
    """Every write, with who made it: ``actor`` is ``key:<id>``, ``member:<id>``, ``cli`` or ``system``."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field()
    actor: str = Field(max_length=64)
    business_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=128)
    detail: str = Field(default="", max_length=2000)
