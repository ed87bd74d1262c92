"""``ardoise simulate sms``: sign a webhook as Twilio does, post it to a running Ardoise, print the replies."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import DEMO_NUMBER, DEMO_OWNER, run_db
from app.config import get_settings

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from app.db import Database

simulate_cli = typer.Typer(help="Act as Twilio would, against a running Ardoise.", no_args_is_help=True)

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
    local = [m for m in media or [] if not m.startswith(("http://", "https://"))]
    if local and remote:
        raise OpsError(f"--media {local[0]}: {base} is another host, which cannot fetch a file served here: give a URL")
    if local and not settings.allow_private_networks:
        # The file is served on 127.0.0.1, an address the egress guard refuses: the owner would be told
        # "Photo illisible" for a photo that is fine.
        raise OpsError(
            f"--media {local[0]}: the file is served on 127.0.0.1, which Ardoise fetches only with "
            "ARDOISE_ALLOW_PRIVATE_NETWORKS=1 (set it for the service and this command, in development), or give "
            "an https URL"
        )
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
