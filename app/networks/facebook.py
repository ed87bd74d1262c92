"""Facebook Page, through the Meta Graph API with httpx only.

Credentials data (``NetworkCredentials.data``), as ``app.connect`` stores them:

- ``page_id``: the Page's id;
- ``page_access_token``: a Page access token obtained from a long-lived user token (it does not expire; it stops
  working when the person who linked it loses their role on the Page, changes their password, or removes the app);
- ``page_name`` (optional): shown as the handle.

Publishing: text only goes to ``POST /{page-id}/feed`` (``message``); one photo to ``POST /{page-id}/photos``
(``url`` = the image's public URL on Ardoise, ``message``); several photos are uploaded unpublished
(``published=false``) and attached to one feed post with ``attached_media``.

Exactly once: the Graph API has no idempotency key. ``find_existing`` reads the Page's 10 latest feed posts and
matches the message within ``find_window``.

Mentions (``fetch_mentions``, polling; the Page webhook in ``app.mentions.webhooks`` is the fast path): comments on
the Page's ``feed_posts`` latest posts (``GET /{page-id}/feed`` with the ``comments`` edge expanded, newest first,
``filter(stream)`` so replies come too; a post whose first page of comments is all new is paged further with
``GET /{post-id}/comments?after=``), and the posts the Page is tagged in (``GET /{page-id}/tagged``). The cursor is
the newest ``created_time`` seen (ISO 8601); items at or after it are returned (the store drops the ones it has).
The Page's own comments are skipped. Comments on a post older than the ``feed_posts`` latest are only seen through
the webhook. Reading needs ``pages_read_engagement`` and ``pages_read_user_content``; without them the poll fails
with PermanentError ``permission`` (not AuthError: publishing still works, the account is not marked broken).

Answers: a ``Post`` with ``reply_to`` becomes a comment, ``POST /{id}/comments`` on ``reply_to.extra["reply_to"]``
or ``reply_to.remote_id`` (the comment, or the post the Page was tagged in). Facebook threads are two levels deep,
so an answer to a reply goes to the top comment of its thread. ``like_item`` is ``POST /{object-id}/likes``. Both
need ``pages_manage_engagement``.

The Graph error classification here is shared with ``instagram.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import AccountInfo, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.http import parse_retry_after, send_request
from app.networks.text import shorten

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v23.0"
MAX_CHARS = 63_206  # Page post limit (well-known figure; Graph answers code 100 over it)
MAX_PHOTOS = 10

# https://developers.facebook.com/docs/graph-api/guides/error-handling
_AUTH_CODES = frozenset({102, 190})  # expired, revoked or invalid token / session
_THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80001, 80015)})  # app, user, page, BUC rate limits
_TRANSIENT_CODES = frozenset({1, 2})  # "API Unknown", "API Service": downtime
_PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
_POLICY_BLOCK = 368  # temporarily blocked for policy violations: wait and retry
_DUPLICATE = 506
_DEFAULT_THROTTLE_WAIT = 600.0  # Meta windows are a rolling hour; without a hint, try again in 10 min


def graph_error(resp: httpx.Response, now: datetime, *, network: str) -> AdapterError:
    """The error for a failed Graph API answer, from its ``error.code`` first and the HTTP status second.

    Rate limits (4, 17, 32, 341, 613, 80001-80014) and outages (1, 2, ``is_transient``, 5xx) retry, honouring
    ``X-Business-Use-Case-Usage``'s ``estimated_time_to_regain_access`` and ``Retry-After``. An expired or revoked
    token (190, 102) and a missing permission (3, 10, 200-299) are AuthError: both need the owner to link the
    account again (or the operator to fix the app), so the account is marked broken and everyone is told.
    A missing object (HTTP 404, code 100 subcode 33) is ``not_found``; anything else is PermanentError with Meta's
    own message (``error_user_msg`` when given).
    """
    status = resp.status_code
    where = f"{network} {resp.request.method} {urlsplit(str(resp.request.url)).path}"
    error = _error_body(resp)
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    message = str(error.get("error_user_msg") or error.get("message") or "").strip()
    message = message or " ".join(resp.text.split())[:200] or resp.reason_phrase or f"HTTP {status}"
    if code in _THROTTLE_CODES or status == 429:
        return RetryableError(
            f"{where}: rate limited (code {code}): {message}",
            retry_after=meta_retry_after(resp.headers, now) or _DEFAULT_THROTTLE_WAIT,
            code="rate_limited",
        )
    if code in _AUTH_CODES:
        return AuthError(f"{network} refused the access token: {message}")
    if code in _PERMISSION_CODES:
        return AuthError(f"{network} permission missing (code {code}): {message}", code="permission")
    if code in _TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        return RetryableError(
            f"{where}: {status} {message}", retry_after=meta_retry_after(resp.headers, now), code=f"http_{status}"
        )
    if code == _POLICY_BLOCK:
        return RetryableError(f"{where}: temporarily blocked: {message}", retry_after=3600.0, code="blocked")
    if status == 404 or (code == 100 and subcode == 33):
        return PermanentError(f"{where}: {message}", code="not_found")
    if code == _DUPLICATE:
        return PermanentError(f"{network} refused a duplicate post: {message}", code="duplicate")
    if status in (401, 403):
        return AuthError(f"{network} refused the account: {message}")
    return PermanentError(f"{network} refused it: {message}", code=f"graph_{code}" if code else f"http_{status}")


def meta_retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` or the largest ``estimated_time_to_regain_access`` (minutes) in
    ``X-Business-Use-Case-Usage``; ``X-App-Usage`` / ``X-Ad-Account-Usage`` only carry percentages, so a usage at
    100 % without an estimate gives the default wait."""
    waits: list[float] = []
    if (after := parse_retry_after(headers.get("Retry-After", ""), now)) is not None:
        waits.append(after)
    buc = _json_header(headers.get("X-Business-Use-Case-Usage", ""))
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                minutes = _int(entry.get("estimated_time_to_regain_access")) if isinstance(entry, dict) else None
                if minutes:
                    waits.append(minutes * 60.0)
    if not waits:
        for name in ("X-App-Usage", "X-Page-Usage"):
            usage = _json_header(headers.get(name, ""))
            if isinstance(usage, dict) and any((_int(v) or 0) >= 100 for v in usage.values()):
                waits.append(_DEFAULT_THROTTLE_WAIT)
    return max(waits) if waits else None


