"""The X API's addresses, and what its answers mean: error classification, JSON bodies, mentions."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.networks.base import Mention, ReplyTarget
from app.networks.http import parse_retry_after

API_URL = "https://api.x.com"
TOKEN_URL = "https://api.x.com/2/oauth2/token"

# --- response classification ---------------------------------------------------------------------------

_AUTH_PROBLEMS = ("unsupported-authentication", "client-forbidden", "oauth")


def classify_response(resp: httpx.Response, now: datetime) -> AdapterError:
    """The error for a non-2xx answer of the X API (problem+json: ``title``, ``detail``, ``type``).

    429 and 5xx retry at ``x-rate-limit-reset`` (epoch seconds) or ``Retry-After``; 401 is AuthError; a 403 about
    the app or the token (``client-forbidden``, ``unsupported-authentication``) is AuthError, other 403 (duplicate
    content, not allowed) PermanentError; 404 is ``not_found``; 400 carries X's message.
    """
    status = resp.status_code
    where = f"x {resp.request.method} {urlsplit(str(resp.request.url)).path}"
    problem_type, message = problem_of(resp)
    if status == 429 or status >= 500:
        wait = _rate_reset(resp.headers, now)
        code = "rate_limited" if status == 429 else f"http_{status}"
        return RetryableError(f"{where}: {status} {message}", retry_after=wait, code=code)
    if status == 401:
        return AuthError(f"x refused the access token: {message}")
    if status == 403:
        lowered = f"{problem_type} {message}".lower()
        if "duplicate" in lowered:
            return PermanentError(f"x refused it: {message}", code="duplicate")
        if any(marker in lowered for marker in _AUTH_PROBLEMS):
            return AuthError(f"x refused the app or the account: {message}")
        return PermanentError(f"x refused it: {message}", code="forbidden")
    if status == 404:
        return PermanentError(f"{where}: {message}", code="not_found")
    return PermanentError(f"x refused it: {message}", code=f"http_{status}")


def _rate_reset(headers: httpx.Headers, now: datetime) -> float | None:
    waits: list[float] = []
    for name in ("x-rate-limit-reset", "x-user-limit-24hour-reset", "x-app-limit-24hour-reset"):
        raw = headers.get(name, "").strip()
        remaining = headers.get(name.replace("-reset", "-remaining"), "").strip()
        if not raw or (name != "x-rate-limit-reset" and remaining not in ("", "0")):
            continue
        try:
            waits.append(max(0.0, float(raw) - now.timestamp()))
        except ValueError:
            continue
    if (after := parse_retry_after(headers.get("Retry-After", ""), now)) is not None:
        waits.append(after)
    return max(waits) if waits else None


def problem_of(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        problem_type = str(body.get("type") or "")
        detail = body.get("detail") or body.get("title")
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            detail = detail or first.get("message") or first.get("detail")
            problem_type = problem_type or str(first.get("type") or "")
        if detail:
            return problem_type, str(detail)
    text = " ".join(resp.text.split())[:200] if resp.content else ""
    return "", text or resp.reason_phrase or f"HTTP {resp.status_code}"


# --- helpers ---------------------------------------------------------------------------------------------


def json_object(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        path = urlsplit(str(resp.request.url)).path
        raise RetryableError(f"{path} answered {resp.status_code} without a JSON object", code="bad_response")
    return body


def data_of(resp: httpx.Response) -> dict[str, Any]:
    data = json_object(resp).get("data")
    if not isinstance(data, dict):
        path = urlsplit(str(resp.request.url)).path
        raise RetryableError(f"x {path} answered without data", code="bad_response")
    return data


def id_key(post_id: str) -> tuple[int, str]:
    """X ids are 64-bit integers sent as strings: compare by length, then text."""
    return (len(post_id), post_id)


def usernames(body: Mapping[str, Any]) -> dict[str, str]:
    includes = body.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    out: dict[str, str] = {}
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict) and user.get("id"):
            out[str(user["id"])] = str(user.get("username") or "")
    return out


def mention_of(tweet: Mapping[str, Any], users: Mapping[str, str], user_id: str) -> Mention | None:
    tweet_id = str(tweet.get("id") or "")
    author_id = str(tweet.get("author_id") or "")
    if not tweet_id or author_id == user_id:
        return None
    refs = tweet.get("referenced_tweets")
    types = {str(r.get("type")) for r in refs if isinstance(r, dict)} if isinstance(refs, list) else set()
    to_us = str(tweet.get("in_reply_to_user_id") or "") == user_id
    kind = "reply" if to_us else "quote" if "quoted" in types else "mention"
    username = users.get(author_id, "")
    url = f"https://x.com/{username}/status/{tweet_id}" if username else f"https://x.com/i/web/status/{tweet_id}"
    extra = {"conversation_id": str(tweet["conversation_id"])} if tweet.get("conversation_id") else {}
    return Mention(
        remote_id=tweet_id,
        kind=kind,
        author=f"@{username}" if username else author_id,
        text=html.unescape(str(tweet.get("text") or "")),
        target=ReplyTarget(remote_id=tweet_id, extra=extra),
        url=url,
        created_at=parse_time(tweet.get("created_at")),
        is_reply_to_us=to_us,
    )


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
