"""X (formerly Twitter), API v2 with OAuth 2.0 user tokens, httpx only.

Credentials data (``NetworkCredentials.data``), as ``app.connect`` stores them:

- ``access_token``, ``refresh_token``: OAuth 2.0 user tokens (scopes ``tweet.read tweet.write users.read
  media.write offline.access``); X *rotates* the refresh token on every refresh (the old one stops working);
- ``expires_at``: Unix time (seconds) when the access token expires (X: 2 h after issue);
- ``user_id``, ``username``: the account (``AccountInfo.remote_id`` / handle); ``user_id`` saves a call in
  ``find_existing``;
- ``client_id``, ``client_secret`` (optional): the app's OAuth client, used when the adapter was built without
  them (confidential clients authenticate the token call with HTTP Basic).

Refresh: when the access token expires within ``refresh_margin`` (5 min), ``publish``/``verify``/``delete``
refresh first and write the new tokens to ``creds.renewed`` at once, so the caller stores them even when the call
after the refresh fails (the old refresh token is already dead). Two jobs of the same account refreshing at once
would kill each other's token: a per-token lock and a short memory of "old refresh token -> new tokens" make the
second one reuse the first one's result (inside one process).

Exactly once: X has no idempotency key. ``find_existing`` reads the account's 5 latest posts and matches the
text (URLs compared as placeholders: X rewrites them to t.co) within ``find_window``.

Mentions (``fetch_mentions``): ``GET /2/users/{id}/mentions`` with ``since_id`` = the cursor (the newest post id
seen), ``expansions=author_id``, ``user.fields=username`` and ``tweet.fields=created_at,conversation_id,
in_reply_to_user_id,referenced_tweets``, 100 a page, paged with ``pagination_token`` (backwards from the newest, so
at most ``mention_max_pages`` pages: a burst bigger than that loses its oldest part). Without a cursor, one page of
20. A reply to the account is kind ``reply``, a quote ``quote``, anything else ``mention``; the account's own posts
are skipped. **API tier:** the mentions timeline is not in every X API access level; a 403 there is not the
account's fault, so ``fetch_mentions`` logs it once per account and process and returns no items with the cursor
unchanged (the account is not marked broken; publishing still works). A 429 retries at ``x-rate-limit-reset``.

Rotated tokens go to ``creds.renewed`` here too: X *rotates* refresh tokens, so the caller must store them or the
account breaks at the next refresh. Answers: ``publish`` with ``post.reply_to`` sets
``reply.in_reply_to_tweet_id``. ``like_item`` is ``POST /2/users/{id}/likes`` with ``tweet_id`` (scope
``like.write``; liking twice answers ``liked: true``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import structlog

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import AccountInfo, MediaItem, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.http import send_request
from app.networks.oauth import RefreshMemo, expires_soon, oauth_error_message, token_fields
from app.networks.x.api import (
    API_URL,
    TOKEN_URL,
    classify_response,
    data_of,
    id_key,
    json_object,
    mention_of,
    parse_time,
    problem_of,
    usernames,
)
from app.networks.x.text import MAX_WEIGHTED, comparable, fit_text, weighted_length

log = structlog.get_logger("ardoise.networks.x")

MAX_MEDIA = 4
ALT_TEXT_LIMIT = 1000
ELLIPSIS = "…"
MENTION_PAGE_SIZE = 100
MENTION_FIRST_PAGE = 20
_MENTION_FIELDS = "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,author_id"
_tier_logged: set[str] = set()  # accounts whose "mentions not in this API tier" 403 was already logged


class X:
    """The X adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "x"
    max_chars: ClassVar[int] = MAX_WEIGHTED

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_url: str = API_URL,
        token_url: str = TOKEN_URL,
        client_id: str = "",
        client_secret: str = "",
        refresh_margin: float = 300.0,
        find_window: timedelta = timedelta(hours=12),
        upload_timeout: float = 120.0,
        mention_max_pages: int = 5,
    ) -> None:
        self._client = client
        self._api = api_url.rstrip("/")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._margin = refresh_margin
        self._find_window = find_window
        self._upload_timeout = upload_timeout
        self._mention_max_pages = mention_max_pages
        self._memo = RefreshMemo()

    # --- the Network protocol -------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        """Weighted length (see :func:`weighted_length`)."""
        return weighted_length(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        """``GET /2/users/me`` (after a refresh when the token is about to expire)."""
        token = await self._token(creds)
        me = data_of(await self._call("GET", "/2/users/me", token))
        username = str(me.get("username") or "")
        user_id = str(me.get("id") or "")
        if user_id:  # stored with the account: saves a /2/users/me call in find_existing and the mentions
            creds.renewed.update({"user_id": user_id, "username": username})
        return AccountInfo(
            handle=f"@{username}" if username else user_id,
            remote_id=user_id,
            display_name=str(me.get("name") or ""),
            limits={"max_characters": MAX_WEIGHTED},
        )

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """Upload the images (``POST /2/media/upload``, alt text through ``/2/media/metadata``), then
        ``POST /2/tweets``. Text over 280 weighted characters ends with ``… <post.link>``."""
        text = fit_text(post)
        if len(post.media) > MAX_MEDIA:
            raise PermanentError(
                f"x takes at most {MAX_MEDIA} images per post, this one has {len(post.media)}", code="too_many_media"
            )
        token = await self._token(creds)
        media_ids = [await self._upload(token, item) for item in post.media]
        body: dict[str, Any] = {"text": text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        if post.reply_to is not None:
            body["reply"] = {"in_reply_to_tweet_id": post.reply_to.remote_id}
        created = data_of(await self._call("POST", "/2/tweets", token, json=body))
        return self._result(created, creds)

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """The post among the account's 5 latest, same text (URLs aside), made within ``find_window``."""
        try:
            wanted = comparable(fit_text(post))
        except PermanentError:
            return None
        token = await self._token(creds)
        user_id = creds.get("user_id").strip() or str(data_of(await self._call("GET", "/2/users/me", token)).get("id"))
        resp = await self._call(
            "GET",
            f"/2/users/{quote(user_id, safe='')}/tweets",
            token,
            params=[("max_results", "5"), ("tweet.fields", "created_at,text"), ("exclude", "retweets")],
        )
        since = utcnow() - self._find_window
        items = json_object(resp).get("data") or []
        for tweet in items if isinstance(items, list) else []:
            if not isinstance(tweet, dict):
                continue
            created = parse_time(tweet.get("created_at"))
            if created is not None and created < since:
                continue
            if comparable(str(tweet.get("text") or "")) == wanted:
                return self._result(tweet, creds)
        # Nothing found. If the tokens rotated, ``publish`` (called next with the same credentials) reads the new
        # ones from ``creds.renewed``.
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """``DELETE /2/tweets/{id}``; a 404 means it is already gone."""
        token = await self._token(creds)
        try:
            await self._call("DELETE", f"/2/tweets/{quote(remote_id, safe='')}", token)
        except PermanentError as exc:
            if exc.code != "not_found":
                raise

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        """Access and refresh tokens, and a client secret stored with the account."""
        return [v for k in ("access_token", "refresh_token", "client_secret") if (v := creds.get(k))]

    # --- mentions (MentionSource) ----------------------------------------------------------------------

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        """Posts mentioning the account newer than ``cursor`` (a post id), oldest first, and the newest id seen.
        A 403 (the API tier has no mentions timeline) gives no items and the same cursor; see the module doc."""
        token = await self._token(creds)
        user_id = await self._user_id(creds, token)
        found: dict[str, Mention] = {}
        newest = cursor
        page_token = ""
        for _ in range(self._mention_max_pages):
            params = [
                ("max_results", str(MENTION_PAGE_SIZE if cursor else MENTION_FIRST_PAGE)),
                ("expansions", "author_id"),
                ("user.fields", "username"),
                ("tweet.fields", _MENTION_FIELDS),
            ]
            if cursor:
                params.append(("since_id", cursor))
            if page_token:
                params.append(("pagination_token", page_token))
            url = f"{self._api}/2/users/{quote(user_id, safe='')}/mentions"
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            resp = await send_request(self._client, "GET", url, params=params, headers=headers, network="x")
            if resp.status_code == 403:
                if user_id not in _tier_logged:
                    _tier_logged.add(user_id)
                    _, detail = problem_of(resp)
                    log.warning("x.mentions_forbidden", user_id=user_id, detail=detail[:200])
                return [], cursor
            if not resp.is_success:
                raise classify_response(resp, utcnow())
            body = json_object(resp)
            users = usernames(body)
            rows = body.get("data")
            for tweet in rows if isinstance(rows, list) else []:
                if isinstance(tweet, dict) and (m := mention_of(tweet, users, user_id)) is not None:
                    found[m.remote_id] = m
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            top = str(meta.get("newest_id") or "") if isinstance(meta, dict) else ""
            if top and (newest is None or id_key(top) > id_key(newest)):
                newest = top
            page_token = str(meta.get("next_token") or "") if isinstance(meta, dict) else ""
            if not page_token or not cursor:
                break
        for remote_id in found:
            if newest is None or id_key(remote_id) > id_key(newest):
                newest = remote_id
        items = sorted(found.values(), key=lambda m: id_key(m.remote_id))
        return items, newest

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        """``POST /2/users/{id}/likes`` with ``{"tweet_id": …}``."""
        token = await self._token(creds)
        user_id = await self._user_id(creds, token)
        await self._call(
            "POST", f"/2/users/{quote(user_id, safe='')}/likes", token, json={"tweet_id": target.remote_id}
        )

    async def _user_id(self, creds: NetworkCredentials, token: str) -> str:
        user_id = creds.get("user_id").strip()
        if user_id:
            return user_id
        me = data_of(await self._call("GET", "/2/users/me", token))
        user_id = str(me.get("id") or "")
        if not user_id:
            raise RetryableError("x /2/users/me answered without an id", code="bad_response")
        return user_id

    # --- tokens ----------------------------------------------------------------------------------------

    async def _token(self, creds: NetworkCredentials) -> str:
        """The access token to use, refreshed first when due (the rotated tokens go to ``creds.renewed``)."""
        token = creds.get("access_token").strip()
        refresh_token = creds.get("refresh_token").strip()
        if refresh_token and (not token or expires_soon(creds, self._margin)):
            tokens = await self.refresh(creds)
            creds.renewed.update(tokens)
            return tokens["access_token"]
        if not token:
            raise AuthError("x account has no access token")
        return token

    async def refresh(self, creds: NetworkCredentials) -> dict[str, str]:
        """``POST /2/oauth2/token`` with ``grant_type=refresh_token``: new access *and* refresh tokens."""
        old = creds.get("refresh_token").strip()
        if not old:
            raise AuthError("x account has no refresh token: link it again")
        async with self._memo.lock(old):
            if (known := self._memo.recall(old)) is not None:
                return known
            client_id = self._client_id or creds.get("client_id")
            client_secret = self._client_secret or creds.get("client_secret")
            if not client_id:
                raise PermanentError("x client id is not configured (ARDOISE_X_CLIENT_ID)", code="config")
            headers = {"Accept": "application/json"}
            if client_secret:
                basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
                headers["Authorization"] = f"Basic {basic}"
            form = {"grant_type": "refresh_token", "refresh_token": old, "client_id": client_id}
            resp = await send_request(self._client, "POST", self._token_url, data=form, headers=headers, network="x")
            if resp.status_code in (400, 401):
                raise AuthError(f"x refused to refresh the token: {oauth_error_message(resp)}")
            if not resp.is_success:
                raise classify_response(resp, utcnow())
            body = json_object(resp)
            tokens = token_fields(body, keep_refresh=old)
            self._memo.remember(old, tokens)
            return tokens

    # --- HTTP ------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        data: Mapping[str, str] | None = None,
        request_timeout: float | None = None,
    ) -> httpx.Response:
        resp = await send_request(
            self._client,
            method,
            f"{self._api}{path}",
            params=params,
            json=json,
            files=files,
            data=data,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            request_timeout=request_timeout,
            network="x",
        )
        if resp.is_success:
            return resp
        raise classify_response(resp, utcnow())

    async def _upload(self, token: str, item: MediaItem) -> str:
        path = Path(item.path)
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise PermanentError(f"cannot read image {path.name}: {exc.strerror}", code="media_missing") from exc
        content_type = item.content_type or "application/octet-stream"
        resp = await self._call(
            "POST",
            "/2/media/upload",
            token,
            data={"media_category": "tweet_image", "media_type": content_type},
            files={"media": (path.name, content, content_type)},
            request_timeout=self._upload_timeout,
        )
        media_id = str(data_of(resp).get("id") or "")
        if not media_id:
            raise RetryableError("x media upload answered without an id", code="bad_response")
        if alt := item.alt.strip():
            alt = alt if len(alt) <= ALT_TEXT_LIMIT else alt[: ALT_TEXT_LIMIT - 1].rstrip() + ELLIPSIS
            try:
                await self._call(
                    "POST", "/2/media/metadata", token, json={"id": media_id, "metadata": {"alt_text": {"text": alt}}}
                )
            except AuthError:
                raise
            except PermanentError:
                pass  # the image without its description beats no post
        return media_id

    def _result(self, tweet: Mapping[str, Any], creds: NetworkCredentials) -> PublishResult:
        tweet_id = str(tweet.get("id") or "")
        if not tweet_id:
            raise RetryableError("x answered a post without an id", code="bad_response")
        username = creds.get("username").strip().lstrip("@")
        url = f"https://x.com/{username}/status/{tweet_id}" if username else f"https://x.com/i/web/status/{tweet_id}"
        return PublishResult(remote_id=tweet_id, url=url)
