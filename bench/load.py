"""Issue 7's load run: sustained mixed traffic on SQLite (embedded) and on the PostgreSQL deployment.

``.venv/bin/python -m bench.load`` (``--help`` for the knobs) runs, for each deployment:

* (A) ``sqlite``: ``ardoise serve`` alone (API, worker, scheduler and SMTP listener in one process);
* (B) ``postgresql``: ``deploy/run-scaleout.sh start`` (2 API processes, 2 workers, 1 SMTP listener) on a database
  made for the run and dropped after it;

the same load: hundreds of businesses created through the admin API, each with an owner (phone and email) and a
Mastodon account on a local Mastodon-compatible server (``bench/mastodon_server.py``); a few of them also have a real
account on the local Bluesky network (``tests/bsky``). For ``--duration`` seconds, signed Twilio webhooks
(``PUBLIER``/``POST``, ``ETAT``/``STATUS``, ``AIDE``) and owners' emails (SMTP to the built-in listener, with an
``Authentication-Results`` header from a trusted authserv-id) arrive at fixed rates (open loop: latency is measured
from the moment a request was due, so a slow server cannot slow the load down), while every linked account is
polled for mentions: ``ARDOISE_MENTION_POLL_MINUTES=mastodon=1,bluesky=1``, so the scheduler enqueues one
``mentions.poll`` per account and minute, spread over the minute (``--inject-polls`` also inserts one poll per account
into the job table, spread over the load, for a checkout without that setting).

Every second it samples the job table (due and running jobs, age of the oldest due job) and, from /proc, CPU and RSS
of every process involved. Afterwards it waits for the queue to drain, reads the end-to-end latency of each post
from the database (inbound ``created_at`` → the last of its deliveries ``published_at``), checks that every accepted
inbound is stored once and made at most one post, and that no network holds a post twice, then writes
``bench/out/load-<UTC>.json`` and the plots (``bench/load_plot.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import psycopg
from twilio.request_validator import RequestValidator

if __package__ in (None, ""):  # `python bench/load.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_plot import plot
from bench.run import ARDOISE, ROOT, TWILIO_TOKEN, descendants, free_port, say, start, versions

SCALEOUT = ROOT / "deploy" / "run-scaleout.sh"
AUTHSERV = "mx.load.test"
MAIL_DOMAIN = "ardoise.localhost"
CLK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------------------ helpers


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 4)


def epoch(v: Any) -> float:
    """A database timestamp (naive UTC, as Ardoise stores them; a string on SQLite) as a Unix time."""
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    assert isinstance(v, datetime)
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return float(v.timestamp())


class Db:
    """Read-only queries on Ardoise's database (SQLite file or PostgreSQL), ``%s`` placeholders."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")

    def param_time(self, t: float) -> Any:
        d = datetime.fromtimestamp(t, UTC).replace(tzinfo=None)
        return d.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else d

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.sqlite:
            con = sqlite3.connect(self.url.split("///", 1)[1], timeout=30)
            try:
                return list(con.execute(sql.replace("%s", "?"), params).fetchall())
            finally:
                con.close()
        with psycopg.connect(self.url) as pg:
            return list(pg.execute(sql, params).fetchall())

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.rows(sql, params)[0][0]

    def execute(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        if self.sqlite:
            con = sqlite3.connect(self.url.split("///", 1)[1], timeout=60)
            try:
                con.executemany(sql.replace("%s", "?"), params)
                con.commit()
            finally:
                con.close()
            return
        with psycopg.connect(self.url) as pg, pg.cursor() as cur:
            cur.executemany(sql, params)


def proc_sample(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, RSS MiB) of one process, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK, rss / 1024


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------------------ sampler


class Sampler(threading.Thread):
    """Every second: the job table, and CPU/RSS of each tracked process (and of PostgreSQL's backends on our DB)."""

    def __init__(self, db: Db, procs: dict[str, int], t0: float, pg_db: str | None) -> None:
        super().__init__(daemon=True)
        self.db, self.procs, self.t0, self.pg_db = db, dict(procs), t0, pg_db
        self.stop_event = threading.Event()
        self.queue: list[dict[str, Any]] = []
        self.proc: dict[str, list[tuple[float, float, float]]] = {n: [] for n in procs}
        self.errors = 0
        if pg_db:
            self.proc["postgres backends (this DB)"] = []

    def _pg_pids(self) -> list[int]:
        assert self.pg_db is not None
        with psycopg.connect(self.db.url.rsplit("/", 1)[0] + "/postgres") as pg:
            rows = pg.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.pg_db,)).fetchall()
        return [int(r[0]) for r in rows]

    def run(self) -> None:
        last: dict[int, float] = {}
        last_t = time.time()
        sql = (
            "SELECT SUM(CASE WHEN state = 'queued' AND run_at <= %s THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END),"
            " MIN(CASE WHEN state = 'queued' AND run_at <= %s THEN run_at END),"
            " SUM(CASE WHEN state = 'queued' AND run_at > %s THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) FROM job"
        )
        while not self.stop_event.wait(max(0.0, 1.0 - (time.time() - last_t) % 1.0)):
            now = time.time()
            dt = now - last_t
            last_t = now
            rel = round(now - self.t0, 2)
            try:
                p = self.db.param_time(now)
                due, running, oldest, later, done, dead = self.db.rows(sql, (p, p, p))[0]
                self.queue.append(
                    {
                        "t": rel,
                        "due": int(due or 0),
                        "running": int(running or 0),
                        "oldest_due_age_s": round(now - epoch(oldest), 2) if oldest is not None else 0.0,
                        "scheduled_later": int(later or 0),
                        "done": int(done or 0),
                        "dead": int(dead or 0),
                    }
                )
            except Exception:
                self.errors += 1
            groups: dict[str, list[int]] = {n: [pid] for n, pid in self.procs.items()}
            if self.pg_db:
                with contextlib.suppress(Exception):
                    groups["postgres backends (this DB)"] = self._pg_pids()
            for name, pids in groups.items():
                cpu, rss, seen = 0.0, 0.0, False
                for pid in pids:
                    s = proc_sample(pid)
                    if s is None:
                        continue
                    seen = True
                    if pid in last:
                        cpu += s[0] - last[pid]
                    last[pid] = s[0]
                    rss += s[1]
                if seen:
                    self.proc[name].append((rel, round(100 * cpu / dt, 1), round(rss, 1)))


