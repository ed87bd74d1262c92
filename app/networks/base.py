"""The ``Network`` plug-in shape and the data it takes and returns.

An adapter gets an ``httpx.AsyncClient`` (and any configuration) in its constructor, takes and returns
the dataclasses below, and raises :class:`app.kit.errors.RetryableError`, :class:`PermanentError` or
:class:`AuthError`. It never touches the database or the settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One image attached to a post.

    ``path`` is a local file Ardoise stored (for networks that upload bytes); ``url`` is its public URL on
    Ardoise (for networks that fetch media themselves, like Instagram).
    """

    path: str
    url: str
    content_type: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """What a reply answers: the remote id (and, for atproto, the cid/root) of the item."""

    remote_id: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Post:
    """What to publish on one account.

    ``idempotency_key`` is chosen once per delivery before the first attempt and is the same on every
    retry: adapters pass it to the network (Mastodon ``Idempotency-Key``, Bluesky record key) so a retry
    never makes a second post. ``link`` is the post's permalink on the Ardoise page, used when the text
    is too long for the network (see docs/networks.md). ``created_at`` is when the post was made (the same on
    every retry): Bluesky dates its record key from it.
    """

    text: str
    idempotency_key: str
    media: Sequence[MediaItem] = ()
    link: str | None = None
    reply_to: ReplyTarget | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NetworkCredentials:
    """Decrypted credentials and identifiers of one linked account (handle, token, instance URL...).

    ``renewed`` is the one way an adapter reports credentials it renewed during a call (a Bluesky session, rotated
    OAuth tokens): it writes the new values there as soon as it has them, whether the call then succeeds or fails
    (X's old refresh token is dead once rotated), and the caller stores them back
    (``app.accounts.credentials.account_credentials``). ``get`` reads renewed values first, so a second call with
    the same credentials uses the new tokens."""

    data: Mapping[str, str]
    renewed: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        if key in self.renewed:
            return self.renewed[key]
        return self.data.get(key, default)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What ``verify`` learned about the account (identifiers it learned go to ``NetworkCredentials.renewed``)."""

    handle: str
    remote_id: str = ""
    display_name: str = ""
    limits: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Where the post landed."""

    remote_id: str
    url: str = ""
    skipped: str | None = None  # a reason when the network cannot take this post (e.g. Instagram, text only)


class Network(Protocol):
    """One social network. ``name`` is the registry key, also stored in the DB and used in URLs."""

    name: ClassVar[str]
    max_chars: ClassVar[int]

    def measure(self, text: str) -> int:
        """Length of ``text`` as this network counts it (graphemes, weighted characters...)."""
        ...

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        """Check the credentials work; raise AuthError when they do not."""
        ...

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """Publish ``post``. Must be safe to call again with the same ``post.idempotency_key``."""
        ...

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """Before a retry: did an earlier attempt with this idempotency key already reach the network?"""
        ...

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """Remove a published post. Deleting something already gone is a success."""
        ...

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        """Secret values to scrub from anything logged or stored."""
        ...


@dataclass(frozen=True, slots=True)
class Mention:
    """Something said to or about the business on a network: a mention, a reply, a quote, a comment or a
    review. ``remote_id`` is unique per account (the dedup key); ``target`` is what a reply or a like acts on."""

    remote_id: str
    kind: str  # mention | reply | quote | comment | review
    author: str
    text: str
    target: ReplyTarget
    url: str = ""
    created_at: datetime | None = None
    rating: int | None = None  # reviews: 1 to 5
    is_reply_to_us: bool = False


class MentionSource(Protocol):
    """A network Ardoise can collect mentions from and answer on (optional beside ``Network``)."""

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        """New items since ``cursor`` (None: only the latest page), oldest first, and the cursor to store."""
        ...

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        """Like or favourite the item. Liking twice is not an error."""
        ...
