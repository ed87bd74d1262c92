"""Instagram professional account, through the Instagram Graph API (Facebook Login) with httpx only.

Credentials data (``NetworkCredentials.data``), as ``app.connect`` stores them:

- ``ig_user_id``: the Instagram professional account's id (``instagram_business_account`` of the Page);
- ``access_token``: the linked Page's access token (from a long-lived user token, so it does not expire);
- ``username`` (optional): shown as the handle.

Publishing: Instagram has no text-only posts, so a post without images is *skipped* (``PublishResult.skipped``),
not failed. With images: ``GET /{ig-user-id}/content_publishing_limit`` first; then one container per image
(``POST /{ig-user-id}/media`` with ``image_url`` = the image's public URL on Ardoise, ``alt_text``), a
``CAROUSEL`` container around them when there are several, ``GET /{container-id}?fields=status_code`` until
``FINISHED`` (bounded by ``container_wait``), and ``POST /{ig-user-id}/media_publish?creation_id=…``.

Daily limit reached (the account published ``quota_total`` posts, 50 today, in the rolling 24 h): RetryableError
with ``retry_after`` one hour, code ``quota``. The window is rolling and Meta does not say when the oldest post
leaves it, so we look again every hour; the job engine gives up loudly after its last attempt.

Exactly once: no idempotency key. A container that was made but not published expires by itself in 24 h;
``find_existing`` reads the account's 10 latest media and matches the caption within ``find_window``.

Delete: the Instagram Graph API has no delete for feed media, so ``delete`` raises PermanentError and the owner is
told to remove the post in the app.

Mentions (``fetch_mentions``, polling; the ``comments`` / ``mentions`` webhooks in ``app.mentions.webhooks`` are the
fast path): the first page of comments (with their replies) on the account's ``recent_media`` latest media
(``GET /{ig-user-id}/media`` with the ``comments`` edge expanded), and the media the account is tagged in
(``GET /{ig-user-id}/tags``, paged with ``after`` while items are new). The cursor is the newest ``timestamp`` seen;
the account's own comments are skipped. @mentions inside other people's comments and captions only come through
the ``mentions`` webhook, which carries ids only: :meth:`Instagram.mentioned` reads the item
(``GET /{ig-user-id}?fields=mentioned_comment.comment_id(…)`` / ``mentioned_media.media_id(…)``).

Answers: a comment on our media is answered with ``POST /{comment-id}/replies`` (on the top comment of the thread:
Instagram threads are one level deep); a tag or an @mention with ``POST /{ig-user-id}/mentions`` (``media_id``,
``comment_id``). Instagram has no API to like a comment or a media, so ``like_item`` raises PermanentError
``unsupported``. Needs ``instagram_manage_comments``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import AccountInfo, MediaItem, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.facebook.graph import (
    GRAPH_URL,
    GRAPH_VERSION,
    Graph,
    graph_after,
    graph_obj,
    graph_rows,
    parse_graph_time,
)
from app.networks.facebook.mentions import newest_cursor, read_permission, reply_object
from app.networks.text import HASHTAG_RE, shorten

MAX_CAPTION = 2_200
MAX_HASHTAGS = 30
MAX_CAROUSEL = 10
ALT_TEXT_LIMIT = 1_000
SKIPPED_NO_PHOTO = "instagram needs a photo"
NO_LIKES = "instagram has no API to like a comment or a post: like it in the Instagram app"
MAX_COMMENT = 2_200
_COMMENT_FIELDS = "id,text,timestamp,username,from{id,username}"
_TAG_FIELDS = "id,caption,timestamp,username,permalink"
QUOTA_RETRY = 3600.0


def fit_caption(post: Post) -> str:
    """The caption ``publish`` sends: at most 30 hashtags (past the 30th, the ``#`` is dropped so the word stays
    but Instagram does not refuse the post), at most 2,200 characters (past that: beginning + ``… link``)."""
    count = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return match.group(0) if count <= MAX_HASHTAGS else match.group(1)

    text = HASHTAG_RE.sub(keep, post.text.strip())
    if len(text) <= MAX_CAPTION:
        return text
    if not post.link:
        raise PermanentError(
            f"text is {len(text)} characters, instagram takes {MAX_CAPTION}, and there is no link to the full text",
            code="too_long",
        )
    return shorten(text, MAX_CAPTION, post.link, len)


class Instagram:
    """The Instagram adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "instagram"
    max_chars: ClassVar[int] = MAX_CAPTION

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = GRAPH_URL,
        graph_version: str = GRAPH_VERSION,
        container_wait: float = 60.0,
        poll_interval: float = 1.0,
        find_window: timedelta = timedelta(hours=12),
        recent_media: int = 10,
        page_size: int = 50,
        mention_max_pages: int = 3,
    ) -> None:
        self._graph = Graph(client, base_url=base_url, version=graph_version, network="instagram")
        self._container_wait = container_wait
        self._poll_interval = poll_interval
        self._find_window = find_window
        self._recent_media = recent_media
        self._page_size = page_size
        self._max_pages = mention_max_pages

    # --- the Network protocol -------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        """Characters (code points)."""
        return len(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        """``GET /{ig-user-id}?fields=id,username,name``."""
        ig_user, token = _account(creds)
        me = await self._graph.call("GET", ig_user, token, params=[("fields", "id,username,name")])
        username = str(me.get("username") or "")
        return AccountInfo(
            handle=f"@{username}" if username else ig_user,
            remote_id=str(me.get("id") or ig_user),
            display_name=str(me.get("name") or ""),
            limits={"max_characters": MAX_CAPTION},
        )

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """Check the daily limit, make the container(s), wait for them, publish. Text only: skipped.
        An answer (``post.reply_to``) is a comment reply instead (see the module docstring)."""
        if post.reply_to is not None:
            return await self._answer(post, creds)
        if not post.media:
            return PublishResult(remote_id="", skipped=SKIPPED_NO_PHOTO)
        ig_user, token = _account(creds)
        caption = fit_caption(post)
        if len(post.media) > MAX_CAROUSEL:
            raise PermanentError(
                f"instagram takes at most {MAX_CAROUSEL} photos per post, this one has {len(post.media)}",
                code="too_many_media",
            )
        for item in post.media:
            if not item.url.startswith(("https://", "http://")):
                raise PermanentError("instagram needs a public URL for each photo", code="media_missing")
        await self._check_quota(ig_user, token)
        if len(post.media) == 1:
            container = await self._container(ig_user, token, post.media[0], caption=caption)
        else:
            children = [await self._container(ig_user, token, item, carousel_item=True) for item in post.media]
            for child in children:
                await self._wait_finished(child, token)
            form = {"media_type": "CAROUSEL", "children": ",".join(children), "caption": caption}
            container = _id(await self._graph.call("POST", f"{ig_user}/media", token, data=form), "container")
        await self._wait_finished(container, token)
        published = await self._graph.call(
            "POST", f"{ig_user}/media_publish", token, params=[("creation_id", container)]
        )
        media_id = _id(published, "media")
        return PublishResult(remote_id=media_id, url=await self._permalink(media_id, token))

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """The post among the account's 10 latest media: same caption, made within ``find_window``. For an answer,
        our own reply with the same text under the same comment."""
        if post.reply_to is not None:
            return await self._find_answer(post, creds)
        if not post.media:
            return None
        ig_user, token = _account(creds)
        try:
            wanted = " ".join(fit_caption(post).split())
        except PermanentError:
            return None
        listing = await self._graph.call(
            "GET", f"{ig_user}/media", token, params=[("fields", "id,caption,timestamp,permalink"), ("limit", "10")]
        )
        since = utcnow() - self._find_window
        items = listing.get("data")
        for media in items if isinstance(items, list) else []:
            if not isinstance(media, dict) or not media.get("id"):
                continue
            created = parse_graph_time(media.get("timestamp"))
            if created is not None and created < since:
                continue
            if " ".join(str(media.get("caption") or "").split()) == wanted:
                return PublishResult(remote_id=str(media["id"]), url=str(media.get("permalink") or ""))
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """Not possible: the Instagram Graph API cannot delete feed media."""
        raise PermanentError("instagram does not allow deleting posts through its API", code="unsupported")

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        """The access token."""
        token = creds.get("access_token")
        return [token] if token else []

    # --- mentions and answers (MentionSource) ---------------------------------------------------------------

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        """Comments on the latest media and media the account is tagged in, at or after ``cursor``, oldest first."""
        ig_user, token = _account(creds)
        me = _own_username(creds)
        since = parse_graph_time(cursor) if cursor else None
        found: dict[str, Mention] = {}

        def keep(mention: Mention | None) -> bool:
            """Add a new item; False when it is older than the cursor."""
            if mention is None:
                return True
            if since is not None and mention.created_at is not None and mention.created_at < since:
                return False
            found[mention.remote_id] = mention
            return True

        replies = f"replies{{{_COMMENT_FIELDS}}}"
        comments = f"comments.limit({self._page_size}){{{_COMMENT_FIELDS},{replies}}}"
        try:
            media = await self._graph.call(
                "GET",
                f"{ig_user}/media",
                token,
                params=[("fields", f"id,permalink,timestamp,{comments}"), ("limit", str(self._recent_media))],
            )
            for item in graph_rows(media):
                media_id, permalink = str(item.get("id") or ""), str(item.get("permalink") or "")
                for row in graph_rows(graph_obj(item.get("comments"))):
                    top = str(row.get("id") or "")
                    keep(comment_mention(row, media_id=media_id, parent_id="", own=(ig_user, me), url=permalink))
                    for reply in graph_rows(graph_obj(row.get("replies"))):
                        keep(comment_mention(reply, media_id=media_id, parent_id=top, own=(ig_user, me), url=permalink))
            params = [("fields", _TAG_FIELDS), ("limit", str(self._page_size))]
            for _ in range(self._max_pages):
                tags = await self._graph.call("GET", f"{ig_user}/tags", token, params=params)
                fresh = [keep(_tag_mention(row, me)) for row in graph_rows(tags)]
                after = graph_after(tags)
                if not all(fresh) or not after or since is None:
                    break
                params = [*params[:2], ("after", after)]
        except AuthError as exc:
            raise read_permission(exc, "instagram") from None
        items = sorted(found.values(), key=lambda m: (m.created_at or utcnow(), m.remote_id))
        return items, newest_cursor(items, cursor)

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        """Not possible: the Instagram Graph API cannot like comments or media."""
        raise PermanentError(NO_LIKES, code="unsupported")

    async def mentioned(self, creds: NetworkCredentials, *, media_id: str, comment_id: str = "") -> Mention | None:
        """The item of a ``mentions`` webhook (ids only): the comment, or the caption, that @mentions the account."""
        ig_user, token = _account(creds)
        me = _own_username(creds)
        try:
            if comment_id:
                edge = f"mentioned_comment.comment_id({comment_id}){{id,text,timestamp,username,media{{id,permalink}}}}"
                answer = await self._graph.call("GET", ig_user, token, params=[("fields", edge)])
                row = graph_obj(answer.get("mentioned_comment"))
                on = graph_obj(row.get("media"))
                mention = comment_mention(
                    {**row, "id": row.get("id") or comment_id},
                    media_id=str(on.get("id") or media_id),
                    parent_id="",
                    own=("", me),
                    url=str(on.get("permalink") or ""),
                )
                if mention is None:
                    return None
                extra = {"type": "mention_comment", "media_id": str(on.get("id") or media_id), "comment_id": comment_id}
                return Mention(
                    remote_id=mention.remote_id,
                    kind="mention",
                    author=mention.author,
                    text=mention.text,
                    target=ReplyTarget(remote_id=comment_id, extra=extra),
                    url=mention.url,
                    created_at=mention.created_at,
                )
            edge = f"mentioned_media.media_id({media_id}){{id,caption,timestamp,username,permalink}}"
            answer = await self._graph.call("GET", ig_user, token, params=[("fields", edge)])
        except AuthError as exc:
            raise read_permission(exc, "instagram") from None
        row = graph_obj(answer.get("mentioned_media"))
        return _tag_mention({**row, "id": row.get("id") or media_id}, me, kind="mention_caption")

    async def _answer(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """``POST /{comment-id}/replies`` (a comment on our media) or ``POST /{ig-user-id}/mentions`` (a tag or an
        @mention on someone else's media)."""
        assert post.reply_to is not None
        ig_user, token = _account(creds)
        target = post.reply_to
        message = _fit_comment(post)
        kind = target.extra.get("type", "")
        try:
            if kind in ("tag", "mention_caption", "mention_comment"):
                form = {"media_id": target.extra.get("media_id") or target.remote_id, "message": message}
                if kind == "mention_comment":
                    form["comment_id"] = target.extra.get("comment_id") or target.remote_id
                created = await self._graph.call("POST", f"{ig_user}/mentions", token, data=form)
            else:
                on = quote(reply_object(target), safe="")
                created = await self._graph.call("POST", f"{on}/replies", token, data={"message": message})
        except AuthError as exc:
            raise read_permission(exc, "instagram") from None
        return PublishResult(remote_id=_id(created, "comment"))

    async def _find_answer(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """Our reply with the same text under the same comment (answers to tags and @mentions cannot be listed)."""
        assert post.reply_to is not None
        if post.reply_to.extra.get("type", "") in ("tag", "mention_caption", "mention_comment"):
            return None
        _, token = _account(creds)
        me = _own_username(creds)
        wanted = " ".join(_fit_comment(post).split())
        listing = await self._graph.call(
            "GET", f"{quote(reply_object(post.reply_to), safe='')}/replies", token, params=[("fields", _COMMENT_FIELDS)]
        )
        since = utcnow() - self._find_window
        for row in graph_rows(listing):
            created = parse_graph_time(row.get("timestamp"))
            if str(row.get("username") or "").lower() != me or (created is not None and created < since):
                continue
            if " ".join(str(row.get("text") or "").split()) == wanted:
                return PublishResult(remote_id=str(row.get("id") or ""))
        return None

    # --- steps -----------------------------------------------------------------------------------------

    async def _check_quota(self, ig_user: str, token: str) -> None:
        """``GET /{ig-user-id}/content_publishing_limit``: RetryableError(code="quota") when the limit is reached."""
        answer = await self._graph.call(
            "GET", f"{ig_user}/content_publishing_limit", token, params=[("fields", "quota_usage,config")]
        )
        rows = answer.get("data")
        row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
        usage = _number(row.get("quota_usage"))
        config = row.get("config") if isinstance(row.get("config"), dict) else {}
        total = _number(config.get("quota_total")) if isinstance(config, dict) else None
        if usage is not None and total is not None and usage >= total:
            raise RetryableError(
                f"instagram daily publishing limit reached ({usage}/{total} in 24 h)",
                retry_after=QUOTA_RETRY,
                code="quota",
            )

    async def _container(
        self, ig_user: str, token: str, item: MediaItem, *, caption: str | None = None, carousel_item: bool = False
    ) -> str:
        form = {"image_url": item.url}
        if caption is not None:
            form["caption"] = caption
        if carousel_item:
            form["is_carousel_item"] = "true"
        if alt := item.alt.strip():
            form["alt_text"] = alt if len(alt) <= ALT_TEXT_LIMIT else alt[: ALT_TEXT_LIMIT - 1].rstrip() + "…"
        return _id(await self._graph.call("POST", f"{ig_user}/media", token, data=form), "container")

    async def _wait_finished(self, container: str, token: str) -> None:
        """Poll ``status_code`` until ``FINISHED`` (``ERROR``/``EXPIRED``: PermanentError), bounded."""
        waited = 0.0
        while True:
            state = await self._graph.call(
                "GET", quote(container, safe=""), token, params=[("fields", "status_code,status")]
            )
            code = str(state.get("status_code") or "")
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code in ("ERROR", "EXPIRED"):
                detail = str(state.get("status") or code)
                raise PermanentError(f"instagram could not use the photo: {detail}", code="media_rejected")
            if waited >= self._container_wait:
                raise RetryableError(
                    f"instagram is still processing container {container} after {waited:.0f} s",
                    retry_after=30.0,
                    code="media_processing",
                )
            await asyncio.sleep(self._poll_interval)
            waited += self._poll_interval

    async def _permalink(self, media_id: str, token: str) -> str:
        """The post's URL; a failure here is not worth failing a post that is already out."""
        try:
            media = await self._graph.call("GET", quote(media_id, safe=""), token, params=[("fields", "permalink")])
        except AuthError:
            return ""
        except (PermanentError, RetryableError):
            return ""
        return str(media.get("permalink") or "")


def _account(creds: NetworkCredentials) -> tuple[str, str]:
    ig_user = creds.get("ig_user_id").strip()
    if not ig_user:
        raise PermanentError("instagram account has no ig_user_id", code="config")
    token = creds.get("access_token").strip()
    if not token:
        raise AuthError("instagram account has no access token")
    return quote(ig_user, safe=""), token


def _own_username(creds: NetworkCredentials) -> str:
    return creds.get("username").strip().lstrip("@").lower()


def _fit_comment(post: Post) -> str:
    text = post.text.strip()
    return text if len(text) <= MAX_COMMENT else text[: MAX_COMMENT - 1].rstrip() + "…"


def comment_mention(
    row: Mapping[str, Any], *, media_id: str, parent_id: str, own: tuple[str, str], url: str = ""
) -> Mention | None:
    """An Instagram comment (API row or ``comments`` webhook value) as a Mention; None for the account's own
    comments. ``own`` is (ig user id, username). The poll and the webhook give the same ``remote_id``."""
    comment_id = str(row.get("id") or "")
    author = graph_obj(row.get("from"))
    username = str(row.get("username") or author.get("username") or "")
    own_id, own_name = own
    if not comment_id or (own_name and username.lower() == own_name) or (own_id and author.get("id") == own_id):
        return None
    extra = {"media_id": media_id} if media_id else {}
    if parent_id:
        extra["reply_to"] = parent_id  # one level: answer on the top comment
    return Mention(
        remote_id=comment_id,
        kind="comment",
        author=f"@{username}" if username else "Instagram",
        text=str(row.get("text") or ""),
        target=ReplyTarget(remote_id=comment_id, extra=extra),
        url=url,
        created_at=parse_graph_time(row.get("timestamp")),
        is_reply_to_us=True,
    )


def _tag_mention(row: Mapping[str, Any], own_name: str, *, kind: str = "tag") -> Mention | None:
    media_id = str(row.get("id") or "")
    username = str(row.get("username") or "")
    if not media_id or (own_name and username.lower() == own_name):
        return None
    return Mention(
        remote_id=media_id,
        kind="mention",
        author=f"@{username}" if username else "Instagram",
        text=str(row.get("caption") or ""),
        target=ReplyTarget(remote_id=media_id, extra={"type": kind, "media_id": media_id}),
        url=str(row.get("permalink") or ""),
        created_at=parse_graph_time(row.get("timestamp")),
    )


def _id(answer: dict[str, Any], what: str) -> str:
    value = str(answer.get("id") or "")
    if not value:
        raise RetryableError(f"instagram answered a {what} without an id", code="bad_response")
    return value


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    return None