# ------------------------------------------------------------------------------------------------------ load client


@dataclass
class Sent:
    kind: str  # sms | email
    command: str
    due: float  # Unix time the request was due
    key: str  # MessageSid or Message-ID
    business: int
    ack_s: float = -1.0
    status: int = 0
    error: str = ""


class HttpPool:
    """Keep-alive HTTP/1.1 connections to the API processes, handed out round-robin (a load balancer)."""

    def __init__(self, ports: list[int], size: int) -> None:
        self.ports, self.size = ports, size
        self.free: asyncio.Queue[tuple[int, asyncio.StreamReader | None, asyncio.StreamWriter | None]] = asyncio.Queue()
        for i in range(size):
            self.free.put_nowait((ports[i % len(ports)], None, None))

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        port, reader, writer = await self.free.get()
        try:
            for attempt in (1, 2):
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                head += f"Content-Length: {len(body)}\r\n\r\n"
                try:
                    writer.write(head.encode() + body)
                    status_line = await reader.readline()
                    if not status_line:
                        raise ConnectionResetError("closed")
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    await reader.readexactly(length)
                    return int(status_line.split()[1])
                except (OSError, asyncio.IncompleteReadError):
                    writer.close()
                    reader, writer = None, None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        finally:
            self.free.put_nowait((port, reader, writer))


SMS_MIX = ["PUBLIER", "PUBLIER", "PUBLIER", "PUBLIER", "PUBLIER", "PUBLIER", "POST", "ETAT", "STATUS", "AIDE"]
MAIL_MIX = ["PUBLIER", "PUBLIER", "PUBLIER", "POST", "ETAT"]
DISHES = [
    "soupe aux pois",
    "jarret d'agneau",
    "tourtiere",
    "pate chinois",
    "risotto aux chanterelles",
    "tarte au sucre",
]


def sms_form(tag: str, i: int, biz: int, command: str) -> tuple[str, dict[str, str]]:
    sid = f"SMl{tag}{i:07d}"
    if command in ("PUBLIER", "POST"):
        body = f"{command} Menu {tag}-s{i} : {DISHES[i % len(DISHES)]}, commerce {biz}"
    else:
        body = command
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": member_phone(biz),
        "To": biz_number(biz),
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    return sid, form


def mail(tag: str, j: int, biz: int, command: str) -> tuple[str, bytes, str]:
    msg = EmailMessage()
    frm = member_email(biz)
    dom = frm.rpartition("@")[2]
    mid = f"<load-{tag}-{j}@{dom}>"
    msg["From"] = f"Proprio {biz} <{frm}>"
    msg["To"] = f"{slug(biz)}@{MAIL_DOMAIN}"
    msg["Subject"] = command
    msg["Message-ID"] = mid
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Authentication-Results"] = (
        f"{AUTHSERV}; spf=pass smtp.mailfrom={frm}; dkim=pass header.d={dom}; dmarc=pass header.from={dom}"
    )
    if command in ("PUBLIER", "POST"):
        msg.set_content(f"Menu {tag}-m{j} : {DISHES[j % len(DISHES)]}, commerce {biz}.\n\nEnvoye de mon iPhone\n")
    else:
        msg.set_content("\n")
    return mid, msg.as_bytes(), frm


def slug(b: int) -> str:
    return f"load-{b:03d}"


def biz_number(b: int) -> str:
    return f"+1581700{b:04d}"


def member_phone(b: int) -> str:
    return f"+1418555{b:04d}"


def member_email(b: int) -> str:
    return f"proprio{b}@shop{b}.test"


