"""Bluesky (atproto) adapter.

Talks to the account's PDS with the ``atproto`` SDK's ``AsyncClient``. The async client is used rather
than the sync one in a thread: it is a thin layer over ``httpx.AsyncClient``, so it can send through the
app's shared client (timeouts, connection pool) and a slow PDS never holds a worker thread. One SDK client
is built per call because it holds one account's session; building it costs nothing when the HTTP client
is shared.

Credentials (``NetworkCredentials.data``): ``handle``, ``app_password``, optional ``session`` (the SDK's
exported session string, reused so we do not hit the ``createSession`` rate limit: 30 per 5 min, 300 per
day and handle) and optional ``pds_url`` (a self-hosted PDS). When the session changes (created or
refreshed) the new ``session`` goes to ``creds.renewed``, whether the call then succeeds or fails.

Exactly once: the record key is a TID made from the post's time and ``Post.idempotency_key``
(:func:`record_key_for`), both fixed before the first attempt, and the post is written with
``com.atproto.repo.createRecord`` under that key, so a retry either creates the post or collides with the one
an earlier attempt created, which is then returned as the result.

``remote_id`` is the post's ``at://`` URI. Replies read ``ReplyTarget.extra``: ``uri``/``cid`` of the
parent and ``root_uri``/``root_cid`` of the thread root (the parent when absent).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from atproto_client import AsyncClient
from atproto_client import exceptions as atp_exc
from atproto_client.request import AsyncRequest, RequestBase

from app.kit.errors import AuthError, PermanentError
from app.kit.media import image_size
from app.kit.time import utcnow
from app.networks.base import AccountInfo, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.bluesky.errors import classify, is_not_found, is_session_error
from app.networks.bluesky.records import parse_at_uri, record_key_for
from app.networks.bluesky.text import MAX_GRAPHEMES, build_facets, fit_text, grapheme_len, mention_handles

T = TypeVar("T")

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000  # app.bsky.embed.images lexicon: maxSize 1000000
MAX_ALT_CHARS = 2000  # what the Bluesky app accepts for alt text
POST_COLLECTION = "app.bsky.feed.post"
LIKE_COLLECTION = "app.bsky.feed.like"
MENTION_REASONS = ("mention", "reply", "quote")
MENTION_MAX_PAGES = 5


# --- plumbing ---------------------------------------------------------------------------------------


class _SharedRequest(AsyncRequest):  # type: ignore[misc]
    """The SDK's request layer, sending through a given ``httpx.AsyncClient`` it does not own."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        RequestBase.__init__(self)  # not AsyncRequest.__init__: it would open a client of its own
        self._client_kwargs: dict[str, Any] = {}
        self._client = http

    def _new_instance(self) -> _SharedRequest:
        return _SharedRequest(self._client)

    async def close(self) -> None:
        """The owner of the shared client closes it."""


@dataclass(slots=True)
class _Conn:
    client: Any  # atproto AsyncClient, logged in
    did: str
    handle: str


@dataclass(frozen=True, slots=True)
class _Image:
    data: bytes
    content_type: str
    alt: str


