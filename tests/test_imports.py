"""An idle server does not load what only some requests need (docs/performance.md, "Idle memory").

Pillow and the HEIC codec load with the first image, dkimpy and dnspython with the first mail to check,
cryptography with the first credential, SQLAlchemy's PostgreSQL dialect with a PostgreSQL engine, ``regex`` with
the first word too long to fit a post, and the extras structlog and httpx pick up when installed (rich, pygments,
httpx's command line) never. Each of them costs every process megabytes; this fails if one comes back at start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from app import migrate

IDLE_FREE = (
    "PIL",
    "pillow_heif",
    "rich",
    "pygments",
    "dkim",
    "dns",
    "cryptography",
    "alembic",
    "httpx._main",
    "sqlalchemy.dialects.postgresql",
    "regex",
)

# What `ardoise serve` does on a migrated SQLite database (app/cli/lifecycle.py), short of listening: the command
# line, the start-up migration check, the app with the worker, the scheduler and SMTP started, one /healthz.
# Then the modules the idle process holds, and, to show the check sees them, the same after one of each of the
# lazy paths has run.
_SERVE = """
import asyncio, json, sys

import app.cli  # first, as the ``ardoise`` entry point does

import httpx
import uvicorn  # noqa: F401

from app import migrate
from app.config import get_settings
from app.main import create_app

WATCHED = {watched!r}
settings = get_settings()
migrate.upgrade(settings.database_url)
application = create_app(settings, worker=True, smtp=True)

async def serve_once() -> None:
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
        await asyncio.sleep(0.3)

asyncio.run(serve_once())
idle = sorted(m for m in WATCHED if m in sys.modules)

from app.email.security import verify_dkim
from app.kit import media
from app.kit.crypto import Vault

media.load_codecs()
verify_dkim(b"", "example.org")
Vault(["k" * 32]).encrypt({{"a": "b"}})
print(json.dumps({{"idle": idle, "used": sorted(m for m in WATCHED if m in sys.modules)}}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_an_idle_server_has_not_imported_what_only_some_requests_need(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    migrate.upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        ARDOISE_DATABASE_URL=url,
        ARDOISE_SMS_PROVIDER="console",
        ARDOISE_SMTP_PORT=str(_free_port()),
        ARDOISE_SECRET_KEY="test-imports-secret-key-0123456789",
        ARDOISE_MEDIA_DIR=str(tmp_path / "media"),
        ARDOISE_LOG_LEVEL="WARNING",
    )
    code = _SERVE.format(watched=IDLE_FREE)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["idle"] == []
    assert {"PIL", "pillow_heif", "dkim", "dns", "cryptography"} <= set(got["used"])