async def drive(
    opts: Options, api_ports: list[int], smtp_port: int, public_url: str, businesses: int, tag: str, bsky_n: int
) -> list[Sent]:
    """Send the load for ``opts.duration`` seconds at fixed rates, then wait for every request to finish."""
    validator = RequestValidator(TWILIO_TOKEN)
    signed_url = public_url + "/webhooks/twilio/sms"
    pool = HttpPool(api_ports, opts.connections)
    mail_slots = asyncio.Semaphore(opts.connections)
    t0 = time.time() + 0.2
    events: list[tuple[float, str, int]] = []
    n_sms, n_mail = int(opts.duration * opts.sms_rate), int(opts.duration * opts.mail_rate)
    events += [(t0 + i / opts.sms_rate, "sms", i) for i in range(n_sms)]
    events += [(t0 + (j + 0.5) / opts.mail_rate, "email", j) for j in range(n_mail)] if opts.mail_rate else []
    events.sort()
    rng = random.Random(7)
    out: list[Sent] = []

    async def one_sms(s: Sent, form: dict[str, str]) -> None:
        sig = validator.compute_signature(signed_url, form)
        body = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
        try:
            s.status = await pool.post("/webhooks/twilio/sms", body, headers)
        except Exception as exc:
            s.error = type(exc).__name__
        s.ack_s = time.time() - s.due

    async def one_mail(s: Sent, raw: bytes, frm: str) -> None:
        async with mail_slots:
            try:
                await aiosmtplib.send(
                    raw, sender=frm, recipients=[f"{slug(s.business)}@{MAIL_DOMAIN}"], hostname="127.0.0.1",
                    port=smtp_port, timeout=60, start_tls=False, use_tls=False,
                )  # fmt: skip
                s.status = 250
            except aiosmtplib.SMTPResponseException as exc:
                s.status, s.error = exc.code, exc.message[:100]
            except Exception as exc:
                s.error = type(exc).__name__
        s.ack_s = time.time() - s.due

    tasks: list[asyncio.Task[None]] = []
    for due, kind, i in events:
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # one message in ten goes to a business with a Bluesky account, so that a few dozen posts reach Bluesky
        biz = rng.randrange(bsky_n) if bsky_n and rng.random() < 0.1 else rng.randrange(businesses)
        if kind == "sms":
            command = SMS_MIX[i % len(SMS_MIX)]
            sid, form = sms_form(tag, i, biz, command)
            s = Sent("sms", command, due, sid, biz)
            tasks.append(asyncio.create_task(one_sms(s, form)))
        else:
            command = MAIL_MIX[i % len(MAIL_MIX)]
            mid, raw, frm = mail(tag, i, biz, command)
            s = Sent("email", command, due, mid, biz)
            tasks.append(asyncio.create_task(one_mail(s, raw, frm)))
        out.append(s)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
    return out


# -------------------------------------------------------------------------------------------------- infrastructure


@dataclass
class Options:
    businesses: int
    bluesky_accounts: int
    duration: float
    sms_rate: float
    mail_rate: float
    connections: int
    drain_timeout: float
    mastodon_latency: float
    inject_polls: bool


@dataclass
class Shared:
    masto_url: str
    masto_pid: int
    bsky: dict[str, Any] | None
    bsky_pid: int | None
    bsky_accounts: list[dict[str, str]] = field(default_factory=list)
    masto_offset: int = 0  # Mastodon account numbers of the current deployment start here


def load_bsky_module() -> Any:
    spec = importlib.util.spec_from_file_location("bsky_network", ROOT / "tests" / "bsky" / "bsky_network.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bsky_account(pds: str) -> dict[str, str]:
    """A new account on the local PDS with an app password (raw XRPC, as tests/bsky_support.py does)."""
    handle = f"ld{uuid.uuid4().hex[:10]}.test"
    password = "main-" + uuid.uuid4().hex
    with httpx.Client(base_url=pds, timeout=30) as c:
        out = c.post(
            "/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.test", "password": password},
        ).raise_for_status()
        acct = out.json()
        app = c.post(
            "/xrpc/com.atproto.server.createAppPassword",
            headers={"Authorization": f"Bearer {acct['accessJwt']}"},
            json={"name": "ardoise-load"},
        ).raise_for_status()
    return {"handle": handle, "did": acct["did"], "app_password": app.json()["password"], "pds_url": pds}


def bsky_posts(pds: str, did: str) -> list[str]:
    """Texts of every post in one account's repository."""
    texts: list[str] = []
    cursor = None
    with httpx.Client(base_url=pds, timeout=30) as c:
        while True:
            params = {"repo": did, "collection": "app.bsky.feed.post", "limit": "100"}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/xrpc/com.atproto.repo.listRecords", params=params).raise_for_status().json()
            texts += [str(r["value"].get("text", "")) for r in page.get("records", [])]
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return texts


