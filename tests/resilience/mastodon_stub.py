"""A tiny Mastodon instance on loopback for the resilience tests: tests/worker/mastodon_stub.py extended with
programmable faults.

What it adds to the worker stub:

- ``plans``: faults for the next ``POST /api/v1/statuses`` attempts of the posts whose text contains a marker:
  ``"500"``, ``"429:<seconds>"`` (429 with ``Retry-After``), ``"hang"`` (no answer for ``hang_seconds``, past
  the client's timeout, then a 503 nobody reads: nothing is created), ``"block"`` (wait for ``release``, then
  go on normally: the network *does* create the status even if its client died waiting);
- ``latency``: a random pause (0..latency s) before each creation, so that a SIGKILL often lands mid-call;
- counts of what the network holds: ``created_per_key`` (creations per ``Idempotency-Key``; Mastodon gives the
  same status back for a key it has seen) and ``texts`` (statuses per text), and ``attempts`` with their times.

Endpoints: ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v2/instance``,
``GET /api/v1/accounts/{id}/statuses``, ``GET /api/v1/notifications`` (always empty), ``POST /api/v1/statuses``,
``DELETE /api/v1/statuses/{id}``.
"""

from __future__ import annotations

import html
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_ID = "109000000000000001"
TOKEN = "stub-token"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ``POST /api/v1/statuses`` as the network saw it."""

    at: float  # time.monotonic() when it arrived
    key: str
    text: str
    outcome: str  # created | replay | 500 | 429:N | hang | blocked


@dataclass
class FaultyMastodon:
    base_url: str = ""
    list_statuses: bool = True  # False: the account's timeline looks empty (a lagging instance)
    latency: float = 0.0
    hang_seconds: float = 4.0
    plans: dict[str, list[str]] = field(default_factory=dict)
    # What happened
    statuses: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_per_key: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    attempts: list[Attempt] = field(default_factory=list)
    # Handshake for "block"
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    closing: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def creations(self) -> int:
        return len(self.statuses)

    def credentials(self) -> dict[str, str]:
        return {"instance_url": self.base_url, "access_token": TOKEN}

    def attempts_for(self, marker: str) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if marker in a.text]

    def duplicates(self) -> dict[str, int]:
        """Keys or texts the network holds more than once (must stay empty)."""
        with self.lock:
            out = {f"key {k}": n for k, n in self.created_per_key.items() if n > 1}
            out.update({f"text {t!r}": n for t, n in self.texts.items() if n > 1})
        return out

    def _next_fault(self, text: str) -> str | None:
        for marker, plan in self.plans.items():
            if marker in text and plan:
                return plan.pop(0)
        return None

    def _create(self, text: str, visibility: str, key: str) -> dict[str, Any]:
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
        self.texts[text] += 1
        if key:
            self.by_key[key] = status
            self.created_per_key[key] += 1
        return status

    def post_status(self, form: dict[str, list[str]], key: str) -> tuple[int, Any, dict[str, str]]:
        text = form.get("status", [""])[0]
        visibility = form.get("visibility", ["public"])[0]
        with self.lock:
            fault = self._next_fault(text)
            self.attempts.append(Attempt(time.monotonic(), key, text, fault or "ok"))
            if key and key in self.by_key and fault is None:
                return 200, self.by_key[key], {}
        if fault == "500":
            return 500, {"error": "Internal Server Error"}, {}
        if fault is not None and fault.startswith("429"):
            wait = fault.partition(":")[2] or "1"
            return 429, {"error": "Too many requests"}, {"Retry-After": wait}
        if fault == "hang":
            self.closing.wait(self.hang_seconds)
            return 503, {"error": "upstream timed out"}, {}
        if fault == "block":
            self.arrived.set()
            if not self.release.wait(120):
                return 500, {"error": "the test never released the request"}, {}
        elif self.latency:
            time.sleep(random.uniform(0, self.latency))
        with self.lock:
            if key and key in self.by_key:
                return 200, self.by_key[key], {}
            return 200, self._create(text, visibility, key), {}


def _handler(stub: FaultyMastodon) -> type[BaseHTTPRequestHandler]:
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
                pass  # the client is gone (killed, or it timed out): what was created stays created

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
                if found:
                    self._send(200, found[0])
                    return
            self._send(404, {"error": "Record not found"})

    return Handler


@contextmanager
def running_stub(stub: FaultyMastodon | None = None) -> Iterator[FaultyMastodon]:
    """Serve ``stub`` on 127.0.0.1 (a free port) for the duration of the block."""
    stub = stub or FaultyMastodon()
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
