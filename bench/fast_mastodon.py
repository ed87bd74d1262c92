"""A minimal, fast Mastodon stand-in for the end-to-end burst bench (``bench/burst.py``): a raw ASGI app, no
framework, so that a benchmark through it measures Ardoise and not the stand-in (``mastodon-mock`` serves about
90 posts/s on a 2-core machine; this one serves thousands).

``uvicorn bench.fast_mastodon:app --port N`` with ``FAST_MASTO_LATENCY`` (seconds added to every answer, default
0). Any bearer token is an account. Endpoints: ``GET /api/v1/accounts/verify_credentials``,
``GET /api/v2/instance``, ``POST /api/v1/statuses`` (``Idempotency-Key`` honoured per token, as Mastodon does),
``GET /api/v1/notifications`` (always empty), ``GET /api/v1/accounts/{id}/statuses`` (the account's last 20),
and ``GET /_bench/stats``: statuses created, replays answered from a key, and texts created more than once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

LATENCY = float(os.environ.get("FAST_MASTO_LATENCY", "0") or 0)
INSTANCE = {"domain": "masto.bench", "configuration": {"statuses": {"max_characters": 500}}}


class State:
    def __init__(self) -> None:
        self.next_id = 1
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_token: dict[str, list[dict[str, Any]]] = {}
        self.texts: Counter[str] = Counter()
        self.replays = 0
        self.requests = 0

    def create(self, token: str, key: str, text: str) -> dict[str, Any]:
        if key and (token, key) in self.by_key:
            self.replays += 1
            return self.by_key[(token, key)]
        sid = str(self.next_id)
        self.next_id += 1
        status = {
            "id": sid,
            "uri": f"https://masto.bench/users/a/statuses/{sid}",
            "url": f"https://masto.bench/@a/{sid}",
            "content": f"<p>{text}</p>",
            "text": text,
            "created_at": "2026-12-03T00:00:00.000Z",
            "in_reply_to_id": None,
            "reblog": None,
        }
        if key:
            self.by_key[(token, key)] = status
        self.by_token.setdefault(token, []).append(status)
        self.texts[text] += 1
        return status

    def stats(self) -> dict[str, Any]:
        return {
            "statuses": sum(len(v) for v in self.by_token.values()),
            "replays": self.replays,
            "duplicate_texts": sum(1 for n in self.texts.values() if n > 1),
            "requests": self.requests,
        }


STATE = State()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        msg = await receive()
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    STATE.requests += 1
    path: str = scope["path"]
    method: str = scope["method"]
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    token = headers.get("authorization", "").removeprefix("Bearer ").strip()
    body = await _body(receive)
    if path == "/_bench/stats":
        await _answer(send, 200, STATE.stats())
        return
    if LATENCY:
        await asyncio.sleep(LATENCY)
    if path == "/api/v1/accounts/verify_credentials":
        await _answer(send, 200, {"id": token or "1", "username": f"u{token[-6:]}", "acct": "u", "display_name": ""})
    elif path in ("/api/v2/instance", "/api/v1/instance"):
        await _answer(send, 200, INSTANCE)
    elif path == "/api/v1/statuses" and method == "POST":
        form = parse_qs(body.decode(), keep_blank_values=True)
        text = (form.get("status") or [""])[0]
        await _answer(send, 200, STATE.create(token, headers.get("idempotency-key", ""), text))
    elif path == "/api/v1/notifications":
        await _answer(send, 200, [])
    elif path.startswith("/api/v1/accounts/") and path.endswith("/statuses"):
        await _answer(send, 200, list(reversed(STATE.by_token.get(token, [])[-20:])))
    else:
        await _answer(send, 404, {"error": "Record not found"})
