"""Mastodon, on any instance, through its REST API with httpx only.

Credentials data (``NetworkCredentials.data``):

- ``instance_url``: ``https://mastodon.example`` (a bare host gets ``https://``);
- ``access_token``: a user token with ``read write`` scopes;
- ``visibility`` (optional): ``public`` (default), ``unlisted`` or ``private``;
- ``max_characters`` (optional): the instance's limit as ``verify`` read it (``AccountInfo.limits``); 500 if absent;
- ``characters_reserved_per_url``, ``description_limit``, ``max_media_attachments`` (optional): idem;
- ``account_id`` (optional): the account's id (``AccountInfo.remote_id``); saves one call in ``find_existing``;
- ``language`` (optional): ISO 639-1 code sent with each status (``fr``), instead of the instance's guess.

Exactly once: every status is sent with ``Idempotency-Key: <post.idempotency_key>``. Mastodon remembers a key
for about an hour per account and answers a repeated key with the status it already made, so re-sending *is*
the reconcile inside that hour. Past it, ``find_existing`` scans the account's recent statuses for the same text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, urlsplit

import httpx

from app.kit.errors import AdapterError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import AccountInfo, MediaItem, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.http import send_request
from app.networks.mastodon.api import (
    MentionItem,
    classify_response,
    endpoint,
    id_key,
    instance_limits,
    int_setting,
    json_list,
    json_object,
    mention_item,
    parse_time,
    publish_result,
    visibility_of,
)
from app.networks.mastodon.text import DEFAULT_URL_CHARACTERS, html_to_text, measure_text, normalized
from app.networks.text import ELLIPSIS, shorten

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_DESCRIPTION_LIMIT = 1500  # alt text limit of Mastodon 4.x (configuration.media_attachments.description_limit)
DEFAULT_MAX_MEDIA = 4


class Mastodon:
    """The Mastodon adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "mastodon"
    max_chars: ClassVar[int] = DEFAULT_MAX_CHARACTERS

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        media_wait: float = 60.0,
        media_poll_interval: float = 1.0,
        upload_timeout: float = 120.0,
        find_window: timedelta = timedelta(hours=12),
        mention_page_size: int = 40,
        mention_max_pages: int = 10,
    ) -> None:
        self._client = client
        self._media_wait = media_wait
        self._media_poll_interval = media_poll_interval
        self._upload_timeout = upload_timeout
        self._find_window = find_window
        self._mention_page_size = mention_page_size
        self._mention_max_pages = mention_max_pages

    # --- the Network protocol -------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        """Length as Mastodon counts it (graphemes; a URL is 23; ``@user@domain`` counts as ``@user``)."""
        return measure_text(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        """``GET /api/v1/accounts/verify_credentials``, then the instance's limits (v2, v1, else 500)."""
        base, token = endpoint(creds)
        resp = await self._call("GET", f"{base}/api/v1/accounts/verify_credentials", token)
        try:
            account = json_object(resp)
            account_id = str(account["id"])
            username = str(account.get("username") or account["acct"])
        except (KeyError, RetryableError) as exc:
            raise PermanentError(f"{base} did not answer like a Mastodon server", code="config") from exc
        domain, limits = await self._instance(base, token)
        host = domain or urlsplit(base).hostname or base
        return AccountInfo(
            handle=f"@{username}@{host}",
            remote_id=account_id,
            display_name=str(account.get("display_name") or ""),
            limits=limits,
        )

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """Upload the images (waiting for processing), then post the status with ``Idempotency-Key``.

        Text over the limit is cut at a word boundary and ends with ``… <post.link>`` (and the hashtags that
        were cut, when they fit); without a link that is a PermanentError. On a retry the images are uploaded
        again (unattached ones are cleaned up by the instance) and the key makes the status come back as is.
        """
        base, token = endpoint(creds)
        visibility = visibility_of(creds)
        text = self.fit(post, creds)
        max_media = int_setting(creds, "max_media_attachments", DEFAULT_MAX_MEDIA)
        if len(post.media) > max_media:
            raise PermanentError(
                f"mastodon takes at most {max_media} images per post, this one has {len(post.media)}",
                code="too_many_media",
            )
        media_ids = [await self._upload(base, token, item, creds) for item in post.media]
        form: dict[str, str | list[str]] = {"status": text, "visibility": visibility}
        if media_ids:
            form["media_ids[]"] = media_ids
        if post.reply_to is not None:
            form["in_reply_to_id"] = post.reply_to.remote_id
        if language := creds.get("language").strip():
            form["language"] = language
        resp = await self._call(
            "POST",
            f"{base}/api/v1/statuses",
            token,
            data=form,
            headers={"Idempotency-Key": post.idempotency_key},
        )
        return publish_result(json_object(resp))

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """Look for the post among the account's last 20 statuses: same text (as ``publish`` would send it),
        same reply target, made within ``find_window`` (12 h by default).

        Mastodon has no lookup by idempotency key, and re-sending with the key is only safe for about an hour;
        this scan covers retries after that. The window keeps a status the business repeats every day
        ("Ouvert aujourd'hui!") from being taken for today's.
        """
        base, token = endpoint(creds)
        try:
            wanted = normalized(self.fit(post, creds))
        except PermanentError:
            return None  # publish could never have sent it
        account_id = creds.get("account_id").strip()
        if not account_id:
            me = json_object(await self._call("GET", f"{base}/api/v1/accounts/verify_credentials", token))
            account_id = str(me.get("id") or "")
            if not account_id:
                raise RetryableError("mastodon verify_credentials answered without an id", code="bad_response")
        resp = await self._call(
            "GET",
            f"{base}/api/v1/accounts/{quote(account_id, safe='')}/statuses",
            token,
            params=[("limit", "20"), ("exclude_reblogs", "true")],
        )
        since = utcnow() - self._find_window
        for status in json_list(resp):
            if not isinstance(status, dict) or status.get("reblog"):
                continue
            created = parse_time(status.get("created_at"))
            if created is not None and created < since:
                continue
            if post.reply_to is not None and str(status.get("in_reply_to_id") or "") != post.reply_to.remote_id:
                continue
            shown = status.get("text") if isinstance(status.get("text"), str) else None
            if shown is None:
                shown = html_to_text(str(status.get("content") or ""))
            if normalized(shown) == wanted:
                return publish_result(status)
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """``DELETE /api/v1/statuses/{id}``; a 404 means it is already gone, which is what we wanted."""
        base, token = endpoint(creds)
        try:
            await self._call(
                "DELETE",
                f"{base}/api/v1/statuses/{quote(remote_id, safe='')}",
                token,
                params=[("delete_media", "true")],
            )
        except PermanentError as exc:
            if exc.code != "not_found":
                raise

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        """The access token: the only secret in Mastodon credentials."""
        token = creds.get("access_token")
        return [token] if token else []

    # --- text ------------------------------------------------------------------------------------------

    def fit(self, post: Post, creds: NetworkCredentials) -> str:
        """The text ``publish`` sends: ``post.text`` when it fits the account's limit, else its beginning cut at
        a word boundary + ``… <link>`` (+ the hashtags that fell in the cut part, if they fit)."""
        limit = int_setting(creds, "max_characters", DEFAULT_MAX_CHARACTERS)
        url_chars = int_setting(creds, "characters_reserved_per_url", DEFAULT_URL_CHARACTERS)

        def measure(text: str) -> int:
            return measure_text(text, url_chars=url_chars)

        text = post.text.strip()
        length = measure(text)
        if length <= limit:
            return text
        if not post.link:
            raise PermanentError(
                f"text is {length} characters, mastodon takes {limit}, and there is no link to the full text",
                code="too_long",
            )
        return shorten(text, limit, post.link, measure)

    # --- mentions (issue 5) ----------------------------------------------------------------------------

    async def mentions(self, creds: NetworkCredentials, since_id: str | None) -> tuple[list[MentionItem], str | None]:
        """New mentions after the cursor ``since_id``, oldest first, and the cursor to store for the next poll.

        Pages *forward* with ``min_id`` (Mastodon: "results immediately newer than this id"), so stopping after
        ``mention_max_pages`` leaves no gap: the returned cursor is the newest id seen and the next poll resumes
        there. (Paging backwards with ``max_id`` from the newest would skip the middle when capped.) The
        ``Link`` header is not followed: mastodon-mock drops ``types[]`` from it, and we already know the
        next cursor. With no cursor (first poll) only the latest page is read.
        """
        base, token = endpoint(creds)
        found: dict[str, MentionItem] = {}
        cursor = since_id
        for _ in range(self._mention_max_pages):
            params: list[tuple[str, str]] = [("types[]", "mention"), ("limit", str(self._mention_page_size))]
            if cursor:
                params.append(("min_id", cursor))
            page = json_list(await self._call("GET", f"{base}/api/v1/notifications", token, params=params))
            ids = [str(n["id"]) for n in page if isinstance(n, dict) and "id" in n]
            if not ids:
                break
            for notification in page:
                item = mention_item(notification)
                if item is not None:
                    found[item.remote_id] = item
            newest = max(ids, key=id_key)
            if cursor is not None and id_key(newest) <= id_key(cursor):
                break  # a server that ignored min_id: do not loop on the same page
            cursor = newest
            if since_id is None or len(page) < self._mention_page_size:
                break
        items = sorted(found.values(), key=lambda item: id_key(item.remote_id))
        return items, cursor

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        items, next_cursor = await self.mentions(creds, cursor)
        return [
            Mention(
                remote_id=m.remote_id,
                kind="reply" if m.in_reply_to_id else "mention",
                author=m.author,
                text=m.text,
                target=ReplyTarget(remote_id=m.status_id),
                url=m.url,
                created_at=m.created_at,
                is_reply_to_us=m.in_reply_to_id is not None,
            )
            for m in items
        ], next_cursor

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        await self.favourite(target.remote_id, creds)

    async def favourite(self, status_id: str, creds: NetworkCredentials) -> None:
        """``POST /api/v1/statuses/{id}/favourite`` (favouriting twice is harmless on Mastodon)."""
        base, token = endpoint(creds)
        await self._call("POST", f"{base}/api/v1/statuses/{quote(status_id, safe='')}/favourite", token)

    # --- HTTP ------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        token: str,
        *,
        params: list[tuple[str, str]] | None = None,
        data: Mapping[str, str | list[str]] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        request_timeout: float | None = None,
    ) -> httpx.Response:
        """One request; any failure comes out as RetryableError, PermanentError or AuthError."""
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        resp = await send_request(
            self._client,
            method,
            url,
            params=params,
            data=data,
            files=files,
            headers=all_headers,
            request_timeout=request_timeout,
            network="mastodon",
        )
        if resp.is_success:
            return resp
        raise classify_response(resp, utcnow())

    async def _instance(self, base: str, token: str) -> tuple[str, dict[str, int]]:
        """The instance's domain and limits: ``/api/v2/instance``, else ``/api/v1/instance``, else defaults."""
        for version in ("v2", "v1"):
            try:
                info = json_object(await self._call("GET", f"{base}/api/{version}/instance", token))
            except AdapterError:
                continue
            limits = instance_limits(info)
            if limits:
                domain = info.get("domain") or info.get("uri") or ""
                return str(domain), {"max_characters": DEFAULT_MAX_CHARACTERS, **limits}
        return "", {"max_characters": DEFAULT_MAX_CHARACTERS}

    async def _upload(self, base: str, token: str, item: MediaItem, creds: NetworkCredentials) -> str:
        """``POST /api/v2/media`` with the alt text; wait for processing when the answer is 202 / ``url: null``."""
        path = Path(item.path)
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise PermanentError(f"cannot read image {path.name}: {exc.strerror}", code="media_missing") from exc
        form: dict[str, str | list[str]] = {}
        if alt := item.alt.strip():
            # The instance refuses the whole upload over its limit; a shorter description beats no image.
            limit = int_setting(creds, "description_limit", DEFAULT_DESCRIPTION_LIMIT)
            form["description"] = alt if len(alt) <= limit else alt[: limit - 1].rstrip() + ELLIPSIS
        resp = await self._call(
            "POST",
            f"{base}/api/v2/media",
            token,
            data=form,
            files={"file": (path.name, content, item.content_type or "application/octet-stream")},
            request_timeout=self._upload_timeout,
        )
        media = json_object(resp)
        media_id = str(media.get("id") or "")
        if not media_id:
            raise RetryableError("mastodon media upload answered without an id", code="bad_response")
        if resp.status_code == 202 or media.get("url") is None:
            await self._wait_processed(base, token, media_id)
        return media_id

    async def _wait_processed(self, base: str, token: str, media_id: str) -> None:
        """Poll ``GET /api/v1/media/{id}`` (206 while processing, 200 with a ``url`` when done), bounded."""
        waited = 0.0
        interval = self._media_poll_interval
        while True:
            resp = await self._call("GET", f"{base}/api/v1/media/{quote(media_id, safe='')}", token)
            if resp.status_code == 200 and json_object(resp).get("url"):
                return
            if waited >= self._media_wait:
                raise RetryableError(
                    f"mastodon is still processing image {media_id} after {waited:.0f} s",
                    retry_after=30.0,
                    code="media_processing",
                )
            await asyncio.sleep(interval)
            waited += interval
            interval = min(interval * 1.5, 5.0)
