"""``ardoise worker`` as a subprocess on a test's database, for the tests that kill one mid-job and start another."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def worker_command() -> list[str]:
    """The venv's ``ardoise worker`` (or the one on PATH, or the module itself when neither is installed)."""
    script = Path(sys.executable).parent / "ardoise"
    if script.exists():
        return [str(script), "worker"]
    found = shutil.which("ardoise")
    if found:
        return [found, "worker"]
    return [sys.executable, "-c", "from app.cli import main; main()", "worker"]


def start_worker(
    rt: Runtime, workdir: Path, log: Path, command: list[str] | None = None, **settings: str
) -> subprocess.Popen[bytes]:
    """``ardoise worker`` (or ``command``) on the test's database with short leases, logging to ``log``;
    ``settings`` are more ``ARDOISE_*`` variables (``ARDOISE_WORKER_CONCURRENCY="1"``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        {
            "ARDOISE_DATABASE_URL": rt.settings.database_url,
            "ARDOISE_SECRET_KEY": rt.settings.secret_key.get_secret_value(),
            "ARDOISE_PUBLIC_URL": rt.settings.public_url,
            "ARDOISE_MEDIA_DIR": str(rt.settings.media_dir),
            "ARDOISE_SMS_PROVIDER": "console",
            "ARDOISE_ALLOW_PRIVATE_NETWORKS": "1",  # Mastodon/Bluesky stand-ins on loopback
            "ARDOISE_SMTP_ENABLED": "false",
            "ARDOISE_JOB_LEASE_SECONDS": "5",  # the smallest lease Settings accepts
            "ARDOISE_REAPER_INTERVAL": "1",
            "ARDOISE_WORKER_POLL_INTERVAL": "0.1",
            "ARDOISE_LOG_FORMAT": "console",
            "PYTHONPATH": str(ROOT),
            **settings,
        }
    )
    with log.open("ab") as out:
        return subprocess.Popen(command or worker_command(), env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """The test is over: no need for a graceful stop (and none is faster than a kill)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


async def wait_for(
    check: Callable[[], Awaitable[bool]],
    what: str,
    log: Path,
    within: float,
    proc: subprocess.Popen[bytes] | None = None,
    interval: float = 0.1,
) -> None:
    """Until ``check()`` holds; fails with the worker's log after ``within`` seconds, or as soon as ``proc``
    exits."""
    deadline = time.monotonic() + within
    while not await check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}) while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; worker log:\n{tail(log)}")
        await asyncio.sleep(interval)
