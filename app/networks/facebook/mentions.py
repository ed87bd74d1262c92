"""Facebook comments and tags as mentions; the comment shape is shared with the Page webhook (webhook.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.kit.errors import AdapterError, AuthError, PermanentError
from app.networks.base import Mention, ReplyTarget
from app.networks.facebook.graph import graph_obj, parse_graph_time

# --- mentions: shared with instagram/ and the Page webhook (webhook.py) ---------------------------------------------

COMMENT_FIELDS = "id,message,created_time,permalink_url,from{id,name},parent{id}"
TAGGED_FIELDS = "id,message,created_time,permalink_url,from{id,name}"


def read_permission(exc: AuthError, network: str) -> AdapterError:
    """A missing permission while reading or answering comments is PermanentError, not AuthError: the account
    still publishes, so it must not be marked broken (an expired token stays AuthError)."""
    if exc.code == "permission":
        return PermanentError(
            f"{network}: the app lacks a permission for comments (link the account again): {exc.reason}",
            code="permission",
        )
    return exc


def reply_object(target: ReplyTarget) -> str:
    """What an answer is a comment on: the thread's top comment when given, else the item itself."""
    return str(target.extra.get("reply_to") or target.remote_id)


def newest_cursor(items: Sequence[Mention], cursor: str | None) -> str | None:
    """The newest ``created_at`` among ``items`` (ISO 8601, UTC), never older than ``cursor``."""
    moments = [m.created_at for m in items if m.created_at is not None]
    if cursor and (old := parse_graph_time(cursor)) is not None:
        moments.append(old)
    if not moments:
        return cursor
    return max(moments).astimezone(UTC).isoformat()


def mention_order(m: Mention) -> tuple[datetime, str]:
    return (m.created_at or datetime.min.replace(tzinfo=UTC), m.remote_id)


def comment_mention(
    *,
    comment_id: str,
    post_id: str,
    parent_id: str,
    author_id: str,
    author: str,
    text: str,
    created_at: datetime | None,
    page_id: str,
    url: str = "",
) -> Mention | None:
    """A comment on the Page's content as a Mention (None for the Page's own comments). Used by the poll and by
    the ``feed`` webhook so both give the same ``remote_id`` (the comment id)."""
    if not comment_id or (author_id and author_id == page_id):
        return None
    extra = {"post_id": post_id} if post_id else {}
    if parent_id and parent_id != post_id:
        extra["reply_to"] = parent_id  # two levels only: answer in the thread of the top comment
    return Mention(
        remote_id=comment_id,
        kind="comment",
        author=author or "Facebook",
        text=text,
        target=ReplyTarget(remote_id=comment_id, extra=extra),
        url=url or f"https://www.facebook.com/{comment_id}",
        created_at=created_at,
        is_reply_to_us=True,
    )


def comment_row_mention(row: Mapping[str, Any], post_id: str, page_id: str) -> Mention | None:
    author = graph_obj(row.get("from"))
    parent = graph_obj(row.get("parent"))
    return comment_mention(
        comment_id=str(row.get("id") or ""),
        post_id=post_id,
        parent_id=str(parent.get("id") or ""),
        author_id=str(author.get("id") or ""),
        author=str(author.get("name") or ""),
        text=str(row.get("message") or ""),
        created_at=parse_graph_time(row.get("created_time")),
        page_id=page_id,
        url=str(row.get("permalink_url") or ""),
    )


def tagged_mention(row: Mapping[str, Any], page_id: str) -> Mention | None:
    post_id = str(row.get("id") or "")
    author = graph_obj(row.get("from"))
    if not post_id or str(author.get("id") or "") == page_id:
        return None
    return Mention(
        remote_id=post_id,
        kind="mention",
        author=str(author.get("name") or "Facebook"),  # Meta only returns ``from`` for some posts
        text=str(row.get("message") or ""),
        target=ReplyTarget(remote_id=post_id),
        url=str(row.get("permalink_url") or f"https://www.facebook.com/{post_id}"),
        created_at=parse_graph_time(row.get("created_time")),
    )