class Graph:
    """A thin Graph API caller: base URL + version, bearer token, every failure classified."""

    def __init__(self, client: httpx.AsyncClient, *, base_url: str, version: str, network: str) -> None:
        self.client = client
        self.base = f"{base_url.rstrip('/')}/{version.strip('/')}" if version else base_url.rstrip("/")
        self.network = network

    async def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: list[tuple[str, str]] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base}/{path.lstrip('/')}"
        where = f"{self.network} {method} /{path.lstrip('/').split('?')[0]}"
        resp = await send_request(
            self.client,
            method,
            url,
            params=params,
            data=data,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            network=self.network,
        )
        if not resp.is_success:
            raise graph_error(resp, utcnow(), network=self.network)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if resp.content.strip() in (b"true", b""):  # old-style DELETE answers
                return {"success": True}
            raise RetryableError(f"{where} answered {resp.status_code} without a JSON object", code="bad_response")
        return body


class Facebook:
    """The Facebook Page adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "facebook"
    label: ClassVar[str] = "Facebook"
    max_chars: ClassVar[int] = MAX_CHARS

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = GRAPH_URL,
        graph_version: str = GRAPH_VERSION,
        find_window: timedelta = timedelta(hours=12),
        feed_posts: int = 10,
        page_size: int = 50,
        mention_max_pages: int = 3,
    ) -> None:
        self._graph = Graph(client, base_url=base_url, version=graph_version, network="facebook")
        self._find_window = find_window
        self._feed_posts = feed_posts
        self._page_size = page_size
        self._max_pages = mention_max_pages

    # --- the Network protocol -------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        """Characters (code points): Facebook counts plain characters."""
        return len(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        """``GET /{page-id}?fields=id,name,username`` with the Page token."""
        page_id, token = _page(creds)
        page = await self._graph.call("GET", quote(page_id, safe=""), token, params=[("fields", "id,name,username")])
        name = str(page.get("name") or "")
        return AccountInfo(
            handle=str(page.get("username") or name or page_id),
            remote_id=str(page.get("id") or page_id),
            display_name=name,
            limits={"max_characters": MAX_CHARS},
        )

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """Feed post, photo post, or a feed post with several unpublished photos attached (see module doc)."""
        page_id, token = _page(creds)
        message = self.fit(post)
        if post.reply_to is not None:
            return await self._comment(post, message, token)
        if len(post.media) > MAX_PHOTOS:
            raise PermanentError(
                f"facebook takes at most {MAX_PHOTOS} photos per post here, this one has {len(post.media)}",
                code="too_many_media",
            )
        page = quote(page_id, safe="")
        for item in post.media:
            if not item.url:
                raise PermanentError("facebook needs a public URL for each photo", code="media_missing")
        if len(post.media) == 1:
            item = post.media[0]
            form = {"url": item.url, "message": message}
            if item.alt.strip():
                form["alt_text_custom"] = item.alt.strip()
            photo = await self._graph.call("POST", f"{page}/photos", token, data=form)
            # ``post_id`` is the feed story (what a reader sees and what we delete); ``id`` is the photo itself.
            return _result(str(photo.get("post_id") or photo.get("id") or ""))
        form = {"message": message}
        for index, item in enumerate(post.media):
            unpublished = {"url": item.url, "published": "false"}
            if item.alt.strip():
                unpublished["alt_text_custom"] = item.alt.strip()
            photo = await self._graph.call("POST", f"{page}/photos", token, data=unpublished)
            if not photo.get("id"):
                raise RetryableError("facebook answered a photo upload without an id", code="bad_response")
            form[f"attached_media[{index}]"] = json.dumps({"media_fbid": str(photo["id"])})
        created = await self._graph.call("POST", f"{page}/feed", token, data=form)
        return _result(str(created.get("id") or ""))

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """The post among the Page's 10 latest feed posts: same message, made within ``find_window``."""
        page_id, token = _page(creds)
        try:
            wanted = _normalized(self.fit(post))
        except PermanentError:
            return None
        if post.reply_to is not None:
            return await self._find_comment(post, wanted, page_id, token)
        feed = await self._graph.call(
            "GET",
            f"{quote(page_id, safe='')}/feed",
            token,
            params=[("fields", "id,message,created_time"), ("limit", "10")],
        )
        since = utcnow() - self._find_window
        items = feed.get("data")
        for story in items if isinstance(items, list) else []:
            if not isinstance(story, dict):
                continue
            created = parse_graph_time(story.get("created_time"))
            if created is not None and created < since:
                continue
            if _normalized(str(story.get("message") or "")) == wanted:
                return _result(str(story.get("id") or ""))
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """``DELETE /{post-id}``; an object already gone is a success."""
        _, token = _page(creds)
        try:
            await self._graph.call("DELETE", quote(remote_id, safe=""), token)
        except PermanentError as exc:
            if exc.code != "not_found":
                raise

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        """The Page access token (and a user token if one was stored)."""
        return [v for k in ("page_access_token", "user_access_token") if (v := creds.get(k))]

    # --- mentions and answers (MentionSource) ---------------------------------------------------------------

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        """Comments on the Page's latest posts and posts the Page is tagged in, at or after ``cursor`` (the newest
        ``created_time`` already seen), oldest first, and the new cursor. See the module docstring."""
        page_id, token = _page(creds)
        since = parse_graph_time(cursor) if cursor else None
        found: dict[str, Mention] = {}
        page = quote(page_id, safe="")
        comments_edge = (
            f"comments.filter(stream).order(reverse_chronological).limit({self._page_size}){{{_COMMENT_FIELDS}}}"
        )
        try:
            feed = await self._graph.call(
                "GET",
                f"{page}/feed",
                token,
                params=[("fields", f"id,permalink_url,{comments_edge}"), ("limit", str(self._feed_posts))],
            )
            for story in graph_rows(feed):
                post_id = str(story.get("id") or "")
                listing = graph_obj(story.get("comments"))
                for _ in range(self._max_pages):
                    reached = False
                    for row in graph_rows(listing):
                        mention = _comment_mention(row, post_id, page_id)
                        if mention is None:
                            continue
                        if since is not None and mention.created_at is not None and mention.created_at < since:
                            reached = True
                            continue
                        found[mention.remote_id] = mention
                    after = graph_after(listing)
                    if reached or not after or since is None or not post_id:
                        break
                    listing = await self._graph.call(
                        "GET",
                        f"{quote(post_id, safe='')}/comments",
                        token,
                        params=[
                            ("fields", _COMMENT_FIELDS),
                            ("filter", "stream"),
                            ("order", "reverse_chronological"),
                            ("limit", str(self._page_size)),
                            ("after", after),
                        ],
                    )
            params = [("fields", _TAGGED_FIELDS), ("limit", str(self._page_size))]
            for _ in range(self._max_pages):
                tagged = await self._graph.call("GET", f"{page}/tagged", token, params=params)
                reached = False
                for row in graph_rows(tagged):
                    mention = _tagged_mention(row, page_id)
                    if mention is None:
                        continue
                    if since is not None and mention.created_at is not None and mention.created_at < since:
                        reached = True
                        continue
                    found[mention.remote_id] = mention
                after = graph_after(tagged)
                if reached or not after or since is None:
                    break
                params = [*params[:2], ("after", after)]
        except AuthError as exc:
            raise read_permission(exc, "facebook") from None
        items = sorted(found.values(), key=_mention_order)
        return items, newest_cursor(items, cursor)

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        """``POST /{object-id}/likes`` as the Page (liking twice is harmless)."""
        _, token = _page(creds)
        try:
            await self._graph.call("POST", f"{quote(target.remote_id, safe='')}/likes", token)
        except AuthError as exc:
            raise read_permission(exc, "facebook") from None

    async def _comment(self, post: Post, message: str, token: str) -> PublishResult:
        """An answer: ``POST /{comment-or-post-id}/comments`` with ``message`` (and ``attachment_url`` for a photo)."""
        assert post.reply_to is not None
        on = reply_object(post.reply_to)
        form = {"message": message}
        photos = [item.url for item in post.media if item.url]
        if photos:
            form["attachment_url"] = photos[0]
        try:
            created = await self._graph.call("POST", f"{quote(on, safe='')}/comments", token, data=form)
        except AuthError as exc:
            raise read_permission(exc, "facebook") from None
        return _result(str(created.get("id") or ""))

    async def _find_comment(self, post: Post, wanted: str, page_id: str, token: str) -> PublishResult | None:
        """Before retrying an answer: the Page's own comment with the same message under the same object."""
        assert post.reply_to is not None
        listing = await self._graph.call(
            "GET",
            f"{quote(reply_object(post.reply_to), safe='')}/comments",
            token,
            params=[
                ("fields", "id,message,created_time,from{id}"),
                ("filter", "stream"),
                ("order", "reverse_chronological"),
                ("limit", "25"),
            ],
        )
        since = utcnow() - self._find_window
        for row in graph_rows(listing):
            author = graph_obj(row.get("from"))
            created = parse_graph_time(row.get("created_time"))
            if str(author.get("id") or "") != page_id or (created is not None and created < since):
                continue
            if _normalized(str(row.get("message") or "")) == wanted:
                return _result(str(row.get("id") or ""))
        return None

    async def subscribe_webhooks(self, creds: NetworkCredentials, fields: str = "feed") -> None:
        """``POST /{page-id}/subscribed_apps?subscribed_fields=feed``: install the app on the Page so Meta sends its
        ``feed`` webhooks (comments, visitor posts). Needs ``pages_manage_metadata``; call once after linking."""
        page_id, token = _page(creds)
        await self._graph.call(
            "POST", f"{quote(page_id, safe='')}/subscribed_apps", token, params=[("subscribed_fields", fields)]
        )

    # --- text ------------------------------------------------------------------------------------------

    def fit(self, post: Post) -> str:
        """The message: the whole text (Facebook takes 63,206 characters); past that, its beginning + ``… link``."""
        text = post.text.strip()
        if len(text) <= MAX_CHARS:
            return text
        if not post.link:
            raise PermanentError(
                f"text is {len(text)} characters, facebook takes {MAX_CHARS}, and there is no link to the full text",
                code="too_long",
            )
        return shorten(text, MAX_CHARS, post.link, len)


