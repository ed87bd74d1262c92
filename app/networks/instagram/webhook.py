"""An Instagram ``comments`` webhook change as a mention (the envelope and signature are Meta's:
facebook/webhook.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from app.networks.base import Mention
from app.networks.facebook.graph import graph_obj
from app.networks.facebook.webhook import MetaChange
from app.networks.instagram.adapter import comment_mention


def mention(change: MetaChange, account: Mapping[str, str]) -> Mention | None:
    """A ``comments`` change as a Mention (the account's own comments give None); ``account`` is the decrypted
    credentials, whose ``username`` tells the account's own comments apart."""
    own_username = account.get("username", "")
    value = change.value
    media = graph_obj(value.get("media"))
    mention = comment_mention(
        value,
        media_id=str(media.get("id") or ""),
        parent_id=str(value.get("parent_id") or ""),
        own=(change.owner_id, own_username.strip().lstrip("@").lower()),
    )
    if mention is None or mention.created_at is not None or change.time is None:
        return mention
    return replace(mention, created_at=change.time)
