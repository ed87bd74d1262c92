"""Linked social-network accounts, credentials encrypted."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class AccountStatus(StrEnum):
    active = "active"
    broken = "broken"  # credentials stopped working: the owner and the operator were told
    disabled = "disabled"


class NetworkAccount(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    network: str = Field(max_length=32)
    handle: str = Field(default="", max_length=200)
    credentials: str = Field(default="")  # Vault-encrypted JSON
    settings: dict[str, object] = json_field()
    status: str = Field(default=AccountStatus.active.value, max_length=16)
    status_reason: str = Field(default="", max_length=500)
    last_checked_at: datetime | None = dt_field()
    created_at: datetime = created_at_field()
