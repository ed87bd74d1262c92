"""The built-in Ardoise page: every business has one, it always works, it needs no credentials.

Publishing marks the post visible on ``/b/{slug}`` and in the Atom feed; the page reads the delivery rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from app.networks.base import AccountInfo, NetworkCredentials, Post, PublishResult


class PageNetwork:
    name: ClassVar[str] = "page"
    max_chars: ClassVar[int] = 1600

    def measure(self, text: str) -> int:
        return len(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        return AccountInfo(handle=creds.get("slug"))

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        return PublishResult(remote_id=post.idempotency_key, url=post.link or "")

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        return None

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        return ()
