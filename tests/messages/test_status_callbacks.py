"""``POST /webhooks/twilio/status``: signed like every Twilio webhook, deduplicated on (MessageSid, status),
monotonic (a late ``sent`` never overwrites ``delivered``), and error 21610 opts the member out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from app.models import StatusEvent
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS
from tests.helpers import PUBLIC_URL, TWILIO_TOKEN, drain, make_business, send_sms

NUMBER = "+15817000001"
OWNER = "+14185550120"
STATUS_PATH = "/webhooks/twilio/status"


def status_form(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    """The fields Twilio posts to a StatusCallback URL."""
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "AccountSid": "AC" + "0" * 32,
        "From": NUMBER,
        "To": OWNER,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


async def post_status(
    client: httpx.AsyncClient, sid: str, status: str, error_code: str | None = None, *, signed: bool = True
) -> httpx.Response:
    form = status_form(sid, status, error_code)
    headers = (
        {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + STATUS_PATH, form)}
        if signed
        else {}
    )
    return await client.post(STATUS_PATH, data=form, headers=headers)


async def outbound(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int) -> list[Any]:
    r = await client.get(f"/api/v1/businesses/{biz_id}/messages", params={"direction": "out"}, headers=auth)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


async def events(rt: Runtime) -> int:
    async with rt.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(StatusEvent))).scalar_one())


async def member(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int) -> Any:
    items = (await client.get(f"/api/v1/businesses/{biz_id}/members", headers=auth)).json()["items"]
    assert len(items) == 1
    return items[0]


@pytest.fixture
async def sent(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A business and one SMS it sent (the reply to AIDE), with its provider id."""
    biz, _ = await make_business(client, auth, number=NUMBER, phone=OWNER)
    r = await send_sms(client, OWNER, NUMBER, "AIDE")
    assert r.status_code == 200
    await drain(runner)
    out = await outbound(client, auth, biz["id"])
    assert len(out) == 1
    assert out[0]["status"] == "sent"
    async with runner.db.read() as s:
        from app.models import OutboundMessage

        msg = await s.get(OutboundMessage, out[0]["id"])
    assert msg is not None
    assert msg.provider_id
    return biz, {**out[0], "provider_id": msg.provider_id}


@BOTH_BACKENDS
async def test_signed_callbacks_move_the_status_forward(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], sent: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    biz, msg = sent
    for status in ("sent", "delivered", "read"):
        r = await post_status(client, msg["provider_id"], status)
        assert r.status_code == 200, r.text
        assert "<Response" in r.text
        assert (await outbound(client, auth, biz["id"]))[0]["status"] == status
    assert await events(rt) == 3


@BOTH_BACKENDS
async def test_duplicate_sid_and_status_changes_nothing(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], sent: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    biz, msg = sent
    assert (await post_status(client, msg["provider_id"], "failed", "30003")).status_code == 200
    before = (await outbound(client, auth, biz["id"]))[0]
    assert (before["status"], before["note"]) == ("failed", "30003")
    # The same (MessageSid, status) again, even with another error code: a duplicate, ignored.
    for _ in range(3):
        assert (await post_status(client, msg["provider_id"], "failed", "21610")).status_code == 200
    after = (await outbound(client, auth, biz["id"]))[0]
    assert after == before
    assert await events(rt) == 1
    assert (await member(client, auth, biz["id"]))["opted_out"] is False


@BOTH_BACKENDS
async def test_out_of_order_sent_after_delivered_keeps_delivered(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], sent: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    biz, msg = sent
    assert (await post_status(client, msg["provider_id"], "delivered")).status_code == 200
    assert (await post_status(client, msg["provider_id"], "sent")).status_code == 200
    assert (await post_status(client, msg["provider_id"], "queued")).status_code == 200
    assert (await outbound(client, auth, biz["id"]))[0]["status"] == "delivered"
    assert await events(rt) == 3  # each (sid, status) is recorded once, but none moves it back


async def test_error_21610_marks_the_member_opted_out(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    sent: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    biz, msg = sent
    assert (await member(client, auth, biz["id"]))["opted_out"] is False
    r = await post_status(client, msg["provider_id"], "undelivered", "21610")
    assert r.status_code == 200
    assert (await member(client, auth, biz["id"]))["opted_out"] is True
    assert (await outbound(client, auth, biz["id"]))[0]["status"] == "undelivered"
    # Nothing more is sent to that number until START.
    assert (await send_sms(client, OWNER, NUMBER, "ETAT")).status_code == 200
    await drain(runner, include_future=True)
    assert len(await outbound(client, auth, biz["id"])) == 1


@pytest.mark.parametrize("how", ["unsigned", "forged", "other-url"])
async def test_unsigned_or_forged_callback_is_403_and_changes_nothing(
    how: str,
    rt: Runtime,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sent: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    biz, msg = sent
    form = status_form(msg["provider_id"], "undelivered", "21610")
    headers: dict[str, str] = {}
    if how == "forged":
        headers["X-Twilio-Signature"] = RequestValidator("not-the-token").compute_signature(
            PUBLIC_URL + STATUS_PATH, form
        )
    elif how == "other-url":
        headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
            PUBLIC_URL + "/webhooks/twilio/sms", form
        )
    r = await client.post(STATUS_PATH, data=form, headers=headers)
    assert r.status_code == 403
    assert await events(rt) == 0
    assert (await outbound(client, auth, biz["id"]))[0]["status"] == "sent"
    assert (await member(client, auth, biz["id"]))["opted_out"] is False


async def test_callback_for_an_unknown_sid_is_accepted_and_harmless(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], sent: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    biz, _ = sent
    r = await post_status(client, "SM" + "f" * 32, "delivered")
    assert r.status_code == 200
    assert (await outbound(client, auth, biz["id"]))[0]["status"] == "sent"


async def test_callback_without_status_is_422(client: httpx.AsyncClient) -> None:
    form = {"MessageSid": "SM" + "1" * 32, "AccountSid": "AC" + "0" * 32}
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + STATUS_PATH, form)
    r = await client.post(STATUS_PATH, data=form, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 422
