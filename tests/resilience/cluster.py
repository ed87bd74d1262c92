"""Helpers of the resilience tests: real ``ardoise`` processes (started, SIGKILLed and restarted by PID), a
Twilio-like webhook client that retries like Twilio's fallback URL would, seeding, and the exactly-once
checks every fault test ends with.

Everything listens on 127.0.0.1. Only processes started here are signalled, by their PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlmodel import col
from twilio.request_validator import RequestValidator

from app.businesses import service as business_service
from app.businesses.schemas import BusinessCreate
from app.config import Settings
from app.db import sync_url
from app.members import service as member_service
from app.members.schemas import MemberCreate
from app.models import Delivery, InboundMessage, Job, OutboundMessage, Post
from app.runtime import Runtime
from tests.helpers import link_mastodon
from tests.resilience.mastodon_stub import FaultyMastodon

ROOT = Path(__file__).resolve().parents[2]
TWILIO_TOKEN = "resilience-twilio-token"
PUBLIC_URL = "http://ardoise.test"  # what Twilio signs; the processes listen on 127.0.0.1:<port>
SECRET_KEY = "resilience-secret-key-0123456789abcdef"
PG_ADMIN_URL = os.environ.get("ARDOISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CI = os.environ.get("CI") == "true"

# The job engine, fast (issue 7 brief): short leases so a killed worker's jobs come back within seconds.
FAST_ENGINE = {
    "ARDOISE_JOB_LEASE_SECONDS": "5",
    "ARDOISE_REAPER_INTERVAL": "1",
    "ARDOISE_WORKER_POLL_INTERVAL": "0.1",
    "ARDOISE_JOB_BACKOFF_BASE": "0.2",
    "ARDOISE_JOB_BACKOFF_CAP": "2",
    "ARDOISE_RECEIPT_DEADLINE_SECONDS": "5",
    # Load from one phone per business: the per-member limits are not what these tests are about.
    "ARDOISE_SMS_COMMANDS_PER_HOUR": "100000",
    "ARDOISE_SMS_LOOP_GUARD_COUNT": "100000",
    "ARDOISE_ALLOW_PRIVATE_NETWORKS": "1",  # the networks and media servers are local stand-ins
}
# The jobs one inbound SMS causes; a test is over when none of them is queued or running.
FLOW_KINDS = ("commands.handle_inbound", "posts.deliver", "posts.receipt", "messages.send_sms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ardoise_bin() -> str:
    script = Path(sys.executable).parent / "ardoise"
    if script.exists():
        return str(script)
    found = shutil.which("ardoise")
    assert found, "the ardoise command is not installed (pip install -e .)"
    return found


def process_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of an ardoise process: no ARDOISE_* leaks in from outside, the fast engine settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        {
            "ARDOISE_DATABASE_URL": database_url,
            "ARDOISE_SECRET_KEY": SECRET_KEY,
            "ARDOISE_PUBLIC_URL": PUBLIC_URL,
            "ARDOISE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "ARDOISE_SMS_PROVIDER": "console",
            "ARDOISE_MEDIA_DIR": str(workdir / "media"),
            "ARDOISE_LOG_FORMAT": "console",
            "ARDOISE_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            **FAST_ENGINE,
            **extra,
        }
    )
    return env


def in_process_settings(database_url: str, workdir: Path, **overrides: Any) -> Settings:
    """The same configuration as the processes, for the test's own Runtime (seeding and checks)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "secret_key": SECRET_KEY,
        "twilio_auth_token": TWILIO_TOKEN,
        "sms_provider": "console",
        "smtp_enabled": False,
        "media_dir": workdir / "media",
        "job_lease_seconds": 5,
        "reaper_interval": 1.0,
        "worker_poll_interval": 0.1,
        "job_backoff_base": 0.2,
        "job_backoff_cap": 2.0,
        "receipt_deadline_seconds": 5.0,
        "sms_commands_per_hour": 100000,
        "sms_loop_guard_count": 100000,
        "allow_private_networks": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


