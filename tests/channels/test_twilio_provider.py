"""TwilioProvider against a local stand-in for Twilio's REST API (a real loopback HTTP server in a thread):
the Messages resource with Basic auth, Twilio-shaped JSON (twilio.com/docs/messaging/api/message-resource)
and Twilio's error JSON. Then the ``messages.send_sms`` job end to end with this provider."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.channels.base import OutboundSms
from app.channels.twilio.provider import TwilioProvider
from app.config import Settings
from app.kit.egress import Egress
from app.kit.errors import PermanentError, RetryableError
from app.models import Member, OutboundMessage
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.helpers import TWILIO_TOKEN, drain, make_business, send_sms

SID = "AC" + "a1" * 16
NUMBER = "+15817000001"
OWNER = "+14185550120"
IMAGE = b"\xff\xd8\xff\xe0" + b"jpeg" * 1000

# To-number → (HTTP status, Twilio error JSON): what the stand-in answers for that recipient.
ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "+15005550010": (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}),
    "+15005550001": (400, {"code": 21211, "message": "The 'To' number +15005550001 is not valid.", "status": 400}),
    "+15005550429": (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
    "+15005550500": (500, {"code": 20500, "message": "Internal Server Error", "status": 500}),
    "+15005550503": (503, {"message": "Service Unavailable", "status": 503}),
    "+15005550401": (401, {"code": 20003, "message": "Authenticate", "status": 401}),
}
for _code, _body in ERRORS.values():
    _body["more_info"] = f"https://www.twilio.com/docs/errors/{_body.get('code', _code)}"


@dataclass
class FakeTwilio:
    base_url: str = ""
    sent: list[dict[str, str]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    bucket_auth: list[str | None] = field(default_factory=list)  # Authorization seen by the "CDN"
    errors: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=lambda: dict(ERRORS))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message_json(self, n: int, form: dict[str, str]) -> dict[str, Any]:
        sid = f"SM{n:032x}"
        uri = f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json"
        return {
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": "Thu, 26 Nov 2026 20:00:00 +0000",
            "date_sent": None,
            "date_updated": "Thu, 26 Nov 2026 20:00:00 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": form.get("To"),
            "uri": uri,
        }


def _inbound(n: int, direction: str = "inbound") -> dict[str, Any]:
    return {"sid": f"SM{n:032d}", "from": OWNER, "to": NUMBER, "body": f"msg {n}", "direction": direction}


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    messages_path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    expected_auth = "Basic " + base64.b64encode(f"{SID}:{TWILIO_TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def handle(self) -> None:
            # A client may drop a kept-alive connection between two requests: nothing was lost.
            with contextlib.suppress(ConnectionResetError):
                super().handle()

        def _send(self, code: int, body: bytes, ctype: str = "application/json", **headers: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, body: Any) -> None:
            self._send(code, json.dumps(body).encode())

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != expected_auth:
                self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return False
            return True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            with fake.lock:
                fake.requests.append(("POST", self.path))
            if not self._authorized():
                return
            if urlsplit(self.path).path != messages_path:
                self._json(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            if form.get("To") in fake.errors:
                code, body = fake.errors[form["To"]]
                self._json(code, body)
                return
            with fake.lock:
                fake.sent.append(form)
                n = len(fake.sent)
            self._json(201, fake.message_json(n, form))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with fake.lock:
                fake.requests.append(("GET", self.path))
            if parts.path.startswith("/bucket/"):  # where Twilio redirects media downloads: no auth there
                with fake.lock:
                    fake.bucket_auth.append(self.headers.get("Authorization"))
                size = int(parts.path.rsplit("/", 1)[1])
                self._send(200, IMAGE[:size] if size <= len(IMAGE) else IMAGE * (size // len(IMAGE) + 1), "image/jpeg")
                return
            if not self._authorized():
                return
            if "/Media/" in parts.path:
                wanted = parts.path.rsplit("/", 1)[1].removeprefix("ME")
                # Twilio sends media downloads to its CDN, another host: here "localhost" for "127.0.0.1"
                cdn = fake.base_url.replace("127.0.0.1", "localhost")
                self._send(302, b"", "text/plain", Location=f"{cdn}/bucket/{wanted}")
                return
            if parts.path == messages_path:
                page = int(query.get("Page", "0"))
                if page == 0:
                    assert query.get("To") == NUMBER, query
                    assert query.get("DateSent>") == "2026-11-26", query
                    items = [_inbound(1), _inbound(2, "outbound-api"), _inbound(3)]
                    nxt = f"{messages_path}?To=%2B15817000001&PageSize=3&Page=1&PageToken=PASM3"
                    self._json(200, {"messages": items, "next_page_uri": nxt, "page": 0, "page_size": 3})
                else:
                    assert query.get("PageToken") == "PASM3", query
                    self._json(200, {"messages": [_inbound(4)], "next_page_uri": None, "page": 1, "page_size": 3})
                return
            self._json(404, {"code": 20404, "message": "Not found", "status": 404})

    return Handler


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def fake(twilio_server: FakeTwilio) -> FakeTwilio:
    with twilio_server.lock:
        twilio_server.sent.clear()
        twilio_server.requests.clear()
        twilio_server.errors = dict(ERRORS)
    return twilio_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def provider(base_url: str, http: httpx.AsyncClient | None = None, token: str = TWILIO_TOKEN) -> TwilioProvider:
    return TwilioProvider(SID, token, base_url=base_url, http=http)


def sms(to: str = OWNER, callback: str | None = "http://testserver/webhooks/twilio/status") -> OutboundSms:
    return OutboundSms(message_id=1, sender=NUMBER, to=to, text="Publié #1: Page OK", status_callback_url=callback)


# --- send ----------------------------------------------------------------------------------------------


async def test_send_returns_the_message_sid_and_posts_the_twilio_form(fake: FakeTwilio) -> None:
    result = await provider(fake.base_url).send(sms())
    assert result.provider_id == f"SM{1:032x}"
    assert result.status == "queued"
    assert fake.sent == [
        {
            "To": OWNER,
            "From": NUMBER,
            "Body": "Publié #1: Page OK",
            "StatusCallback": "http://testserver/webhooks/twilio/status",
        }
    ]


async def test_aclose_closes_the_library_session_and_a_later_send_opens_a_new_one(fake: FakeTwilio) -> None:
    p = provider(fake.base_url)
    await p.send(sms())
    session = p._rest().http_client.session
    assert not session.closed
    await p.aclose()
    assert session.closed, "shutdown left the twilio library's aiohttp session open"
    await p.send(sms())
    assert len(fake.sent) == 2
    await p.aclose()


async def test_send_without_a_callback_sends_no_status_callback(fake: FakeTwilio) -> None:
    await provider(fake.base_url).send(sms(callback=None))
    assert "StatusCallback" not in fake.sent[0]


async def test_send_through_a_messaging_service(fake: FakeTwilio) -> None:
    p = TwilioProvider(SID, TWILIO_TOKEN, base_url=fake.base_url, messaging_service_sid="MG" + "0" * 32)
    await p.send(sms())
    assert fake.sent[0]["MessagingServiceSid"] == "MG" + "0" * 32
    assert "From" not in fake.sent[0]


@pytest.mark.parametrize(
    ("to", "error", "code"),
    [
        pytest.param("+15005550010", PermanentError, "opted_out", id="21610-opted-out"),
        pytest.param("+15005550001", PermanentError, "invalid_number", id="21211-invalid-number"),
        pytest.param("+15005550401", PermanentError, "auth", id="20003-auth"),
        pytest.param("+15005550429", RetryableError, "rate_limited", id="429-20429"),
        pytest.param("+15005550500", RetryableError, "twilio_internal", id="500-20500"),
        pytest.param("+15005550503", RetryableError, "http_503", id="503-no-code"),
    ],
)
async def test_send_errors_are_classified(fake: FakeTwilio, to: str, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as info:
        await provider(fake.base_url).send(sms(to=to))
    assert isinstance(info.value, PermanentError | RetryableError)
    assert info.value.code == code
    if error is PermanentError:
        assert not isinstance(info.value, RetryableError)
    assert fake.sent == []


async def test_wrong_credentials_are_permanent(fake: FakeTwilio) -> None:
    with pytest.raises(PermanentError) as info:
        await provider(fake.base_url, token="wrong").send(sms())
    assert info.value.code == "auth"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_connection_refused_is_retryable() -> None:
    with pytest.raises(RetryableError, match="unreachable"):
        await provider(f"http://127.0.0.1:{_closed_port()}").send(sms())


# --- media and listing -------------------------------------------------------------------------------------


LOCAL = Egress(allow_private=True)  # the fake Twilio and its "CDN" are on loopback


async def test_fetch_media_with_credentials_follows_the_redirect(fake: FakeTwilio, http: httpx.AsyncClient) -> None:
    url = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME2000"
    fake.bucket_auth.clear()
    data, ctype = await provider(fake.base_url, http).fetch_media(url, max_bytes=10_000, egress=LOCAL)
    assert data == IMAGE[:2000]
    assert ctype == "image/jpeg"
    assert fake.bucket_auth == [None], "the credentials followed the redirect to another host"


async def test_fetch_media_sends_credentials_only_to_the_exact_api_origin(
    fake: FakeTwilio, http: httpx.AsyncClient
) -> None:
    """Finding 1: a URL merely containing the API host (path, userinfo, another port) gets no credentials."""
    cdn = fake.base_url.replace("127.0.0.1", "localhost")
    twilio = provider(fake.base_url, http)
    for url in (f"{cdn}/bucket/10?h=api.twilio.com", f"{cdn}/bucket/10?{fake.base_url}"):
        fake.bucket_auth.clear()
        data, _ = await twilio.fetch_media(url, max_bytes=10_000, egress=LOCAL)
        assert data == IMAGE[:10]
        assert fake.bucket_auth == [None], url
    assert twilio.credentials_for(fake.base_url + "/x") is not None
    for other in (f"{cdn}/x", fake.base_url.replace("http:", "https:") + "/x", "http://u@127.0.0.1/x"):
        assert twilio.credentials_for(other) is None, other


async def test_fetch_media_over_the_size_limit_is_refused(fake: FakeTwilio, http: httpx.AsyncClient) -> None:
    url = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME200000"
    with pytest.raises(PermanentError) as info:
        await provider(fake.base_url, http).fetch_media(url, max_bytes=50_000, egress=LOCAL)
    assert info.value.code == "too_large"


async def test_fetch_media_with_bad_credentials_is_permanent(fake: FakeTwilio, http: httpx.AsyncClient) -> None:
    url = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME10"
    with pytest.raises(PermanentError):
        await provider(fake.base_url, http, token="wrong").fetch_media(url, max_bytes=10_000, egress=LOCAL)


async def test_fetch_media_unreachable_is_retryable(http: httpx.AsyncClient) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(RetryableError):
        await provider(base, http).fetch_media(
            f"{base}/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1", 100, egress=LOCAL
        )


async def test_list_inbound_follows_pages_and_keeps_only_inbound(fake: FakeTwilio, http: httpx.AsyncClient) -> None:
    found = await provider(fake.base_url, http).list_inbound(NUMBER, "2026-11-26T19:45:00+00:00")
    assert [m.provider_id for m in found] == [f"SM{n:032d}" for n in (1, 3, 4)]
    assert all((m.sender, m.to) == (OWNER, NUMBER) for m in found)
    assert [m.body for m in found] == ["msg 1", "msg 3", "msg 4"]
    gets = [path for method, path in fake.requests if method == "GET"]
    assert len(gets) == 2
    assert "PageToken=PASM3" in gets[1]
    assert gets[1].count("To=") == 1, "page 2 repeated the first page's parameters"


# --- the send_sms job with this provider -------------------------------------------------------------------


@pytest.fixture
def settings(
    db_url: str, make_settings: Callable[..., Settings], twilio_server: FakeTwilio, tmp_path: Path
) -> Settings:
    return make_settings(
        db_url,
        sms_provider="twilio",
        twilio_account_sid=SID,
        twilio_api_base_url=twilio_server.base_url,
        media_dir=tmp_path / "media",
    )


async def test_send_sms_job_sends_through_twilio_and_records_the_sid(
    rt: Runtime, fake: FakeTwilio, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    assert rt.sms.name == "twilio"
    await make_business(client, auth, number=NUMBER, phone=OWNER)
    assert (await send_sms(client, OWNER, NUMBER, "AIDE")).status_code == 200
    await drain(runner)
    assert len(fake.sent) == 1
    form = fake.sent[0]
    assert (form["To"], form["From"]) == (OWNER, NUMBER)
    assert form["Body"].startswith("Ardoise: PUBLIER texte")
    assert form["StatusCallback"] == "http://testserver/webhooks/twilio/status"
    async with rt.db.read() as s:
        msg = (await s.execute(select(OutboundMessage))).scalar_one()
    assert (msg.provider, msg.provider_id, msg.status) == ("twilio", f"SM{1:032x}", "queued")
    # Running the job again (a retry after a crash) does not send twice.
    await drain(runner, include_future=True)
    assert len(fake.sent) == 1


async def test_21610_on_send_marks_the_member_opted_out(
    rt: Runtime, fake: FakeTwilio, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    fake.errors[OWNER] = ERRORS["+15005550010"]
    await make_business(client, auth, number=NUMBER, phone=OWNER)
    assert (await send_sms(client, OWNER, NUMBER, "AIDE")).status_code == 200
    await drain(runner, include_future=True)
    async with rt.db.read() as s:
        msg = (await s.execute(select(OutboundMessage))).scalar_one()
        member = (await s.execute(select(Member).where(col(Member.phone) == OWNER))).scalar_one()
    assert (msg.status, msg.error_code) == ("failed", "opted_out")
    assert member.opted_out is True
    # Nothing more is even attempted for that number.
    del fake.errors[OWNER]
    assert (await send_sms(client, OWNER, NUMBER, "ETAT")).status_code == 200
    await drain(runner, include_future=True)
    assert fake.sent == []


async def test_retryable_twilio_error_is_retried_by_the_job(
    rt: Runtime, fake: FakeTwilio, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    fake.errors[OWNER] = ERRORS["+15005550503"]
    await make_business(client, auth, number=NUMBER, phone=OWNER)
    assert (await send_sms(client, OWNER, NUMBER, "AIDE")).status_code == 200
    await drain(runner)
    async with rt.db.read() as s:
        msg = (await s.execute(select(OutboundMessage))).scalar_one()
    assert (msg.status, msg.error_code) == ("queued", "http_503")
    del fake.errors[OWNER]
    await drain(runner, include_future=True)
    assert len(fake.sent) == 1
    async with rt.db.read() as s:
        msg = (await s.execute(select(OutboundMessage))).scalar_one()
    assert (msg.status, msg.provider_id) == ("queued", f"SM{1:032x}")


async def test_a_status_callback_that_beats_the_send_bookkeeping_is_not_lost(
    rt: Runtime, fake: FakeTwilio, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    from twilio.request_validator import RequestValidator

    from tests.helpers import PUBLIC_URL

    await make_business(client, auth, number=NUMBER, phone=OWNER)
    sid = f"SM{1:032x}"  # the sid the stand-in gives the next message
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SID, "To": OWNER, "From": NUMBER}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio/status", form)
    r = await client.post("/webhooks/twilio/status", data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200
    assert (await send_sms(client, OWNER, NUMBER, "AIDE")).status_code == 200
    await drain(runner)
    async with rt.db.read() as s:
        msg = (await s.execute(select(OutboundMessage))).scalar_one()
    assert msg.provider_id == sid
    assert msg.status == "delivered"
