"""Issue #11 finding 11, the PIN: never stored in clear, five wrong codes in 24 h lock it (resending the command
does not reset the count) with one alert to the other owners and the operator, three wrong codes drop the action,
and only ASCII digits are a PIN."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from app.catalogue import t
from app.models import InboundMessage, Job
from app.runtime import Runtime
from tests.conftest import BOTH_BACKENDS
from tests.support.chat import Chat, biz, chat, messages, one_sms, posts, set_pin
from tests.support.clock import Clock

__all__ = ["biz", "chat"]  # fixtures

PIN = "4821"


async def _stored(rt: Runtime) -> str:
    """Every stored inbound body and form, and every job payload, as one text."""
    async with rt.db.read() as s:
        rows = list((await s.execute(select(InboundMessage))).scalars())
        jobs = list((await s.execute(select(Job))).scalars())
    return repr([(m.body, m.raw) for m in rows]) + repr([j.payload for j in jobs])


@BOTH_BACKENDS
async def test_the_pin_is_never_stored_or_listed_in_clear(
    rt: Runtime, chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    await set_pin(client, auth, biz, PIN)
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Publié #1: Page OK"
    assert one_sms(await chat.say("ANNULER")) == t("pin_needed", "fr")
    assert one_sms(await chat.say("NIP 9137")) == t("pin_wrong", "fr")
    assert one_sms(await chat.say(f"PIN {PIN}", future=True)).startswith("#1 retiré")  # the masked PIN still works
    listed = [m["body"] for m in await messages(client, auth, biz["id"], "in")]
    assert "PIN ****" in listed
    assert "NIP ****" in listed
    stored = await _stored(rt)
    assert PIN not in stored
    assert "9137" not in stored


@BOTH_BACKENDS
async def test_five_wrong_pins_in_a_day_lock_it_and_alert_once(
    rt: Runtime, chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    await set_pin(client, auth, biz, PIN)  # first: set_pin sets the PIN of the newest member
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/members",
        headers=auth,
        json={"name": "Co-proprio", "phone": "+14185550199", "role": "owner", "language": "fr"},
    )
    assert r.status_code == 201, r.text
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Publié #1: Page OK"
    assert one_sms(await chat.say("ANNULER")) == t("pin_needed", "fr")
    assert one_sms(await chat.say("PIN 0000")) == t("pin_wrong", "fr")
    assert one_sms(await chat.say("PIN 0001")) == t("pin_wrong", "fr")
    assert one_sms(await chat.say("PIN 0002")) == t("pin_dropped", "fr")  # three for one action: dropped
    assert one_sms(await chat.say(f"PIN {PIN}")) == t("pin_none", "fr")
    # asking again does not reset the count: two more wrong codes lock the PIN
    assert one_sms(await chat.say("ANNULER")) == t("pin_needed", "fr")
    assert one_sms(await chat.say("PIN 0003")) == t("pin_wrong", "fr")
    sent = await chat.say("PIN 0004")
    assert one_sms([m for m in sent if m["peer"] == chat.phone]) == t("pin_locked", "fr")  # the member's one answer
    alerts = [m for m in await messages(client, auth, biz["id"], "out") if m["peer"] == "+14185550199"]
    assert [m["body"] for m in alerts] == [t("pin_locked_owner", "fr", name="Proprio")]
    async with rt.db.read() as s:
        kinds = [
            j.payload.get("event") for j in (await s.execute(select(Job))).scalars() if j.kind == "ops.notify_operator"
        ]
    assert kinds == ["pin.locked"]
    # locked: even the right code does nothing, for 24 hours
    assert one_sms(await chat.say("ANNULER")) == t("pin_needed", "fr")
    assert one_sms(await chat.say(f"PIN {PIN}")) == t("pin_locked", "fr")
    assert [p["status"] for p in await posts(client, auth, biz["id"])] == ["published"]
    clock.advance(hours=25)
    assert one_sms(await chat.say("ANNULER")) == t("pin_needed", "fr")
    assert one_sms(await chat.say(f"PIN {PIN}", future=True)).startswith("#1 retiré")
    async with rt.db.read() as s:
        notes = [m.note for m in (await s.execute(select(InboundMessage).order_by(col(InboundMessage.id)))).scalars()]
    assert sum(n.startswith("pin: wrong") for n in notes) == 5


async def test_non_ascii_digits_are_not_a_pin(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    members = (await client.get(f"/api/v1/businesses/{biz['id']}/members", headers=auth)).json()["items"]
    for code in ["١٢٣٤", "۱۲۳۴", "१२३४", "１２３４x"]:
        r = await client.patch(
            f"/api/v1/businesses/{biz['id']}/members/{members[0]['id']}", headers=auth, json={"pin": code}
        )
        assert r.status_code == 422, (code, r.text)
    await set_pin(client, auth, biz, "1234")
    assert one_sms(await chat.say("ANNULER")) == t("pin_needed", "fr")
    reply = one_sms(await chat.say("PIN ١٢٣٤"))
    assert reply == t("invalid", "fr", keyword="PIN", reason=t("bad_bad_pin", "fr"))
    assert [p["status"] for p in await posts(client, auth, biz["id"])] == []
