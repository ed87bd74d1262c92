"""``ardoise doctor``: read-only (never creates nor changes the database), plain about what fails, never says
"credentials work" for an account the database marks broken, flags production gaps, says what it cannot check."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from app import migrate
from app.config import Settings
from app.doctor import Check, render, run_checks
from app.models import AccountStatus, Business, NetworkAccount
from app.runtime import Runtime
from tests.conftest import BOTH_BACKENDS
from tests.ops.test_cli import ardoise


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_missing_database_is_reported_not_created(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    path = tmp_path / "fresh.db"
    checks = by_name(await run_checks(make_settings(f"sqlite:///{path}")))
    assert checks["database"].ok is False
    assert "no database file" in checks["database"].detail
    assert "ardoise migrate" in checks["database"].fix
    assert checks["linked accounts"].ok is None
    assert not path.exists()


async def test_unmigrated_database_fails(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    checks = by_name(await run_checks(make_settings(f"sqlite:///{empty}")))
    assert checks["migrations"].ok is False
    assert "no schema" in checks["migrations"].detail
    assert empty.stat().st_size == 0

    old = tmp_path / "old.db"
    migrate.upgrade(f"sqlite:///{old}", "0001")
    before = hashlib.sha256(old.read_bytes()).hexdigest()
    checks = by_name(await run_checks(make_settings(f"sqlite:///{old}")))
    assert checks["migrations"].ok is False
    assert f"at 0001, newest is {migrate.head_revision()}" == checks["migrations"].detail
    assert hashlib.sha256(old.read_bytes()).hexdigest() == before  # read-only
    text, bad = render(list(checks.values()))
    assert "fix: run: ardoise migrate" in text
    assert bad


def test_doctor_command_on_unmigrated_database(tmp_path: Path) -> None:
    done = ardoise("doctor", database_url=f"sqlite:///{tmp_path / 'fresh.db'}", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "FAIL  database: no database file" in done.stdout
    assert "1 to fix" in done.stdout
    assert not (tmp_path / "fresh.db").exists()


@BOTH_BACKENDS
async def test_broken_account_is_flagged_not_verified(rt: Runtime, settings: Settings) -> None:
    async with rt.db.write() as s:
        biz = Business(name="Bistro", slug="bistro")
        s.add(biz)
        await s.flush()
        assert biz.id is not None
        s.add(
            NetworkAccount(
                business_id=biz.id,
                network="mastodon",
                handle="@bistro@masto.example",
                credentials=rt.vault.encrypt({"instance_url": "https://masto.example", "access_token": "t"}),
                status=AccountStatus.broken.value,
                status_reason="the token was revoked",
            )
        )
    checks = await run_checks(settings)
    acct = by_name(checks)["bistro/mastodon @bistro@masto.example"]
    assert acct.ok is False
    assert acct.detail == "marked broken: the token was revoked"
    assert "relink" in acct.fix
    assert not any("credentials work" in c.detail for c in checks)


async def test_production_gaps(make_settings: Callable[..., Settings], db_url: str) -> None:
    prod = make_settings(
        db_url, env="prod", secret_key="k" * 40, public_url="http://ardoise.example", twilio_auth_token=""
    )
    checks = by_name(await run_checks(prod, check_accounts=False))
    assert checks["secret key"].ok is True
    assert checks["public URL"].ok is False
    assert checks["Twilio token"].ok is False
    assert checks["SMS provider"].ok is False
    assert "console" in checks["SMS provider"].detail
    assert checks["linked accounts"].ok is None  # --no-accounts: said, not hidden
    unchecked = [c.name for c in checks.values() if c.ok is None]
    assert {"SMS to phones", "email", "backups"} <= set(unchecked)


@pytest.mark.parametrize("key", ["k" * 32, "k" * 40])
async def test_secret_length_minimum_is_32(key: str, make_settings: Callable[..., Settings], db_url: str) -> None:
    checks = by_name(await run_checks(make_settings(db_url, env="prod", secret_key=key), check_accounts=False))
    assert checks["secret key"].ok is True
