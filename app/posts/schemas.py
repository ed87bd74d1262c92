from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, HttpUrl


class PostCreate(BaseModel):
    text: str = Field(default="", max_length=5000)
    media_urls: list[HttpUrl] = Field(default_factory=list, max_length=10, description="images Ardoise downloads")


class DeliveryRead(BaseModel):
    account_id: int
    network: str
    status: str
    url: str | None
    error: str | None
    attempts: int


class PostRead(BaseModel):
    id: int
    number: int
    text: str
    status: str
    source: str
    media: list[str]
    url: str
    created_at: datetime
    deliveries: list[DeliveryRead]


class PostList(BaseModel):
    items: list[PostRead]
    next_cursor: str | None = None
