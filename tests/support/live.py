"""A real Ardoise server for the browser tests: uvicorn in a thread on a free loopback port, on its own copy of the
migrated SQLite database, seeded beforehand through an in-process client."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from app.config import Settings
from app.main import create_app, make_runner
from app.runtime import Runtime, build_runtime
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN, make_key
from tests.helpers import drain


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_settings(database_url: str, tmp: Path, public_url: str = PUBLIC_URL, **overrides: Any) -> Settings:
    """Settings of a whole Ardoise (no environment file) on ``database_url``, media under ``tmp``, SMS to the
    console, no SMTP listener."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        public_url=public_url,
        media_dir=tmp / "media",
        twilio_auth_token=TWILIO_TOKEN,
        smtp_enabled=False,
        sms_provider="console",
        **overrides,
    )


def live_settings(tmp: Path, sqlite_template: Path) -> Settings:
    """Settings of a server on a free loopback port, on its own copy of the migrated SQLite database."""
    shutil.copy(sqlite_template, tmp / "ardoise.db")
    url = f"sqlite:///{tmp / 'ardoise.db'}"
    return server_settings(url, tmp, f"http://127.0.0.1:{free_port()}", log_level="WARNING")


@asynccontextmanager
async def seeding(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], Runtime]]:
    """An in-process client with an operator key, to seed the database before :func:`serving` it."""
    rt = build_runtime(settings)
    try:
        seed = create_app(settings, runtime=rt)
        seed.state.runtime = rt
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=seed), base_url=PUBLIC_URL) as c:
            yield c, {"Authorization": f"Bearer {await make_key(rt)}"}, rt
            await drain(make_runner(rt))
    finally:
        await rt.close()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """A real uvicorn server in a thread on ``settings.public_url``; yields that URL."""
    port = int(settings.public_url.rsplit(":", 1)[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="live-page", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.02)
    try:
        yield settings.public_url
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 15)
