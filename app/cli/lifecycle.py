"""Running Ardoise: ``migrate``, ``doctor``, ``serve`` (with ``--demo``), ``worker`` and ``smtp``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Annotated

import typer

from app.cli.common import DEMO_NUMBER, DEMO_OWNER, safe_url
from app.config import get_settings


def migrate() -> None:
    """Bring the database schema to the newest migration (SQLite or PostgreSQL); says from which to which."""
    from app import migrate as m

    settings = get_settings()
    before = m.current_revision(settings.database_url)
    m.upgrade(settings.database_url)
    after = m.current_revision(settings.database_url)
    where = safe_url(settings.database_url)
    if before == after:
        typer.echo(f"database {where}: already at {after} (the newest), nothing to do")
    else:
        typer.echo(f"database {where}: migrated {before or '(empty)'} → {after}")


def doctor(
    accounts: Annotated[
        bool, typer.Option("--accounts/--no-accounts", help="Also verify every linked account with its network.")
    ] = True,
) -> None:
    """Check configuration, database, migrations, linked accounts and the SMS provider; say what to fix.

    Read-only: it changes nothing and never creates the database. Exit status 1 when something must be fixed."""
    from app.doctor import render, run_checks

    checks = asyncio.run(run_checks(get_settings(), check_accounts=accounts))
    text, bad = render(checks)
    typer.echo(text)
    raise typer.Exit(1 if bad else 0)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo business once.")] = False,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the worker and the scheduler in this process.")
    ] = True,
    smtp: Annotated[bool, typer.Option("--smtp/--no-smtp", help="Run the SMTP listener in this process.")] = True,
) -> None:
    """Start the service: API, page, Twilio webhooks and, by default, the worker, the scheduler and SMTP."""
    import uvicorn

    from app import migrate as m
    from app.main import create_app

    settings = get_settings()
    if settings.is_sqlite:
        m.upgrade(settings.database_url)  # embedded mode: one process owns the file, migrate on start
    if demo:
        asyncio.run(seed_demo())
    app = create_app(settings, worker=worker, smtp=smtp and settings.smtp_enabled)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # our logging (app/logging.py): one format, JSON in JSON mode
        access_log=False,  # our own request line (app/middleware.py) has the request id and the route template
        timeout_graceful_shutdown=10,
        # Against slow clients (issue #11): idle keep-alive connections close after 5 s, request heads over
        # 16 KiB are refused by h11; a body that stalls is cut by app.middleware (BODY_CHUNK_TIMEOUT).
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
    )


def worker_cmd() -> None:
    """Run a worker and the scheduler alone (scale-out: several of these beside API-only servers)."""
    from app.logging import configure
    from app.main import make_runner
    from app.runtime import build_runtime
    from app.tasks import periodics
    from app.worker.schedule import run_scheduler

    settings = get_settings()
    configure(settings.log_level, settings.log_format, settings.env)
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        from app.metrics import REGISTRY

        start_http_server(settings.worker_metrics_port, registry=REGISTRY)

    async def run() -> None:
        rt = build_runtime(settings)
        runner = make_runner(rt)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [
            asyncio.create_task(runner.run()),
            asyncio.create_task(run_scheduler(rt.db, periodics(settings), stop)),
        ]
        await stop.wait()
        await runner.drain(8.0)  # SIGTERM to exit well within 10 s (Docker's default stop timeout)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await rt.close()

    asyncio.run(run())
    # Everything is committed and released: skip the interpreter's slow teardown (seconds of garbage
    # collection with big SDKs loaded) so a SIGTERM'd worker exits promptly.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def smtp_cmd() -> None:
    """Run the SMTP listener alone (scale-out)."""
    from app.email.smtp import start_smtp, stop_smtp
    from app.logging import configure
    from app.runtime import build_runtime

    settings = get_settings()
    configure(settings.log_level, settings.log_format, settings.env)

    async def run() -> None:
        rt = build_runtime(settings)
        server = await start_smtp(rt)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await stop_smtp(server)
        await rt.close()

    asyncio.run(run())


async def seed_demo() -> None:
    from sqlalchemy import select
    from sqlmodel import col

    from app.businesses import service as business_service
    from app.businesses.schemas import BusinessCreate
    from app.db import Database
    from app.members import service as member_service
    from app.members.schemas import MemberCreate
    from app.models import Business

    db = Database(get_settings().database_url)
    try:
        async with db.write() as s:
            if (await s.execute(select(Business).where(col(Business.slug) == "demo"))).scalar_one_or_none():
                return
            biz = await business_service.create(
                s,
                data=BusinessCreate(
                    name="Bistro Démo",
                    slug="demo",
                    timezone="America/Toronto",
                    language="fr",
                    sms_numbers=[DEMO_NUMBER],
                    publish_mode="confirm",
                ),
                actor="cli",
            )
            await member_service.create(
                s,
                biz=biz,
                data=MemberCreate(
                    name="Proprio", phone=DEMO_OWNER, email="proprio@example.test", language="fr", role="owner"
                ),
                actor="cli",
            )
        typer.echo(f"demo business 'Bistro Démo' created: owner {DEMO_OWNER} texts {DEMO_NUMBER}")
    finally:
        await db.dispose()
