"""The two other ways in: the IMAP poller (against aioimaplib's mock IMAP server on loopback) and the Mailgun
raw-MIME webhook (signature checked)."""

from __future__ import annotations

import hashlib
import hmac
import time
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aioimaplib.imap_testing_server import Mail, MockImapServer  # type: ignore[import-untyped]
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from app.email.imap import ImapConfig, poll_once
from app.email.webhooks import router, verify_mailgun
from app.errors import install
from app.models import InboundMessage, Job
from app.runtime import Runtime
from tests.email.conftest import DOMAIN, MEMBER_EMAIL, Seeded, free_port

KEY = "mailgun-test-signing-key"


async def stored(rt: Runtime) -> tuple[list[InboundMessage], list[Job]]:
    async with rt.db.read() as s:
        ins = list((await s.execute(select(InboundMessage).order_by(col(InboundMessage.id)))).scalars())
        jobs = list((await s.execute(select(Job).where(col(Job.kind) == "email.handle_inbound"))).scalars())
    return ins, jobs


async def test_imap_poll_stores_unseen_once(ert: Runtime, seeded: Seeded) -> None:
    server = MockImapServer()
    port = free_port()
    srv = await server.run_server(host="127.0.0.1", port=port)
    try:
        server.receive(
            Mail.create(
                [f"bistro@{DOMAIN}"], mail_from=MEMBER_EMAIL, subject="ETAT", content="ETAT", message_id="m1@x"
            ),
            imap_user="ardoise",
        )
        cfg = ImapConfig.from_url(f"imap://ardoise:secret@127.0.0.1:{port}/INBOX")
        assert await poll_once(ert, cfg, criteria=r"UNKEYWORD \Seen") == 1
        assert await poll_once(ert, cfg, criteria=r"UNKEYWORD \Seen") == 0  # flagged \Seen: not fetched again
    finally:
        srv.close()
        await srv.wait_closed()
    ins, jobs = await stored(ert)
    assert [i.provider_id for i in ins] == ["<m1@x>"]
    assert "mail_from" not in ins[0].raw
    assert len(jobs) == 1


def test_imap_url() -> None:
    c = ImapConfig.from_url("imaps://owner%40bistro.example:p%2Fw@imap.example/Ardoise")
    assert (c.host, c.port, c.user, c.password, c.mailbox, c.tls) == (
        "imap.example",
        993,
        "owner@bistro.example",
        "p/w",
        "Ardoise",
        True,
    )
    with pytest.raises(ValueError, match="imaps://"):
        ImapConfig.from_url("http://x")


def signed(**extra: Any) -> dict[str, str]:
    ts, token = str(int(time.time())), "t" * 50
    sig = hmac.new(KEY.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": ts, "token": token, "signature": sig, **extra}


def mime() -> bytes:
    msg = EmailMessage()
    msg["From"] = MEMBER_EMAIL
    msg["To"] = f"bistro@{DOMAIN}"
    msg["Subject"] = "ETAT"
    msg["Message-ID"] = "<mg1@bistro.example>"
    msg.set_content("ETAT")
    return msg.as_bytes()


@pytest.fixture
async def mg(ert: Runtime) -> Any:
    ert.settings.mailgun_signing_key = SecretStr(KEY)
    app = FastAPI()
    install(app)
    app.include_router(router)
    app.state.runtime = ert
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_mailgun_mime_is_stored_once(ert: Runtime, seeded: Seeded, mg: httpx.AsyncClient) -> None:
    form = signed(recipient=f"bistro@{DOMAIN}", sender=MEMBER_EMAIL)
    for _ in range(2):
        r = await mg.post("/webhooks/mailgun/mime", data=form, files={"body-mime": ("m.eml", mime(), "message/rfc822")})
        assert r.status_code == 200
    ins, jobs = await stored(ert)
    assert [(i.provider_id, i.raw["source"], i.raw["mail_from"]) for i in ins] == [
        ("<mg1@bistro.example>", "mailgun", MEMBER_EMAIL)
    ]
    assert len(jobs) == 1


async def test_mailgun_text_field_and_foreign_recipient(ert: Runtime, seeded: Seeded, mg: httpx.AsyncClient) -> None:
    r = await mg.post("/webhooks/mailgun/mime", data=signed(recipient="x@elsewhere.example", **{"body-mime": "x"}))
    assert r.status_code == 406
    assert (await stored(ert))[0] == []


@pytest.mark.parametrize("tamper", ["signature", "timestamp", "missing"])
async def test_mailgun_forged_is_refused(ert: Runtime, seeded: Seeded, mg: httpx.AsyncClient, tamper: str) -> None:
    form = signed(recipient=f"bistro@{DOMAIN}", **{"body-mime": mime().decode()})
    if tamper == "signature":
        form["signature"] = "0" * 64
    elif tamper == "timestamp":
        form["timestamp"] = str(int(form["timestamp"]) - 3600)
    else:
        form.pop("signature")
    r = await mg.post("/webhooks/mailgun/mime", data=form)
    assert r.status_code == 403
    assert (await stored(ert))[0] == []


def test_verify_mailgun_window() -> None:
    ts, tok = "1700000000", "x" * 50
    sig = hmac.new(b"k", (ts + tok).encode(), hashlib.sha256).hexdigest()
    assert verify_mailgun("k", ts, tok, sig, now=1700000100)
    assert not verify_mailgun("k", ts, tok, sig, now=1700001000)
    assert not verify_mailgun("", ts, tok, sig, now=1700000100)
