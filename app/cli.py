"""``ardoise``: serve, worker, smtp, migrate, apikey create, simulate sms."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from typing import Annotated

import typer

from app.config import get_settings

cli = typer.Typer(
    help="Ardoise: a small business's social media from a basic phone or plain email.",
    no_args_is_help=True,
    add_completion=False,
)
apikey_cli = typer.Typer(help="Admin API keys.", no_args_is_help=True)
simulate_cli = typer.Typer(help="Act as Twilio would, against a running Ardoise.", no_args_is_help=True)
cli.add_typer(apikey_cli, name="apikey")
cli.add_typer(simulate_cli, name="simulate")


def main() -> None:
    cli()


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration (SQLite or PostgreSQL)."""
    from app import migrate as m

    settings = get_settings()
    m.upgrade(settings.database_url)
    typer.echo(f"database at migration {m.current_revision(settings.database_url)}")


@cli.command()
def doctor(
    accounts: Annotated[bool, typer.Option(help="also verify every linked account with its network")] = True,
) -> None:
    """Check configuration, database, migrations, linked accounts and the SMS provider; say what to fix."""
    from app.doctor import run_checks

    checks = asyncio.run(run_checks(get_settings(), check_accounts=accounts))
    for c in checks:
        typer.echo(
            f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}"
            + (f"\n      fix: {c.fix}" if c.fix and not c.ok else "")
        )
    bad = [c for c in checks if not c.ok]
    typer.echo(f"{len(checks) - len(bad)} ok, {len(bad)} to fix")
    raise typer.Exit(1 if bad else 0)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed the demo business once")] = False,
    worker: Annotated[bool, typer.Option(help="run the worker and scheduler in this process")] = True,
    smtp: Annotated[bool, typer.Option(help="run the SMTP listener in this process")] = True,
) -> None:
    """Start the service: API, page, Twilio webhooks and, by default, the worker, the scheduler and SMTP."""
    import uvicorn

    from app import migrate as m
    from app.main import create_app

    settings = get_settings()
    if settings.is_sqlite:
        m.upgrade(settings.database_url)  # embedded mode: one process owns the file, migrate on start
    if demo:
        asyncio.run(_seed_demo())
    app = create_app(settings, worker=worker, smtp=smtp and settings.smtp_enabled)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
        # Against slow clients (issue #11): idle keep-alive connections close after 5 s, request heads over
        # 16 KiB are refused by h11; a body that stalls is cut by app.middleware (BODY_CHUNK_TIMEOUT).
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
    )


@cli.command("worker")
def worker_cmd() -> None:
    """Run a worker and the scheduler alone (scale-out: several of these beside API-only servers)."""
    from app.logging import configure
    from app.main import make_runner
    from app.runtime import build_runtime
    from app.tasks import periodics
    from app.worker.schedule import run_scheduler

    settings = get_settings()
    configure(settings.log_level, settings.log_format, settings.env)

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


@cli.command("smtp")
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


@apikey_cli.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    business: Annotated[str | None, typer.Option(help="slug: a key that sees only this business")] = None,
) -> None:
    """Create an API key and print it once, alone on the last line."""
    from app.kit.crypto import hash_api_key, new_api_key

    async def run() -> str:
        from sqlalchemy import select
        from sqlmodel import col

        from app.audit import service as audit
        from app.db import Database
        from app.models import ApiKey, Business

        db = Database(get_settings().database_url)
        try:
            async with db.write() as s:
                biz_id = None
                if business:
                    biz = (await s.execute(select(Business).where(col(Business.slug) == business))).scalar_one_or_none()
                    if biz is None or biz.deleted_at is not None:
                        raise typer.BadParameter(f"no business with slug {business!r}")
                    biz_id = biz.id
                key = new_api_key()
                s.add(ApiKey(name=name, prefix=key[:10], key_hash=hash_api_key(key), business_id=biz_id))
                await audit.record(s, actor="cli", action="apikey.create", business_id=biz_id, target=name)
        finally:
            await db.dispose()
        return key

    key = asyncio.run(run())
    scope = f"business {business}" if business else "operator (every business)"
    typer.echo(f"API key '{name}' for {scope}. It is shown once; store it now:")
    typer.echo(key)


DEMO_NUMBER = "+15815550100"
DEMO_OWNER = "+14185550100"


async def _seed_demo() -> None:
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


@simulate_cli.command("sms")
def simulate_sms(
    text: Annotated[str, typer.Argument(help="the SMS body, e.g. 'PUBLIER Menu du jour'")],
    sender: Annotated[str, typer.Option("--from", help="the member's phone")] = DEMO_OWNER,
    to: Annotated[str | None, typer.Option("--to", help="the business's SMS number")] = None,
    url: Annotated[str | None, typer.Option(help="base URL of the running service")] = None,
    media: Annotated[list[str] | None, typer.Option(help="MMS image URL (repeatable)")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for replies")] = 70.0,
) -> None:
    """Sign a webhook exactly as Twilio does, post it, and print the SMS replies that result."""
    import httpx
    from twilio.request_validator import RequestValidator

    from app.kit.phone import InvalidPhone, normalize_e164

    settings = get_settings()
    base = (url or settings.public_url).rstrip("/")
    try:
        sender = normalize_e164(sender)
        to = normalize_e164(to) if to else DEMO_NUMBER
    except InvalidPhone as exc:
        raise typer.BadParameter(str(exc)) from None
    sid = "SM" + uuid.uuid4().hex
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": to,
        "Body": text,
        "NumMedia": str(len(media or [])),
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    for i, m in enumerate(media or []):
        form[f"MediaUrl{i}"] = m
        form[f"MediaContentType{i}"] = "image/jpeg"
    # Sign for the public URL the service validates against, post to wherever it listens.
    signed_url = settings.public_url + "/webhooks/twilio/sms"
    signature = RequestValidator(settings.twilio_validation_tokens()[0]).compute_signature(signed_url, form)
    started = time.time()
    r = httpx.post(base + "/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}, timeout=20)
    typer.echo(f"> {sender} -> {to}: {text}  [{r.status_code}]")
    if r.status_code != 200:
        typer.echo(r.text, err=True)
        raise typer.Exit(1)
    replies = asyncio.run(_await_replies(sid, sender, wait))
    if not replies:
        typer.echo(f"(no SMS reply after {time.time() - started:.0f} s)")
    sys.stdout.flush()


async def _await_replies(sid: str, peer: str, wait: float) -> list[str]:
    from sqlalchemy import select
    from sqlmodel import col

    from app.db import Database
    from app.models import InboundMessage, OutboundMessage

    db = Database(get_settings().database_url)
    seen: set[int] = set()
    out: list[str] = []
    deadline = time.time() + wait
    quiet_until: float | None = None
    try:
        while time.time() < deadline and (quiet_until is None or time.time() < quiet_until):
            async with db.read() as s:
                inbound = await s.execute(select(InboundMessage).where(col(InboundMessage.provider_id) == sid))
                row = inbound.scalar_one_or_none()
                if row is not None:
                    q = select(OutboundMessage).where(
                        col(OutboundMessage.peer) == peer, col(OutboundMessage.created_at) >= row.created_at
                    )
                    for m in (await s.execute(q.order_by(col(OutboundMessage.id)))).scalars():
                        if m.id not in seen and m.id is not None:
                            seen.add(m.id)
                            line = f"< {m.body}  [{m.encoding}, {m.segments} segment{'s' if m.segments > 1 else ''}]"
                            typer.echo(line)
                            out.append(m.body)
                            quiet_until = time.time() + 3.0
            await asyncio.sleep(0.3)
    finally:
        await db.dispose()
    return out