# --- processes ------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """The PID exists and is not a zombie (orphans of the deploy script may wait for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass
class Proc:
    """One ardoise process we started (or the deploy script started for us): we signal it by PID only."""

    name: str
    kind: str  # api | worker | smtp
    argv: list[str]
    env: dict[str, str]
    logdir: Path
    port: int | None = None
    pid: int = 0
    popen: subprocess.Popen[bytes] | None = None
    incarnation: int = 0
    log: Path = field(default_factory=Path)
    started_at: float = 0.0

    def start(self) -> None:
        self.incarnation += 1
        self.log = self.logdir / f"{self.name}.{self.incarnation}.log"
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, cwd=self.logdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.popen.pid
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid > 0 and pid_alive(self.pid)

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    async def wait_dead(self, within: float) -> int | None:
        deadline = time.monotonic() + within
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} (pid {self.pid}) still alive after {within}s\n{self.tail()}")
            await asyncio.sleep(0.05)
        return self.popen.returncode if self.popen is not None else None

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        await self.wait_dead(10)

    def tail(self, n: int = 2500) -> str:
        try:
            return f"--- {self.log} ---\n" + self.log.read_text(errors="replace")[-n:]
        except OSError:
            return f"--- {self.log}: no log ---"

    def ready_sync(self) -> bool:
        """API: /healthz answers; worker: its loop has started (logged ``worker.start``)."""
        if not self.alive():
            return False
        if self.kind == "api":
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        if self.kind == "worker":
            try:
                return "worker.start" in self.log.read_text(errors="replace")
            except OSError:
                return False
        return True

    async def ready(self) -> bool:
        return await asyncio.to_thread(self.ready_sync)


def api_proc(database_url: str, workdir: Path, name: str, port: int | None = None, **env: str) -> Proc:
    port = port or free_port()
    argv = [ardoise_bin(), "serve", "--no-worker", "--no-smtp", "--host", "127.0.0.1", "--port", str(port)]
    return Proc(name, "api", argv, process_env(database_url, workdir, **env), workdir, port=port)


def worker_proc(database_url: str, workdir: Path, name: str, **env: str) -> Proc:
    return Proc(name, "worker", [ardoise_bin(), "worker"], process_env(database_url, workdir, **env), workdir)


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, within: float, logs: Sequence[Proc] = ()) -> None:
    """Poll ``check`` every 0.1 s until it holds; fail after ``within`` seconds with the processes' logs."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {within:.0f}s waiting for {what}\n" + "\n".join(p.tail() for p in logs)
            )
        await asyncio.sleep(0.1)


async def wait_ready(procs: Sequence[Proc], within: float) -> None:
    async def all_ready() -> bool:
        for p in procs:
            if not p.alive():
                raise AssertionError(f"{p.name} (pid {p.pid}) died while starting\n{p.tail()}")
        return all(await asyncio.gather(*(p.ready() for p in procs)))

    await wait_for(all_ready, "the processes to be ready", within, procs)


def stop_all(procs: Sequence[Proc]) -> None:
    """End of the test: SIGKILL every process of ours still alive (a graceful stop is not under test here)."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            p.signal(signal.SIGKILL)
    for p in procs:
        if p.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(10)


# --- PostgreSQL databases --------------------------------------------------------------------------------


def admin_url(db: str, admin: str = PG_ADMIN_URL) -> str:
    base, _, _ = admin.rpartition("/")
    return f"{base}/{db}"


