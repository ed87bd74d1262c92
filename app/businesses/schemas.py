from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from app.kit import hours
from app.kit.phone import InvalidPhone, normalize_e164, optional_e164
from app.schemas_base import Input

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (use an IANA name such as America/Toronto)") from None
    return v


def _numbers(v: list[str]) -> list[str]:
    out: list[str] = []
    for raw in v:
        try:
            n = normalize_e164(raw)
        except InvalidPhone as exc:
            raise ValueError(str(exc)) from None
        if n not in out:
            out.append(n)
    return out


def _hours(v: list[str] | None) -> list[str] | None:
    if v is None:
        return None
    try:
        return hours.normalize(v)
    except hours.BadHours as exc:
        raise ValueError(str(exc)) from None


def _website(v: str | None) -> str | None:
    if v is None or not v.strip():
        return None
    v = v.strip()
    if not re.match(r"^https?://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?$", v, re.IGNORECASE):
        raise ValueError("use a full http(s) address, e.g. https://bistro.example")
    return v


def _blank_none(v: str | None) -> str | None:
    return None if v is None or not v.strip() else v.strip()


class Profile(Input):
    """The public profile shown on the business's page and in its JSON-LD; every field is optional."""

    description: str | None = Field(default=None, max_length=500, description="a sentence or two about the place")
    address: str | None = Field(default=None, max_length=300, description="street address, one line")
    website: str | None = Field(default=None, max_length=300, description="http(s) URL of the business's own site")
    opening_hours: list[str] | None = Field(
        default=None,
        max_length=hours.MAX_RULES,
        description='schema.org openingHours rules, e.g. ["Mo-Fr 11:00-21:00", "Sa 17:00-22:00"]',
    )

    _ws = field_validator("website")(_website)
    _oh = field_validator("opening_hours")(_hours)
    _blank = field_validator("description", "address")(_blank_none)


class BusinessCreate(Profile):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(
        min_length=1, max_length=64, description="lowercase letters, digits and dashes; used in /b/{slug}"
    )
    timezone: str = Field(default="America/Toronto", max_length=64)
    language: Literal["fr", "en"] = "fr"
    sms_numbers: list[str] = Field(default_factory=list, max_length=20)
    publish_mode: Literal["confirm", "direct"] = "confirm"
    phone: str | None = Field(default=None, max_length=32)

    _tz = field_validator("timezone")(_tz)
    _nums = field_validator("sms_numbers")(_numbers)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError("use lowercase letters, digits and dashes (e.g. bistro-lardoise)")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return optional_e164(v)


class BusinessUpdate(Profile):
    NOT_NULL = ("name", "timezone", "language", "sms_numbers", "publish_mode")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    language: Literal["fr", "en"] | None = None
    sms_numbers: list[str] | None = Field(default=None, max_length=20)
    publish_mode: Literal["confirm", "direct"] | None = None
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else _tz(v)

    @field_validator("sms_numbers")
    @classmethod
    def _nums(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _numbers(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return BusinessCreate._phone(v)


class BusinessRead(BaseModel):
    id: int
    name: str
    slug: str
    timezone: str
    language: str
    sms_numbers: list[str]
    publish_mode: str
    phone: str | None
    description: str | None
    address: str | None
    website: str | None
    opening_hours: list[str]
    logo_url: str | None
    page_url: str
    feed_url: str
    created_at: datetime


class BusinessList(BaseModel):
    items: list[BusinessRead]
    next_cursor: str | None = None
