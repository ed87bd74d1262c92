"""A small Mastodon-compatible server for the load run (``bench/load.py``), one account per access token.

``python bench/mastodon_server.py --port 0 --latency 0.05`` prints ``{"port": ...}`` once it listens. Any token
``tok-<n>`` is account ``n``. Endpoints: ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v2/instance``,
``GET /api/v1/accounts/{id}/statuses``, ``GET /api/v1/notifications`` (one mention per account, so the first poll
of an account stores one mention and the next ones nothing new), ``POST /api/v1/statuses`` (``Idempotency-Key``
honoured per account, as Mastodon does), ``DELETE /api/v1/statuses/{id}``, and ``GET /_bench/stats``: what the
network holds (creations, creations per key and per text, so duplicates can be counted, and polls per account).
It runs in its own process, so its CPU is not the load generator's or Ardoise's.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE_ID = 110_000_000_000


class State:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.statuses: dict[int, list[dict[str, Any]]] = {}  # account -> statuses, oldest first
        self.by_key: dict[tuple[int, str], dict[str, Any]] = {}
        self.created_per_key: Counter[str] = Counter()
        self.texts: Counter[str] = Counter()
        self.polls: Counter[int] = Counter()
        self.created = 0
        self.replays = 0
        self.started = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def stats(self, lo: int, hi: int) -> dict[str, Any]:
        """What accounts ``lo`` ≤ n < ``hi`` hold (one deployment's range)."""

        def mine(k: str) -> bool:
            return lo <= int(k.partition(":")[0]) < hi

        with self.lock:
            return {
                "statuses": sum(len(v) for n, v in self.statuses.items() if lo <= n < hi),
                "replays": self.replays,
                "duplicate_keys": sum(1 for k, n in self.created_per_key.items() if n > 1 and mine(k)),
                "duplicate_texts": sum(1 for k, n in self.texts.items() if n > 1 and mine(k)),
                "accounts_with_statuses": sum(1 for n in self.statuses if lo <= n < hi),
                "notification_polls": sum(c for n, c in self.polls.items() if lo <= n < hi),
                "accounts_polled": sum(1 for n in self.polls if lo <= n < hi),
            }


def handler(st: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        def _account(self) -> int | None:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer tok-") and auth[11:].isdigit():
                return int(auth[11:])
            self._send(401, {"error": "The access token is invalid"})
            return None

        def _acct(self, n: int) -> dict[str, Any]:
            return {"id": str(BASE_ID + n), "username": f"shop{n}", "acct": f"shop{n}", "display_name": f"Shop {n}"}

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/_bench/stats":
                q = parse_qs(url.query)
                self._send(200, st.stats(int(q.get("lo", ["0"])[0]), int(q.get("hi", ["1000000000"])[0])))
                return
            n = self._account()
            if n is None:
                return
            if url.path == "/api/v1/accounts/verify_credentials":
                self._send(200, self._acct(n))
            elif url.path == "/api/v2/instance":
                conf = {"statuses": {"max_characters": 500, "characters_reserved_per_url": 23}}
                self._send(200, {"domain": "masto.load.test", "configuration": conf})
            elif url.path == f"/api/v1/accounts/{BASE_ID + n}/statuses":
                with st.lock:
                    shown = list(reversed(st.statuses.get(n, [])))[:20]
                self._send(200, shown)
            elif url.path == "/api/v1/notifications":
                q = parse_qs(url.query)
                with st.lock:
                    st.polls[n] += 1
                if st.latency:
                    time.sleep(random.uniform(0, st.latency))
                min_id = q.get("min_id", ["0"])[0]
                if min_id.isdigit() and int(min_id) >= 1:
                    self._send(200, [])
                    return
                status = {
                    "id": str(BASE_ID * 10 + n),
                    "uri": f"https://masto.load.test/users/fan/statuses/{n}",
                    "url": f"https://masto.load.test/@fan/{n}",
                    "created_at": st.started,
                    "content": f"<p>@shop{n} Bravo pour le menu !</p>",
                    "in_reply_to_id": None,
                    "account": {"id": "1", "username": "fan", "acct": "fan"},
                }
                note = {"id": "1", "type": "mention", "created_at": st.started, "account": status["account"]}
                self._send(200, [note | {"status": status}])
            else:
                self._send(404, {"error": "Record not found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            n = self._account()
            if n is None:
                return
            if path != "/api/v1/statuses":
                self._send(404, {"error": "Record not found"})
                return
            form = parse_qs(raw)
            text = form.get("status", [""])[0]
            key = self.headers.get("Idempotency-Key", "")
            if st.latency:
                time.sleep(random.uniform(0, st.latency))
            with st.lock:
                if key and (n, key) in st.by_key:
                    st.replays += 1
                    self._send(200, st.by_key[(n, key)])
                    return
                st.created += 1
                sid = str(BASE_ID + 1_000_000 + st.created)
                status = {
                    "id": sid,
                    "uri": f"https://masto.load.test/users/shop{n}/statuses/{sid}",
                    "url": f"https://masto.load.test/@shop{n}/{sid}",
                    "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "content": "<p>" + html.escape(text) + "</p>",
                    "visibility": form.get("visibility", ["public"])[0],
                    "in_reply_to_id": None,
                    "reblog": None,
                    "account": self._acct(n),
                }
                st.statuses.setdefault(n, []).append(status)
                st.texts[f"{n}:{text}"] += 1
                if key:
                    st.by_key[(n, key)] = status
                    st.created_per_key[f"{n}:{key}"] += 1
            self._send(200, status)

        def do_DELETE(self) -> None:
            n = self._account()
            if n is None:
                return
            sid = urlsplit(self.path).path.rpartition("/")[2]
            with st.lock:
                found = [s for s in st.statuses.get(n, []) if s["id"] == sid]
            self._send(200 if found else 404, found[0] if found else {"error": "Record not found"})

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.05, help="random pause (0..s) before each creation/poll")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(State(args.latency)))
    server.daemon_threads = True
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