async def setup_businesses(
    base: str, key: str, opts: Options, shared: Shared, bsky: list[dict[str, str]]
) -> dict[str, Any]:
    """Businesses, owners and accounts through the admin API (8 at a time)."""
    auth = {"Authorization": f"Bearer {key}"}
    slots = asyncio.Semaphore(8)
    stats: dict[str, float] = {
        "read_after_create_404s": 0,
        "bluesky_link_retries": 0,
        "bluesky_linked": 0,
        "mastodon_linked": 0,
    }

    async def retry(c: httpx.AsyncClient, url: str, body: dict[str, Any], what: str) -> httpx.Response:
        for n in range(40):
            r = await c.post(url, json=body)
            if r.status_code == 201:
                return r
            if r.status_code == 404:
                stats["read_after_create_404s"] += 1
            elif what == "bluesky":
                stats["bluesky_link_retries"] += 1
            else:
                r.raise_for_status()
            await asyncio.sleep(0.05 * (n + 1))
        r.raise_for_status()
        return r

    async def one(c: httpx.AsyncClient, b: int) -> None:
        async with slots:
            body = {
                "name": f"Commerce {b}",
                "slug": slug(b),
                "timezone": "America/Toronto",
                "language": "fr",
                "sms_numbers": [biz_number(b)],
            }
            biz = (await c.post("/api/v1/businesses", json=body)).raise_for_status().json()
            member = {"name": f"Proprio {b}", "phone": member_phone(b), "email": member_email(b), "language": "fr"}
            await retry(c, f"/api/v1/businesses/{biz['id']}/members", member | {"role": "owner"}, "member")
            creds = {"instance_url": shared.masto_url, "access_token": f"tok-{shared.masto_offset + b}"}
            await retry(
                c, f"/api/v1/businesses/{biz['id']}/accounts", {"network": "mastodon", "credentials": creds}, ""
            )
            stats["mastodon_linked"] += 1
            if b < len(bsky):
                a = bsky[b]
                creds = {"handle": a["handle"], "app_password": a["app_password"], "pds_url": a["pds_url"]}
                await retry(
                    c,
                    f"/api/v1/businesses/{biz['id']}/accounts",
                    {"network": "bluesky", "credentials": creds},
                    "bluesky",
                )
                stats["bluesky_linked"] += 1

    t = time.monotonic()
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as c:
        await asyncio.gather(*(one(c, b) for b in range(opts.businesses)))
    stats["setup_s"] = round(time.monotonic() - t, 1)
    return stats


