"""A tiny Mastodon instance on loopback (a real HTTP server in a thread), for tests that need a network to
be slow, blocked, down or idempotent while a real worker (maybe another process) talks to it.

It implements what ``app/networks/mastodon/adapter.py`` calls: ``GET /api/v1/accounts/verify_credentials``,
``GET /api/v2/instance``, ``GET /api/v1/accounts/{id}/statuses``, ``GET /api/v1/notifications`` (always empty),
``POST /api/v1/statuses`` (honouring ``Idempotency-Key`` like Mastodon: the same key gives back the same status)
and ``DELETE /api/v1/statuses/{id}``. tests/resilience/mastodon_stub.py extends it with programmable faults.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.service import link
from app.kit.crypto import Vault
from app.models import NetworkAccount

ACCOUNT_ID = "109000000000000001"
TOKEN = "stub-token"
Reply = tuple[int, Any, dict[str, str]]  # status code, JSON body, extra headers


async def link_account(
    session: AsyncSession, vault: Vault, business_id: int, credentials: dict[str, str]
) -> NetworkAccount:
    """The business's Mastodon account ``@bistro@masto.test`` with ``credentials`` (usually the stub's), stored as
    the accounts API would after verifying it (encrypted)."""
    return await link(
        session,
        business_id=business_id,
        network="mastodon",
        handle="@bistro@masto.test",
        credentials=credentials,
        settings={},
        vault=vault,
        actor="test",
    )


@dataclass
class MastodonStub:
    base_url: str = ""
    # Behaviour
    block_first_status: bool = False  # the first POST /statuses waits for ``release`` before creating
    list_statuses: bool = True  # False: the account's timeline looks empty (a lagging instance)
    status_http_error: int | None = None  # answer every POST /statuses with this code (e.g. 503, 422)
    # What happened
    statuses: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_requests: int = 0
    idempotent_replays: int = 0
    deleted: list[str] = field(default_factory=list)
    keys_seen: list[str] = field(default_factory=list)
    # Handshake for the blocked request
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    created: threading.Event = field(default_factory=threading.Event)
    closing: threading.Event = field(default_factory=threading.Event)  # set when the server stops
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def creations(self) -> int:
        return len(self.statuses)

    def credentials(self) -> dict[str, str]:
        return {"instance_url": self.base_url, "access_token": TOKEN}

    def _status(self, text: str, visibility: str) -> dict[str, Any]:
        n = len(self.statuses) + 1
        sid = f"{int(ACCOUNT_ID) + n}"
        status = {
            "id": sid,
            "uri": f"{self.base_url}/users/bistro/statuses/{sid}",
            "url": f"{self.base_url}/@bistro/{sid}",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "content": "<p>" + html.escape(text).replace("\n", "<br>") + "</p>",
            "visibility": visibility,
            "in_reply_to_id": None,
            "reblog": None,
            "account": {"id": ACCOUNT_ID, "username": "bistro", "acct": "bistro"},
        }
        self.statuses.append(status)
        return status

    def post_status(self, form: dict[str, list[str]], key: str) -> Reply:
        with self.lock:
            self.status_requests += 1
            first = self.status_requests == 1
            if key:
                self.keys_seen.append(key)
            if self.status_http_error is not None:
                return self.status_http_error, {"error": "Service Unavailable"}, {}
            if key and key in self.by_key:
                self.idempotent_replays += 1
                return 200, self.by_key[key], {}
        if first and self.block_first_status:
            self.arrived.set()
            if not self.release.wait(60):
                return 500, {"error": "the test never released the request"}, {}
        with self.lock:
            if key and key in self.by_key:
                self.idempotent_replays += 1
                return 200, self.by_key[key], {}
            status = self._status(form.get("status", [""])[0], form.get("visibility", ["public"])[0])
            if key:
                self.by_key[key] = status
        self.created.set()
        return 200, status, {}


def _handler(stub: MastodonStub) -> type[BaseHTTPRequestHandler]:
    """The HTTP side; what a request does is the stub's (``post_status`` may be overridden)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client is gone (a SIGKILLed worker): the status exists all the same

        def _auth_ok(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "The access token is invalid"})
                return False
            return True

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if not self._auth_ok():
                return
            if path == "/api/v1/accounts/verify_credentials":
                self._send(200, {"id": ACCOUNT_ID, "username": "bistro", "acct": "bistro", "display_name": "Bistro"})
            elif path == "/api/v2/instance":
                self._send(
                    200,
                    {
                        "domain": "masto.test",
                        "configuration": {
                            "statuses": {"max_characters": 500, "characters_reserved_per_url": 23},
                            "media_attachments": {"description_limit": 1500},
                        },
                    },
                )
            elif path == f"/api/v1/accounts/{ACCOUNT_ID}/statuses":
                with stub.lock:
                    shown = list(reversed(stub.statuses)) if stub.list_statuses else []
                self._send(200, shown[:20])
            elif path == "/api/v1/notifications":
                self._send(200, [])
            else:
                self._send(404, {"error": "Record not found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if len(data) < length:
                # The client died mid-request (a SIGKILLed worker): like a real server, drop the partial
                # body instead of acting on a truncated form.
                self.close_connection = True
                return
            raw = data.decode()
            if not self._auth_ok():
                return
            if path != "/api/v1/statuses":
                self._send(404, {"error": "Record not found"})
                return
            code, body, headers = stub.post_status(parse_qs(raw), self.headers.get("Idempotency-Key", ""))
            self._send(code, body, headers)

        def do_DELETE(self) -> None:
            path = urlsplit(self.path).path
            if not self._auth_ok():
                return
            prefix = "/api/v1/statuses/"
            if path.startswith(prefix):
                sid = path[len(prefix) :]
                with stub.lock:
                    found = [s for s in stub.statuses if s["id"] == sid]
                    stub.deleted.append(sid)
                if found:
                    self._send(200, found[0])
                    return
            self._send(404, {"error": "Record not found"})

    return Handler


S = TypeVar("S", bound=MastodonStub)


@contextmanager
def serving(stub: S) -> Iterator[S]:
    """Serve ``stub`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.closing.set()
        stub.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def running_stub(stub: MastodonStub | None = None) -> AbstractContextManager[MastodonStub]:
    """Serve ``stub`` (a plain one by default) on 127.0.0.1 for the duration of the block."""
    return serving(stub or MastodonStub())
