"""``ardoise doctor``: check the configuration, the database, the migrations, every linked account and the
SMS provider, and say what to fix. Read-only: it changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import select, text
from sqlmodel import col

from app import migrate
from app.config import PLACEHOLDER_SECRET, Settings
from app.kit.errors import AdapterError
from app.models import AccountStatus, Business, NetworkAccount
from app.ocr.status import why_off
from app.posts.tasks import credentials
from app.runtime import build_runtime


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def ocr_check(settings: Settings) -> Check:
    """Reading chalkboard photos is optional: off is not a failure, but the operator is told why."""
    why = why_off(settings.ocr_engine, settings.ocr_tesseract_cmd)
    if why is None:
        return Check("OCR", True, f"on ({settings.ocr_engine})")
    return Check("OCR", True, f"off: {why}", "photos without a caption are offered unread (docs/commands.md)")


async def run_checks(settings: Settings, *, check_accounts: bool = True) -> list[Check]:
    out: list[Check] = []
    keys = settings.secret_keys()
    if not keys or PLACEHOLDER_SECRET in keys:
        out.append(
            Check(
                "secret key",
                settings.env == "dev",
                "the development placeholder is in use",
                "set ARDOISE_SECRET_KEY to a random string of 32+ characters",
            )
        )
    else:
        out.append(Check("secret key", True, f"{len(keys)} key(s) configured"))
    if not settings.public_url.startswith("https://") and settings.env == "prod":
        out.append(Check("public URL", False, settings.public_url, "set ARDOISE_PUBLIC_URL to the public https URL"))
    else:
        out.append(Check("public URL", True, settings.public_url))
    rt = build_runtime(settings)
    try:
        try:
            async with rt.db.read() as s:
                await s.execute(text("SELECT 1"))
            out.append(Check("database", True, "reachable"))
        except Exception as exc:
            out.append(
                Check(
                    "database",
                    False,
                    f"{type(exc).__name__}: {str(exc)[:200]}",
                    "check ARDOISE_DATABASE_URL and that the server runs",
                )
            )
            return out
        current, head = migrate.current_revision(settings.database_url), migrate.head_revision()
        out.append(
            Check(
                "migrations",
                current == head,
                f"at {current}, newest is {head}",
                "" if current == head else "run: ardoise migrate",
            )
        )
        if rt.twilio is not None:
            try:
                r = await rt.http.get(
                    f"{settings.twilio_api_base_url}/2010-04-01/Accounts/{settings.twilio_account_sid}.json",
                    auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()),
                    timeout=10,
                )
                ok = r.status_code == 200
                out.append(
                    Check(
                        "SMS provider",
                        ok,
                        f"twilio answered {r.status_code}",
                        "" if ok else "check ARDOISE_TWILIO_ACCOUNT_SID and ARDOISE_TWILIO_AUTH_TOKEN",
                    )
                )
            except httpx.HTTPError as exc:
                out.append(
                    Check("SMS provider", False, f"twilio unreachable: {type(exc).__name__}", "check the network")
                )
        else:
            out.append(
                Check(
                    "SMS provider",
                    True,
                    "console (SMS are recorded, not sent)",
                    "set ARDOISE_TWILIO_ACCOUNT_SID and ARDOISE_TWILIO_AUTH_TOKEN to send real SMS",
                )
            )
        out.append(ocr_check(settings))
        if not check_accounts:
            return out
        async with rt.db.read() as s:
            rows = (
                await s.execute(
                    select(NetworkAccount, Business)
                    .join(Business, col(Business.id) == col(NetworkAccount.business_id))
                    .where(
                        col(NetworkAccount.status) != AccountStatus.disabled.value,
                        col(Business.deleted_at).is_(None),
                        col(NetworkAccount.network) != "page",
                    )
                )
            ).all()
        for acct, biz in rows:
            name = f"{biz.slug}/{acct.network} {acct.handle}"
            try:
                await rt.network(acct.network).verify(credentials(rt, acct, biz))
                out.append(Check(name, True, "credentials work"))
            except (AdapterError, KeyError, ValueError) as exc:
                out.append(Check(name, False, str(exc)[:200], "relink the account (see docs/networks.md)"))
    finally:
        await rt.close()
    return out