def create_database(admin: str = PG_ADMIN_URL) -> str:
    """A fresh, empty database (CI: PostgreSQL must be there; elsewhere skip when it is not)."""
    import pytest

    name = "ardoise_resil_" + uuid.uuid4().hex[:10]
    try:
        eng = create_engine(sync_url(admin), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
    except Exception as exc:
        if CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable at {admin}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {admin}: {type(exc).__name__}")
    return admin_url(name, admin)


def drop_database(url: str, admin: str = PG_ADMIN_URL) -> None:
    name = url.rpartition("/")[2]
    eng = create_engine(sync_url(admin), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        eng.dispose()


# --- seeding ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    business_id: int
    slug: str
    number: str  # the business's Twilio number
    owner: str  # the owner's phone


async def seed_shops(rt: Runtime, stub: FaultyMastodon, n: int, prefix: str) -> list[Shop]:
    """``n`` businesses, each with an owner and a Mastodon account on ``stub`` (plus the built-in page)."""
    shops: list[Shop] = []
    async with rt.db.write() as s:
        for i in range(n):
            number, owner = f"+1581700{i:04d}", f"+1418555{i:04d}"
            slug = f"{prefix}-{i}"
            biz = await business_service.create(
                s,
                data=BusinessCreate(
                    name=f"Bistro {slug}",
                    slug=slug,
                    timezone="America/Toronto",
                    language="fr",
                    sms_numbers=[number],
                ),
                actor="test",
            )
            assert biz.id is not None
            await member_service.create(
                s,
                biz=biz,
                data=MemberCreate(
                    name="Proprio", phone=owner, email=f"owner-{slug}@example.test", language="fr", role="owner"
                ),
                actor="test",
            )
            await link_mastodon(s, rt, biz.id, stub.credentials(), f"@{slug}@masto.test")
            shops.append(Shop(biz.id, slug, number, owner))
    return shops


# --- Twilio, as a client that retries ----------------------------------------------------------------------


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


@dataclass
class Twilio:
    """Posts signed webhooks to the API ports. On a connection error, a timeout or a 5xx it tries the next port
    (Twilio's fallback URL) and keeps trying the same MessageSid until acknowledged or out of time."""

    ports: Callable[[], Sequence[int]]
    acked: dict[str, str] = field(default_factory=dict)  # MessageSid -> body, acknowledged with a 200
    failures: int = 0  # answers that were not a 200 (connection refused or reset, timeouts, 5xx)
    statuses: dict[str, int] = field(default_factory=dict)  # "ConnectError", "500", ... -> count
    inflight: int = 0  # requests sent and not answered yet

    def _note(self, what: str) -> None:
        self.failures += 1
        self.statuses[what] = self.statuses.get(what, 0) + 1

    async def deliver(
        self, http: httpx.AsyncClient, form: dict[str, str], *, within: float = 120.0, port: int | None = None
    ) -> int:
        """POST until a 200; returns the number of tries. ``port`` pins the first try to one API process."""
        path = "/webhooks/twilio/sms"
        sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, form)
        deadline = time.monotonic() + within
        tries = 0
        while True:
            ports = list(self.ports())
            target = port if (port is not None and tries == 0) else ports[tries % len(ports)]
            tries += 1
            self.inflight += 1
            try:
                r = await http.post(
                    f"http://127.0.0.1:{target}{path}", data=form, headers={"X-Twilio-Signature": sig}, timeout=15
                )
            except httpx.TransportError as exc:
                self._note(type(exc).__name__)
            else:
                if r.status_code == 200:
                    assert "<Response" in r.text, r.text
                    self.acked[form["MessageSid"]] = form["Body"]
                    return tries
                assert r.status_code >= 500, f"webhook refused: {r.status_code} {r.text[:300]}"
                self._note(str(r.status_code))
            finally:
                self.inflight -= 1
            if time.monotonic() > deadline:
                raise AssertionError(f"MessageSid {form['MessageSid']} never acknowledged in {within}s ({tries} tries)")
            await asyncio.sleep(0.3 if tries % len(ports) == 0 else 0.02)


# --- the checks ------------------------------------------------------------------------------------------


async def flow_pending(rt: Runtime) -> int:
    """Jobs of the SMS → post → deliveries → receipt flow still queued or running."""
    async with rt.db.read() as s:
        n = (
            await s.execute(
                select(func.count())
                .select_from(Job)
                .where(col(Job.kind).in_(FLOW_KINDS), col(Job.state).in_(["queued", "running"]))
            )
        ).scalar_one()
    return int(n)


async def wait_settled(rt: Runtime, sids: Sequence[str], within: float, logs: Sequence[Proc] = ()) -> None:
    """Every acknowledged message is stored and every job it caused has finished."""

    async def settled() -> bool:
        async with rt.db.read() as s:
            stored = (
                await s.execute(
                    select(func.count(func.distinct(col(InboundMessage.provider_id)))).where(
                        col(InboundMessage.provider_id).in_(list(sids))
                    )
                )
            ).scalar_one()
        return int(stored) == len(sids) and await flow_pending(rt) == 0

    await wait_for(settled, f"{len(sids)} messages to be fully processed", within, logs)


@dataclass
class Report:
    inbound: int
    posts: int
    receipts: int
    creations: int
    dead_jobs: list[tuple[str, str | None]]
    stale_status: list[tuple[int | None, str]]


async def check_exactly_once(
    rt: Runtime,
    acked: dict[str, str],
    stub: FaultyMastodon,
    *,
    page_base: str | None = None,
    shops: Sequence[Shop] = (),
) -> Report:
    """The invariants of issue 7: no acknowledged message lost, none doubled; one post each, published once on
    every network; one receipt each; the page shows each post once."""
    sids = list(acked)
    async with rt.db.read() as s:
        rows = (
            await s.execute(
                select(col(InboundMessage.provider_id), func.count())
                .where(col(InboundMessage.provider_id).in_(sids))
                .group_by(col(InboundMessage.provider_id))
            )
        ).all()
        per_sid = {str(sid): int(n) for sid, n in rows}
        lost = [sid for sid in sids if sid not in per_sid]
        doubled = {sid: n for sid, n in per_sid.items() if n != 1}
        assert not lost, f"{len(lost)} acknowledged messages lost: {lost[:5]}"
        assert not doubled, f"MessageSid stored more than once: {doubled}"

        inbound_ids = [
            int(i or 0)
            for i in (
                await s.execute(select(col(InboundMessage.id)).where(col(InboundMessage.provider_id).in_(sids)))
            ).scalars()
        ]
        posts = list(
            (await s.execute(select(Post).where(col(Post.source_message_id).in_(inbound_ids)))).scalars().all()
        )
        per_inbound: dict[int, int] = {}
        for p in posts:
            assert p.source_message_id is not None
            per_inbound[p.source_message_id] = per_inbound.get(p.source_message_id, 0) + 1
        assert sorted(per_inbound) == sorted(inbound_ids), "an acknowledged PUBLIER made no post"
        assert set(per_inbound.values()) == {1}, f"an inbound message made several posts: {per_inbound}"
        texts = [p.text for p in posts]
        assert sorted(texts) == sorted(body.removeprefix("PUBLIER ") for body in acked.values())

        post_ids = [p.id for p in posts]
        deliveries = list(
            (await s.execute(select(Delivery).where(col(Delivery.post_id).in_(post_ids)))).scalars().all()
        )
        bad = [(d.post_id, d.network, d.status, d.last_error) for d in deliveries if d.status != "published"]
        assert not bad, f"deliveries not published: {bad[:5]}"
        assert sorted(d.network for d in deliveries) == sorted(["mastodon", "page"] * len(posts))
        # Every delivery is published, so every post should say so; see test_concurrent_deliveries.py for why
        # some stay "publishing" on PostgreSQL (reported, not failed, here: the fault tests are about loss and
        # duplication, and that race needs no fault).
        stale = [(p.id, p.status) for p in posts if p.status != "published"]

        receipts = (
            await s.execute(
                select(col(OutboundMessage.in_reply_to_id), func.count())
                .where(col(OutboundMessage.kind) == "receipt", col(OutboundMessage.in_reply_to_id).in_(inbound_ids))
                .group_by(col(OutboundMessage.in_reply_to_id))
            )
        ).all()
        per_receipt = {int(i or 0): int(n) for i, n in receipts}
        assert sorted(per_receipt) == sorted(inbound_ids), "a post got no receipt"
        assert set(per_receipt.values()) == {1}, f"several receipts for one post: {per_receipt}"
        followups = (
            await s.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    col(OutboundMessage.kind) == "followup",
                    col(OutboundMessage.business_id).in_([p.business_id for p in posts]),
                )
            )
        ).scalar_one()
        assert followups == 0, "a follow-up SMS although every delivery was published"
        dead = [
            (str(k), e)
            for k, e in (await s.execute(select(col(Job.kind), col(Job.last_error)).where(col(Job.state) == "dead")))
        ]
        mastodon_keys = {d.idempotency_key for d in deliveries if d.network == "mastodon"}

    # The network: one status per delivery, none twice (per Idempotency-Key and per text).
    assert stub.duplicates() == {}, f"posted twice on Mastodon: {stub.duplicates()}"
    with stub.lock:
        held = {k for k in stub.created_per_key if k in mastodon_keys}
        held_texts = [t for t in stub.texts if t in texts]
        others = [t for t in stub.texts if t not in texts][-5:]
    assert held == mastodon_keys, f"{len(mastodon_keys - held)} deliveries published without a status on Mastodon"
    missing = sorted(set(texts) - set(held_texts))
    assert not missing, f"posts without their text on Mastodon: {missing}; latest other statuses: {others}"

    # The page: each post once.
    if page_base is not None:
        async with httpx.AsyncClient(base_url=page_base, timeout=15) as http:
            for shop in shops:
                mine = [p.text for p in posts if p.business_id == shop.business_id]
                assert len(mine) <= 20, "the page shows the newest 20: keep fewer posts per business"
                page = (await http.get(f"/b/{shop.slug}")).text
                for t in mine:
                    assert page.count(f"<p>{t}</p>") == 1, f"{t!r} is on /b/{shop.slug} {page.count(t)} times"
    return Report(len(sids), len(posts), len(per_receipt), stub.creations, dead, stale)
