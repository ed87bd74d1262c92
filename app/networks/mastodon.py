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
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx
import regex

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import (
    AccountInfo,
    MediaItem,
    Mention,
    NetworkCredentials,
    Post,
    PublishResult,
    ReplyTarget,
)
from app.networks.http import parse_retry_after, send_request
from app.networks.text import ELLIPSIS, shorten

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23  # Mastodon counts every http(s) URL as 23 characters, whatever its length
DEFAULT_DESCRIPTION_LIMIT = 1500  # alt text limit of Mastodon 4.x (configuration.media_attachments.description_limit)
DEFAULT_MAX_MEDIA = 4
VISIBILITIES = frozenset({"public", "unlisted", "private"})

# Approximations of twitter-text's extractors, which Mastodon uses to count: URLs need a scheme
# (``extract_url_without_protocol: false``) and lose trailing punctuation; a mention ``@user@domain``
# counts as ``@user``.
_URL_RE = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}»…"
_MENTION_RE = re.compile(r"(?<![=/\w@])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w.-]+\w)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MentionItem:
    """One mention of the account, from ``GET /api/v1/notifications?types[]=mention``.

    ``remote_id`` is the *notification* id (the polling cursor space, unique per account); ``status_id`` is the
    mentioning status, the one to reply to (``ReplyTarget(remote_id=status_id)``) or to favourite.
    ``author`` is ``@acct`` (``@user`` on the same instance, ``@user@domain`` otherwise); ``text`` is the status
    rendered to plain text (paragraphs and line breaks kept).
    """

    remote_id: str
    author: str
    text: str
    url: str
    created_at: datetime
    in_reply_to_id: str | None
    status_id: str


def parse_rate_limit_reset(value: str, now: datetime) -> float | None:
    """Seconds from ``now`` until a ``X-RateLimit-Reset`` value, or None when it cannot be read.

    Accepts an ISO-8601 timestamp (real Mastodon: ``2020-09-08T13:25:00.019685Z``), a Unix epoch in seconds
    (mastodon-mock: ``1599571500``, also with a fraction), and, defensively, a small number taken as a delay in
    seconds (draft ``RateLimit-Reset`` style). A reset already past gives ``0.0``.
    """
    text = value.strip()
    if not text:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - now).total_seconds())
    if not math.isfinite(number) or number < 0:
        return None
    if number < 1_000_000_000:  # before 2001 as an epoch: it is a delay, not a moment
        return number
    return max(0.0, number - now.timestamp())


def retry_after_from(headers: httpx.Headers, now: datetime) -> float | None:
    """The longest wait any rate-limit header asks for (``Retry-After``, ``X-RateLimit-Reset``), or None."""
    waits = [
        wait
        for wait in (
            parse_retry_after(headers.get("Retry-After", ""), now),
            parse_rate_limit_reset(headers.get("X-RateLimit-Reset", ""), now),
        )
        if wait is not None
    ]
    return max(waits) if waits else None


def measure_text(text: str, *, url_chars: int = DEFAULT_URL_CHARACTERS) -> int:
    """Length as Mastodon's StatusLengthValidator counts it: grapheme clusters, URLs as ``url_chars``,
    ``@user@domain`` as ``@user``."""
    countable = _URL_RE.sub(lambda m: _url_placeholder(m.group(0), url_chars), text)
    countable = _MENTION_RE.sub(lambda m: "@" + m.group(1), countable)
    return len(regex.findall(r"\X", countable))


def _url_placeholder(url: str, url_chars: int) -> str:
    kept = url.rstrip(_URL_TRAILING)
    return "x" * url_chars + url[len(kept) :]


