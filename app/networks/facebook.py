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
from app.networks.base import AccountInfo, NetworkCredentials, Post, PublishResult
from app.networks.mastodon import _shorten, parse_retry_after

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
        try:
            resp = await self.client.request(
                method,
                url,
                params=tuple(params) if params else None,
                data=data,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentError(f"{where}: URL is not usable: {exc}", code="config") from exc
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{where} timed out ({type(exc).__name__})", code="timeout") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"{where} failed: {type(exc).__name__}: {exc}", code="network") from exc
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
    ) -> None:
        self._graph = Graph(client, base_url=base_url, version=graph_version, network="facebook")
        self._find_window = find_window

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
        return _shorten(text, MAX_CHARS, post.link, len)


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
