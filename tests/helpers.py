"""Helpers for tests: seed a business and member through the API, link a Mastodon stand-in, sign Twilio
webhooks, drain jobs."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from app.accounts.service import link
from app.models import NetworkAccount
from app.runtime import Runtime
from app.worker.runner import Runner

TWILIO_TOKEN = "test-twilio-token"
PUBLIC_URL = "http://testserver"


async def make_business(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    slug: str = "bistro",
    number: str = "+15817000001",
    phone: str = "+14185550120",
    lang: str = "fr",
    **extra: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    r = await client.post(
        "/api/v1/businesses",
        headers=auth,
        json={
            "name": f"Bistro {slug}",
            "slug": slug,
            "timezone": "America/Toronto",
            "language": lang,
            "sms_numbers": [number],
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    biz = r.json()
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/members",
        headers=auth,
        json={
            "name": "Proprio",
            "phone": phone,
            "email": f"owner-{slug}@example.test",
            "language": lang,
            "role": "owner",
        },
    )
    assert r.status_code == 201, r.text
    return biz, r.json()


async def link_mastodon(
    session: AsyncSession,
    rt: Runtime,
    business_id: int,
    credentials: dict[str, str],
    handle: str = "@bistro@masto.test",
) -> NetworkAccount:
    """Link a Mastodon account (a stand-in's ``credentials``) to the business, in ``session``."""
    return await link(
        session,
        business_id=business_id,
        network="mastodon",
        handle=handle,
        credentials=credentials,
        settings={},
        vault=rt.vault,
        actor="test",
    )


def twilio_form(frm: str, to: str, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    sid = sid or "SM" + uuid.uuid4().hex
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": frm,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


async def send_sms(
    client: httpx.AsyncClient,
    frm: str,
    to: str,
    body: str,
    sid: str | None = None,
    path: str = "/webhooks/twilio/sms",
    **extra: str,
) -> httpx.Response:
    form = twilio_form(frm, to, body, sid, **extra)
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, form)
    return await client.post(path, data=form, headers={"X-Twilio-Signature": sig})


async def drain(runner: Runner[Runtime], *, include_future: bool = False) -> int:
    """Run every due job (and, with ``include_future``, jobs scheduled later, e.g. the 60 s receipt)."""
    ran = await runner.run_until_idle()
    if include_future:
        from sqlalchemy import update
        from sqlmodel import col

        from app.kit.time import utcnow
        from app.models import Job

        async with runner.db.write() as s:
            await s.execute(update(Job).where(col(Job.state) == "queued").values(run_at=utcnow()))
        ran += await runner.run_until_idle()
    return ran
