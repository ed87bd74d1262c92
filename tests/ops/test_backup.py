"""Backups as docs/operations.md tells them: ``ardoise backup`` while the service writes (SQLite's online
backup API, ``pg_dump`` on PostgreSQL) and ``ardoise restore`` into a new database, black-box (subprocess). Each
backup is restored, ``ardoise serve`` is started on it in a subprocess, and it must answer ``/readyz``, show a
post made before the backup and hold every SMS whose webhook was acknowledged before the backup started."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app import migrate
from app.config import Settings
from app.db import sync_url
from app.main import make_runner
from app.runtime import Runtime, build_runtime
from tests.conftest import CI, PG_ADMIN_URL, PUBLIC_URL, make_key
from tests.helpers import drain, make_business, send_sms
from tests.support.live import server_settings

pytestmark = pytest.mark.slow

POST_TEXT = "Menu sauvegardé : soupe à l'oignon"
NUMBER, OWNER = "+15817000001", "+14185550120"  # make_business's defaults
ARDOISE = Path(sys.executable).with_name("ardoise")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(database_url: str, tmp: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``ardoise serve`` on ``database_url`` (uvicorn in a subprocess, more settings in ``env``); yields its base
    URL; SIGTERM at the end."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")},
        "ARDOISE_DATABASE_URL": database_url,
        "ARDOISE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ARDOISE_SMTP_ENABLED": "false",
        "ARDOISE_SMS_PROVIDER": "console",
        "ARDOISE_MEDIA_DIR": str(tmp / "media"),
        "ARDOISE_LOG_FORMAT": "json",
        **(env or {}),
    }
    log = (tmp / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [str(ARDOISE), "serve", "--port", str(port), "--no-smtp"], env=env, cwd=tmp, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / f"serve-{port}.log").read_text()[-3000:]
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "ardoise serve did not start in 60 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)  # graceful shutdown: jobs get 10 s, then the process exits
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("ardoise serve did not stop within 20 s of SIGTERM") from None
        finally:
            log.close()
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete: -15 (143 in a shell) is a clean stop
        assert code in (0, -signal.SIGTERM), (tmp / f"serve-{port}.log").read_text()[-3000:]
        assert "Application shutdown complete" in (tmp / f"serve-{port}.log").read_text()


def assert_serves(base: str, slug: str) -> None:
    r = httpx.get(base + "/readyz", timeout=10)
    assert r.status_code == 200, r.text
    page = httpx.get(f"{base}/b/{slug}", timeout=10)
    assert page.status_code == 200
    assert "soupe à l&#39;oignon" in page.text or "soupe à l'oignon" in page.text, page.text[:2000]


async def seed_post(settings: Settings) -> str:
    """A business with a post published on its page (the worker drained); returns the slug."""
    rt = build_runtime(settings)
    try:
        from app.main import create_app

        key = await make_key(rt)
        auth = {"Authorization": f"Bearer {key}"}
        app = create_app(settings, runtime=rt)
        app.state.runtime = rt
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
            biz, _ = await make_business(c, auth, slug="sauvegarde")
            r = await c.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": POST_TEXT})
            assert r.status_code == 202, r.text
            await drain(make_runner(rt), include_future=True)
            page = await c.get("/b/sauvegarde")
            assert "oignon" in page.text
        return str(biz["slug"])
    finally:
        await rt.close()


class Writer:
    """The service under write load while the backup runs: Twilio webhooks (SMS from the owner) as fast as they
    are acknowledged, each acknowledged SMS noted with the time of its 200."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.acked: list[tuple[float, str]] = []
        self.stop = asyncio.Event()
        self.going = asyncio.Event()  # set after the first 20 acknowledged SMS

    async def run(self) -> None:
        from app.main import create_app

        app = create_app(self.rt.settings, runtime=self.rt)
        app.state.runtime = self.rt
        n = 0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
            while not self.stop.is_set():
                sid = f"SMbackup{n:06d}{uuid.uuid4().hex[:8]}"
                r = await send_sms(c, OWNER, NUMBER, f"pendant la sauvegarde {n}", sid=sid)
                assert r.status_code == 200, r.text
                self.acked.append((time.monotonic(), sid))
                n += 1
                if n == 20:
                    self.going.set()
                await asyncio.sleep(0)

    def acked_before(self, t: float) -> set[str]:
        return {sid for at, sid in self.acked if at < t}


