"""The Meta Graph API, shared by Facebook and Instagram: its address and version, error classification (with
the throttling headers), the Graph client, and the shapes of its answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.http import parse_retry_after, send_request

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v23.0"

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
