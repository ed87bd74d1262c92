"""Scheduling by SMS end to end, as the owner's phone sees it: a signed Twilio webhook, the job runner, the console
provider, the exact SMS back; the page, the feed and the admin API before and after the time. SQLite and
PostgreSQL; the one clock (app.kit.time) is frozen and moved by the test.

The business is in America/Toronto; "now" starts on Wednesday 9 December 2026 at 10:00 there (15:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.catalogue import t
from app.commands.parser import Schedule, parse
from app.kit.sms_text import is_gsm7, segment_info
from app.models import Job, Post
from app.runtime import Runtime
from app.scheduling.commands import _command_text
from app.scheduling.grammar import When, resolve
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS
from tests.helpers import drain, make_business
from tests.support.chat import NUMBER, OWNER, TINY_PNG, Chat, one_sms, posts, serving_photo, set_pin
from tests.support.clock import Clock


class Phone(Chat):
    async def new_after_jobs(self) -> list[dict[str, Any]]:
        """The SMS that due jobs (a scheduled post's time, its receipt) caused, without texting anything."""
        await drain(self.runner)
        return await self.new()


@pytest.fixture
def clock_start() -> datetime:
    return datetime(2026, 12, 9, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in Toronto


@pytest.fixture
async def biz(client: httpx.AsyncClient, auth: dict[str, str], clock: Clock) -> dict[str, Any]:
    b, _ = await make_business(client, auth, number=NUMBER, phone=OWNER)
    return b


@pytest.fixture
def chat(client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], biz: dict[str, Any]) -> Phone:
    return Phone(client, auth, runner, [biz["id"]])


def receipt(number: int, lang: str = "fr") -> str:
    return t("receipt", lang, number=number, parts="Page OK")


async def scheduled(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int) -> list[Any]:
    r = await client.get(f"/api/v1/businesses/{biz_id}/posts", params={"state": "scheduled"}, headers=auth)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


@BOTH_BACKENDS
async def test_publier_demain_11h_waits_off_the_page_and_its_receipt_comes_when_published(
    chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    got = one_sms(await chat.say("PUBLIER demain 11h Menu du lendemain : potage et tourtière"))
    assert got == "Programmé #1 pour demain, jeu. 10 déc. 11 h"
    page, feed = (await client.get("/b/bistro")).text, (await client.get("/b/bistro/feed.atom")).text
    assert "tourti" not in page
    assert "tourti" not in feed
    assert (await client.get("/b/bistro/p/1")).status_code == 404
    [item] = await scheduled(client, auth, biz["id"])
    assert (item["number"], item["status"], item["deliveries"]) == (1, "scheduled", [])
    assert item["scheduled_at"] == "2026-12-10T16:00:00Z"
    assert one_sms(await chat.say("PROG")) == "Programmé:\nP1 demain, jeu. 10 déc. 11 h Menu du lendemain : potag..."

    clock.set(datetime(2026, 12, 10, 15, 59, tzinfo=UTC))
    assert await chat.say("ETAT") != []  # a command meanwhile: one answer, and nothing published early
    assert "tourti" not in (await client.get("/b/bistro")).text

    clock.set(datetime(2026, 12, 10, 16, 0, tzinfo=UTC))  # 11:00 in Toronto
    assert one_sms(await chat.new_after_jobs()) == receipt(1)
    assert "tourti" in (await client.get("/b/bistro")).text
    assert "tourti" in (await client.get("/b/bistro/feed.atom")).text
    assert await scheduled(client, auth, biz["id"]) == []
    [post] = await posts(client, auth, biz["id"])
    assert (post["number"], post["status"]) == (1, "published")
    assert post["created_at"].startswith("2026-12-10T16:00")  # dated when it went out
    assert one_sms(await chat.say("PROG")) == t("scheduled_none", "fr")


@BOTH_BACKENDS
async def test_annuler_p_cancels_one_and_annuler_alone_still_removes_the_last_published(
    chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("PUBLIER Soupe du jour")) == receipt(1)
    assert one_sms(await chat.say("PUBLIER vendredi 17h30 Jazz")) == "Programmé #2 pour ven. 11 déc. 17 h 30"
    assert one_sms(await chat.say("PUBLIER 24/12 10h Joyeux Noël")) == "Programmé #3 pour jeu. 24 déc. 10 h"
    assert (
        one_sms(await chat.say("PROG"))
        == "Programmé:\nP2 ven. 11 déc. 17 h 30 Jazz\nP3 jeu. 24 déc. 10 h Joyeux Noel"  # ë is not GSM-7
    )
    assert one_sms(await chat.say("ANNULER P2")) == "P2 annulée (ven. 11 déc. 17 h 30): rien ne sera publié."
    assert one_sms(await chat.say("ANNULER P2")) == "P2 est déjà annulée."
    assert one_sms(await chat.say("ANNULER P99")) == "Aucune publication programmée P99. PROG pour la liste."
    assert one_sms(await chat.say("ANNULER P1")) == "#1 est déjà publiée: ANNULER 1 la retire."
    assert one_sms(await chat.say("ANNULER")) == t(
        "undo_receipt", "fr", number=1, parts="Page " + t("st_deleted", "fr")
    )
    assert [p["number"] for p in await scheduled(client, auth, biz["id"])] == [3]
    assert one_sms(await chat.say("ANNULER 3")) == "P3 annulée (jeu. 24 déc. 10 h): rien ne sera publié."

    clock.set(datetime(2026, 12, 25, 15, 0, tzinfo=UTC))  # past both times: nothing goes out, no SMS
    assert await chat.new_after_jobs() == []
    states = {p["number"]: p["status"] for p in await posts(client, auth, biz["id"])}
    assert states == {1: "deleted", 2: "cancelled", 3: "cancelled"}
    assert "Jazz" not in (await client.get("/b/bistro")).text


async def test_prog_fits_the_members_budget_and_says_how_many_more(
    chat: Phone, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    for day in range(10, 19):
        got = one_sms(await chat.say(f"PUBLIER {day}/12 11h Plat du jour numéro {day}: bœuf braisé aux carottes"))
        assert got.startswith(f"Programmé #{day - 9} pour ")

    async def prog() -> tuple[list[str], str]:
        msgs = await chat.say("PROG")
        assert len(msgs) == 1
        body: str = msgs[0]["body"]
        assert is_gsm7(body)
        return body.split("\n"), body

    lines, body = await prog()
    assert segment_info(body).segments == 2  # the default budget, used to the full
    assert lines[0] == "Programmé:"
    assert lines[1] == "P1 demain, jeu. 10 déc. 11 h Plat du jour numéro 10: b..."
    shown = [line.split()[0] for line in lines[1:-1]]
    assert shown == [f"P{n}" for n in range(1, len(shown) + 1)]  # soonest first
    assert lines[-1] == f"+{9 - len(shown)} autres"
    members = (await client.get(f"/api/v1/businesses/{biz['id']}/members", headers=auth)).json()["items"]
    r = await client.put(
        f"/api/v1/businesses/{biz['id']}/members/{members[0]['id']}/digest", headers=auth, json={"budget_segments": 1}
    )
    assert r.status_code == 200, r.text
    fewer, body = await prog()
    assert segment_info(body).segments == 1
    assert 3 <= len(fewer) < len(lines)
    assert fewer[-1] == f"+{9 - (len(fewer) - 2)} autres"


@BOTH_BACKENDS
async def test_a_time_alone_is_today_or_tomorrow_and_says_which(
    chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("PUBLIER à 11h Menu")) == "Programmé #1 pour aujourd'hui, mer. 9 déc. 11 h"
    clock.set(datetime(2026, 12, 9, 17, 0, tzinfo=UTC))  # noon: #1 went out meanwhile
    assert one_sms(await chat.new_after_jobs()) == receipt(1)
    assert one_sms(await chat.say("PUBLIER à 11h Menu")) == "Programmé #2 pour demain, jeu. 10 déc. 11 h"
    got = one_sms(await chat.say("PUBLIER aujourd'hui 9h Trop tard"))
    assert got == "Moment déjà passé (aujourd'hui, mer. 9 déc. 9 h): rien n'est programmé."
    assert one_sms(await chat.say("PUBLIER 24/12/2029 10h Noël")) == t("schedule_too_far", "fr")
    assert one_sms(await chat.say("PUBLIER demain 11h")) == t("empty_post", "fr")
    assert one_sms(await chat.say("PUBLIER Demain on ferme")) == receipt(3)  # no time: an ordinary post
    assert [p["text"] for p in await scheduled(client, auth, biz["id"])] == ["Menu"]


@BOTH_BACKENDS
async def test_in_english(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], clock: Clock
) -> None:
    b, _ = await make_business(client, auth, slug="diner", number=NUMBER, phone=OWNER, lang="en")
    chat = Phone(client, auth, runner, [b["id"]])
    assert one_sms(await chat.say("POST Fri 5:30pm Jazz night")) == "Scheduled #1 for Fri Dec 11 5:30 pm"
    assert one_sms(await chat.say("POST tomorrow 11am Soup")) == "Scheduled #2 for tomorrow, Thu Dec 10 11 am"
    assert one_sms(await chat.say("POST 12/24 10am Merry Xmas")) == "Scheduled #3 for Thu Dec 24 10 am"
    got = one_sms(await chat.say("EVERY Monday 11am Weekly special"))
    assert got == "Scheduled #4 every Monday at 11 am, first Mon Dec 14 11 am"
    assert one_sms(await chat.say("SCHEDULED")) == (
        "Scheduled:\nP2 tomorrow, Thu Dec 10 11 am Soup\nP1 Fri Dec 11 5:30 pm Jazz night\n"
        "P4 every Monday at 11 am Weekly special\nP3 Thu Dec 24 10 am Merry Xmas"
    )
    assert one_sms(await chat.say("UNDO P1")) == "P1 cancelled (Fri Dec 11 5:30 pm): nothing will be posted."
    assert one_sms(await chat.say("AIDE PROG")) == t("help_scheduled", "en")
    assert one_sms(await chat.say("HELP EVERY")) == t("help_schedule", "en")


@BOTH_BACKENDS
async def test_weekly_post_goes_out_every_week_until_cancelled(
    chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    got = one_sms(await chat.say("CHAQUE lundi 11h Menu de la semaine"))
    assert got == "Programmé #1 chaque lundi à 11 h, 1re fois lun. 14 déc. 11 h"
    clock.set(datetime(2026, 12, 14, 16, 0, tzinfo=UTC))
    assert one_sms(await chat.new_after_jobs()) == receipt(1)
    [nxt] = await scheduled(client, auth, biz["id"])
    assert (nxt["number"], nxt["scheduled_at"]) == (2, "2026-12-21T16:00:00Z")
    assert one_sms(await chat.say("PROG")) == "Programmé:\nP2 chaque lundi à 11 h Menu de la semaine"
    clock.set(datetime(2026, 12, 21, 16, 0, tzinfo=UTC))
    assert one_sms(await chat.new_after_jobs()) == receipt(2)
    assert one_sms(await chat.say("ANNULER P3")) == "P3 annulée (chaque lundi à 11 h): rien ne sera publié."
    clock.set(datetime(2027, 1, 4, 17, 0, tzinfo=UTC))
    assert await chat.new_after_jobs() == []
    assert await scheduled(client, auth, biz["id"]) == []
    assert [p["status"] for p in await posts(client, auth, biz["id"])] == ["cancelled", "published", "published"]


@BOTH_BACKENDS
async def test_a_photo_can_be_scheduled(
    chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    with serving_photo(TINY_PNG, "image/png") as media:
        assert (
            one_sms(await chat.say("PUBLIER demain 11h", fields=media)) == "Programmé #1 pour demain, jeu. 10 déc. 11 h"
        )
    assert "<img" not in (await client.get("/b/bistro")).text
    clock.set(datetime(2026, 12, 10, 16, 0, tzinfo=UTC))
    assert one_sms(await chat.new_after_jobs()) == receipt(1)
    [post] = await posts(client, auth, biz["id"])
    assert len(post["media"]) == 1
    assert "<img" in (await client.get("/b/bistro")).text


async def test_scheduling_from_a_phone_unseen_for_a_month_asks_for_the_pin(
    chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    await set_pin(client, auth, biz, "4821")
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")  # the phone is seen
    clock.set(clock.now + timedelta(days=31))  # Saturday 9 January 2027, 10:00
    assert one_sms(await chat.say("PUBLIER demain midi Brunch")) == t("pin_needed", "fr")
    assert await scheduled(client, auth, biz["id"]) == []
    assert one_sms(await chat.say("PIN 4821")) == "Programmé #1 pour demain, dim. 10 janv. 12 h"
    assert one_sms(await chat.say("ANNULER P1")) == t("pin_needed", "fr")
    assert one_sms(await chat.say("PIN 4821")) == "P1 annulée (demain, dim. 10 janv. 12 h): rien ne sera publié."


@BOTH_BACKENDS
async def test_admin_api_lists_and_cancels_scheduled_posts(
    rt: Runtime, chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    one_sms(await chat.say("PUBLIER demain 11h Tourtière"))
    one_sms(await chat.say("PUBLIER Soupe"))
    [item] = await scheduled(client, auth, biz["id"])
    assert item["text"] == "Tourtière"
    base = f"/api/v1/businesses/{biz['id']}/posts"
    published = (await client.get(base, params={"state": "published"}, headers=auth)).json()["items"]
    assert [p["text"] for p in published] == ["Soupe"]
    bad = await client.get(base, params={"state": "soon"}, headers=auth)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    r = await client.delete(f"{base}/{item['id']}", headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled"
    assert (await client.delete(f"{base}/{item['id']}", headers=auth)).status_code == 409
    assert await scheduled(client, auth, biz["id"]) == []
    clock.set(datetime(2026, 12, 10, 17, 0, tzinfo=UTC))
    assert await chat.new_after_jobs() == []
    async with rt.db.read() as s:
        job = (await s.execute(select(Job).where(col(Job.kind) == "scheduling.publish"))).scalar_one()
        post = (await s.execute(select(Post).where(col(Post.id) == item["id"]))).scalar_one()
    assert (job.state, job.dedup_key) == ("done", f"scheduled:{item['id']}:20261210T1600Z")
    assert post.status == "cancelled"


@pytest.mark.parametrize("month", range(1, 13))
@pytest.mark.parametrize("weekly", [False, True])
def test_the_command_kept_while_the_pin_is_awaited_means_the_same_moment(month: int, weekly: bool) -> None:
    local = datetime(2027, month, 3, 9, 5)
    cmd = parse(_command_text(local, weekly, "Menu du jour"))
    assert isinstance(cmd, Schedule)
    assert cmd.text == "Menu du jour"
    now = datetime(2026, 12, 9, 10, 0)
    for lang in ("fr", "en"):
        when = resolve(cmd.when, now, lang)
        assert when is not None
        if weekly:
            assert (when.weekly, when.local.weekday(), when.local.time()) == (True, local.weekday(), local.time())
        else:
            assert when == When(local)
