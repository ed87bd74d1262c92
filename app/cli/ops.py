"""Looking after the data: ``backup``, ``restore`` and ``prune``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import run_db, safe_url
from app.config import get_settings

if TYPE_CHECKING:
    from app.db import Database


def backup(
    to: Annotated[
        Path | None, typer.Option(help="The backup file (default: ardoise-<date>-<time>.db or .dump here).")
    ] = None,
) -> None:
    """Back up the database while the service runs: SQLite's online backup API, or pg_dump on PostgreSQL."""
    from app.maintenance.backup import backup as run_backup
    from app.maintenance.backup import default_name

    settings = get_settings()
    dest = to or default_name(settings.is_sqlite)
    typer.echo(f"backing up {safe_url(settings.database_url)} to {dest}")
    run_backup(settings.database_url, dest, lambda line: typer.echo(f"  {line}"))


def restore(
    file: Annotated[Path, typer.Argument(help="A file made by 'ardoise backup'.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a database that exists (stop the service first).")
    ] = False,
) -> None:
    """Restore a backup into the configured database (stop the service first), then bring it to the newest
    migration."""
    from app import migrate as m
    from app.maintenance.backup import restore as run_restore

    settings = get_settings()
    typer.echo(f"restoring {file} into {safe_url(settings.database_url)}")
    aside = run_restore(settings.database_url, file, lambda line: typer.echo(f"  {line}"), replace=replace)
    before = m.current_revision(settings.database_url)
    m.upgrade(settings.database_url)
    after = m.current_revision(settings.database_url)
    typer.echo(f"restored; schema {before} → {after}" if before != after else f"restored; schema at {after}")
    if aside:
        typer.echo(f"the previous database is kept at {aside} (delete it once you are sure)")


def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted, delete nothing.")] = False,
) -> None:
    """Delete what is past its retention now (the worker also does it every ARDOISE_RETENTION_PRUNE_HOURS):
    messages and status events after ARDOISE_RETENTION_MESSAGES_DAYS, done jobs after ARDOISE_RETENTION_JOBS_DAYS,
    audit events after ARDOISE_RETENTION_AUDIT_DAYS."""
    from app.maintenance.prune import prune as run_prune

    settings = get_settings()

    async def run(db: Database) -> dict[str, int]:
        return await run_prune(
            db, settings, dry_run=dry_run, progress=lambda name, n: typer.echo(f"  {name}: {n} deleted so far")
        )

    counts = run_db(run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb}: " + ", ".join(f"{n} {name}" for name, n in counts.items()))
