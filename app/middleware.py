"""One pure-ASGI middleware for every request: request id, write priority, body limit, one log line and the
HTTP metrics (by route template), and a 422 for a path or query string carrying a control character (``%00``...),
which no route takes.

Pure ASGI rather than ``BaseHTTPMiddleware``: it costs less per request and an error raised while the body is
read reaches FastAPI as itself (``BaseHTTPMiddleware`` wraps ``receive`` in a task group).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from urllib.parse import unquote_to_bytes

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors
from app.db import URGENT
from app.metrics import record_request

SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
log = structlog.get_logger("ardoise.http")
QUIET = {"/healthz", "/readyz", "/metrics"}  # probes and scrapes: counted, logged at debug only


def route_template(scope: Scope) -> str | None:
    """The template of the route that took the request (``/b/{slug}``), or None when no route did."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else None


BODY_CHUNK_TIMEOUT = 30.0
"""Seconds a client may take to send the next piece of its body: a slow-body client is answered 408."""
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")


def odd_url(scope: Scope) -> bool:
    """A path or query string with a control character (decoded, ``+`` as a space) or bytes not UTF-8."""
    query: bytes = scope.get("query_string", b"")
    raw = [scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape"), query.replace(b"+", b" ")]
    for part in raw:
        decoded = unquote_to_bytes(part)
        if _CONTROL_BYTES.search(decoded):
            return True
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int, large_paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_paths = large_paths or {}  # path prefix → its own limit (a raw email with photos)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        URGENT.set(True)  # this request's writes go before the worker's (SQLite single writer)
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        # Echoed in a header and in logs: only a safe alphabet (no CR/LF, no spaces).
        rid = given if given and SAFE_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        path: str = scope.get("path", "")
        limit = next((n for prefix, n in self.large_paths.items() if path.startswith(prefix)), self.max_body_bytes)

        status = 500  # if the app fails before answering, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            if odd_url(scope):
                response = errors.problem(422, "Invalid input", "the URL holds a control character", "invalid")
                await response(scope, receive, send_with_id)
                return
            try:
                length = int(headers.get(b"content-length", b"0") or 0)
            except ValueError:
                length = 0
            if length > limit:
                response = errors.problem(413, "Payload too large", f"the body is over {limit} bytes", "too_large")
                await response(scope, receive, send_with_id)
                return
            received = 0

            body_done = False

            async def limited() -> Message:
                nonlocal received, body_done
                if body_done:  # after the body, receive() waits for the disconnect: no timeout there
                    return await receive()
                try:
                    message = await asyncio.wait_for(receive(), BODY_CHUNK_TIMEOUT)
                except TimeoutError:
                    raise HTTPException(408, "Request timeout: the body came too slowly") from None
                body_done = message["type"] != "http.request" or not message.get("more_body", False)
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:  # a chunked body has no Content-Length to check first
                        raise HTTPException(413, f"Payload too large: the body is over {limit} bytes")
                return message

            await self.app(scope, limited, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            template = route_template(scope)
            method = str(scope.get("method", ""))
            record_request(method, template, status, seconds)
            (log.debug if path in QUIET and status < 500 else log.info)(
                "http.request",
                method=method,
                route=template or "unmatched",
                status=status,
                duration_ms=round(seconds * 1000, 1),
            )
            structlog.contextvars.clear_contextvars()
