from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class MessageRead(BaseModel):
    id: int
    direction: str
    channel: str
    peer: str
    body: str
    encoding: str | None
    segments: int | None
    status: str
    kind: str | None
    note: str | None
    media: list[str]
    created_at: datetime


class MessageList(BaseModel):
    items: list[MessageRead]
    next_cursor: str | None = None
