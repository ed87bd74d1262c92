"""Regression tests for issue #11's findings 1, 2, 3, 5, 6 and 10, each as the attacker tried it: a tenant's
media URL that names Twilio, URLs that point at loopback, a webhook signed with the public development token
in production, a scoped key taking another business's number, a decompression bomb, a phone photo with its
GPS position. Each failed on the code before the fix."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from app.config import DEV_TWILIO_TOKEN, Settings
from app.doctor import run_checks
from app.email.parse import Attachment
from app.email.service import prepare_media
from app.kit import media as media_store
from app.main import create_app, make_runner
from app.models import InboundMessage
from app.runtime import Runtime, build_runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL, make_key
from tests.helpers import drain, make_business, send_sms, twilio_form

SID = "AC" + "5" * 32


@dataclass
class Capture:
    """A loopback server standing for an attacker's host or an internal service: it records every request
    and answers a 2600 x 1200 JPEG (3.6 MB) with an EXIF GPS position (or ``hunter2`` on ``/secret``)."""

    base: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # path, Authorization


def gps_photo(size: tuple[int, int] = (2600, 1200)) -> bytes:
    """A noisy phone-sized JPEG, over 1 MB, carrying EXIF GPS (48°51'N 2°21'E) and an orientation tag."""
    img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW to display
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


PHOTO = gps_photo()


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    cap = Capture()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            cap.seen.append((self.path, self.headers.get("Authorization")))
            body, ctype = (b"hunter2", "text/plain") if self.path.startswith("/secret") else (PHOTO, "image/jpeg")
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # a Bluesky login is a POST

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    cap.base = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield cap
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Service:
    rt: Runtime
    client: httpx.AsyncClient
    runner: Runner[Runtime]
    auth: dict[str, str]


@asynccontextmanager
async def service(settings: Settings) -> AsyncIterator[Service]:
    rt = build_runtime(settings)
    app = create_app(settings, runtime=rt)
    app.state.runtime = rt
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
            key = await make_key(rt)
            yield Service(rt, c, make_runner(rt), {"Authorization": f"Bearer {key}"})
    finally:
        await rt.close()


async def post_with_media(svc: Service, biz_id: int, url: str) -> dict[str, Any]:
    r = await svc.client.post(
        f"/api/v1/businesses/{biz_id}/posts", headers=svc.auth, json={"text": "Photo du jour", "media_urls": [url]}
    )
    assert r.status_code == 202, r.text
    await drain(svc.runner)
    got = await svc.client.get(f"/api/v1/businesses/{biz_id}/posts/{r.json()['id']}", headers=svc.auth)
    post: dict[str, Any] = got.json()
    return post


# --- finding 1: the Twilio credentials went to any URL containing "twilio.com" ------------------------------


async def test_twilio_credentials_never_go_to_a_url_that_merely_names_twilio(
    db_url: str, make_settings: Callable[..., Settings], capture: Capture
) -> None:
    settings = make_settings(
        db_url,
        sms_provider="twilio",
        twilio_account_sid=SID,
        twilio_api_base_url="http://127.0.0.1:9",  # the operator's Twilio: not the capture server
    )
    async with service(settings) as svc:
        assert svc.rt.twilio is not None
        biz, _ = await make_business(svc.client, svc.auth)
        capture.seen.clear()
        for path in ("/api.twilio.com/2010-04-01/a.jpg", "/x.jpg?api.twilio.com"):
            await post_with_media(svc, biz["id"], capture.base + path)
    assert [p for p, _ in capture.seen] == ["/api.twilio.com/2010-04-01/a.jpg", "/x.jpg?api.twilio.com"]
    assert [a for _, a in capture.seen] == [None, None], "Twilio Basic auth sent to a non-Twilio host"


# --- finding 2: server-side request forgery --------------------------------------------------------------


async def test_private_and_loopback_urls_are_never_fetched_and_errors_say_nothing(
    db_url: str, make_settings: Callable[..., Settings], capture: Capture
) -> None:
    port = httpx.URL(capture.base).port
    urls = [
        f"{capture.base}/a.png",
        f"https://127.0.0.1:{port}/b.png",
        f"https://[::1]:{port}/c.png",
        f"https://2130706433:{port}/d.png",
        f"https://0x7f.1:{port}/e.png",
        f"https://localhost:{port}/f.png",
        "https://169.254.169.254/latest/meta-data/",
        f"https://api.twilio.com@127.0.0.1:{port}/g.png",
    ]
    async with service(make_settings(db_url, allow_private_networks=False)) as svc:
        biz, member = await make_business(svc.client, svc.auth)
        capture.seen.clear()
        for url in urls:
            post = await post_with_media(svc, biz["id"], url)
            [d] = post["deliveries"]
            assert d["status"] == "failed", url
            assert str(port) not in d["error"], d["error"]
            assert "169.254" not in d["error"], d["error"]
            assert not any(code in d["error"] for code in ("200", "404", "image/", "text/")), d["error"]
        # An MMS whose media URL is the same internal host (a forged or odd Twilio form)
        fields = {"NumMedia": "1", "MediaUrl0": f"{capture.base}/mms.jpg", "MediaContentType0": "image/jpeg"}
        r = await send_sms(svc.client, member["phone"], "+15817000001", "PUBLIER photo", **fields)
        assert r.status_code == 200
        await drain(svc.runner)
        # Linking a Mastodon account on an internal host: refused, nothing fetched, no remote body echoed
        r = await svc.client.post(
            f"/api/v1/businesses/{biz['id']}/accounts",
            headers=svc.auth,
            json={
                "network": "mastodon",
                "credentials": {"instance_url": f"{capture.base}/secret", "access_token": "x"},
            },
        )
        assert r.status_code == 502, r.text
        assert "hunter2" not in r.text
        assert str(port) not in r.text
        # Same for a Bluesky account on a "self-hosted PDS" that is an internal host
        r = await svc.client.post(
            f"/api/v1/businesses/{biz['id']}/accounts",
            headers=svc.auth,
            json={
                "network": "bluesky",
                "credentials": {"handle": "x.test", "app_password": "a-b-c-d", "pds_url": f"{capture.base}/secret"},
            },
        )
        assert r.status_code == 502, r.text
        assert "hunter2" not in r.text
    assert capture.seen == [], f"{len(capture.seen)} requests reached a loopback server"


# --- finding 3: production accepted webhooks signed with the public development token ---------------------


async def test_prod_without_a_twilio_token_refuses_webhooks_signed_with_the_dev_token(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(db_url, env="production", secret_key="k" * 40, twilio_auth_token="")
    assert settings.env == "prod"
    async with service(settings) as svc:
        await make_business(svc.client, svc.auth)
        form = twilio_form("+14185550120", "+15817000001", "PUBLIER forged in prod")
        url = PUBLIC_URL + "/webhooks/twilio/sms"
        sig = RequestValidator(DEV_TWILIO_TOKEN).compute_signature(url, form)
        r = await svc.client.post("/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": sig})
        assert r.status_code == 403
        async with svc.rt.db.read() as s:
            assert (await s.execute(select(func.count()).select_from(InboundMessage))).scalar_one() == 0
    checks = {c.name: c for c in await run_checks(settings, check_accounts=False)}
    assert not checks["Twilio token"].ok, "ardoise doctor must fail loudly"
    assert "refused" in checks["Twilio token"].detail


def test_a_configuration_error_is_one_plain_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(ARDOISE_ENV="prod", ARDOISE_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    done = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "ARDOISE_SECRET_KEY" in lines[0], done.stderr


# --- finding 5: a scoped key took another business's SMS number ------------------------------------------


@BOTH_BACKENDS
async def test_a_scoped_key_cannot_take_another_business_number(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    a, _ = await make_business(client, auth, slug="alpha", number="+15817000031", phone="+14185550131")
    b, _ = await make_business(client, auth, slug="beta", number="+15817000032", phone="+14185550132")
    scoped = {"Authorization": f"Bearer {await make_key(rt, a['id'])}"}
    r = await client.patch(
        f"/api/v1/businesses/{a['id']}", headers=scoped, json={"sms_numbers": ["+15817000031", "+15817000032"]}
    )
    assert r.status_code == 409, r.text
    assert (await client.get(f"/api/v1/businesses/{a['id']}", headers=auth)).json()["sms_numbers"] == ["+15817000031"]
    r = await client.patch(f"/api/v1/businesses/{a['id']}", headers=scoped, json={"sms_numbers": ["+15817000039"]})
    assert r.status_code == 200, r.text  # a free number is the tenant's to take
    r = await client.post(
        "/api/v1/businesses",
        headers=scoped,
        json={"name": "Squat", "slug": "squat", "language": "fr", "sms_numbers": ["+15817000032"]},
    )
    assert r.status_code == 403
    # The operator may share a number; that decision is audited.
    r = await client.patch(
        f"/api/v1/businesses/{a['id']}", headers=auth, json={"sms_numbers": ["+15817000039", "+15817000032"]}
    )
    assert r.status_code == 200, r.text
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    shared = [x for x in audit if x["action"] == "business.number_shared"]
    assert len(shared) == 1
    assert "+15817000032" in shared[0]["detail"]
    assert str(b["id"]) in shared[0]["detail"]


# --- finding 6: a 300 KB PNG decoded to 1.3 GB before the sender was trusted -------------------------------


def png_bomb(side: int = 8900) -> bytes:
    """A valid grey PNG of ``side`` x ``side`` zero pixels (79 M pixels), about 80 KB compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = png_bomb()
    assert len(bomb) < 400_000
    with pytest.raises(media_store.ImageRefused, match="pixels"):
        media_store.reencode(bomb)
    got = prepare_media([Attachment("bomb.png", "image/png", bomb)], Path("/nonexistent"), PUBLIC_URL, 4)
    assert got.items == []
    assert got.unreadable == ["bomb.png"]


