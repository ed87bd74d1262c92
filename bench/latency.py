"""Post latency (issue 4): from an inbound SMS to the post being visible, and fan-out while one network hangs.

``.venv/bin/python bench/latency.py`` starts, on loopback and on free ports, its own ``ardoise serve`` (the embedded
default: SQLite, worker in-process, console SMS), a real local Bluesky network (``tests/bsky``: ``@atproto/dev-env``,
PostgreSQL 127.0.0.1:5432/test) and four small Mastodon-compatible stub servers (threads of this process). Then:

1. **SMS → Bluesky and page.** One business with its page and one Bluesky account (linked through
   ``POST /api/v1/businesses/{id}/accounts`` with ``pds_url`` pointing at the local PDS). ``--posts`` (50) signed Twilio
   webhooks ``PUBLIER …`` from the owner's phone, one after another: each is sent when the previous one is visible
   everywhere and its receipt is queued. For each: the webhook's acknowledgement, the first time the text is on
   ``GET /b/{slug}`` and in ``/b/{slug}/feed.atom``, in the account's repo on the PDS (``com.atproto.repo.listRecords``)
   and in ``app.bsky.feed.getAuthorFeed`` on the AppView, and when the receipt SMS was queued (its ``created_at``).
2. **Fan-out to 6 accounts.** A second business with the page, Bluesky and four Mastodon stubs. Phase "healthy":
   ``--fanout-posts`` posts with every stub answering. Phase "hang": the same accounts, but one stub now accepts every
   connection and never answers, so Ardoise's HTTP client hits its read timeout. Per account: the time from the
   webhook to the network having the post (stub: when it answered the status; Bluesky: PDS listRecords; page: the
   page) and to the delivery row leaving ``pending`` in the admin API; and the owner's receipt (text and time).

Times are measured from just before the webhook POST (``time.perf_counter``); polled ones (page, feed, PDS, AppView,
admin API) are first-seen times at a ``--poll`` interval (0.1 s: up to +0.1 s). Posts are strictly sequential.
Raw results go to ``bench/out/latency-<UTC>.json``; the markdown tables are printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `.venv/bin/python bench/latency.py`: sys.path[0] is bench/
    sys.path.insert(0, str(ROOT))

from bench.run import ARDOISE, TWILIO_TOKEN, Server, free_port, rss_mb, say, start  # noqa: E402
from tests.bsky_support import BskyAccount, BskyNet, bsky_network_mod  # noqa: E402

FORM = "application/x-www-form-urlencoded"
TARGET_P95_S = 2.0


# ------------------------------------------------------------------------------------------------ Mastodon stub


@dataclass
class MastoStub:
    """A Mastodon-compatible instance on loopback: what ``app/networks/mastodon/adapter.py`` calls, with timestamps.

    With ``hang`` set, every request is read and then never answered (the connection stays open until the stub
    stops), like an instance whose load balancer accepts connections but whose backend is stuck.
    """

    name: str
    hang: bool = False
    base_url: str = ""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)  # status text → perf_counter when answered
    arrivals: list[tuple[float, str]] = field(default_factory=list)  # (perf_counter, "METHOD path")
    open_hangs: int = 0  # requests being held right now (the client has not given up yet)
    max_open_hangs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    ACCOUNT_ID = "109000000000000001"

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _stub_handler(self))
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name=f"stub-{self.name}", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def credentials(self) -> dict[str, str]:
        return {"instance_url": self.base_url, "access_token": "stub-token"}

    def seen(self, marker: str) -> float | None:
        with self.lock:
            return next((t for text, t in self.created_at.items() if marker in text), None)

    def post_status(self, text: str, key: str) -> dict[str, Any]:
        with self.lock:
            if key and key in self.by_key:
                return self.by_key[key]
            sid = str(int(self.ACCOUNT_ID) + len(self.statuses) + 1)
            status = {
                "id": sid,
                "uri": f"{self.base_url}/users/bistro/statuses/{sid}",
                "url": f"{self.base_url}/@bistro/{sid}",
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "content": f"<p>{text}</p>",
                "visibility": "public",
                "in_reply_to_id": None,
                "reblog": None,
                "account": {"id": self.ACCOUNT_ID, "username": "bistro", "acct": "bistro"},
            }
            self.statuses.append(status)
            if key:
                self.by_key[key] = status
            self.created_at.setdefault(text, time.perf_counter())
            return status


def _stub_handler(stub: MastoStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            with contextlib.suppress(OSError):
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def _hang(self) -> bool:
            if not stub.hang:
                return False
            with stub.lock:
                stub.open_hangs += 1
                stub.max_open_hangs = max(stub.max_open_hangs, stub.open_hangs)
            while not stub.stopping.is_set():  # accept, read, never answer; notice when the client gives up
                readable, _, _ = select.select([self.connection], [], [], 0.2)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    break
            with stub.lock:
                stub.open_hangs -= 1
            self.close_connection = True
            return True

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            with stub.lock:
                stub.arrivals.append((time.perf_counter(), f"GET {path}"))
            if self._hang():
                return
            if path == "/api/v1/accounts/verify_credentials":
                self._send(200, {"id": stub.ACCOUNT_ID, "username": "bistro", "acct": "bistro", "display_name": ""})
            elif path == "/api/v2/instance":
                conf = {"statuses": {"max_characters": 500, "characters_reserved_per_url": 23}}
                self._send(200, {"domain": f"{stub.name}.test", "configuration": conf})
            elif path == f"/api/v1/accounts/{stub.ACCOUNT_ID}/statuses":
                with stub.lock:
                    shown = list(reversed(stub.statuses))[:20]
                self._send(200, shown)
            else:
                self._send(404, {"error": "Record not found"})

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            with stub.lock:
                stub.arrivals.append((time.perf_counter(), f"POST {path}"))
            if self._hang():
                return
            if path != "/api/v1/statuses":
                self._send(404, {"error": "Record not found"})
                return
            form = urllib.parse.parse_qs(raw)
            text = form.get("status", [""])[0]
            self._send(200, stub.post_status(text, self.headers.get("Idempotency-Key", "")))

    return Handler


# ----------------------------------------------------------------------------------------------------- helpers


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (p95 of 50 values is the 48th smallest)."""
    v = sorted(values)
    if not v:
        return None
    return round(v[max(0, math.ceil(q * len(v)) - 1)], 3)