def inject_polls(db: Db, start: float, spread: float) -> int:
    """One ``mentions.poll`` per linked Mastodon/Bluesky account, due times spread over the load window."""
    accounts = db.rows("SELECT id, business_id FROM networkaccount WHERE network IN ('mastodon', 'bluesky')")
    now = db.param_time(time.time())
    rows = []
    for k, (aid, bid) in enumerate(accounts):
        run_at = db.param_time(start + spread * k / max(1, len(accounts)))
        payload = json.dumps({"account_id": aid})
        rows.append(("mentions.poll", payload, "queued", f"loadpoll:{aid}", 0, 3, run_at, bid, now))
    cast = "" if db.sqlite else "::json"
    db.execute(
        "INSERT INTO job (kind, payload, state, dedup_key, attempts, max_attempts, run_at, business_id, created_at)"
        f" VALUES (%s, %s{cast}, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )
    return len(rows)


# ---------------------------------------------------------------------------------------------------- deployments


@dataclass
class Deployment:
    name: str
    db: Db
    api_ports: list[int]
    smtp_port: int
    public_url: str
    procs: dict[str, int]
    stop: Any
    pg_db: str | None = None
    logs: Path | None = None


def base_env(db_url: str, public_url: str, smtp_port: int, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        ARDOISE_DATABASE_URL=db_url,
        ARDOISE_PUBLIC_URL=public_url,
        ARDOISE_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        ARDOISE_SMS_PROVIDER="console",
        ARDOISE_ALLOW_PRIVATE_NETWORKS="1",  # the Mastodon/Bluesky stand-ins are on loopback
        ARDOISE_SMTP_PORT=str(smtp_port),
        ARDOISE_SMTP_HOST="127.0.0.1",
        ARDOISE_SECRET_KEY="load-secret-key-" + uuid.uuid4().hex,
        ARDOISE_SMS_COMMANDS_PER_HOUR="1000000",
        ARDOISE_SMTP_RATE_PER_MINUTE="1000000",
        ARDOISE_EMAIL_TRUSTED_AUTHSERV_IDS=AUTHSERV,
        ARDOISE_EMAIL_VERIFY_DKIM="false",
        ARDOISE_MAIL_DOMAIN=MAIL_DOMAIN,
        # every linked account is polled once a minute (production default: 5), spread over the minute
        ARDOISE_MENTION_POLL_MINUTES="mastodon=1,bluesky=1",
        ARDOISE_MEDIA_DIR=str(work / "media"),
        ARDOISE_LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    return env


def apikey(env: dict[str, str], work: Path) -> str:
    out = subprocess.run(
        [ARDOISE, "apikey", "create", "--name", "load"], env=env, cwd=work, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def start_sqlite(work: Path) -> tuple[Deployment, str]:
    port, smtp = free_port(), free_port()
    url = f"sqlite:///{work}/ardoise.db"
    env = base_env(url, f"http://127.0.0.1:{port}", smtp, work)
    subprocess.run([ARDOISE, "migrate"], env=env, cwd=work, check=True, capture_output=True)
    key = apikey(env, work)
    srv = start("ardoise-serve", [ARDOISE, "serve", "--port", str(port)], env, work, port, "/readyz")
    dep = Deployment("sqlite", Db(url), [port], smtp, srv.base, {"ardoise serve (all-in-one)": srv.proc.pid}, srv.stop)
    dep.logs = work
    return dep, key


def start_postgres(work: Path, pg: str) -> tuple[Deployment, str]:
    name = f"ardoise_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.rstrip("/") + "/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    url = f"{pg.rstrip('/')}/{name}"
    p1, p2, smtp = free_port(), free_port(), free_port()
    env = base_env(url, f"http://127.0.0.1:{p1}", smtp, work)
    env.update(ARDOISE_RUN_DIR=str(work / "run"), ARDOISE_API_PORTS=f"{p1} {p2}", ARDOISE_BIN=ARDOISE)

    def drop() -> None:
        with psycopg.connect(pg.rstrip("/") + "/postgres", autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop() -> None:
        subprocess.run([str(SCALEOUT), "stop"], env=env, cwd=work, check=False, capture_output=True, timeout=60)
        drop()

    try:
        subprocess.run([str(SCALEOUT), "start"], env=env, cwd=work, check=True, capture_output=True, timeout=180)
    except subprocess.SubprocessError:
        stop()
        raise
    procs: dict[str, int] = {}
    for line in (work / "run" / "ardoise.pids").read_text().splitlines():
        n, pid = line.split()
        procs[n.replace(f"api-{p1}", "api-1").replace(f"api-{p2}", "api-2")] = int(pid)
    key = apikey(env, work)
    dep = Deployment("postgresql", Db(url), [p1, p2], smtp, f"http://127.0.0.1:{p1}", procs, stop, name)
    dep.logs = work / "run"
    return dep, key


# ---------------------------------------------------------------------------------------------------------- the run


def wait_drained(db: Db, timeout: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        p = db.param_time(time.time())
        busy = db.one("SELECT count(*) FROM job WHERE (state = 'queued' AND run_at <= %s) OR state = 'running'", (p,))
        pending = db.one("SELECT count(*) FROM delivery WHERE status = 'pending'")
        if busy == 0 and pending == 0:
            return round(time.monotonic() - t0, 1)
        time.sleep(1.0)
    return None


def analyse(dep: Deployment, sent: list[Sent], t0: float, t_end: float, shared: Shared) -> dict[str, Any]:
    db = dep.db
    sms_ok = [s for s in sent if s.kind == "sms" and 200 <= s.status < 300]
    mail_ok = [s for s in sent if s.kind == "email" and s.status == 250]
    keys = {s.key for s in sms_ok} | {s.key for s in mail_ok}
    stored = db.rows("SELECT id, channel, provider_id, body, status, created_at FROM inboundmessage")
    by_key: dict[str, int] = {}
    for row in stored:
        by_key[row[2]] = by_key.get(row[2], 0) + 1
    ours = {k: by_key.get(k, 0) for k in keys}
    sent_keys = {s.key for s in sent}
    posts = db.rows(
        "SELECT p.id, p.source_message_id, p.source, p.created_at, i.created_at, i.provider_id, p.status"
        " FROM post p LEFT JOIN inboundmessage i ON i.id = p.source_message_id"
    )
    per_source: dict[Any, int] = {}
    for p in posts:
        per_source[p[1]] = per_source.get(p[1], 0) + 1
    publishing_ok = {s.key for s in sms_ok + mail_ok if s.command in ("PUBLIER", "POST")}
    posts_from_ours = [p for p in posts if p[5] in publishing_ok]
    deliveries = db.rows(
        "SELECT d.post_id, d.network, d.status, d.published_at, d.updated_at, d.account_id, d.remote_id FROM delivery d"
    )
    by_post: dict[int, list[tuple[Any, ...]]] = {}
    for d in deliveries:
        by_post.setdefault(int(d[0]), []).append(d)
    e2e: list[dict[str, Any]] = []
    for p in posts_from_ours:
        ds = by_post.get(int(p[0]), [])
        if not ds or any(d[2] == "pending" for d in ds):
            continue
        done = max(epoch(d[3] or d[4]) for d in ds)
        first = min(epoch(d[3] or d[4]) for d in ds)
        inbound = epoch(p[4])
        e2e.append(
            {
                "t": round(inbound - t0, 2),
                "channel": "email" if p[2] == "email" else "sms",
                "post_s": round(epoch(p[3]) - inbound, 3),
                "first_delivery_s": round(first - inbound, 3),
                "done_s": round(done - inbound, 3),
                "done_t": round(done - t0, 2),
                "networks": sorted({str(d[1]) for d in ds}),
            }
        )
    dur = t_end - t0
    done_in_window = [e for e in e2e if e["done_t"] <= dur]
    remote_dups = 0
    remote_same_id = db.one(
        "SELECT count(*) FROM (SELECT account_id, remote_id FROM delivery WHERE remote_id IS NOT NULL"
        " GROUP BY account_id, remote_id HAVING count(*) > 1) x"
    )
    lo, hi = shared.masto_offset, shared.masto_offset + 100_000
    masto = httpx.get(shared.masto_url + "/_bench/stats", params={"lo": lo, "hi": hi}, timeout=30).json()
    bsky_check: dict[str, Any] = {}
    if shared.bsky:
        linked = db.rows(
            "SELECT a.id, a.handle FROM networkaccount a WHERE a.network = 'bluesky'",
        )
        published = {
            int(r[0]): int(r[1])
            for r in db.rows(
                "SELECT account_id, count(*) FROM delivery WHERE network = 'bluesky' AND status = 'published'"
                " GROUP BY account_id"
            )
        }
        by_handle = {a["handle"]: a for a in shared.bsky_accounts}
        records = dup = 0
        for aid, handle in linked:
            a = by_handle.get(str(handle).lstrip("@"))
            if a is None:
                continue
            texts = [t for t in bsky_posts(a["pds_url"], a["did"]) if "commerce" in t]
            records += len(texts)
            dup += len(texts) - len(set(texts))
            remote_dups += max(0, len(texts) - published.get(int(aid), 0))
        bsky_check = {
            "accounts": len(linked),
            "records": records,
            "published_deliveries": sum(published.values()),
            "duplicate_texts": dup,
        }
    deliveries_by = db.rows("SELECT network, status, count(*) FROM delivery GROUP BY network, status")
    jobs_by = db.rows("SELECT kind, state, count(*) FROM job GROUP BY kind, state")
    polls = [r for r in jobs_by if r[0] == "mentions.poll"]
    mentions = db.one("SELECT count(*) FROM mention")
    cursors = db.one("SELECT count(*) FROM mentioncursor WHERE polled_at IS NOT NULL")
    acks = {k: [s.ack_s for s in sent if s.kind == k and s.ack_s >= 0 and not s.error] for k in ("sms", "email")}
    masto_published = sum(int(r[2]) for r in deliveries_by if r[0] == "mastodon" and r[1] == "published")
    inbound_status: dict[str, int] = {}
    for row in stored:
        inbound_status[f"{row[1]}:{row[4]}"] = inbound_status.get(f"{row[1]}:{row[4]}", 0) + 1
    return {
        "load_window_s": round(dur, 1),
        "sent": {"sms": sum(s.kind == "sms" for s in sent), "email": sum(s.kind == "email" for s in sent)},
        "accepted": {"sms": len(sms_ok), "email": len(mail_ok)},
        "refused_or_failed": [
            {"kind": s.kind, "status": s.status, "error": s.error} for s in sent if s.key not in keys
        ][:20],
        "accepted_per_s": round((len(sms_ok) + len(mail_ok)) / dur, 2),
        "ack_ms": {
            k: {"p50": _ms(pct(v, 0.5)), "p90": _ms(pct(v, 0.9)), "p99": _ms(pct(v, 0.99)), "max": _ms(max(v or [0]))}
            for k, v in acks.items()
        },
        "stored": {
            "accepted_stored_once": sum(1 for n in ours.values() if n == 1),
            "accepted_missing": sum(1 for n in ours.values() if n == 0),
            "accepted_stored_twice_or_more": sum(1 for n in ours.values() if n > 1),
            "rows_not_sent_by_us": sum(1 for k in by_key if k not in sent_keys),
            "inbound_status": inbound_status,
        },
        "posts": {
            "accepted_publish_commands": len(publishing_ok),
            "posts_from_them": len(posts_from_ours),
            "publish_commands_without_post": len(publishing_ok - {p[5] for p in posts_from_ours}),
            "inbound_with_more_than_one_post": sum(1 for k, n in per_source.items() if k is not None and n > 1),
            "posts_total": len(posts),
            "finished": len(e2e),
            "finished_within_load_window": len(done_in_window),
            "delivered_per_s_within_load_window": round(len(done_in_window) / dur, 2),
            "delivered_per_s_overall": round(len(e2e) / max(1e-9, max([e["done_t"] for e in e2e] or [dur])), 2),
        },
        "e2e_s": {
            k: {"p50": pct(v, 0.5), "p90": pct(v, 0.9), "p99": pct(v, 0.99), "max": max(v or [0])}
            for k, v in (
                ("post_created", [e["post_s"] for e in e2e]),
                ("first_delivery", [e["first_delivery_s"] for e in e2e]),
                ("all_deliveries_done", [e["done_s"] for e in e2e]),
                ("all_deliveries_done_within_load", [e["done_s"] for e in done_in_window]),
            )
        },
        "deliveries_by_network_status": [list(r) for r in deliveries_by],
        "duplicates": {
            "same_remote_id_twice_for_one_account": int(remote_same_id),
            "mastodon": masto,
            "mastodon_statuses_vs_published_deliveries": [masto["statuses"], masto_published],
            "bluesky": bsky_check,
            "bluesky_records_beyond_published": remote_dups,
        },
        "mentions": {
            "poll_jobs_by_state": {str(r[1]): int(r[2]) for r in polls},
            "accounts_polled": int(cursors),
            "mentions_stored": int(mentions),
        },
        "jobs_by_kind_state": [list(r) for r in jobs_by],
        "e2e": e2e,
        "acks": [
            {"t": round(s.due - t0, 3), "kind": s.kind, "ack_s": round(s.ack_s, 4), "status": s.status} for s in sent
        ],
    }


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def summarise_procs(samples: dict[str, list[tuple[float, float, float]]], dur: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rows in samples.items():
        load = [r for r in rows if 0 <= r[0] <= dur]
        after = [r for r in rows if r[0] > dur]
        if not rows:
            continue
        out[name] = {
            "cpu_pct_mean_load": round(sum(r[1] for r in load) / max(1, len(load)), 1),
            "cpu_pct_max": max(r[1] for r in rows),
            "cpu_pct_mean_drain": round(sum(r[1] for r in after) / max(1, len(after)), 1) if after else None,
            "rss_mb_start": rows[0][2],
            "rss_mb_max": max(r[2] for r in rows),
            "rss_mb_end": rows[-1][2],
        }
    return out


def run_one(kind: str, opts: Options, shared: Shared, pg: str, bsky: list[dict[str, str]]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"ardoise-load-{kind}-"))
    say(f"== {kind}: starting ({work})")
    dep, key = start_sqlite(work) if kind == "sqlite" else start_postgres(work, pg)
    result: dict[str, Any] = {"deployment": kind, "processes": dict(dep.procs), "loadavg_start": os.getloadavg()}
    try:
        setup = asyncio.run(setup_businesses(dep.public_url, key, opts, shared, bsky))
        result["setup"] = setup
        say(f"   setup: {setup}")
        procs = dict(dep.procs)
        procs["mastodon server"] = shared.masto_pid
        if shared.bsky_pid:
            procs["bluesky network (node)"] = shared.bsky_pid
        procs["load generator (this script)"] = os.getpid()
        # Start 1 s after a minute boundary: the scheduler enqueues that minute's poll of every account (spread over
        # the minute, ARDOISE_MENTION_POLL_MINUTES) within its 5-s tick, so each account is polled during the load.
        time.sleep(max(3.0, 61.0 - time.time() % 60))
        t0 = time.time() + 0.2
        if opts.inject_polls:
            result["poll_jobs_injected"] = inject_polls(dep.db, t0, opts.duration * 0.9)
        sampler = Sampler(dep.db, procs, t0, dep.pg_db)
        sampler.start()
        tag = uuid.uuid4().hex[:6]
        say(f"   load: {opts.duration:g} s, {opts.sms_rate:g} SMS/s + {opts.mail_rate:g} emails/s")
        sent = asyncio.run(drive(opts, dep.api_ports, dep.smtp_port, dep.public_url, opts.businesses, tag, len(bsky)))
        t_end = time.time()
        result["loadavg_end_of_load"] = os.getloadavg()
        say(f"   load done in {t_end - t0:.1f} s; draining (at most {opts.drain_timeout:g} s)")
        result["drain_s"] = wait_drained(dep.db, opts.drain_timeout)
        time.sleep(2)
        sampler.stop_event.set()
        sampler.join(5)
        result["loadavg_end"] = os.getloadavg()
        result |= analyse(dep, sent, t0, t0 + opts.duration, shared)
        result["queue"] = sampler.queue
        result["sampler_errors"] = sampler.errors
        result["proc_samples"] = {k: v for k, v in sampler.proc.items()}
        result["proc_summary"] = summarise_procs(sampler.proc, opts.duration)
        q = [s for s in sampler.queue if s["t"] <= opts.duration]
        result["queue_summary"] = {
            "due_max": max([s["due"] for s in sampler.queue] or [0]),
            "due_at_end_of_load": q[-1]["due"] if q else None,
            "oldest_due_age_max_s": max([s["oldest_due_age_s"] for s in sampler.queue] or [0]),
            "running_mean": round(sum(s["running"] for s in q) / max(1, len(q)), 2),
            "dead_at_end": sampler.queue[-1]["dead"] if sampler.queue else None,
        }
        return result
    finally:
        dep.stop()
        for name, pid in dep.procs.items():  # everything we started must be gone
            if Path(f"/proc/{pid}").exists() and "ardoise" in cmdline(pid):
                say(f"   {name} ({pid}) still running after stop: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if dep.logs is not None:
            keep = ROOT / "bench" / "out" / f"load-logs-{kind}"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(dep.logs, keep, ignore=shutil.ignore_patterns("*.db*", "media", "*.pids"))
        shutil.rmtree(work, ignore_errors=True)


def table(r: dict[str, Any]) -> str:
    a, p, e, st = r["accepted"], r["posts"], r["e2e_s"], r["stored"]
    q, dup = r["queue_summary"], r["duplicates"]
    rows = [
        "| measure | value |",
        "|---|---|",
        f"| offered load | {r['sent']['sms']} SMS + {r['sent']['email']} emails in {r['load_window_s']} s |",
        f"| accepted inbound per second | **{r['accepted_per_s']}** ({a['sms']} SMS 2xx, {a['email']} emails 250) |",
        f"| webhook ack p50 / p99 / max (ms) | {r['ack_ms']['sms']['p50']} / **{r['ack_ms']['sms']['p99']}** / "
        f"{r['ack_ms']['sms']['max']} |",
        f"| SMTP (connect → 250) p50 / p99 (ms) | {r['ack_ms']['email']['p50']} / {r['ack_ms']['email']['p99']} |",
        f"| posts fully delivered per second, during the load | **{p['delivered_per_s_within_load_window']}** "
        f"({p['finished_within_load_window']} of {p['posts_from_them']} posts) |",
        f"| posts fully delivered per second, load + drain | {p['delivered_per_s_overall']} |",
        f"| end-to-end (inbound → post created) p50 / p99 s | {e['post_created']['p50']} / "
        f"{e['post_created']['p99']} |",
        f"| end-to-end (inbound → all deliveries done) p50 / p99 / max s | {e['all_deliveries_done']['p50']} / "
        f"**{e['all_deliveries_done']['p99']}** / {e['all_deliveries_done']['max']} |",
        f"| queue: due jobs max / at end of load; oldest due job max age | {q['due_max']} / {q['due_at_end_of_load']}"
        f"; {q['oldest_due_age_max_s']} s |",
        f"| drain after the load (s) | {r['drain_s']} |",
        f"| accepted inbound stored once / missing / twice | {st['accepted_stored_once']} / {st['accepted_missing']}"
        f" / {st['accepted_stored_twice_or_more']} |",
        f"| publish commands → posts (commands without post; inbound with >1 post) | {p['accepted_publish_commands']}"
        f" → {p['posts_from_them']} ({p['publish_commands_without_post']}; "
        f"{p['inbound_with_more_than_one_post']}) |",
        f"| Mastodon: statuses / published deliveries; duplicate keys, texts | "
        f"{dup['mastodon_statuses_vs_published_deliveries'][0]} / "
        f"{dup['mastodon_statuses_vs_published_deliveries'][1]}; {dup['mastodon']['duplicate_keys']}, "
        f"{dup['mastodon']['duplicate_texts']} |",
    ]
    if dup["bluesky"]:
        b = dup["bluesky"]
        rows.append(
            f"| Bluesky: records / published deliveries; duplicate texts | {b['records']} / "
            f"{b['published_deliveries']}; {b['duplicate_texts']} |"
        )
    m = r["mentions"]
    rows.append(
        f"| mention polls (jobs by state); accounts polled; mentions stored | {m['poll_jobs_by_state']}; "
        f"{m['accounts_polled']}; {m['mentions_stored']} |"
    )
    for name, s in r["proc_summary"].items():
        rows.append(
            f"| {name}: CPU % mean (load) / max; RSS MB start / max / end | {s['cpu_pct_mean_load']} / "
            f"{s['cpu_pct_max']}; {s['rss_mb_start']} / {s['rss_mb_max']} / {s['rss_mb_end']} |"
        )
    la = r["loadavg_start"], r["loadavg_end"]
    rows.append(f"| load average (1 min) start → end | {la[0][0]:.2f} → {la[1][0]:.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument("--businesses", type=int, default=250)
    ap.add_argument(
        "--bluesky-accounts", type=int, default=5, help="businesses (per deployment) with a Bluesky account"
    )
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--sms-rate", type=float, default=4.0, help="signed webhooks per second")
    ap.add_argument("--mail-rate", type=float, default=1.0, help="emails per second")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive HTTP connections (and SMTP sessions)")
    ap.add_argument("--drain-timeout", type=float, default=150.0)
    ap.add_argument("--mastodon-latency", type=float, default=0.05, help="max random latency of the Mastodon server")
    ap.add_argument(
        "--inject-polls",
        action="store_true",
        help="also insert one mentions.poll job per account, spread over the load (for an app without "
        "ARDOISE_MENTION_POLL_MINUTES)",
    )
    ap.add_argument("--no-bluesky", action="store_true")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server (no database)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--img", type=Path, default=ROOT / "docs" / "img", help="where load-<db>.png go")
    args = ap.parse_args(argv)
    opts = Options(
        businesses=args.businesses,
        bluesky_accounts=0 if args.no_bluesky else args.bluesky_accounts,
        duration=args.duration,
        sms_rate=args.sms_rate,
        mail_rate=args.mail_rate,
        connections=args.connections,
        drain_timeout=args.drain_timeout,
        mastodon_latency=args.mastodon_latency,
        inject_polls=args.inject_polls,
    )
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    started = time.time()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "options": opts.__dict__,
        "machine": versions() | {"nproc": str(os.cpu_count())},
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
        "git_head": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "app_uncommitted": subprocess.run(
            ["git", "status", "--porcelain", "app", "migrations"], cwd=ROOT, capture_output=True, text=True
        ).stdout.splitlines(),
        "deployments": {},
    }
    masto = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "mastodon_server.py"), "--latency", str(opts.mastodon_latency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert masto.stdout is not None
    masto_port = int(json.loads(masto.stdout.readline())["port"])
    stack = contextlib.ExitStack()
    try:
        shared = Shared(f"http://127.0.0.1:{masto_port}", masto.pid, None, None)
        if opts.bluesky_accounts:
            mod = load_bsky_module()
            problem = mod.install_problem()
            if problem:
                say(f"Bluesky network unavailable ({problem}): running without it")
            else:
                t = time.monotonic()
                shared.bsky = stack.enter_context(mod.bsky_network())
                nodes = [p for p in descendants(os.getpid()) if "start-network" in cmdline(p)]
                shared.bsky_pid = nodes[0] if nodes else None
                say(f"Bluesky network up in {time.monotonic() - t:.1f} s: {shared.bsky['pds']}")
                need = opts.bluesky_accounts * len(dbs)
                shared.bsky_accounts = [bsky_account(shared.bsky["pds"]) for _ in range(need)]
        for i, db in enumerate(dbs):
            bsky = shared.bsky_accounts[i * opts.bluesky_accounts : (i + 1) * opts.bluesky_accounts]
            shared.masto_offset = 100_000 * (i + 1)
            r = run_one(db, opts, shared, args.pg, bsky)
            results["deployments"][db] = r
            say(table(r))
    finally:
        stack.close()
        masto.send_signal(signal.SIGTERM)
        try:
            masto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            masto.kill()
    results["loadavg_end"] = os.getloadavg()
    results["elapsed_s"] = round(time.time() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"load-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    args.img.mkdir(parents=True, exist_ok=True)
    for db, r in results["deployments"].items():
        png = args.img / f"load-{db}.png"
        plot(r, db, png)
        say(f"plot: {png} ({png.stat().st_size // 1024} KB)")
    say(f"raw results: {path} (elapsed {results['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
