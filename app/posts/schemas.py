from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, HttpUrl

from app.models import Business, Delivery, Post
from app.posts.service import permalink
from app.schemas_base import Input


class PostCreate(Input):
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
    scheduled_at: datetime | None = Field(default=None, description="when a scheduled post goes (or went) out")
    deliveries: list[DeliveryRead]


class PostList(BaseModel):
    items: list[PostRead]
    next_cursor: str | None = None


class PreviewRequest(Input):
    text: str = Field(min_length=1, max_length=5000)
    media_count: int = Field(default=0, ge=0, le=10, description="how many photos the post would carry")


class NetworkPreview(BaseModel):
    account_id: int
    network: str
    text: str
    length: int
    limit: int
    adapted: bool
    problem: str | None


class PreviewResponse(BaseModel):
    items: list[NetworkPreview]


def to_read(post: Post, ds: list[Delivery], biz: Business, public_url: str) -> PostRead:
    """The API's view of one post and its deliveries (the posts routes and a mention's reply answer with it)."""
    assert post.id is not None
    return PostRead(
        id=post.id,
        number=post.number,
        text=post.text,
        status=post.status,
        source=post.source,
        media=[m.get("url") or m.get("source_url", "") for m in post.media],
        url=permalink(public_url, biz, post.number),
        created_at=post.created_at,
        scheduled_at=post.scheduled_at,
        deliveries=[
            DeliveryRead(
                account_id=d.account_id,
                network=d.network,
                status=d.status,
                url=d.remote_url,
                error=d.last_error,
                attempts=d.attempts,
            )
            for d in ds
        ],
    )