# --- mentions: shared with instagram.py and app.mentions.webhooks -------------------------------------------

_COMMENT_FIELDS = "id,message,created_time,permalink_url,from{id,name},parent{id}"
_TAGGED_FIELDS = "id,message,created_time,permalink_url,from{id,name}"


def graph_obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def graph_rows(answer: Any) -> list[dict[str, Any]]:
    """The ``data`` list of a Graph listing (objects only)."""
    rows = answer.get("data") if isinstance(answer, dict) else None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def graph_after(answer: Any) -> str:
    """The ``paging.cursors.after`` of a listing when a next page exists, else ``""``."""
    paging = answer.get("paging") if isinstance(answer, dict) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return ""
    cursors = paging.get("cursors")
    return str(cursors.get("after") or "") if isinstance(cursors, dict) else ""


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


def _mention_order(m: Mention) -> tuple[datetime, str]:
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


def _comment_mention(row: Mapping[str, Any], post_id: str, page_id: str) -> Mention | None:
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


def _tagged_mention(row: Mapping[str, Any], page_id: str) -> Mention | None:
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


# --- helpers ---------------------------------------------------------------------------------------------


def _page(creds: NetworkCredentials) -> tuple[str, str]:
    page_id = creds.get("page_id").strip()
    if not page_id:
        raise PermanentError("facebook account has no page_id", code="config")
    token = creds.get("page_access_token").strip()
    if not token:
        raise AuthError("facebook account has no page access token")
    return page_id, token


def _result(post_id: str) -> PublishResult:
    if not post_id:
        raise RetryableError("facebook answered a post without an id", code="bad_response")
    return PublishResult(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")


def _normalized(text: str) -> str:
    return " ".join(text.split())


def parse_graph_time(value: Any) -> datetime | None:
    """Graph timestamps: ``2024-05-01T12:00:00+0000`` (ISO 8601 with a colon-less offset)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _error_body(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _json_header(raw: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
