"""One pure-ASGI middleware for every request: request id, write priority, body limit, webhook timing.

Pure ASGI rather than ``BaseHTTPMiddleware``: it costs less per request and an error raised while the body is
read reaches FastAPI as itself (``BaseHTTPMiddleware`` wraps ``receive`` in a task group).
"""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors
from app.db import URGENT
from app.metrics import WEBHOOK_SECONDS


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        URGENT.set(True)  # this request's writes go before the worker's (SQLite single writer)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        path: str = scope.get("path", "")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            try:
                length = int(headers.get(b"content-length", b"0") or 0)
            except ValueError:
                length = 0
            if length > self.max_body_bytes:
                response = errors.problem(
                    413, "Payload too large", f"the body is over {self.max_body_bytes} bytes", "too_large"
                )
                await response(scope, receive, send_with_id)
                return
            received = 0

            async def limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:  # a chunked body has no Content-Length to check first
                        raise HTTPException(413, f"Payload too large: the body is over {self.max_body_bytes} bytes")
                return message

            await self.app(scope, limited, send_with_id)
        finally:
            if path.startswith("/webhooks/"):
                WEBHOOK_SECONDS.labels(route=path).observe(time.perf_counter() - started)
            structlog.contextvars.clear_contextvars()
