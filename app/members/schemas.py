from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from app.kit.emailaddr import normalize_email
from app.kit.phone import optional_e164
from app.schemas_base import Input


def _email(v: str | None) -> str | None:
    return None if v in (None, "") else normalize_email(str(v))


_phone = optional_e164


class MemberCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32, description="any format; stored as E.164")
    email: str | None = Field(default=None, max_length=254)
    language: Literal["fr", "en"] = "fr"
    role: Literal["owner", "staff"] = "owner"
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$", description="asked before risky SMS commands")

    _p = field_validator("phone")(_phone)
    _e = field_validator("email")(_email)


class MemberUpdate(Input):
    NOT_NULL = ("name", "language", "role", "opted_out")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    language: Literal["fr", "en"] | None = None
    role: Literal["owner", "staff"] | None = None
    opted_out: bool | None = None
    pin: str | None = Field(default=None, pattern=r"^([0-9]{4,8})?$", description="empty string removes the PIN")

    _p = field_validator("phone")(_phone)
    _e = field_validator("email")(_email)


class MemberRead(BaseModel):
    id: int
    business_id: int
    name: str
    phone: str | None
    email: str | None
    language: str
    role: str
    opted_out: bool
    has_pin: bool
    last_seen_at: datetime | None
    created_at: datetime


class MemberList(BaseModel):
    items: list[MemberRead]
    next_cursor: str | None = None
