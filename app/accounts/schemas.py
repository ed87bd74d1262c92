from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.schemas_base import Input


class AccountCreate(Input):
    network: str = Field(min_length=1, max_length=32, description="bluesky, mastodon, ...")
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="bluesky: {handle, app_password[, pds_url]}; mastodon: {instance_url, access_token[, visibility]}",
    )
    settings: dict[str, str] = Field(default_factory=dict)


class AccountRead(BaseModel):
    id: int
    network: str
    handle: str
    status: str
    status_reason: str
    last_checked_at: datetime | None
    created_at: datetime


class AccountList(BaseModel):
    items: list[AccountRead]
    next_cursor: str | None = None


class AccountTest(BaseModel):
    ok: bool
    handle: str
    detail: str
    status: str  # the account's status after the test: active, broken (needs reconnecting) or disabled
