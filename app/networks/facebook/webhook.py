"""Meta's webhooks (Facebook Page ``feed``, Instagram ``comments`` / ``mentions``): the signature, the envelope, and a
Page ``feed`` change as a mention. Pure parsing: the route, the account lookup and the storing are
``app.mentions.webhooks``; Instagram's own change is parsed in instagram/webhook.py."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.kit.crypto import same_text
from app.networks.base import Mention, ReplyTarget
from app.networks.facebook.graph import graph_obj, parse_graph_time
from app.networks.facebook.mentions import comment_mention

_FEED_POST_ITEMS = frozenset({"status", "post", "photo", "video"})


def meta_signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` + hex HMAC-SHA256 of the raw body keyed with the app secret."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return same_text(header.removeprefix("sha256=").strip().lower(), expected)


@dataclass(frozen=True, slots=True)
class MetaChange:
    """One usable change of a signed Meta notification."""

    network: str  # facebook | instagram
    owner_id: str  # the Page id / the Instagram professional account id (``entry.id``)
    field: str  # feed | comments | mentions
    value: Mapping[str, Any]
    time: datetime | None = None


def meta_changes(payload: Any) -> list[MetaChange]:
    """The changes of a Meta notification that may carry mentions, in order."""
    if not isinstance(payload, dict):
        return []
    network = {"page": "facebook", "instagram": "instagram"}.get(str(payload.get("object") or ""))
    entries = payload.get("entry")
    if network is None or not isinstance(entries, list):
        return []
    out: list[MetaChange] = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("id"):
            continue
        changes = entry.get("changes")
        # Instagram (Business Login) examples put ``field`` / ``value`` on the entry itself.
        listed = changes if isinstance(changes, list) else [entry] if "field" in entry else []
        for change in listed:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            name = str(change.get("field") or "")
            if (network, name) in (("facebook", "feed"), ("instagram", "comments"), ("instagram", "mentions")):
                out.append(MetaChange(network, str(entry["id"]), name, change["value"], epoch(entry.get("time"))))
    return out


def mention(change: MetaChange, account: Mapping[str, str]) -> Mention | None:
    """A ``feed`` change as a Mention: a new comment, or a new visitor post; None for anything else. (The Page is
    ``change.owner_id``: ``account``, the decrypted credentials, adds nothing here.)"""
    value = change.value
    if value.get("verb") != "add":
        return None
    author = graph_obj(value.get("from"))
    created = epoch(value.get("created_time")) or parse_graph_time(value.get("created_time")) or change.time
    item = str(value.get("item") or "")
    if item == "comment":
        return comment_mention(
            comment_id=str(value.get("comment_id") or ""),
            post_id=str(value.get("post_id") or ""),
            parent_id=str(value.get("parent_id") or ""),
            author_id=str(author.get("id") or ""),
            author=str(author.get("name") or ""),
            text=str(value.get("message") or ""),
            created_at=created,
            page_id=change.owner_id,
        )
    post_id = str(value.get("post_id") or "")
    if item in _FEED_POST_ITEMS and post_id and str(author.get("id") or "") not in ("", change.owner_id):
        return Mention(
            remote_id=post_id,
            kind="mention",
            author=str(author.get("name") or "Facebook"),
            text=str(value.get("message") or ""),
            target=ReplyTarget(remote_id=post_id),
            url=str(value.get("link") or f"https://www.facebook.com/{post_id}"),
            created_at=created,
        )
    return None


def epoch(value: Any) -> datetime | None:
    """Meta ``time`` / ``created_time`` as epoch seconds (or milliseconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 100_000_000_000 else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
