"""OAuth 2.0 token handling shared by the adapters linked through /connect (X, Google; Facebook's long-lived
page tokens need none of it): refresh when due, one refresh per rotating token at a time, and credentials to
store from a token answer (the adapters put them in ``NetworkCredentials.renewed``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.kit.errors import RetryableError
from app.kit.time import utcnow
from app.networks.base import NetworkCredentials


class RefreshMemo:
    """Serializes refreshes of one refresh token and remembers the result for a while.

    Rotating refresh tokens are single use: if two jobs of one account refresh at the same moment, the second
    would get ``invalid_grant`` and the account would be marked broken for nothing. With this memo the second job
    waits for the first and reuses its tokens.
    """

    def __init__(self, ttl: timedelta = timedelta(minutes=30)) -> None:
        self._ttl = ttl
        self._locks: dict[str, asyncio.Lock] = {}
        self._done: dict[str, tuple[datetime, dict[str, str]]] = {}

    def lock(self, refresh_token: str) -> asyncio.Lock:
        return self._locks.setdefault(refresh_token, asyncio.Lock())

    def recall(self, refresh_token: str) -> dict[str, str] | None:
        now = utcnow()
        for key, (at, _) in list(self._done.items()):
            if now - at > self._ttl:
                self._done.pop(key, None)
                self._locks.pop(key, None)
        hit = self._done.get(refresh_token)
        return dict(hit[1]) if hit else None

    def remember(self, refresh_token: str, tokens: Mapping[str, str]) -> None:
        self._done[refresh_token] = (utcnow(), dict(tokens))


def expires_soon(creds: NetworkCredentials, margin: float) -> bool:
    """True when ``expires_at`` (epoch seconds) is within ``margin`` seconds, or unknown while a refresh token
    exists (a token we cannot date is refreshed rather than trusted)."""
    raw = creds.get("expires_at").strip()
    if not raw:
        return bool(creds.get("refresh_token"))
    try:
        expires_at = float(raw)
    except ValueError:
        return True
    return expires_at - utcnow().timestamp() <= margin


def oauth_error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        error = body.get("error")
        description = body.get("error_description")
        if isinstance(error, dict):  # some providers nest it
            return str(error.get("message") or error)
        if error:
            return f"{error}: {description}" if description else str(error)
    return f"HTTP {resp.status_code}"


def token_fields(body: Mapping[str, Any], *, keep_refresh: str = "") -> dict[str, str]:
    """Credentials to store from an OAuth token answer: ``access_token``, ``refresh_token`` (the new one, or the
    old one when the server keeps it) and ``expires_at`` (epoch seconds)."""
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise RetryableError("token endpoint answered without an access_token", code="bad_response")
    out = {"access_token": access}
    refresh = body.get("refresh_token")
    if isinstance(refresh, str) and refresh:
        out["refresh_token"] = refresh
    elif keep_refresh:
        out["refresh_token"] = keep_refresh
    try:
        expires_in = float(body.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0.0
    if expires_in > 0:
        out["expires_at"] = str(int(utcnow().timestamp() + expires_in))
    return out