class Bluesky:
    """Bluesky adapter (see the module docstring for credentials, record keys and replies)."""

    name: ClassVar[str] = "bluesky"
    max_chars: ClassVar[int] = MAX_GRAPHEMES

    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        base_url: str = "https://bsky.social",
        app_url: str = "https://bsky.app",
        langs: Sequence[str] = (),
        timeout: float = 20.0,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self.app_url = app_url.rstrip("/")
        self.langs = list(langs)
        self._timeout = timeout

    # -- Network protocol --

    def measure(self, text: str) -> int:
        return grapheme_len(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        async def op(conn: _Conn) -> tuple[str, str, str]:
            me = await conn.client.com.atproto.server.get_session()
            display = ""
            try:  # AppView, proxied by the PDS; a new account may not be indexed yet
                profile = await conn.client.app.bsky.actor.get_profile({"actor": me.did})
                display = profile.display_name or ""
            except atp_exc.AtProtocolError:
                pass
            return str(me.handle), str(me.did), display

        handle, did, display = await self._run(creds, op)
        return AccountInfo(
            handle=handle,
            remote_id=did,
            display_name=display,
            limits={"max_chars": MAX_GRAPHEMES, "max_images": MAX_IMAGES},
        )

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        text = fit_text(post.text, post.link)
        rkey = record_key_for(post.idempotency_key, post.created_at)
        images = await self._read_images(post)

        async def op(conn: _Conn) -> PublishResult:
            if images:  # saves re-uploading the blobs when an earlier attempt got through
                found = await self._get_post(conn, rkey)
                if found is not None:
                    return found
            record: dict[str, Any] = {
                "$type": POST_COLLECTION,
                "text": text,
                "createdAt": _now_iso(),
            }
            facets = build_facets(text, await self._resolve_mentions(conn, text))
            if facets:
                record["facets"] = [f.model_dump(by_alias=True, exclude_none=True) for f in facets]
            if images:
                record["embed"] = await self._upload_images(conn, images)
            if post.reply_to is not None:
                record["reply"] = _reply_ref(post.reply_to.remote_id, post.reply_to.extra)
            if self.langs:
                record["langs"] = self.langs
            return await self._create(conn, POST_COLLECTION, rkey, record)

        return await self._run(creds, op)

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        rkey = record_key_for(post.idempotency_key, post.created_at)

        async def op(conn: _Conn) -> PublishResult | None:
            return await self._get_post(conn, rkey)

        return await self._run(creds, op)

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        repo, collection, rkey = parse_at_uri(remote_id)

        async def op(conn: _Conn) -> None:
            if repo != conn.did:
                raise PermanentError(f"{remote_id} is not in this account's repo", code="not_ours")
            try:  # deleting a missing record is a no-op on the PDS; tolerate an error too
                await conn.client.com.atproto.repo.delete_record(
                    {"repo": conn.did, "collection": collection, "rkey": rkey}
                )
            except atp_exc.AtProtocolError as exc:
                if not is_not_found(exc):
                    raise

        await self._run(creds, op)

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        secrets = [creds.get("app_password"), creds.get("session")]
        parts = creds.get("session").split(":::")
        if len(parts) >= 4:
            secrets += parts[2:4]  # access and refresh JWTs
        return [s for s in secrets if s]

    # -- extra actions (mentions) --

    async def like(self, uri: str, cid: str, creds: NetworkCredentials) -> str:
        """Like the record ``uri``/``cid``; returns the like's ``at://`` URI. Liking twice keeps one like."""
        rkey = record_key_for("like:" + uri)

        async def op(conn: _Conn) -> str:
            record = {"$type": LIKE_COLLECTION, "subject": {"uri": uri, "cid": cid}, "createdAt": _now_iso()}
            result = await self._create(conn, LIKE_COLLECTION, rkey, record)
            return result.remote_id

        return await self._run(creds, op)

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        await self.like(target.extra.get("uri") or target.remote_id, target.extra.get("cid", ""), creds)

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        """Mentions, replies and quotes from ``listNotifications`` newer than ``cursor`` (the ``indexedAt`` of the
        newest one already stored), oldest first. Without a cursor, only the latest page is read."""

        async def op(conn: _Conn) -> tuple[list[Mention], str | None]:
            found: list[Mention] = []
            newest = cursor
            page: str | None = None
            for _ in range(MENTION_MAX_PAGES):
                params: dict[str, Any] = {"limit": 50, "reasons": list(MENTION_REASONS)}
                if page:
                    params["cursor"] = page
                resp = await conn.client.app.bsky.notification.list_notifications(params=params)
                reached = False
                for n in resp.notifications:
                    if n.reason not in MENTION_REASONS:
                        continue
                    if cursor and n.indexed_at <= cursor:
                        reached = True
                        break
                    found.append(self._mention(n))
                    newest = max(newest or "", n.indexed_at)
                if reached or not resp.cursor or cursor is None:
                    break
                page = resp.cursor
            found.reverse()
            return found, newest

        return await self._run(creds, op)

    def _mention(self, n: Any) -> Mention:
        record = n.record
        text = str(getattr(record, "text", "") or "")
        extra = {"uri": n.uri, "cid": n.cid}
        reply = getattr(record, "reply", None)
        if reply is not None:
            extra["root_uri"], extra["root_cid"] = reply.root.uri, reply.root.cid
        _, _, rkey = parse_at_uri(n.uri)
        handle = str(n.author.handle)
        try:
            created = datetime.fromisoformat(str(n.indexed_at).replace("Z", "+00:00"))
        except ValueError:
            created = None
        return Mention(
            remote_id=n.uri,
            kind=str(n.reason),
            author=handle,
            text=text,
            target=ReplyTarget(remote_id=n.uri, extra=extra),
            url=f"{self.app_url}/profile/{handle}/post/{rkey}",
            created_at=created,
            is_reply_to_us=n.reason == "reply",
        )

    # -- internals --

    @asynccontextmanager
    async def _http_scope(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
            return
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=True) as http:
            yield http

    async def _run(self, creds: NetworkCredentials, op: Callable[[_Conn], Awaitable[T]]) -> T:
        """Log in (stored session first), run ``op``, classify failures; a changed session goes to
        ``creds.renewed`` (after a failure too: a fresh login must not be thrown away)."""
        stored = creds.get("session")
        async with self._http_scope() as http:
            client = AsyncClient(base_url=creds.get("pds_url") or self.base_url, request=_SharedRequest(http))
            try:
                used_stored = await self._import_session(client, creds)
                if not used_stored:
                    await self._password_login(client, creds)
                try:
                    result = await op(self._conn(client))
                except atp_exc.AtProtocolError as exc:
                    # A stored session can be expired or revoked (its refresh failed): log in again, once.
                    if not (used_stored and is_session_error(exc)):
                        raise
                    await self._password_login(client, creds)
                    result = await op(self._conn(client))
            except (atp_exc.AtProtocolError, httpx.TransportError, OSError) as exc:
                _keep_session(client, creds, stored)
                raise classify(exc) from exc
            _keep_session(client, creds, stored)
        return result

    @staticmethod
    def _conn(client: Any) -> _Conn:
        session = client._session  # the SDK's public accessors are on the sync client only
        return _Conn(client=client, did=str(session.did), handle=str(session.handle))

    @staticmethod
    async def _import_session(client: Any, creds: NetworkCredentials) -> bool:
        stored = creds.get("session")
        fields = stored.split(":::")
        if len(fields) < 4:
            return False
        handle, did = fields[0].lower(), fields[1]
        if creds.get("handle").lower().lstrip("@") not in (handle, did):
            return False  # the account was relinked under another handle: the session is stale
        try:
            await client.login(session_string=stored, fetch_bsky_profile=False)  # no request
        except (ValueError, atp_exc.AtProtocolError):
            return False
        return True

    @staticmethod
    async def _password_login(client: Any, creds: NetworkCredentials) -> None:
        handle, password = creds.get("handle").lstrip("@"), creds.get("app_password")
        if not handle or not password:
            raise AuthError("bluesky: handle or app password missing")
        await client.login(handle, password, fetch_bsky_profile=False)

    async def _create(self, conn: _Conn, collection: str, rkey: str, record: dict[str, Any]) -> PublishResult:
        try:
            res = await conn.client.com.atproto.repo.create_record(
                {"repo": conn.did, "collection": collection, "rkey": rkey, "record": record}
            )
            return self._result(conn, str(res.uri), rkey)
        except atp_exc.AtProtocolError:
            # Most often "record already exists": an earlier attempt got through. If the record is there,
            # that attempt is the result; if not, the original failure stands.
            found = await self._get_record_uri(conn, collection, rkey)
            if found is None:
                raise
            return self._result(conn, found, rkey)

    async def _get_post(self, conn: _Conn, rkey: str) -> PublishResult | None:
        uri = await self._get_record_uri(conn, POST_COLLECTION, rkey)
        return None if uri is None else self._result(conn, uri, rkey)

    @staticmethod
    async def _get_record_uri(conn: _Conn, collection: str, rkey: str) -> str | None:
        try:
            res = await conn.client.com.atproto.repo.get_record(
                {"repo": conn.did, "collection": collection, "rkey": rkey}
            )
        except atp_exc.AtProtocolError as exc:
            if is_not_found(exc):
                return None
            raise
        return str(res.uri)

    def _result(self, conn: _Conn, uri: str, rkey: str) -> PublishResult:
        if uri.split("/")[3:4] == [LIKE_COLLECTION]:
            return PublishResult(remote_id=uri)
        return PublishResult(remote_id=uri, url=f"{self.app_url}/profile/{conn.handle}/post/{rkey}")

    @staticmethod
    async def _resolve_mentions(conn: _Conn, text: str) -> dict[str, str]:
        dids: dict[str, str] = {}
        for handle in mention_handles(text):
            try:
                res = await conn.client.com.atproto.identity.resolve_handle({"handle": handle})
            except atp_exc.BadRequestError:
                continue  # unknown handle: left as plain text
            dids[handle] = str(res.did)
        return dids

    @staticmethod
    async def _read_images(post: Post) -> list[_Image]:
        if len(post.media) > MAX_IMAGES:
            raise PermanentError(f"bluesky takes at most {MAX_IMAGES} images", code="too_many_images")
        caption = post.text[:MAX_ALT_CHARS]
        images = []
        for item in post.media:
            try:
                data = await asyncio.to_thread(Path(item.path).read_bytes)
            except OSError as exc:
                raise PermanentError(f"image not readable: {item.path}: {exc}", code="media_missing") from exc
            if len(data) > MAX_IMAGE_BYTES:
                raise PermanentError(f"image over {MAX_IMAGE_BYTES} bytes: {item.path}", code="image_too_large")
            images.append(_Image(data=data, content_type=item.content_type, alt=(item.alt or caption)[:MAX_ALT_CHARS]))
        return images

    @staticmethod
    async def _upload_images(conn: _Conn, images: Sequence[_Image]) -> dict[str, Any]:
        embedded = []
        for image in images:
            # bytes go as ``content=``: the SDK would pass them as ``data=``, deprecated in httpx
            res = await conn.client.com.atproto.repo.upload_blob(
                None, content=image.data, headers={"Content-Type": image.content_type}
            )
            entry: dict[str, Any] = {"alt": image.alt, "image": res.blob.model_dump(by_alias=True, exclude_none=True)}
            ratio = image_size(image.data)
            if ratio is not None:
                entry["aspectRatio"] = {"width": ratio[0], "height": ratio[1]}
            embedded.append(entry)
        return {"$type": "app.bsky.embed.images", "images": embedded}


def _keep_session(client: Any, creds: NetworkCredentials, stored: str) -> None:
    """Report the SDK's session in ``creds.renewed`` when it changed (created or refreshed)."""
    try:
        current = client.export_session_string()
    except (ValueError, AttributeError, atp_exc.AtProtocolError):
        return  # never logged in: nothing to keep
    if current and current != stored:
        creds.renewed["session"] = current


def _reply_ref(remote_id: str, extra: Mapping[str, str]) -> dict[str, Any]:
    parent_uri = extra.get("uri") or remote_id
    parent_cid = extra.get("cid", "")
    if not parent_uri.startswith("at://") or not parent_cid:
        raise PermanentError("reply target needs the parent's at:// uri and cid", code="bad_reply_target")
    parent = {"uri": parent_uri, "cid": parent_cid}
    root = {"uri": extra.get("root_uri") or parent_uri, "cid": extra.get("root_cid") or parent_cid}
    return {"root": root, "parent": parent}


def _now_iso() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")
