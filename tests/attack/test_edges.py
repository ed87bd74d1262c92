"""Issue #11 part B, bad input at the edge: every odd value is a 4xx problem+json, never a 5xx, on SQLite and
PostgreSQL; integers are range-checked by one shared type; text holds no control character.

The ``client`` fixture raises the app's own exceptions (``ASGITransport``), so a 5xx shows up as a failure
with its traceback, and the test also asserts the status and the problem+json body.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import xml.dom.minidom
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app import middleware
from app.config import Settings
from app.email.webhooks import signature_fields
from app.main import create_app, make_runner
from app.models import ApiKey, InboundMessage, Post
from app.runtime import Runtime
from app.schemas_base import DB_INT_MAX
from tests.attack.test_bad_input import MAILGUN_KEY, META_SECRET, _mailgun  # noqa: F401 (settings fixture)
from tests.attack.test_bad_input import settings as settings
from tests.conftest import BOTH_BACKENDS
from tests.helpers import drain, make_business, send_sms

OWNER = "+14185550120"
NUMBER = "+15817000001"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def assert_4xx_problem(label: str, r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, (label, r.status_code, r.text[:300])
    ctype = r.headers.get("content-type", "")
    if not ctype.startswith("text/html"):  # the OAuth pages answer the owner's browser in HTML
        assert ctype.startswith("application/problem+json"), (label, ctype, r.text[:200])


@BOTH_BACKENDS
async def test_odd_values_on_every_list_and_parameter_are_4xx(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    bid = biz["id"]
    cases: list[tuple[str, str, dict[str, Any]]] = []
    for cur in [_b64(str(10**40)), _b64(str(2**63)), _b64(str(2**31)), "!!!", "e30=", _b64("²"), _b64("-1")]:
        for res in ["posts", "members", "messages", "mentions", "accounts"]:
            cases.append((f"{res} cursor {cur}", f"/api/v1/businesses/{bid}/{res}", {"cursor": cur}))
    for num in [str(2**63), str(2**31), "-5", "0", "²"]:
        cases.append((f"posts?number={num}", f"/api/v1/businesses/{bid}/posts", {"number": num}))
    for since in ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "yesterday", "0001-01-01T00:00:00"]:
        cases.append((f"since {since}", f"/api/v1/businesses/{bid}/mentions", {"since": since}))
    for lim in ["-1", "0", str(10**20)]:
        cases.append((f"limit {lim}", f"/api/v1/businesses/{bid}/posts", {"limit": lim}))
    cases.append(("network NUL", f"/api/v1/businesses/{bid}/mentions", {"network": "a\x00b"}))
    cases.append(("network VT", f"/api/v1/businesses/{bid}/mentions", {"network": "a\x0bb"}))
    for big in [str(2**31), str(10**23), "-1", "0x10"]:
        for path in ["/api/v1/businesses/{}", "/api/v1/businesses/{}/posts", f"/api/v1/businesses/{bid}/posts/{{}}"]:
            cases.append((f"id {big} in {path}", path.format(big), {}))
    for label, path, params in cases:
        r = await client.get(path, params=params, headers=auth)
        assert_4xx_problem(label, r)
    # the extreme values that are fine stay fine
    fine = [("posts", {"cursor": _b64(str(DB_INT_MAX))}), ("posts", {"number": str(DB_INT_MAX)})]
    for res, ok in [*fine, ("mentions", {"since": "2026-01-01T00:00:00+14:00"})]:
        r = await client.get(f"/api/v1/businesses/{bid}/{res}", params=ok, headers=auth)
        assert r.status_code == 200, (ok, r.text)


@BOTH_BACKENDS
async def test_odd_public_urls_and_signatures_are_4xx(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await make_business(client, auth)
    for num in ["99999999999999999999999", "2147483648", "-1", "0x10", "²"]:
        assert_4xx_problem(f"page post {num}", await client.get(f"/b/bistro/p/{num}"))
    odd_links = ["business=%C2%B2", "business=" + "9" * 23, "business=2147483648", "business=a%00b"]
    odd_links += [f"business=bistro&token={t}" for t in ("1.%C3%A9", "%C2%B2.abc", "9" * 30 + ".x", "1.%00")]
    for q in odd_links:
        assert_4xx_problem(f"connect {q}", await client.get(f"/connect/facebook?{q}"))
    for header in ["sha256=\xe9".encode("latin-1"), b"sha256=zz", b"sha256=" + "é".encode()]:
        headers = {b"Content-Type": b"application/json", b"X-Hub-Signature-256": header}
        r = await client.post("/webhooks/meta", content=b"{}", headers=headers)
        assert_4xx_problem(f"meta {header!r}", r)
    for ts, sig in [("²", "é"), (str(int(time.time())), "é"), ("1" * 40, "a")]:
        r = await client.post("/webhooks/mailgun/mime", data={"timestamp": ts, "token": "t", "signature": sig})
        assert_4xx_problem(f"mailgun {ts} {sig}", r)


@BOTH_BACKENDS
async def test_odd_twilio_forms_are_4xx_and_text_is_stored_clean(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    await make_business(client, auth)
    r = await send_sms(client, OWNER, NUMBER, "ETAT", sid="SM" + "a" * 300)
    assert_4xx_problem("long MessageSid", r)
    r = await send_sms(client, OWNER, NUMBER, "ETAT", sid="SM-é")
    assert_4xx_problem("odd MessageSid", r)
    r = await send_sms(client, OWNER, NUMBER, "ETAT", path="/webhooks/twilio/status", MessageStatus="x" * 40)
    assert_4xx_problem("long status", r)
    r = await send_sms(client, OWNER, NUMBER, "PUBLIER a\x00b\x0bc\x01d\r\ne", Extra="\x00")
    assert r.status_code == 200, r.text
    async with rt.db.read() as s:
        rows = list((await s.execute(select(InboundMessage))).scalars())
    assert [(m.body, m.raw["Body"], m.raw["Extra"]) for m in rows] == [("PUBLIER ab cd\ne", "PUBLIER ab cd\ne", "")]


@BOTH_BACKENDS
async def test_api_text_with_control_characters_is_refused(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, member = await make_business(client, auth)
    base = f"/api/v1/businesses/{biz['id']}"
    for text in ["Happy hour\x0b5pm", "a\x01b", "a\x7fb", "a\x85b", "a\ud800b", "a\ufffeb", "a\x00b", "a\r\nb"]:
        # json.dumps escapes as \uXXXX, as a client would send a lone surrogate
        headers = {**auth, "Content-Type": "application/json"}
        r = await client.post(f"{base}/posts", content=json.dumps({"text": text}), headers=headers)
        assert_4xx_problem(f"post {text!r}", r)
        r = await client.patch(f"{base}/members/{member['id']}", content=json.dumps({"name": text}), headers=headers)
        assert_4xx_problem(f"member {text!r}", r)
    r = await client.post(f"{base}/posts", json={"text": "Souper\n19 h\tbienvenue"}, headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["text"] == "Souper\n19 h\tbienvenue"


def test_every_integer_route_parameter_is_bounded_by_the_database() -> None:
    """The class, not the instance: a new route taking an unbounded integer fails here."""
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(_env_file=None, database_url="sqlite:///:memory:", twilio_auth_token="t"))
    checked = []
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                types = [schema, *schema.get("anyOf", [])]
                for s in types:
                    if s.get("type") == "integer":
                        assert s.get("maximum", float("inf")) <= DB_INT_MAX, (method, path, param["name"], s)
                        assert s.get("minimum", -float("inf")) >= (0 if param["name"] != "limit" else 1), (
                            method,
                            path,
                            param["name"],
                        )
                        checked.append(f"{method} {path} {param['name']}")
    assert len(checked) >= 10, checked


@BOTH_BACKENDS
async def test_a_control_character_never_breaks_the_atom_feed(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    """Finding 9: ``\x0b`` in an SMS post made the feed a 500 until the post was removed."""
    await make_business(client, auth, publish_mode="direct")
    r = await send_sms(client, OWNER, NUMBER, "PUBLIER Souper\x0b19h\x01 ce soir")
    assert r.status_code == 200, r.text
    await drain(make_runner(rt), include_future=True)
    async with rt.db.write() as s:  # a row stored before the edge stripped control characters
        post = (await s.execute(select(Post))).scalar_one()
        assert post.text == "Souper 19h ce soir"
        post.text = "Souper\x0b19h\x1b"
    feed = await client.get("/b/bistro/feed.atom")
    assert feed.status_code == 200, feed.text[:300]
    xml.dom.minidom.parseString(feed.content)  # raises on a character XML cannot hold
    assert b"Souper 19h" in feed.content


async def test_api_key_last_used_at_is_kept_within_a_minute(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    async def used() -> list[Any]:
        async with rt.db.read() as s:
            return [k.last_used_at for k in (await s.execute(select(ApiKey))).scalars()]

    async def used_once() -> Any:
        deadline = asyncio.get_running_loop().time() + 10
        while (values := await used()) == [None]:  # written by a task of its own, just after the check
            assert asyncio.get_running_loop().time() < deadline, "last_used_at never written"
            await asyncio.sleep(0.02)
        return values[0]

    assert await used() == [None]
    r = await client.post("/api/v1/businesses", headers=auth, json={"name": "x"})
    assert r.status_code == 422  # a POST (its own write session open) does not wait for ever on the touch
    first = await used_once()
    assert (await client.get("/api/v1/businesses", headers=auth)).status_code == 200
    assert await used() == [first]  # within the minute: no second write


async def test_api_docs_are_off_in_production_unless_enabled(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    for env, enabled, expected in [("prod", False, 404), ("prod", True, 200), ("dev", False, 200)]:
        settings = make_settings(db_url, env=env, docs_in_production=enabled, secret_key="k" * 40)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://testserver"
        ) as c:
            for path in ("/docs", "/openapi.json"):
                assert (await c.get(path)).status_code == expected, (env, enabled, path)


async def test_a_body_that_stalls_is_cut_with_408(
    client: httpx.AsyncClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(middleware, "BODY_CHUNK_TIMEOUT", 0.2)
    never = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b'{"name": "Bistro", '
        await never.wait()  # a slow client that never sends the rest
        yield b"}"

    headers = {**auth, "Content-Type": "application/json"}
    r = await client.post("/api/v1/businesses", content=stalls(), headers=headers)
    assert r.status_code == 408, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_mailgun_signature_fields_are_read_without_keeping_the_mail() -> None:
    """The signature is read from the spooled body, whatever the order of the parts, before any parsing."""
    big = b"x" * (3 * 1024 * 1024)
    request = httpx.Request(
        "POST",
        "http://testserver/webhooks/mailgun/mime",
        data={"timestamp": "1700000000", "token": "tok", "signature": "ab" * 32},
        files={"body-mime": ("m.eml", big, "message/rfc822")},
    )
    body = request.read()
    fields = signature_fields(io.BytesIO(body), request.headers["content-type"])
    assert fields == {"timestamp": "1700000000", "token": "tok", "signature": "ab" * 32}
    urlencoded = b"body-mime=" + b"y" * 1000 + b"&timestamp=17%30&token=a+b&signature=%C3%A9"
    fields = signature_fields(io.BytesIO(urlencoded), "application/x-www-form-urlencoded")
    assert fields == {"timestamp": "170", "token": "a b", "signature": "é"}
    assert signature_fields(io.BytesIO(b"--x\r\nbroken"), "multipart/form-data; boundary=x") == {}
