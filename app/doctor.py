"""``ardoise doctor``: check the configuration, the database, the migrations, every linked account and the
SMS provider, say what to fix, and say what it cannot check.

Read-only: it opens SQLite with ``mode=ro`` (a missing file is reported, never created), reads PostgreSQL in a
read-only transaction, and writes nothing anywhere (an account's status is read, not updated). It never
raises: an unexpected failure becomes a failed check with its reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Connection, create_engine, pool, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlmodel import col

from app import migrate
from app.config import PLACEHOLDER_SECRET, SECRET_KEY_MIN_LENGTH, Settings
from app.db import sync_url
from app.kit.errors import AdapterError
from app.models import AccountStatus, Business, NetworkAccount
from app.ocr.status import why_off


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool | None  # None: could not be checked (the detail says why)
    detail: str
    fix: str = ""


def render(checks: list[Check]) -> tuple[str, list[Check]]:
    """The report, one line per check (and its fix), and the failed checks."""
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else ("--  " if c.ok is None else "FAIL")
        lines.append(f"{mark}  {c.name}: {c.detail}")
        if c.fix and c.ok is False:
            lines.append(f"      fix: {c.fix}")
    bad = [c for c in checks if c.ok is False]
    unchecked = sum(1 for c in checks if c.ok is None)
    ok = len(checks) - len(bad) - unchecked
    lines.append(f"{ok} ok, {len(bad)} to fix, {unchecked} not checked")
    return "\n".join(lines), bad


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    first = next((ln.strip() for ln in str(orig).splitlines() if ln.strip()), "")
    return f"{type(orig).__name__}: {first}"[:200] if first else type(orig).__name__


def ocr_check(settings: Settings) -> Check:
    """Reading chalkboard photos is optional: off is not a failure, but the operator is told why."""
    why = why_off(settings.ocr_engine, settings.ocr_tesseract_cmd)
    if why is None:
        return Check("OCR", True, f"on ({settings.ocr_engine})")
    return Check("OCR", True, f"off: {why}", "photos without a caption are offered unread (docs/commands.md)")


def config_checks(settings: Settings) -> list[Check]:
    prod = settings.env == "prod"
    out: list[Check] = []
    keys = settings.secret_keys()
    short = [k for k in keys if len(k) < SECRET_KEY_MIN_LENGTH]
    fix_key = f"set ARDOISE_SECRET_KEY to a random string of at least {SECRET_KEY_MIN_LENGTH} characters"
    if not keys or PLACEHOLDER_SECRET in keys:
        out.append(
            Check(
                "secret key",
                not prod,
                "the development placeholder is in use" + ("" if prod else " (fine in dev)"),
                fix_key,
            )
        )
    elif short:
        out.append(
            Check("secret key", not prod, f"{len(short)} key(s) under {SECRET_KEY_MIN_LENGTH} characters", fix_key)
        )
    else:
        out.append(Check("secret key", True, f"{len(keys)} key(s) configured"))
    if settings.public_url.startswith("https://"):
        out.append(Check("public URL", True, settings.public_url))
    else:
        out.append(
            Check(
                "public URL",
                not prod,
                f"{settings.public_url} is not https" + ("" if prod else " (fine in dev)"),
                "set ARDOISE_PUBLIC_URL to the public https URL (Twilio signs for it; links in SMS use it)",
            )
        )
    if not settings.twilio_auth_token.get_secret_value():
        out.append(
            Check(
                "Twilio token",
                not prod,
                "not set: every Twilio webhook is refused"
                if prod
                else "not set: webhooks are checked with the public development token (dev)",
                "set ARDOISE_TWILIO_AUTH_TOKEN (Twilio console, Account info)",
            )
        )
    else:
        out.append(Check("Twilio token", True, "set"))
    if not settings.sms_uses_twilio:
        out.append(
            Check(
                "SMS provider",
                not prod,
                "console: SMS are recorded, not sent" + ("" if prod else " (fine in dev)"),
                "set ARDOISE_TWILIO_ACCOUNT_SID and ARDOISE_TWILIO_AUTH_TOKEN (and ARDOISE_SMS_PROVIDER=twilio)",
            )
        )
    out.append(ocr_check(settings))
    return out


@contextmanager
def read_only(database_url: str) -> Iterator[Connection]:
    """A read-only connection: SQLite ``mode=ro`` (the file must exist), PostgreSQL a read-only transaction."""
    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database or "")
        if not path.is_file():
            raise FileNotFoundError(f"no database file {path}")
        engine = create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true", poolclass=pool.NullPool)
    else:
        engine = create_engine(sync_url(database_url), poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            if not database_url.startswith("sqlite"):
                conn.execute(text("SET TRANSACTION READ ONLY"))
            yield conn
    finally:
        engine.dispose()


def database_checks(settings: Settings) -> tuple[list[Check], list[tuple[NetworkAccount, Business]] | None]:
    """Database, migrations, and the linked accounts (None when they could not be read)."""
    fix_db = "check ARDOISE_DATABASE_URL and that the database server runs"
    try:
        with read_only(settings.database_url) as conn:
            conn.execute(text("SELECT 1"))
            out = [Check("database", True, "reachable (opened read-only)")]
            head = migrate.head_revision()
            tables = conn.dialect.get_table_names(conn)
            if "alembic_version" not in tables:
                out.append(
                    Check("migrations", False, f"the database has no schema (newest is {head})", "run: ardoise migrate")
                )
                return out, None
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
            if current != head:
                out.append(Check("migrations", False, f"at {current}, newest is {head}", "run: ardoise migrate"))
                return out, None
            out.append(Check("migrations", True, f"at {current} (the newest)"))
            rows = (
                Session(bind=conn)
                .execute(
                    select(NetworkAccount, Business)
                    .join(Business, col(Business.id) == col(NetworkAccount.business_id))
                    .where(
                        col(NetworkAccount.status) != AccountStatus.disabled.value,
                        col(Business.deleted_at).is_(None),
                        col(NetworkAccount.network) != "page",
                    )
                    .order_by(col(Business.slug), col(NetworkAccount.id))
                )
                .all()
            )
            accounts = [(acct, biz) for acct, biz in rows]
            return out, accounts
    except FileNotFoundError as exc:
        return [Check("database", False, str(exc), "run: ardoise migrate (it creates and migrates the file)")], None
    except Exception as exc:
        return [Check("database", False, _short(exc), fix_db)], None


async def twilio_check(settings: Settings, http: httpx.AsyncClient) -> Check:
    try:
        r = await http.get(
            f"{settings.twilio_api_base_url}/2010-04-01/Accounts/{settings.twilio_account_sid}.json",
            auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()),
            timeout=10,
        )
    except httpx.HTTPError as exc:
        return Check("SMS provider", False, f"twilio unreachable: {type(exc).__name__}", "check the network")
    ok = r.status_code == 200
    return Check(
        "SMS provider",
        ok,
        f"twilio answered {r.status_code}" + (" (credentials work)" if ok else ""),
        "" if ok else "check ARDOISE_TWILIO_ACCOUNT_SID and ARDOISE_TWILIO_AUTH_TOKEN",
    )


async def account_checks(settings: Settings, accounts: list[tuple[NetworkAccount, Business]]) -> list[Check]:
    from app.accounts.credentials import credentials
    from app.runtime import build_runtime

    out: list[Check] = []
    rt = build_runtime(settings)  # its database is never opened here: accounts were read read-only above
    try:
        for acct, biz in accounts:
            name = f"{biz.slug}/{acct.network} {acct.handle}".rstrip()
            fix = "relink the account (see docs/networks.md)"
            if acct.status == AccountStatus.broken.value:
                reason = acct.status_reason or "no reason recorded"
                out.append(Check(name, False, f"marked broken: {reason}", fix))
                continue
            try:
                await asyncio.wait_for(rt.network(acct.network).verify(credentials(rt, acct, biz)), 30)
                out.append(Check(name, True, "credentials work"))
            except (AdapterError, KeyError, ValueError) as exc:
                out.append(Check(name, False, str(exc)[:200] or type(exc).__name__, fix))
            except Exception as exc:  # a network that hangs or answers nonsense: still one line
                out.append(Check(name, False, _short(exc), fix))
    finally:
        await rt.close()
    return out


UNCHECKED = [
    Check(
        "SMS to phones", None, "that SMS reach phones is not checked (try: ardoise simulate sms, or text the number)"
    ),
    Check("email", None, "DNS (MX, SPF, DKIM) of ARDOISE_MAIL_DOMAIN and the SMTP relay are not checked"),
    Check("backups", None, "whether backups run and restore is not checked (docs/operations.md)"),
]


async def run_checks(settings: Settings, *, check_accounts: bool = True) -> list[Check]:
    out = config_checks(settings)
    db_checks, accounts = await asyncio.to_thread(database_checks, settings)
    out += db_checks
    if settings.sms_uses_twilio:
        async with httpx.AsyncClient() as http:
            out.append(await twilio_check(settings, http))
    if accounts is None:
        out.append(Check("linked accounts", None, "not checked: the database is not readable or not migrated"))
    elif not check_accounts:
        out.append(Check("linked accounts", None, f"{len(accounts)} not checked (--no-accounts)"))
    elif not accounts:
        out.append(Check("linked accounts", True, "none linked yet"))
    else:
        try:
            out += await account_checks(settings, accounts)
        except Exception as exc:
            out.append(Check("linked accounts", False, _short(exc), "see the error; relink if it names an account"))
    return out + UNCHECKED
