"""Responses of the public routes: validators (ETag, Last-Modified) and 304, HEAD, and small HTML errors.

The ETag is weak (``W/"…"``) because the same representation may travel gzip-compressed or not (the
compression middleware sits after this); ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 §13.2.2).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request, Response


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == weak for t in header.split(","))


def not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    """True when the client's copy (its ``If-None-Match`` or ``If-Modified-Since``) is still current."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return _etag_matches(inm, etag)
    ims = request.headers.get("if-modified-since")
    if ims and last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified.replace(microsecond=0) <= since
    return False


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def cached(
    request: Request,
    body: bytes,
    media_type: str,
    *,
    last_modified: datetime | None,
    cache_control: str,
    status_code: int = 200,
) -> Response:
    """``body`` with its validators; 304 without a body when the client's copy is current; no body for HEAD."""
    etag = 'W/"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    if status_code == 200 and not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=status_code, headers=headers, media_type=media_type)
    return Response(body, status_code=status_code, headers=headers, media_type=media_type)
