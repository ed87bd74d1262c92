"""Secrets never reach the logs; JSON logs in prod carry the request id.

Each case runs in a fresh Python process that starts the app the normal way (``create_app`` registers the
secret key(s) and the Twilio token with the log scrubber), makes a request that logs, then logs secrets on
purpose, phase by phase. Its stderr is what an operator's log collector would get; a subprocess keeps the global logging
configuration of this test process untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SECRET = "sk-prod-0123456789abcdefXYZ-0123456789"
OLD_SECRET = "sk-old-fedcba9876543210QRS-9876543210"
TWILIO = "twilio-live-token-abcdef123456"
MASTO_TOKEN = "masto-access-token-987654321zyx"
API_KEY_TAIL = "apikey-plaintext-never-logged-42"
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import asyncio, logging, sys
import httpx, structlog
from app.config import Settings
from app.main import create_app
from app.models import Business, NetworkAccount
from app.runtime import build_runtime

secret, old, twilio, masto, api_tail, fmt, db = sys.argv[1:8]


def phase(name: str) -> None:
    sys.stderr.write(f"=== phase {name}\n")
    sys.stderr.flush()


settings = Settings(
    _env_file=None, env="prod", database_url=db, secret_key=f"{secret},{old}", twilio_auth_token=twilio,
    log_format=fmt, smtp_enabled=False, sms_provider="console", public_url="http://testserver",
)


async def main() -> None:
    rt = build_runtime(settings)
    async with rt.db.write() as s:  # a linked account, as the admin API stores it
        biz = Business(name="Bistro", slug="bistro")
        s.add(biz)
        await s.flush()
        creds = rt.vault.encrypt({"instance_url": "https://masto.example", "access_token": masto})
        acct = NetworkAccount(business_id=biz.id, network="mastodon", handle="@b@masto.example", credentials=creds)
        s.add(acct)
    app = create_app(settings, runtime=rt)
    app.state.runtime = rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.post(
            "/webhooks/twilio/sms",
            data={"From": "+14185550100", "To": "+15815550100", "Body": f"hello {twilio}"},
            headers={"X-Request-ID": "rid-forged-1", "X-Twilio-Signature": twilio,
                     "Authorization": f"Bearer ard_{api_tail}"},
        )
        print("STATUS", r.status_code)
    log = structlog.get_logger("ardoise.test")
    log.warning("deliberate", token=twilio, keys=[secret, old], nested={"header": f"Bearer {secret}"})
    phase("account")
    from app.accounts.credentials import credentials
    credentials(rt, acct, biz)  # a job decrypts the account's credentials, as before any call to the network
    log.warning("deliberate", error=f"mastodon refused {masto}")
    phase("stdlib")
    logging.getLogger("uvicorn.error").error("Exception in ASGI application: token=%s", twilio)
    phase("end")
    await rt.close()


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Callable[[str], dict[str, str]]:
    """``logged(fmt)``: the child's stderr split by phase: ``settings`` (start-up, a forged webhook request and
    secrets from the settings logged on purpose), ``account`` (a linked account's token) and ``stdlib``."""
    cache: dict[str, dict[str, str]] = {}

    def get(fmt: str) -> dict[str, str]:
        if fmt not in cache:
            tmp = tmp_path_factory.mktemp(f"logs-{fmt}")
            shutil.copy(sqlite_template, tmp / "ardoise.db")
            env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
            env["PYTHONPATH"] = str(ROOT)
            args = [SECRET, OLD_SECRET, TWILIO, MASTO_TOKEN, API_KEY_TAIL, fmt, f"sqlite:///{tmp / 'ardoise.db'}"]
            done = subprocess.run(
                [sys.executable, "-c", SCRIPT, *args],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert "STATUS 403" in done.stdout  # the forged webhook was refused (and logged)
            parts = re.split(r"^=== phase (\w+)\n", done.stderr, flags=re.MULTILINE)
            cache[fmt] = {"settings": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}
            assert set(cache[fmt]) == {"settings", "account", "stdlib", "end"}
        return cache[fmt]

    return get


def json_lines(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_from_settings_are_never_logged(logged: Callable[[str], dict[str, str]], fmt: str) -> None:
    err = logged(fmt)["settings"]
    assert "twilio.forged" in err
    assert "deliberate" in err
    for secret in (SECRET, OLD_SECRET, TWILIO, API_KEY_TAIL):
        assert secret not in err, f"{secret} leaked:\n{err}"
    assert err.count("[redacted]") >= 4  # token, both keys, the nested header


def test_json_logs_in_prod_carry_the_request_id(logged: Callable[[str], dict[str, str]]) -> None:
    err = logged("json")["settings"]
    lines = json_lines(err)
    forged = next(line for line in lines if line.get("event") == "twilio.forged")
    assert forged["request_id"] == "rid-forged-1"
    assert forged["level"] == "warning"
    assert forged["timestamp"]
    deliberate = next(line for line in lines if line.get("event") == "deliberate")
    assert "request_id" not in deliberate  # the request's context ends with the request
    assert deliberate["token"] == "[redacted]"
    assert deliberate["keys"] == ["[redacted]", "[redacted]"]
    assert deliberate["nested"] == {"header": "Bearer [redacted]"}


def test_console_logs_carry_the_request_id(logged: Callable[[str], dict[str, str]]) -> None:
    console = logged("console")["settings"]
    forged = next(line for line in console.splitlines() if "twilio.forged" in line)
    assert "request_id=rid-forged-1" in forged
    assert not forged.startswith("{")


def test_linked_account_credentials_are_never_logged(logged: Callable[[str], dict[str, str]]) -> None:
    err = logged("json")["account"]
    assert "mastodon refused" in err
    assert MASTO_TOKEN not in err
    assert "[redacted]" in err


def test_stdlib_log_records_are_scrubbed_too(logged: Callable[[str], dict[str, str]]) -> None:
    err = logged("json")["stdlib"]
    assert "Exception in ASGI application" in err
    assert TWILIO not in err
