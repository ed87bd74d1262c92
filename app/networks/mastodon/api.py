"""Mastodon API answers: rate-limit headers, error classification, JSON bodies, mentions and instance limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import NetworkCredentials, PublishResult
from app.networks.http import parse_retry_after
from app.networks.mastodon.text import html_to_text

VISIBILITIES = frozenset({"public", "unlisted", "private"})


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


def id_key(remote_id: str) -> tuple[int, str]:
    # Mastodon ids are numeric strings of growing length (snowflakes); compare them as numbers.
    return (len(remote_id), remote_id)


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


def endpoint(creds: NetworkCredentials) -> tuple[str, str]:
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


def visibility_of(creds: NetworkCredentials) -> str:
    visibility = (creds.get("visibility") or "public").strip().lower()
    if visibility not in VISIBILITIES:
        raise PermanentError(
            f"mastodon visibility must be public, unlisted or private, not {visibility!r}", code="config"
        )
    return visibility


def int_setting(creds: NetworkCredentials, key: str, default: int) -> int:
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


def json_object(resp: httpx.Response) -> dict[str, Any]:
    body = _json(resp)
    if not isinstance(body, dict):
        raise RetryableError(
            f"mastodon {_path(str(resp.request.url))} answered an unexpected shape", code="bad_response"
        )
    return body


def json_list(resp: httpx.Response) -> list[Any]:
    body = _json(resp)
    if not isinstance(body, list):
        raise RetryableError(
            f"mastodon {_path(str(resp.request.url))} answered an unexpected shape", code="bad_response"
        )
    return body


def publish_result(status: Mapping[str, Any]) -> PublishResult:
    remote_id = status.get("id")
    if not remote_id:
        raise RetryableError("mastodon answered a status without an id", code="bad_response")
    return PublishResult(remote_id=str(remote_id), url=str(status.get("url") or status.get("uri") or ""))


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def instance_limits(info: Mapping[str, Any]) -> dict[str, int]:
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


def mention_item(notification: Any) -> MentionItem | None:
    if not isinstance(notification, dict):
        return None
    status = notification.get("status")
    account = notification.get("account")
    if notification.get("type") != "mention" or not isinstance(status, dict) or not isinstance(account, dict):
        return None  # the status was deleted since, or a server ignored types[]
    if not notification.get("id") or not status.get("id"):
        return None
    created = parse_time(status.get("created_at")) or parse_time(notification.get("created_at")) or utcnow()
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