def html_to_text(html: str) -> str:
    """A status ``content`` (HTML) as the plain text its author typed: ``<br>`` is a line break, ``<p>`` a
    paragraph, and link texts are joined back (Mastodon hides parts of long URLs in invisible spans)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._parts.append("\n")
        elif tag == "p" and self._parts:
            self._parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self._parts.append(data)

    def text(self) -> str:
        return "".join(self._parts).strip()


def _normalized(text: str) -> str:
    """Text reduced for comparing what we sent with what the instance shows (mentions lose their domain when
    rendered, whitespace is re-flowed into paragraphs)."""
    text = _MENTION_RE.sub(lambda m: "@" + m.group(1), text)
    return " ".join(text.split())


def _id_key(remote_id: str) -> tuple[int, str]:
    # Mastodon ids are numeric strings of growing length (snowflakes); compare them as numbers.
    return (len(remote_id), remote_id)


class Mastodon:
    """The Mastodon adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "mastodon"
    label: ClassVar[str] = "Masto"
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
        base, token = _endpoint(creds)
        resp = await self._call("GET", f"{base}/api/v1/accounts/verify_credentials", token)
        try:
            account = _json_object(resp)
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
        base, token = _endpoint(creds)
        visibility = _visibility(creds)
        text = self.fit(post, creds)
        max_media = _int_setting(creds, "max_media_attachments", DEFAULT_MAX_MEDIA)
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
        return _publish_result(_json_object(resp))

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """Look for the post among the account's last 20 statuses: same text (as ``publish`` would send it),
        same reply target, made within ``find_window`` (12 h by default).

        Mastodon has no lookup by idempotency key, and re-sending with the key is only safe for about an hour;
        this scan covers retries after that. The window keeps a status the business repeats every day
        ("Ouvert aujourd'hui!") from being taken for today's.
        """
        base, token = _endpoint(creds)
        try:
            wanted = _normalized(self.fit(post, creds))
        except PermanentError:
            return None  # publish could never have sent it
        account_id = creds.get("account_id").strip()
        if not account_id:
            me = _json_object(await self._call("GET", f"{base}/api/v1/accounts/verify_credentials", token))
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
        for status in _json_list(resp):
            if not isinstance(status, dict) or status.get("reblog"):
                continue
            created = _parse_time(status.get("created_at"))
            if created is not None and created < since:
                continue
            if post.reply_to is not None and str(status.get("in_reply_to_id") or "") != post.reply_to.remote_id:
                continue
            shown = status.get("text") if isinstance(status.get("text"), str) else None
            if shown is None:
                shown = html_to_text(str(status.get("content") or ""))
            if _normalized(shown) == wanted:
                return _publish_result(status)
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """``DELETE /api/v1/statuses/{id}``; a 404 means it is already gone, which is what we wanted."""
        base, token = _endpoint(creds)
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
        limit = _int_setting(creds, "max_characters", DEFAULT_MAX_CHARACTERS)
        url_chars = _int_setting(creds, "characters_reserved_per_url", DEFAULT_URL_CHARACTERS)

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
        base, token = _endpoint(creds)
        found: dict[str, MentionItem] = {}
        cursor = since_id
        for _ in range(self._mention_max_pages):
            params: list[tuple[str, str]] = [("types[]", "mention"), ("limit", str(self._mention_page_size))]
            if cursor:
                params.append(("min_id", cursor))
            page = _json_list(await self._call("GET", f"{base}/api/v1/notifications", token, params=params))
            ids = [str(n["id"]) for n in page if isinstance(n, dict) and "id" in n]
            if not ids:
                break
            for notification in page:
                item = _mention_item(notification)
                if item is not None:
                    found[item.remote_id] = item
            newest = max(ids, key=_id_key)
            if cursor is not None and _id_key(newest) <= _id_key(cursor):
                break  # a server that ignored min_id: do not loop on the same page
            cursor = newest
            if since_id is None or len(page) < self._mention_page_size:
                break
        items = sorted(found.values(), key=lambda item: _id_key(item.remote_id))
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
        base, token = _endpoint(creds)
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
                info = _json_object(await self._call("GET", f"{base}/api/{version}/instance", token))
            except AdapterError:
                continue
            limits = _instance_limits(info)
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
            limit = _int_setting(creds, "description_limit", DEFAULT_DESCRIPTION_LIMIT)
            form["description"] = alt if len(alt) <= limit else alt[: limit - 1].rstrip() + ELLIPSIS
        resp = await self._call(
            "POST",
            f"{base}/api/v2/media",
            token,
            data=form,
            files={"file": (path.name, content, item.content_type or "application/octet-stream")},
            request_timeout=self._upload_timeout,
        )
        media = _json_object(resp)
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
            if resp.status_code == 200 and _json_object(resp).get("url"):
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


# --- response classification ---------------------------------------------------------------------------


def classify_response(resp: httpx.Response, now: datetime) -> AdapterError:
    """The error for a non-2xx answer. 429/5xx/408/409 retry (honouring the rate-limit headers), 401 and
    403 other than "This action is not allowed" are AuthError, 404 is PermanentError(code="not_found"),
    other 4xx are PermanentError carrying Mastodon's own message (e.g. "Text is too long")."""
    status = resp.status_code
    where = f"mastodon {resp.request.method} {_path(str(resp.request.url))}"
    message = _error_message(resp)
    if status == 429:
        return RetryableError(
            f"{where}: rate limited ({message})", retry_after=retry_after_from(resp.headers, now), code="rate_limited"
        )
    if status >= 500 or status in (408, 409):
        return RetryableError(
            f"{where}: {status} {message}", retry_after=retry_after_from(resp.headers, now), code=f"http_{status}"
        )
    if status == 401:
        return AuthError(f"mastodon refused the access token: {message}")
    if status == 403:
        # "This action is not allowed" is Mastodon's policy refusal (e.g. not our status): the token is fine.
        # Every other 403 (scopes, disabled or unconfirmed login, suspended account) needs the owner.
        if "not allowed" in message.lower():
            return PermanentError(f"{where}: {message}", code="forbidden")
        return AuthError(f"mastodon refused the account: {message}")
    if status == 404:
        return PermanentError(f"{where}: {message}", code="not_found")
    if status == 422:
        return PermanentError(f"mastodon refused it: {message}", code="rejected")
    return PermanentError(f"{where}: {status} {message}", code=f"http_{status}")


