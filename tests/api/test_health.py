"""Liveness and readiness: ``/readyz`` is 503 unless the database answers and is at the newest migration."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from alembic import command

from app import migrate
from app.config import Settings
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    rt = build_runtime(settings)
    app = create_app(settings, runtime=rt)
    app.state.runtime = rt
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
            yield c
    finally:
        await rt.close()


async def test_healthz_is_200_without_a_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


@BOTH_BACKENDS
async def test_readyz_is_200_at_head(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "migration": migrate.head_revision()}


async def test_readyz_is_503_when_the_database_is_behind(
    sqlite_template: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    behind = tmp_path / "behind.db"
    shutil.copy(sqlite_template, behind)
    url = f"sqlite:///{behind}"
    command.downgrade(migrate.alembic_config(url), "-1")
    assert migrate.current_revision(url) != migrate.head_revision()
    async with client_for(make_settings(url)) as c:
        assert (await c.get("/healthz")).status_code == 200  # alive, just not ready
        r = await c.get("/readyz")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable"
    assert str(migrate.head_revision()) in body["detail"]
    # Brought to head, the same database is ready.
    migrate.upgrade(url)
    async with client_for(make_settings(url)) as c:
        assert (await c.get("/readyz")).status_code == 200


async def test_readyz_is_503_when_the_database_is_unreachable(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/ardoise.db"
    async with client_for(make_settings(url)) as c:
        r = await c.get("/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["detail"].startswith("database")
