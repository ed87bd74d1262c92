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

The Graph client and error classification (graph.py) are shared with Instagram.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar
from urllib.parse import quote

import httpx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import AccountInfo, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.facebook.graph import (
    GRAPH_URL,
    GRAPH_VERSION,
    Graph,
    graph_after,
    graph_obj,
    graph_rows,
    parse_graph_time,
)
from app.networks.facebook.mentions import (
    COMMENT_FIELDS,
    TAGGED_FIELDS,
    comment_row_mention,
    mention_order,
    newest_cursor,
    read_permission,
    reply_object,
    tagged_mention,
)
from app.networks.text import shorten

MAX_CHARS = 63_206  # Page post limit (well-known figure; Graph answers code 100 over it)
MAX_PHOTOS = 10


class Facebook:
    """The Facebook Page adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "facebook"
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
            f"comments.filter(stream).order(reverse_chronological).limit({self._page_size}){{{COMMENT_FIELDS}}}"
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
                        mention = comment_row_mention(row, post_id, page_id)
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
                            ("fields", COMMENT_FIELDS),
                            ("filter", "stream"),
                            ("order", "reverse_chronological"),
                            ("limit", str(self._page_size)),
                            ("after", after),
                        ],
                    )
            params = [("fields", TAGGED_FIELDS), ("limit", str(self._page_size))]
            for _ in range(self._max_pages):
                tagged = await self._graph.call("GET", f"{page}/tagged", token, params=params)
                reached = False
                for row in graph_rows(tagged):
                    mention = tagged_mention(row, page_id)
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
        items = sorted(found.values(), key=mention_order)
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
