"""HTTP plumbing shared by the network adapters: one request with its transport failures classified, and the
``Retry-After`` header read in both of its forms."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.kit.errors import PermanentError, RetryableError


async def send_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    params: list[tuple[str, str]] | None = None,
    json: Any = None,
    files: Mapping[str, tuple[str, bytes, str]] | None = None,
    data: Mapping[str, str | list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    request_timeout: float | None = None,
    network: str,
) -> httpx.Response:
    """One request; transport failures come out as RetryableError (or PermanentError for a bad URL), named
    after ``network`` and the path."""
    where = f"{network} {method} {urlsplit(url).path}"
    try:
        return await client.request(
            method,
            url,
            params=tuple(params) if params else None,
            json=json,
            files=files,
            data=data,
            headers=headers,
            timeout=request_timeout if request_timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentError(f"{where}: URL is not usable: {exc}", code="config") from exc
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{where} timed out ({type(exc).__name__})", code="timeout") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"{where} failed: {type(exc).__name__}: {exc}", code="network") from exc


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110)."""
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
