"""``ardoise``: the operator's command line (serve, worker, smtp, migrate, doctor, apikey, jobs, backup, restore,
prune, simulate). Errors an operator can fix (configuration, an unreachable database, a missing file) are one
plain line on stderr and exit status 2 or 1, never a traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.config import get_settings

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from app.db import Database

T = TypeVar("T")

cli = typer.Typer(
    help="Ardoise: a small business's social media from a basic phone or plain email.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: no type labels such as <bool> beside flags
)
apikey_cli = typer.Typer(help="Admin API keys: create, list, revoke, rotate.", no_args_is_help=True)
jobs_cli = typer.Typer(help="The job queue: list jobs, retry dead ones.", no_args_is_help=True)
simulate_cli = typer.Typer(help="Act as Twilio would, against a running Ardoise.", no_args_is_help=True)
cli.add_typer(apikey_cli, name="apikey")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(simulate_cli, name="simulate")


def main() -> None:
    """The ``ardoise`` entry point: runs the command, turns the errors an operator can fix into one line."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError

    from app.config import settings_error_line
    from app.maintenance import OpsError

    try:
        cli()
    except ValidationError as exc:
        _die(settings_error_line(exc), 2)
    except OpsError as exc:
        _die(str(exc), 1)
    except DBAPIError as exc:
        _die(database_error_line(exc), 1)
    except KeyboardInterrupt:
        _die("interrupted", 130)


def _die(line: str, code: int) -> None:
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


def _when(dt: object) -> str:
    from datetime import datetime

    return dt.strftime("%Y-%m-%d %H:%M") if isinstance(dt, datetime) else "-"


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@cli.command()
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


@cli.command()
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


