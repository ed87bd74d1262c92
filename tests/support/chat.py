"""The owner's phone in end-to-end tests: one phone texting one Ardoise number through the signed Twilio webhook,
the job runner, and the SMS that come back (read through the admin API). Also a loopback server for MMS photos.

The ``biz`` and ``chat`` fixtures are imported by the test modules that use them (one business with its owner on
:data:`NUMBER`, and the owner's phone)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from app.kit.sms_text import is_gsm7, segment_info
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.helpers import drain, make_business, send_sms

NUMBER = "+15817000001"
OWNER = "+14185550120"
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
"""A 1×1 PNG: a photo the service can fetch, keep and publish."""


class Chat:
    """One phone texting one Ardoise number; ``say`` returns the SMS that the command caused (new outbound
    rows of the watched businesses, oldest first)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        runner: Runner[Runtime],
        biz_ids: list[int],
        phone: str = OWNER,
        to: str = NUMBER,
    ) -> None:
        self.client, self.auth, self.runner = client, auth, runner
        self.biz_ids, self.phone, self.to = biz_ids, phone, to
        self.seen: set[int] = set()

    async def send(self, body: str, sid: str | None = None, fields: Mapping[str, str] | None = None) -> None:
        r = await send_sms(self.client, self.phone, self.to, body, sid=sid, **dict(fields or {}))
        assert r.status_code == 200, r.text
        assert "<Response" in r.text

    async def say(
        self, body: str, *, future: bool = False, fields: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        await self.send(body, fields=fields)
        await drain(self.runner, include_future=future)
        return await self.new()

    async def texts(self, body: str) -> list[str]:
        return [m["body"] for m in await self.say(body)]

    async def new(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for biz_id in self.biz_ids:
            out += [m for m in await messages(self.client, self.auth, biz_id, "out") if m["id"] not in self.seen]
        out.sort(key=lambda m: int(m["id"]))
        self.seen.update(m["id"] for m in out)
        return out


async def messages(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int, direction: str) -> list[Any]:
    r = await client.get(
        f"/api/v1/businesses/{biz_id}/messages", params={"direction": direction, "limit": 200}, headers=auth
    )
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


async def posts(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int) -> list[Any]:
    r = await client.get(f"/api/v1/businesses/{biz_id}/posts", headers=auth)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


def one_sms(msgs: list[dict[str, Any]]) -> str:
    """The body of the one SMS in ``msgs``, checked to be GSM-7 in one segment."""
    assert len(msgs) == 1, [m["body"] for m in msgs]
    m = msgs[0]
    assert m["encoding"] == "GSM-7", m
    assert m["segments"] == 1, m
    assert is_gsm7(m["body"])
    assert segment_info(m["body"]).segments == 1
    body: str = m["body"]
    return body


async def set_pin(client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], pin: str) -> None:
    """Give a PIN, through the admin API, to the member the API lists first: the newest (the owner while it is
    the only one)."""
    members = (await client.get(f"/api/v1/businesses/{biz['id']}/members", headers=auth)).json()["items"]
    r = await client.patch(
        f"/api/v1/businesses/{biz['id']}/members/{members[0]['id']}", headers=auth, json={"pin": pin}
    )
    assert r.status_code == 200, r.text
    assert r.json()["has_pin"] is True


@pytest.fixture
async def biz(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    b, _ = await make_business(client, auth, number=NUMBER, phone=OWNER)
    return b


@pytest.fixture
def chat(client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], biz: dict[str, Any]) -> Chat:
    return Chat(client, auth, runner, [biz["id"]])


@contextmanager
def serving_photo(data: bytes, content_type: str, name: str = "ME1") -> Iterator[dict[str, str]]:
    """A loopback HTTP server answering every GET with ``data``; yields the MMS fields of a message carrying it
    (``NumMedia``, ``MediaUrl0`` ending in ``name``, ``MediaContentType0``)."""

    class Photo(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Photo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        yield {"NumMedia": "1", "MediaUrl0": f"{base}/{name}", "MediaContentType0": content_type}
    finally:
        server.shutdown()
        server.server_close()