def cli(args: list[str], database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env["ARDOISE_DATABASE_URL"] = database_url
    return subprocess.run([str(ARDOISE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


async def backup_under_load(settings: Settings, dest: Path, tmp: Path) -> set[str]:
    """``ardoise backup --to dest`` in a subprocess while the service writes; returns the SMS acknowledged before
    the backup started (every one must be in the backup)."""
    rt = build_runtime(settings)
    writer = Writer(rt)
    try:
        task = asyncio.create_task(writer.run())
        await asyncio.wait_for(writer.going.wait(), 60)
        started = time.monotonic()
        done = await asyncio.to_thread(cli, ["backup", "--to", str(dest)], settings.database_url, tmp)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "backup written" in done.stdout
        writer.stop.set()
        await task
    finally:
        writer.stop.set()
        await rt.close()
    assert len(writer.acked_before(time.monotonic())) > len(writer.acked_before(started)), "no write during the backup"
    return writer.acked_before(started)


def assert_has_messages(database_url: str, sids: set[str]) -> None:
    eng = create_engine(sync_url(database_url))
    try:
        with eng.connect() as conn:
            found = {r[0] for r in conn.execute(text("SELECT provider_id FROM inboundmessage"))}
    finally:
        eng.dispose()
    missing = sids - found
    assert not missing, (
        f"{len(missing)} acknowledged SMS missing from the restored database, e.g. {sorted(missing)[:3]}"
    )


async def test_sqlite_backup_under_load_restores_and_serves(tmp_path: Path, sqlite_template: Path) -> None:
    live = tmp_path / "live.db"
    shutil.copy(sqlite_template, live)
    settings = server_settings(f"sqlite:///{live}", tmp_path)
    slug = await seed_post(settings)
    copy = tmp_path / "backup.db"
    acked = await backup_under_load(settings, copy, tmp_path)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    done = cli(["restore", str(copy)], restored, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_has_messages(restored, acked)
    # A second restore over it is refused without --replace, and keeps the current database aside with it.
    again = cli(["restore", str(copy)], restored, tmp_path)
    assert again.returncode == 1, again.stderr
    assert "--replace" in again.stderr
    assert "Traceback" not in again.stderr
    again = cli(["restore", str(copy), "--replace"], restored, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "kept at" in again.stdout
    with serving(restored, tmp_path) as base:
        assert_serves(base, slug)


def _pg_url(db: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{db}"


@pytest.mark.postgres
async def test_postgres_backup_under_load_restores_into_a_new_database_and_serves(tmp_path: Path) -> None:
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            if CI:
                pytest.fail(f"{tool} is missing (apt-get install postgresql-client)")
            pytest.skip(f"{tool} is not installed")
    src, dst = "ardoise_bk_src_" + uuid.uuid4().hex[:8], "ardoise_bk_dst_" + uuid.uuid4().hex[:8]
    try:
        admin = create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{src}"'))
    except Exception as exc:
        if CI:
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    try:
        migrate.upgrade(_pg_url(src))
        settings = server_settings(_pg_url(src), tmp_path)
        slug = await seed_post(settings)
        dump = tmp_path / "ardoise.dump"
        acked = await backup_under_load(settings, dump, tmp_path)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dst}"'))
        done = cli(["restore", str(dump)], _pg_url(dst), tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_has_messages(_pg_url(dst), acked)
        # Restoring over a database that has tables needs --replace.
        again = cli(["restore", str(dump)], _pg_url(dst), tmp_path)
        assert again.returncode == 1, again.stderr
        assert "--replace" in again.stderr
        assert "Traceback" not in again.stderr
        with serving(_pg_url(dst), tmp_path) as base:
            assert_serves(base, slug)
    finally:
        with admin.connect() as conn:
            for db in (src, dst):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()
