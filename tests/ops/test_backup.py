"""Backups as docs/operations.md tells them: an online SQLite backup taken while the service writes, and a
PostgreSQL ``pg_dump -Fc`` / ``pg_restore`` into a new database. Each backup is restored, ``ardoise serve`` is
started on it in a subprocess, and it must answer ``/readyz`` and show a post made before the backup."""

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
from tests.conftest import CI, PG_ADMIN_URL, PUBLIC_URL, TWILIO_TOKEN, make_key
from tests.helpers import drain, make_business

pytestmark = pytest.mark.slow

POST_TEXT = "Menu sauvegardé : soupe à l'oignon"
ARDOISE = Path(sys.executable).with_name("ardoise")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(database_url: str, tmp: Path) -> Iterator[str]:
    """``ardoise serve`` on ``database_url`` (uvicorn in a subprocess); yields its base URL; SIGTERM at the end."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")},
        "ARDOISE_DATABASE_URL": database_url,
        "ARDOISE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ARDOISE_SMTP_ENABLED": "false",
        "ARDOISE_SMS_PROVIDER": "console",
        "ARDOISE_MEDIA_DIR": str(tmp / "media"),
        "ARDOISE_LOG_FORMAT": "json",
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


async def keep_writing(rt: Runtime, stop: asyncio.Event) -> int:
    """The service writing while the backup runs: posts through the API, as fast as it goes."""
    from app.main import create_app

    key = await make_key(rt, name="writer")
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(rt.settings, runtime=rt)
    app.state.runtime = rt
    n = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
        while not stop.is_set():
            r = await c.post("/api/v1/businesses/1/posts", headers=auth, json={"text": f"pendant la sauvegarde {n}"})
            assert r.status_code == 202, r.text
            n += 1
            await asyncio.sleep(0)
    return n


def online_backup(src: Path, dst: Path) -> None:
    """What docs/operations.md shows: ``sqlite3.Connection.backup``, a few pages at a time so writers go on."""
    source = sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target, pages=64, sleep=0.001)
    finally:
        target.close()
        source.close()


async def test_sqlite_online_backup_restores_and_serves(tmp_path: Path, sqlite_template: Path) -> None:
    live = tmp_path / "live.db"
    shutil.copy(sqlite_template, live)
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{live}",
        public_url=PUBLIC_URL,
        media_dir=tmp_path / "media",
        twilio_auth_token=TWILIO_TOKEN,
        smtp_enabled=False,
        sms_provider="console",
    )
    slug = await seed_post(settings)

    rt = build_runtime(settings)
    stop = asyncio.Event()
    try:
        writer = asyncio.create_task(keep_writing(rt, stop))
        await asyncio.sleep(0.3)  # the writer is going
        api_copy = tmp_path / "backup-api.db"
        await asyncio.to_thread(online_backup, live, api_copy)
        cli_copy = tmp_path / "backup-cli.db"
        if shutil.which("sqlite3"):
            done = await asyncio.to_thread(
                subprocess.run, ["sqlite3", str(live), f".backup '{cli_copy}'"], capture_output=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
        stop.set()
        written = await writer
    finally:
        stop.set()
        await rt.close()
    assert written > 0, "nothing was written during the backup"

    copies = [api_copy] + ([cli_copy] if cli_copy.exists() else [])
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("SELECT count(*) FROM post WHERE text = ?", (POST_TEXT,)).fetchone() == (1,)
        restored = tmp_path / f"restored-{copy.stem}.db"
        shutil.copy(copy, restored)  # restore = put the copy where ARDOISE_DATABASE_URL points, service stopped
        with serving(f"sqlite:///{restored}", tmp_path) as base:
            assert_serves(base, slug)


def _pg_url(db: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{db}"


@pytest.mark.postgres
async def test_postgres_dump_restores_into_a_new_database_and_serves(tmp_path: Path) -> None:
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
        settings = Settings(
            _env_file=None,
            database_url=_pg_url(src),
            public_url=PUBLIC_URL,
            media_dir=tmp_path / "media",
            twilio_auth_token=TWILIO_TOKEN,
            smtp_enabled=False,
            sms_provider="console",
        )
        slug = await seed_post(settings)
        dump = tmp_path / "ardoise.dump"
        pg_dump = ["pg_dump", "-Fc", "-f", str(dump), "-d", _pg_url(src)]
        await asyncio.to_thread(subprocess.run, pg_dump, check=True, timeout=120)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dst}"'))
        pg_restore = ["pg_restore", "--no-owner", "--exit-on-error", "-d", _pg_url(dst), str(dump)]
        await asyncio.to_thread(subprocess.run, pg_restore, check=True, timeout=120)
        with serving(_pg_url(dst), tmp_path) as base:
            assert_serves(base, slug)
    finally:
        with admin.connect() as conn:
            for db in (src, dst):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()