@cli.command()
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
        asyncio.run(_seed_demo())
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
    _table(
        [
            [
                str(k.id),
                k.name,
                k.prefix + "…",
                k.scope,
                _when(k.created_at),
                _when(k.last_used_at),
                f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active",
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
                    _when(j.finished_at or j.run_at),
                    " ".join((j.last_error or "").split())[:80],
                ]
                for j, slug in await jobs.list_jobs(s, state=state, kind=kind, limit=limit)
            ]

    rows = run_db(run)
    if not rows:
        typer.echo("no jobs" + (f" in state {state}" if state else ""))
        return
    _table(rows, ["ID", "KIND", "STATE", "TRIES", "BUSINESS", "WHEN", "LAST ERROR"])


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


@cli.command()
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


@cli.command()
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


@cli.command()
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


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@simulate_cli.command("sms")
def simulate_sms(
    text: Annotated[str, typer.Argument(help="The SMS body, e.g. 'PUBLIER Menu du jour'.")],
    sender: Annotated[str, typer.Option("--from", help="The member's phone.")] = DEMO_OWNER,
    to: Annotated[str | None, typer.Option("--to", help="The business's SMS number.")] = None,
    url: Annotated[
        str | None, typer.Option(help="Base URL of the running service (default: ARDOISE_PUBLIC_URL).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="An operator API key: read the replies through the admin API (another host).")
    ] = None,
    media: Annotated[
        list[str] | None, typer.Option(help="An image: a URL, or a local file served on a loopback port (repeatable).")
    ] = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the replies.")] = 70.0,
) -> None:
    """Sign a webhook exactly as Twilio does, post it, and print the SMS replies that result.

    Replies are read from the database when the service runs here, or through the admin API with --key (needed
    when --url is another host)."""
    import httpx
    from twilio.request_validator import RequestValidator

    from app.kit.phone import InvalidPhone, normalize_e164
    from app.maintenance import OpsError

    settings = get_settings()
    base = (url or settings.public_url).rstrip("/")
    remote = httpx.URL(base).host not in LOOPBACK_HOSTS
    if remote and not key:
        raise OpsError(f"{base} is another host: pass --key (an operator API key) to read the replies through its API")
    try:
        sender = normalize_e164(sender)
        to = normalize_e164(to) if to else DEMO_NUMBER
    except InvalidPhone as exc:
        raise typer.BadParameter(str(exc)) from None
    server, media_urls = _serve_media(media or [])
    try:
        reader = _ApiReplies(base, key, to, sender) if key else _DbReplies(sender)
        sid = "SM" + uuid.uuid4().hex
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "To": to,
            "Body": text,
            "NumMedia": str(len(media_urls)),
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        for i, (m, ctype) in enumerate(media_urls):
            form[f"MediaUrl{i}"] = m
            form[f"MediaContentType{i}"] = ctype
        # Sign for the public URL the service validates against (that of another host is the URL given), post to
        # wherever it listens.
        signed_url = (base if remote else settings.public_url) + "/webhooks/twilio/sms"
        tokens = settings.twilio_validation_tokens()
        if not tokens:
            raise OpsError("no Twilio token to sign with: set ARDOISE_TWILIO_AUTH_TOKEN (production has no default)")
        signature = RequestValidator(tokens[0]).compute_signature(signed_url, form)
        started = time.monotonic()
        try:
            r = httpx.post(
                base + "/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}, timeout=20
            )
        except httpx.HTTPError as exc:
            raise OpsError(f"cannot reach {base}: {type(exc).__name__} {exc}".strip()) from None
        typer.echo(f"> {sender} -> {to}: {text}  [{r.status_code}]")
        if r.status_code != 200:
            typer.echo(r.text[:500], err=True)
            raise typer.Exit(1)
        typer.echo(
            f"  waiting up to {wait:.0f} s for Ardoise's SMS replies (a command's answer comes in seconds; a post's "
            f"receipt once every network has answered, at most {settings.receipt_deadline_seconds:.0f} s"
            + (", after the photo is fetched" if media_urls else "")
            + "). Ctrl-C stops waiting."
        )
        replies = asyncio.run(reader.wait(wait))
        if not replies:
            typer.echo(f"(no SMS reply after {time.monotonic() - started:.0f} s)")
    finally:
        if server is not None:
            server.shutdown()
    sys.stdout.flush()


def _serve_media(items: list[str]) -> tuple[ThreadingHTTPServer | None, list[tuple[str, str]]]:
    """URLs for ``--media``: a URL is passed as is; a local file is served on a loopback port for as long as the
    simulation runs (only a service on this machine can fetch it)."""
    import mimetypes
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from app.maintenance import OpsError

    files: dict[str, Path] = {}
    out: list[tuple[str, str]] = []
    for item in items:
        if item.startswith(("http://", "https://")):
            out.append((item, mimetypes.guess_type(item)[0] or "image/jpeg"))
            continue
        path = Path(item)
        if not path.is_file():
            raise OpsError(f"--media {item}: no such file (give a file or an http(s) URL)")
        token = uuid.uuid4().hex
        files[f"/{token}/{path.name}"] = path
    if not files:
        return None, out

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = files.get(self.path)
            if path is None:
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            typer.echo(f"  photo fetched by the service: {self.requestline}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    for route, path in files.items():
        u = f"http://127.0.0.1:{port}{route}"
        out.append((u, mimetypes.guess_type(path.name)[0] or "image/jpeg"))
        typer.echo(f"  serving {path} at {u} while the simulation runs (the service must run on this machine)")
    return server, out


class _DbReplies:
    """Replies read from the configured database: the service runs here, on the same database."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.after_id = run_db(self._last_id)

    async def _last_id(self, db: Database) -> int:
        from sqlalchemy import func, select
        from sqlmodel import col

        from app.models import OutboundMessage

        async with db.read() as s:
            return int((await s.execute(select(func.max(col(OutboundMessage.id))))).scalar_one() or 0)

    async def fetch(self, db: Database) -> list[tuple[int, str, str, int]]:
        from sqlalchemy import select
        from sqlmodel import col

        from app.models import OutboundMessage

        async with db.read() as s:
            q = select(OutboundMessage).where(
                col(OutboundMessage.peer) == self.peer, col(OutboundMessage.id) > self.after_id
            )
            return [(m.id or 0, m.body, m.encoding, m.segments) for m in (await s.execute(q)).scalars()]

    async def wait(self, seconds: float) -> list[str]:
        from app.db import Database

        db = Database(get_settings().database_url)
        try:
            return await _poll(lambda: self.fetch(db), seconds)
        finally:
            await db.dispose()


class _ApiReplies:
    """Replies read through the admin API (``GET …/messages?direction=out``) of the service at ``base``."""

    def __init__(self, base: str, key: str | None, number: str, peer: str) -> None:
        import httpx

        from app.maintenance import OpsError

        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=20)
        self.peer = peer
        self.businesses: list[int] = []
        cursor: str | None = None
        while True:
            r = self.client.get("/api/v1/businesses", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
            if r.status_code != 200:
                raise OpsError(f"{base} refused to list businesses with that key: {r.status_code}")
            body = r.json()
            self.businesses += [b["id"] for b in body["items"] if number in b.get("sms_numbers", [])]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        if not self.businesses:
            raise OpsError(f"no business with the number {number} at {base} (that this key can see)")
        self.after_id = max((m[0] for m in self._fetch_sync()), default=0)

    def _fetch_sync(self) -> list[tuple[int, str, str, int]]:
        out = []
        for bid in self.businesses:
            r = self.client.get(f"/api/v1/businesses/{bid}/messages", params={"direction": "out", "limit": 50})
            if r.status_code == 200:
                out += [
                    (m["id"], m["body"], m.get("encoding") or "", m.get("segments") or 1)
                    for m in r.json()["items"]
                    if m["peer"] == self.peer
                ]
        return out

    async def fetch(self) -> list[tuple[int, str, str, int]]:
        rows = await asyncio.to_thread(self._fetch_sync)
        return [r for r in rows if r[0] > self.after_id]

    async def wait(self, seconds: float) -> list[str]:
        try:
            return await _poll(self.fetch, seconds)
        finally:
            self.client.close()


async def _poll(fetch: Callable[[], Awaitable[list[tuple[int, str, str, int]]]], wait: float) -> list[str]:
    """Print replies as they come; stop ``wait`` seconds after the start, or 3 s after the last reply."""
    seen: set[int] = set()
    out: list[str] = []
    deadline = time.monotonic() + wait
    quiet_until: float | None = None
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        for mid, body, encoding, segments in sorted(await fetch()):
            if mid not in seen:
                seen.add(mid)
                typer.echo(f"< {body}  [{encoding}, {segments} segment{'s' if segments > 1 else ''}]")
                out.append(body)
                quiet_until = time.monotonic() + 3.0
        await asyncio.sleep(0.3)
    return out