# --- finding 10: MMS and API photos were stored and served byte for byte, GPS included ---------------------


def assert_clean(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) <= 1_000_000, f"{len(data)} bytes: Bluesky refuses it"
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        assert max(im.size) <= 2048
        assert im.height > im.width, "the EXIF orientation was not applied"
        assert not im.getexif(), "EXIF (GPS) kept"


@BOTH_BACKENDS
async def test_every_stored_photo_is_reencoded_without_exif_and_fits_bluesky(
    db_url: str, make_settings: Callable[..., Settings], capture: Capture
) -> None:
    assert len(PHOTO) > 1_000_000
    async with service(make_settings(db_url)) as svc:  # local stand-in: private networks allowed
        biz, member = await make_business(svc.client, svc.auth)
        post = await post_with_media(svc, biz["id"], f"{capture.base}/api.jpg")
        [m] = post["media"]
        fields = {"NumMedia": "1", "MediaUrl0": f"{capture.base}/mms.jpg", "MediaContentType0": "image/jpeg"}
        r = await send_sms(svc.client, member["phone"], "+15817000001", "PUBLIER photo par MMS", **fields)
        assert r.status_code == 200
        await drain(svc.runner)
        posts = (await svc.client.get(f"/api/v1/businesses/{biz['id']}/posts", headers=svc.auth)).json()["items"]
        mms = next(p for p in posts if p["text"] == "photo par MMS")
        media_dir = svc.rt.settings.media_dir
        for url in (m, *mms["media"]):
            name = url.rsplit("/", 1)[1]
            assert_clean(media_dir / name)
            served = await svc.client.get(f"/media/{name}")
            assert served.status_code == 200
            assert served.content == (media_dir / name).read_bytes()
        assert len(mms["media"]) == 1
