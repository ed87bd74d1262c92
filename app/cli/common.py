"""What every ``ardoise`` command shares: one-line errors, the database URL without its password, a Database
opened for one command, and the plain tables the list commands print."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from app.config import get_settings

if TYPE_CHECKING:
    from app.db import Database

T = TypeVar("T")

# The demo business `ardoise serve --demo` seeds, and the numbers `ardoise simulate sms` texts by default.
DEMO_NUMBER = "+15815550100"
DEMO_OWNER = "+14185550100"


def die(line: str, code: int) -> None:
    sys.stdout.flush()
    typer.echo(f"ardoise: {line}", err=True)
    raise SystemExit(code)


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say only its scheme
        return url.partition(":")[0] + "://…"


def database_error_line(exc: BaseException) -> str:
    """One line for a database failure: unreachable, refused, or a schema that is not migrated."""
    orig = getattr(exc, "orig", None) or exc
    first = next((ln.strip() for ln in str(orig).splitlines() if ln.strip()), type(orig).__name__)
    url = safe_url(get_settings().database_url)
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return f"database {url} is not migrated ({first}): run 'ardoise migrate'"
    return f"database {url}: {first[:300]}"


def run_db(fn: Callable[[Database], Awaitable[T]], *, must_exist: bool = True) -> T:
    """Run ``fn`` with a Database on the configured URL, closed afterwards. A SQLite file that does not exist is
    an error (rather than an empty file created by the attempt) unless ``must_exist`` is False."""
    from app.db import Database
    from app.maintenance import OpsError

    settings = get_settings()
    if must_exist and settings.is_sqlite:
        from app.maintenance.backup import sqlite_path

        path = sqlite_path(settings.database_url)
        if not path.is_file():
            raise OpsError(f"no database file {path} (check ARDOISE_DATABASE_URL, or run 'ardoise migrate')")

    async def run() -> T:
        db = Database(settings.database_url)
        try:
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def when(dt: object) -> str:
    from datetime import datetime

    return dt.strftime("%Y-%m-%d %H:%M") if isinstance(dt, datetime) else "-"


def table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
