"""``ardoise apikey`` (create, list, revoke, rotate) and ``ardoise jobs`` (list, retry): the operator's
keys and the job queue, read and changed in the configured database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import run_db, table, when

if TYPE_CHECKING:
    from app.db import Database

apikey_cli = typer.Typer(help="Admin API keys: create, list, revoke, rotate.", no_args_is_help=True)
jobs_cli = typer.Typer(help="The job queue: list jobs, retry dead ones.", no_args_is_help=True)


@apikey_cli.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    business: Annotated[str | None, typer.Option(help="Slug: a key that sees only this business.")] = None,
) -> None:
    """Create an API key and print it once, alone on the last line."""
    from app.maintenance import keys

    async def run(db: Database) -> str:
        async with db.write() as s:
            return await keys.create(s, name=name, business_slug=business)

    key = run_db(run)
    scope = f"business {business}" if business else "operator (every business)"
    typer.echo(f"API key '{name}' for {scope}. It is shown once; store it now:")
    typer.echo(key)


@apikey_cli.command("list")
def apikey_list(
    all_: Annotated[bool, typer.Option("--all", help="Also list revoked keys.")] = False,
) -> None:
    """List API keys: name, prefix, scope, dates. Never the keys themselves (only their hashes are stored)."""
    from app.maintenance import keys

    async def run(db: Database) -> list[keys.KeyRow]:
        async with db.read() as s:
            return await keys.list_keys(s, include_revoked=all_)

    rows = run_db(run)
    if not rows:
        typer.echo("no API keys (create one: ardoise apikey create --name NAME)")
        return
    table(
        [
            [
                str(k.id),
                k.name,
                k.prefix + "…",
                k.scope,
                when(k.created_at),
                when(k.last_used_at),
                f"revoked {when(k.revoked_at)}" if k.revoked_at else "active",
            ]
            for k in rows
        ],
        ["ID", "NAME", "PREFIX", "SCOPE", "CREATED", "LAST USED", "STATE"],
    )


@apikey_cli.command("revoke")
def apikey_revoke(
    key: Annotated[str, typer.Argument(help="The key's name, or the first characters of its prefix (6+).")],
) -> None:
    """Revoke an API key: its next request answers 401 (no restart needed)."""
    from app.maintenance import keys

    async def run(db: Database) -> str:
        async with db.write() as s:
            row = await keys.revoke(s, key)
            return f"{row.name} ({row.prefix}…)"

    typer.echo(f"revoked API key {run_db(run)}")


@apikey_cli.command("rotate")
def apikey_rotate(
    key: Annotated[str, typer.Argument(help="The key's name, or the first characters of its prefix (6+).")],
) -> None:
    """Replace an API key: the old one is revoked at once, a new one with the same name and scope is printed
    once, alone on the last line."""
    from app.maintenance import keys

    async def run(db: Database) -> tuple[str, str]:
        async with db.write() as s:
            old, new = await keys.rotate(s, key)
            return f"{old.name} ({old.prefix}…)", new

    old, new = run_db(run)
    typer.echo(f"revoked {old}; its replacement is shown once, store it now:")
    typer.echo(new)


@jobs_cli.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option(help="queued, running, done or dead (default: every state).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind, e.g. posts.deliver.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """List jobs, newest first, with their last error."""
    from app.maintenance import jobs
    from app.models import JobState

    if state is not None and state not in {s.value for s in JobState}:
        raise typer.BadParameter("one of queued, running, done, dead", param_hint="--state")

    async def run(db: Database) -> list[list[str]]:
        async with db.read() as s:
            return [
                [
                    str(j.id),
                    j.kind,
                    j.state,
                    f"{j.attempts}/{j.max_attempts}",
                    slug or "-",
                    when(j.finished_at or j.run_at),
                    " ".join((j.last_error or "").split())[:80],
                ]
                for j, slug in await jobs.list_jobs(s, state=state, kind=kind, limit=limit)
            ]

    rows = run_db(run)
    if not rows:
        typer.echo("no jobs" + (f" in state {state}" if state else ""))
        return
    table(rows, ["ID", "KIND", "STATE", "TRIES", "BUSINESS", "WHEN", "LAST ERROR"])


@jobs_cli.command("retry")
def jobs_retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Ids of dead jobs (see: ardoise jobs list --state dead).")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead job (of --kind if given).")] = False,
    kind: Annotated[str | None, typer.Option(help="With --all-dead: only jobs of this kind.")] = None,
) -> None:
    """Put dead jobs back in the queue with a fresh set of attempts, due now (fix their cause first)."""
    from app.maintenance import OpsError, jobs

    if not ids and not all_dead:
        raise OpsError("name the dead jobs to retry by id, or pass --all-dead")

    async def run(db: Database) -> list[int]:
        async with db.write() as s:
            return await jobs.retry_dead(s, ids=ids or None, kind=kind)

    done = run_db(run)
    skipped = sorted(set(ids or []) - set(done))
    if done:
        typer.echo(f"re-queued {len(done)} job(s): {', '.join(map(str, done))}")
    else:
        typer.echo("no dead job to retry")
    if skipped:
        typer.echo(f"not dead (or unknown), left alone: {', '.join(map(str, skipped))}")
        raise typer.Exit(1)