def summary(values: list[float | None]) -> dict[str, Any]:
    ok = [x for x in values if x is not None]
    return {
        "n": len(ok),
        "missing": len(values) - len(ok),
        "p50": pct(ok, 0.50),
        "p95": pct(ok, 0.95),
        "max": round(max(ok), 3) if ok else None,
        "min": round(min(ok), 3) if ok else None,
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def parse_ts(s: str) -> float:
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def poll_until(fn: Callable[[], bool], t0: float, interval: float, timeout: float) -> float | None:
    """Seconds from ``t0`` (perf_counter) to the first poll where ``fn()`` is true; None at the timeout."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            if fn():
                return round(time.perf_counter() - t0, 3)
        time.sleep(interval)
    return None


@dataclass
class Ardoise:
    srv: Server
    key: str
    public_url: str
    db_path: Path

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.srv.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)


@dataclass
class Biz:
    id: int
    slug: str
    number: str
    owner: str
    accounts: dict[int, str] = field(default_factory=dict)  # account id → label ("page", "bluesky", "masto-3")
    bsky: BskyAccount | None = None


def start_ardoise(tmp: Path, concurrency: int) -> Ardoise:
    port, smtp_port = free_port(), free_port()
    work = tmp / "ardoise"
    work.mkdir()
    db_path = work / "ardoise.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        ARDOISE_DATABASE_URL=f"sqlite:///{db_path}",
        ARDOISE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ARDOISE_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        ARDOISE_SMS_PROVIDER="console",
        ARDOISE_ALLOW_PRIVATE_NETWORKS="1",  # the Mastodon/Bluesky/media stand-ins are on loopback
        ARDOISE_SMTP_PORT=str(smtp_port),
        ARDOISE_SECRET_KEY="bench-secret-key-" + secrets.token_hex(16),
        ARDOISE_SMS_COMMANDS_PER_HOUR="1000000",  # 50+ posts from one phone in a few minutes
        ARDOISE_WORKER_CONCURRENCY=str(concurrency),
        ARDOISE_MEDIA_DIR=str(work / "media"),
        ARDOISE_LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    subprocess_run([ARDOISE, "migrate"], env, work)
    key = subprocess_run([ARDOISE, "apikey", "create", "--name", "latency"], env, work).strip().splitlines()[-1]
    srv = start("ardoise", [ARDOISE, "serve", "--port", str(port)], env, work, port, "/readyz")
    return Ardoise(srv, key, f"http://127.0.0.1:{port}", db_path)


def subprocess_run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    return subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_business(a: Ardoise, slug: str, number: str, owner: str) -> Biz:
    with a.api() as c:
        biz = (
            c.post(
                "/api/v1/businesses",
                json={
                    "name": f"Bistro {slug}",
                    "slug": slug,
                    "timezone": "America/Toronto",
                    "language": "fr",
                    "sms_numbers": [number],
                },
            )
            .raise_for_status()
            .json()
        )
        for _ in range(100):  # the business's 201 can precede its commit (docs/performance.md, point 5)
            r = c.post(
                f"/api/v1/businesses/{biz['id']}/members",
                json={"name": "Proprio", "phone": owner, "language": "fr", "role": "owner"},
            )
            if r.status_code != 404:
                break
            time.sleep(0.05)
        r.raise_for_status()
        out = Biz(int(biz["id"]), slug, number, owner)
        for acct in c.get(f"/api/v1/businesses/{out.id}/accounts").raise_for_status().json()["items"]:
            out.accounts[int(acct["id"])] = acct["network"]
        return out


def link(a: Ardoise, biz: Biz, network: str, credentials: dict[str, str], label: str) -> None:
    with a.api() as c:
        r = c.post(f"/api/v1/businesses/{biz.id}/accounts", json={"network": network, "credentials": credentials})
        if r.status_code != 201:
            raise RuntimeError(f"linking {label} failed: {r.status_code} {r.text}")
        biz.accounts[int(r.json()["id"])] = label


def send_sms(a: Ardoise, http: httpx.Client, biz: Biz, body: str) -> tuple[float, float, float, int]:
    """POST one signed webhook, exactly as bench/run.py signs them. Returns (t0 perf, t0 wall, ack s, status)."""
    url = f"{a.public_url}/webhooks/twilio/sms"
    sid = "SM" + secrets.token_hex(16)
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": biz.owner,
        "To": biz.number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    payload = urllib.parse.urlencode(form)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": sig}
    t0w, t0 = time.time(), time.perf_counter()
    r = http.post(url, content=payload, headers=headers)
    return t0, t0w, round(time.perf_counter() - t0, 4), r.status_code


# ------------------------------------------------------------------------------------------------------ probes


class Probes:
    """Pollers run in threads after the webhook was acknowledged; each records its first-seen time."""

    def __init__(self, t0: float, interval: float, timeout: float) -> None:
        self.t0, self.interval, self.timeout = t0, interval, timeout
        self.results: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []

    def add(self, name: str, fn: Callable[[], bool]) -> None:
        def run() -> None:
            self.results[name] = poll_until(fn, self.t0, self.interval, self.timeout)

        th = threading.Thread(target=run, name=f"probe-{name}", daemon=True)
        self._threads.append(th)
        th.start()

    def add_thread(self, fn: Callable[[], None]) -> None:
        th = threading.Thread(target=fn, daemon=True)
        self._threads.append(th)
        th.start()

    def join(self) -> dict[str, Any]:
        for th in self._threads:
            th.join()
        return self.results


def page_has(base: str, slug: str, marker: str) -> Callable[[], bool]:
    c = httpx.Client(base_url=base, timeout=10)
    return lambda: marker in c.get(f"/b/{slug}").text


def feed_has(base: str, slug: str, marker: str) -> Callable[[], bool]:
    c = httpx.Client(base_url=base, timeout=10)
    return lambda: marker in c.get(f"/b/{slug}/feed.atom").text


def pds_has(net: BskyNet, did: str, marker: str) -> Callable[[], bool]:
    c = httpx.Client(timeout=10)

    def fn() -> bool:
        r = c.get(
            f"{net.pds}/xrpc/com.atproto.repo.listRecords",
            params={"repo": did, "collection": "app.bsky.feed.post", "limit": 100},
        )
        return any(marker in rec["value"].get("text", "") for rec in r.json()["records"])

    return fn


def appview_has(net: BskyNet, did: str, marker: str) -> Callable[[], bool]:
    c = httpx.Client(timeout=10)

    def fn() -> bool:
        r = c.get(f"{net.appview}/xrpc/app.bsky.feed.getAuthorFeed", params={"actor": did, "limit": 30})
        return any(marker in item["post"]["record"].get("text", "") for item in r.json()["feed"])

    return fn


def watch_deliveries(
    a: Ardoise,
    biz: Biz,
    marker: str,
    t0: float,
    interval: float,
    timeout: float,
    wait_for: set[int],
    out: dict[str, Any],
) -> Callable[[], None]:
    """Poll the admin API: when each delivery leaves ``pending`` (until every account in ``wait_for`` did)."""

    def run() -> None:
        deadline = time.perf_counter() + timeout
        done: dict[int, tuple[float, str]] = {}
        with a.api() as c:
            while time.perf_counter() < deadline:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    items = c.get(f"/api/v1/businesses/{biz.id}/posts", params={"limit": 5}).json()["items"]
                    post = next((p for p in items if marker in p["text"]), None)
                    if post is not None:
                        out["number"] = post["number"]
                        now = round(time.perf_counter() - t0, 3)
                        for d in post["deliveries"]:
                            if d["status"] != "pending" and d["account_id"] not in done:
                                done[d["account_id"]] = (now, d["status"])
                        if wait_for <= set(done):
                            break
                time.sleep(interval)
        out["deliveries"] = {biz.accounts.get(k, str(k)): {"api_s": v[0], "status": v[1]} for k, v in done.items()}

    return run


def receipts(a: Ardoise, biz: Biz) -> dict[int, dict[str, Any]]:
    """Receipt SMS to the owner, by post number: body, segments, created_at (wall time, seconds)."""
    out: dict[int, dict[str, Any]] = {}
    with a.api() as c:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"direction": "out", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = c.get(f"/api/v1/businesses/{biz.id}/messages", params=params).raise_for_status().json()
            for m in page["items"]:
                if m["kind"] in ("receipt", "followup"):
                    found = re.search(r"#(\d+)", m["body"])
                    if found:
                        row = {
                            "body": m["body"],
                            "segments": m["segments"],
                            "encoding": m["encoding"],
                            "at": parse_ts(m["created_at"]),
                        }
                        out.setdefault(int(found.group(1)), {})[m["kind"]] = row
            cursor = page["next_cursor"]
            if not cursor:
                return out


# --------------------------------------------------------------------------------------------------- scenarios


@dataclass
class Opts:
    posts: int
    warmup: int
    fanout_posts: int
    poll: float
    timeout: float
    concurrency: int


def scenario_single(a: Ardoise, net: BskyNet, opts: Opts) -> dict[str, Any]:
    """50 sequential posts: page + Bluesky; each waits for the previous one to be visible everywhere."""
    biz = make_business(a, "latence", "+15817000011", "+14185550111")
    acct = net.create_account("lat")
    biz.bsky = acct
    creds = {"handle": acct.handle, "app_password": acct.app_password, "pds_url": net.pds}
    link(a, biz, "bluesky", creds, "bluesky")
    say(f"   business {biz.slug}: accounts {biz.accounts}")
    run_tag = secrets.token_hex(3)
    rows: list[dict[str, Any]] = []
    load_start = loadavg()
    with httpx.Client(timeout=30) as http:
        for i in range(opts.warmup + opts.posts):
            marker = f"lat{run_tag}n{i:03d}"
            t0, t0w, ack, status = send_sms(a, http, biz, f"PUBLIER Menu du jour {marker} : jarret d'agneau")
            pr = Probes(t0, opts.poll, opts.timeout)
            pr.add("page_s", page_has(a.srv.base, biz.slug, marker))
            pr.add("feed_s", feed_has(a.srv.base, biz.slug, marker))
            pr.add("pds_s", pds_has(net, acct.did, marker))
            pr.add("appview_s", appview_has(net, acct.did, marker))
            api: dict[str, Any] = {}
            pr.add_thread(watch_deliveries(a, biz, marker, t0, opts.poll, opts.timeout, set(biz.accounts), api))
            res = pr.join()
            row: dict[str, Any] = {"i": i, "warmup": i < opts.warmup, "status": status, "ack_s": ack, **res}
            row.update(t0_wall=t0w, number=api.get("number"), deliveries=api.get("deliveries", {}))
            # the receipt is brought forward once both deliveries finished: wait for it before the next post
            deadline = time.perf_counter() + opts.timeout
            while row["number"] is not None and time.perf_counter() < deadline:
                got = receipts(a, biz).get(row["number"], {}).get("receipt")
                if got:
                    row["receipt_s"] = round(got["at"] - t0w, 3)
                    row["receipt"] = got["body"]
                    break
                time.sleep(opts.poll)
            rows.append(row)
            say(
                f"   #{i:02d} ack {ack * 1000:.0f} ms, page {res.get('page_s')}, pds {res.get('pds_s')}, "
                f"appview {res.get('appview_s')}, receipt {row.get('receipt_s')}"
            )
    load_end = loadavg()
    measured = [r for r in rows if not r["warmup"]]
    stats = {
        k: summary([r.get(k) for r in measured])
        for k in ("ack_s", "page_s", "feed_s", "pds_s", "appview_s", "receipt_s")
    }
    stats["bluesky_api_s"] = summary([r["deliveries"].get("bluesky", {}).get("api_s") for r in measured])
    stats["page_api_s"] = summary([r["deliveries"].get("page", {}).get("api_s") for r in measured])
    stats["both_s"] = summary(
        [
            max(r["page_s"], r["appview_s"]) if r.get("page_s") is not None and r.get("appview_s") is not None else None
            for r in measured
        ]
    )
    return {
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "bsky_handle": acct.handle,
        "stats": stats,
        "posts": rows,
        "non_200": sum(1 for r in rows if r["status"] != 200),
        "rss_mb_after": rss_mb(a.srv.proc.pid),
    }


def fanout_phase(
    a: Ardoise, net: BskyNet, biz: Biz, stubs: list[MastoStub], opts: Opts, phase: str, wait_for: set[int]
) -> dict[str, Any]:
    assert biz.bsky is not None
    did = biz.bsky.did
    run_tag = secrets.token_hex(3)
    rows: list[dict[str, Any]] = []
    load_start = loadavg()
    with httpx.Client(timeout=30) as http:
        for i in range(opts.fanout_posts):
            marker = f"fan{run_tag}{phase[0]}{i:02d}"
            hangs_open = {s.name: s.open_hangs for s in stubs if s.hang}
            t0, t0w, ack, status = send_sms(a, http, biz, f"PUBLIER Plat du jour {marker} : risotto")
            pr = Probes(t0, opts.poll, opts.timeout)
            pr.add("page", page_has(a.srv.base, biz.slug, marker))
            pr.add("bluesky", pds_has(net, did, marker))
            api: dict[str, Any] = {}
            pr.add_thread(watch_deliveries(a, biz, marker, t0, opts.poll, opts.timeout, wait_for, api))
            res = pr.join()
            net_s: dict[str, float | None] = {"page": res["page"], "bluesky": res["bluesky"]}
            for s in stubs:
                seen = s.seen(marker)
                net_s[s.name] = round(seen - t0, 3) if seen is not None else None
            rows.append(
                {
                    "i": i,
                    "status": status,
                    "ack_s": ack,
                    "t0_wall": t0w,
                    "t0_perf": t0,
                    "number": api.get("number"),
                    "network_s": net_s,
                    "deliveries": api.get("deliveries", {}),
                    "hanging_requests_open_at_send": hangs_open,
                }
            )
            shown = ", ".join(f"{k} {v}" for k, v in net_s.items())
            say(f"   {phase} #{i:02d} ack {ack * 1000:.0f} ms; network: {shown}; open hangs {hangs_open}")
    load_end = loadavg()
    return {"loadavg_start": load_start, "loadavg_end": load_end, "posts": rows}


def collect_receipts(a: Ardoise, biz: Biz, phase: dict[str, Any], wait_s: float, poll: float) -> None:
    """Wait (up to ``wait_s``) until every post of the phase has its receipt; add body and time to each row."""
    numbers = {r["number"] for r in phase["posts"] if r["number"] is not None}
    deadline = time.monotonic() + wait_s
    got: dict[int, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        got = receipts(a, biz)
        if all("receipt" in got.get(n, {}) for n in numbers):
            break
        time.sleep(max(poll, 1.0))
    for r in phase["posts"]:
        rec = got.get(r["number"], {}).get("receipt")
        if rec:
            r["receipt"] = rec["body"]
            r["receipt_segments"] = rec["segments"]
            r["receipt_encoding"] = rec["encoding"]
            r["receipt_s"] = round(rec["at"] - r["t0_wall"], 3)
        fu = got.get(r["number"], {}).get("followup")
        if fu:
            r["followup"] = fu["body"]
            r["followup_s"] = round(fu["at"] - r["t0_wall"], 3)


def phase_stats(phase: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"ack_s": summary([r["ack_s"] for r in phase["posts"]])}
    for lab in labels:
        out[f"{lab}.network_s"] = summary([r["network_s"].get(lab) for r in phase["posts"]])
        out[f"{lab}.api_s"] = summary([r["deliveries"].get(lab, {}).get("api_s") for r in phase["posts"]])
    out["receipt_s"] = summary([r.get("receipt_s") for r in phase["posts"]])
    return out


def scenario_fanout(a: Ardoise, net: BskyNet, opts: Opts, hang_timeout: float) -> dict[str, Any]:
    biz = make_business(a, "eventail", "+15817000012", "+14185550112")
    acct = net.create_account("fan")
    biz.bsky = acct
    link(a, biz, "bluesky", {"handle": acct.handle, "app_password": acct.app_password, "pds_url": net.pds}, "bluesky")
    stubs = [MastoStub(f"masto{k}") for k in range(1, 5)]
    for s in stubs:
        s.start()
    try:
        for s in stubs:
            link(a, biz, "mastodon", s.credentials(), s.name)
        say(f"   business {biz.slug}: accounts {biz.accounts}")
        labels = ["page", "bluesky", *[s.name for s in stubs]]
        everyone = set(biz.accounts)
        healthy = fanout_phase(a, net, biz, stubs, opts, "healthy", everyone)
        collect_receipts(a, biz, healthy, 30.0, opts.poll)
        healthy["stats"] = phase_stats(healthy, labels)
        hanging = stubs[-1]
        hanging.hang = True  # from now on: accept, read, never answer
        hang_id = next(k for k, v in biz.accounts.items() if v == hanging.name)
        hang = fanout_phase(a, net, biz, stubs, opts, "hang", everyone - {hang_id})
        say("   waiting for the receipts (due at the latest 60 s after each post)...")
        collect_receipts(a, biz, hang, 120.0, opts.poll)
        hang["stats"] = phase_stats(hang, labels)
        hang["hanging_stub"] = hanging.name
        hang["hanging_stub_max_open_requests"] = hanging.max_open_hangs
        first = hang["posts"][0]["t0_perf"] if hang["posts"] else 0.0
        hang["hanging_stub_requests"] = [[round(t - first, 3), what] for t, what in hanging.arrivals if t >= first]
        with a.api() as c:
            posts = c.get(f"/api/v1/businesses/{biz.id}/posts", params={"limit": 50}).json()["items"]
        hang["hanging_deliveries_at_end"] = [
            {"number": p["number"], **d} for p in posts for d in p["deliveries"] if d["account_id"] == hang_id
        ][: opts.fanout_posts]
        return {
            "accounts": {str(k): v for k, v in biz.accounts.items()},
            "http_read_timeout_s": hang_timeout,
            "healthy": healthy,
            "hang": hang,
        }
    finally:
        for s in stubs:
            s.stop()


# ------------------------------------------------------------------------------------------------------ report


def fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.2f}"


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    s1 = results.get("single")
    if s1:
        st = s1["stats"]
        lines += [
            f"Scenario 1: {st['ack_s']['n']} posts, load average {s1['loadavg_start']} → {s1['loadavg_end']}",
            "",
            "| from the webhook POST to … (s) | p50 | p95 | max | n | target |",
            "|---|---|---|---|---|---|",
        ]
        names = [
            ("ack_s", "webhook acknowledged (200)"),
            ("page_s", "visible on `/b/{slug}`"),
            ("feed_s", "in `/b/{slug}/feed.atom`"),
            ("pds_s", "Bluesky: record in the PDS repo (listRecords)"),
            ("appview_s", "Bluesky: in the AppView author feed"),
            ("both_s", "visible on both the page and the AppView"),
            ("bluesky_api_s", "Bluesky delivery `published` in the admin API"),
            ("receipt_s", "owner's receipt SMS queued"),
        ]
        for key, label in names:
            v = st[key]
            target = (
                f"p95 < {TARGET_P95_S:g} s: {'met' if v['p95'] is not None and v['p95'] < TARGET_P95_S else 'MISSED'}"
            )
            if key not in ("page_s", "appview_s", "both_s"):
                target = ""
            miss = f" ({v['missing']} missing)" if v["missing"] else ""
            lines.append(
                f"| {label} | {fmt(v['p50'])} | {fmt(v['p95'])} | {fmt(v['max'])} | {v['n']}{miss} | {target} |"
            )
    fo = results.get("fanout")
    if fo:
        lines += [
            "",
            f"Scenario 2: 6 accounts, {results['options']['fanout_posts']} posts per phase, "
            f"worker concurrency {results['options']['concurrency']}; load average healthy "
            f"{fo['healthy']['loadavg_start']} → {fo['healthy']['loadavg_end']}, hang "
            f"{fo['hang']['loadavg_start']} → {fo['hang']['loadavg_end']}",
            "",
            "| account | all healthy: p50 / p95 / max (s) | one hanging: p50 / p95 / max (s) |",
            "|---|---|---|",
        ]
        labels = ["page", "bluesky", "masto1", "masto2", "masto3", "masto4"]
        for lab in labels:
            cells = []
            for ph in ("healthy", "hang"):
                v = fo[ph]["stats"][f"{lab}.network_s"]
                if v["n"] == 0:
                    cells.append("never (hangs)" if lab == fo["hang"].get("hanging_stub") and ph == "hang" else "–")
                else:
                    cells.append(f"{fmt(v['p50'])} / {fmt(v['p95'])} / {fmt(v['max'])}")
            lines.append(f"| {lab} (network has it) | {cells[0]} | {cells[1]} |")
        for ph_key, what in (("ack_s", "webhook acknowledged"), ("receipt_s", "receipt SMS queued")):
            cells = []
            for ph in ("healthy", "hang"):
                v = fo[ph]["stats"][ph_key]
                cells.append(f"{fmt(v['p50'])} / {fmt(v['p95'])} / {fmt(v['max'])}")
            lines.append(f"| {what} | {cells[0]} | {cells[1]} |")
        for ph in ("healthy", "hang"):
            bodies = sorted({re.sub(r"#\d+", "#n", r.get("receipt", "(none)")) for r in fo[ph]["posts"]})
            lines.append(f"\nReceipts, {ph}: " + " | ".join(f"`{b}`" for b in bodies))
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def bluesky() -> Iterator[BskyNet]:
    problem = bsky_network_mod.install_problem()
    if problem:
        raise SystemExit(f"local Bluesky network unavailable: {problem}")
    with bsky_network_mod.bsky_network() as info:
        net = BskyNet(info)
        try:
            yield net
        finally:
            net.http.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=50, help="scenario 1: measured posts (sequential)")
    ap.add_argument("--warmup", type=int, default=2, help="scenario 1: posts sent first and not counted")
    ap.add_argument("--fanout-posts", type=int, default=8, help="scenario 2: posts per phase (healthy, hang)")
    ap.add_argument("--poll", type=float, default=0.1, help="seconds between polls of page, PDS, AppView, API")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one post to show up")
    ap.add_argument(
        "--concurrency", type=int, default=4, help="ARDOISE_WORKER_CONCURRENCY (default 4, the app's default)"
    )
    ap.add_argument("--only", choices=["single", "fanout"], default=None, help="run one scenario only")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = ap.parse_args(argv)
    opts = Opts(args.posts, args.warmup, args.fanout_posts, args.poll, args.timeout, args.concurrency)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "options": vars(opts),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "loadavg_start": loadavg(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="ardoise-latency-"))
    try:
        say("== starting the local Bluesky network")
        with bluesky() as net:
            results["bsky_start_s"] = net.info.get("start_s")
            say(f"== starting ardoise serve (SQLite, worker concurrency {opts.concurrency}) in {tmp}")
            a = start_ardoise(tmp, opts.concurrency)
            try:
                if args.only in (None, "single"):
                    say("== scenario 1: SMS → page and Bluesky")
                    results["single"] = scenario_single(a, net, opts)
                if args.only in (None, "fanout"):
                    say("== scenario 2: fan-out to 6 accounts, one hanging")
                    results["fanout"] = scenario_fanout(a, net, opts, 20.0)
            finally:
                a.srv.stop()
                log = a.srv.log.read_text(errors="replace")
                results["server_log_errors"] = [ln[:300] for ln in log.splitlines() if '"error"' in ln][-20:]
    finally:
        results["loadavg_end"] = loadavg()
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"latency-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(results, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    say("")
    say(report(results))
    say(f"\nraw results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