def _error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        description = body.get("error_description")
        if isinstance(error, str) and error:
            return f"{error}: {description}" if isinstance(description, str) and description else error
    text = " ".join(resp.text.split())[:200] if resp.content else ""
    return text or resp.reason_phrase or f"HTTP {resp.status_code}"


# --- helpers ---------------------------------------------------------------------------------------------


def _endpoint(creds: NetworkCredentials) -> tuple[str, str]:
    raw = creds.get("instance_url").strip()
    if not raw:
        raise PermanentError("mastodon account has no instance_url", code="config")
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PermanentError(f"mastodon instance_url is not an http(s) URL: {raw}", code="config")
    token = creds.get("access_token").strip()
    if not token:
        raise AuthError("mastodon account has no access token")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", token


def _visibility(creds: NetworkCredentials) -> str:
    visibility = (creds.get("visibility") or "public").strip().lower()
    if visibility not in VISIBILITIES:
        raise PermanentError(
            f"mastodon visibility must be public, unlisted or private, not {visibility!r}", code="config"
        )
    return visibility


def _int_setting(creds: NetworkCredentials, key: str, default: int) -> int:
    try:
        value = int(creds.get(key) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        where = f"{resp.request.method} {_path(str(resp.request.url))}"
        raise RetryableError(f"mastodon {where} answered {resp.status_code} with no JSON", code="bad_response") from exc


def _json_object(resp: httpx.Response) -> dict[str, Any]:
    body = _json(resp)
    if not isinstance(body, dict):
        raise RetryableError(
            f"mastodon {_path(str(resp.request.url))} answered an unexpected shape", code="bad_response"
        )
    return body


def _json_list(resp: httpx.Response) -> list[Any]:
    body = _json(resp)
    if not isinstance(body, list):
        raise RetryableError(
            f"mastodon {_path(str(resp.request.url))} answered an unexpected shape", code="bad_response"
        )
    return body


def _publish_result(status: Mapping[str, Any]) -> PublishResult:
    remote_id = status.get("id")
    if not remote_id:
        raise RetryableError("mastodon answered a status without an id", code="bad_response")
    return PublishResult(remote_id=str(remote_id), url=str(status.get("url") or status.get("uri") or ""))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _instance_limits(info: Mapping[str, Any]) -> dict[str, int]:
    """Integer limits from ``configuration.statuses`` and ``configuration.media_attachments`` (Mastodon ≥ 3.4),
    or ``max_toot_chars`` (older forks)."""
    limits: dict[str, int] = {}
    configuration = info.get("configuration")
    if isinstance(configuration, dict):
        for section in ("statuses", "media_attachments"):
            values = configuration.get(section)
            if isinstance(values, dict):
                for key, value in values.items():
                    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                        limits[str(key)] = value
    legacy = info.get("max_toot_chars")
    if "max_characters" not in limits and isinstance(legacy, int) and legacy > 0:
        limits["max_characters"] = legacy
    return limits


def _mention_item(notification: Any) -> MentionItem | None:
    if not isinstance(notification, dict):
        return None
    status = notification.get("status")
    account = notification.get("account")
    if notification.get("type") != "mention" or not isinstance(status, dict) or not isinstance(account, dict):
        return None  # the status was deleted since, or a server ignored types[]
    if not notification.get("id") or not status.get("id"):
        return None
    created = _parse_time(status.get("created_at")) or _parse_time(notification.get("created_at")) or utcnow()
    reply_to = status.get("in_reply_to_id")
    return MentionItem(
        remote_id=str(notification["id"]),
        author=f"@{account.get('acct') or account.get('username') or '?'}",
        text=html_to_text(str(status.get("content") or "")),
        url=str(status.get("url") or status.get("uri") or ""),
        created_at=created,
        in_reply_to_id=str(reply_to) if reply_to else None,
        status_id=str(status["id"]),
    )
