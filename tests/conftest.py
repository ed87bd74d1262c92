"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL where a test asks for it),
the runtime, an HTTP client on the real ASGI app, an operator key, a runner to drain the job queue, and the
one clock (tests/support/clock.py).

PostgreSQL: the server on 127.0.0.1:5432 (``ARDOISE_TEST_PG`` overrides). A database of our own is made
once per session. Unreachable: skipped locally, a failure under ``CI=true`` (CI never skips it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from app import migrate
from app.config import Settings
from app.db import sync_url
from app.kit.crypto import hash_api_key, new_api_key
from app.kit.time import set_clock
from app.main import create_app, make_runner
from app.models import ApiKey
from app.runtime import Runtime, build_runtime
from app.worker.runner import Runner
from tests.support.clock import Clock

CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get("ARDOISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TWILIO_TOKEN = "test-twilio-token"
PUBLIC_URL = "http://testserver"


def _pg_admin_url(db: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{db}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test gets a copy (migrating per test is too slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, migrated to head, dropped at the end."""
    name = "ardoise_test_" + uuid.uuid4().hex[:10]
    try:
        admin = create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    url = _pg_admin_url(name)
    migrate.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_pg(url: str) -> None:
    eng = create_engine(sync_url(url))
    with eng.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is parametrized with ``indirect=["backend"]``."""
    return str(getattr(request, "param", "sqlite"))


BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_url")
        truncate_pg(url)
        return url
    path = tmp_path / "ardoise.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(database_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "public_url": PUBLIC_URL,
            "media_dir": tmp_path / "media",
            "twilio_auth_token": TWILIO_TOKEN,
            "smtp_enabled": False,
            "sms_provider": "console",
            "worker_poll_interval": 0.05,
            "job_backoff_base": 1.0,
            # The suite fetches from local stand-ins (media servers, mastodon-mock, the Bluesky dev PDS);
            # tests/attack/test_egress*.py turn this off to check the guard.
            "allow_private_networks": True,
            "ocr_engine": "off",  # on only in tests/ocr (the OCR process costs seconds to start)
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(db_url: str, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(db_url)


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    yield runtime
    await runtime.close()


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(rt.settings, runtime=rt)
    app.state.runtime = rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
        yield c


async def make_key(rt: Runtime, business_id: int | None = None, name: str = "test") -> str:
    key = new_api_key()
    async with rt.db.write() as s:
        s.add(ApiKey(name=name, prefix=key[:10], key_hash=hash_api_key(key), business_id=business_id))
    return key


@pytest.fixture
async def operator_key(rt: Runtime) -> str:
    return await make_key(rt)


@pytest.fixture
def auth(operator_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator_key}"}


@pytest.fixture
def runner(rt: Runtime) -> Runner[Runtime]:
    return make_runner(rt)


@pytest.fixture
def clock_start() -> datetime | None:
    """Where the ``clock`` fixture starts: None follows the real time; a module freezes it by overriding this."""
    return None


@pytest.fixture
def clock(clock_start: datetime | None) -> Iterator[Clock]:
    """The app's one clock (``app.kit.time``) for this test, movable; the real clock again afterwards."""
    c = Clock(clock_start)
    set_clock(c)
    try:
        yield c
    finally:
        set_clock(None)


# The real local Bluesky network: one per session for every test that asks for it (tests/bsky_support.py).
from tests.bsky_support import bsky_account, bsky_net  # noqa: E402, F401
