"""The SMS command service end to end: a signed Twilio webhook, the job runner, the console provider, and what
the owner gets back (``GET /api/v1/businesses/{id}/messages?direction=out``)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from twilio.request_validator import RequestValidator

from app.catalogue import MESSAGES, t
from app.commands.context import quote
from app.commands.parser import CommandName
from app.kit.sms_text import is_gsm7, segment_info
from app.kit.when_fmt import fmt_time
from app.mentions import service as mention_service
from app.models import InboundMessage, Job, Member, Post
from app.networks.base import Mention, ReplyTarget
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS
from tests.helpers import PUBLIC_URL, TWILIO_TOKEN, drain, link_mastodon, make_business, send_sms, twilio_form
from tests.support.chat import (
    NUMBER,
    OWNER,
    TINY_PNG,
    Chat,
    biz,
    chat,
    messages,
    one_sms,
    posts,
    serving_photo,
    set_pin,
)
from tests.support.clock import Clock
from tests.worker.mastodon_stub import MastodonStub, running_stub

__all__ = ["biz", "chat"]  # fixtures

STRANGER = "+14185559999"


async def count(rt: Runtime, model: Any) -> int:
    async with rt.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


def asks(text: str, lang: str = "fr") -> str:
    """The confirmation prompt for ``text``: it quotes the start of what OUI publishes."""
    return t("confirm_publish", lang, quote=quote(text), minutes=30)


# --- every keyword, both languages, accents and case ---------------------------------------------------

RECEIPT_FR = re.compile(r"Publié #\d+: Page OK")
RECEIPT_EN = re.compile(r"Posted #\d+: Page OK")

# (what the member texts, the one reply expected: a literal or a pattern, what to send after to undo a state)
FR_TABLE: list[tuple[str, str | re.Pattern[str], str | None]] = [
    ("AIDE", t("help", "fr"), None),
    ("aide", t("help", "fr"), None),
    ("Aide!", t("help", "fr"), None),
    ("HELP", t("help", "fr"), None),  # the member's language, not the keyword's
    ("INFO", t("help", "fr"), None),
    ("Info", t("help", "fr"), None),
    ("ETAT", "État: Page OK.", None),
    ("État", "État: Page OK.", None),
    ("STATUS", "État: Page OK.", None),
    ("ANNULER", "Aucune publication à retirer.", None),
    ("UNDO", "Aucune publication à retirer.", None),
    ("EFFACER 7", "Publication #7 introuvable.", None),
    ("DELETE 7", "Publication #7 introuvable.", None),
    ("OUI", "Rien à confirmer.", None),
    ("oui", "Rien à confirmer.", None),
    ("YES", "Rien à confirmer.", None),
    ("NON", "Rien à confirmer.", None),
    ("no", "Rien à confirmer.", None),
    ("PIN 4821", "Aucune action en attente d'un PIN.", None),
    ("NIP 4821", "Aucune action en attente d'un PIN.", None),
    ("Bonjour", t("help_short", "fr"), None),
    ("LANGUE FR", "Langue: francais. LANGUAGE EN for English.", None),
    ("LANGUAGE FR", "Langue: francais. LANGUAGE EN for English.", None),
    ("Français", "Langue: francais. LANGUAGE EN for English.", None),
    ("ARRET", "Ardoise: vous ne recevrez plus de SMS. Texto DEBUT pour revenir.", "DEBUT"),
    ("ARRÊT", t("stop", "fr"), "DEBUT"),
    ("Arret!", t("stop", "fr"), "Début"),
    ("STOP", t("stop", "fr"), "start"),
    ("STOPALL", t("stop", "fr"), "UNSTOP"),
    ("UNSUBSCRIBE", t("stop", "fr"), "START"),
    ("CANCEL", t("stop", "fr"), "START"),
    ("END", t("stop", "fr"), "START"),
    ("QUIT", t("stop", "fr"), "START"),
    ("PUBLIER Soupe du jour", RECEIPT_FR, None),
    ("publier: Soupe du jour", RECEIPT_FR, None),
    ("Publiér Soupe du jour", RECEIPT_FR, None),
    ("POST Soup of the day", RECEIPT_FR, None),
    ("pub: Soupe du jour", RECEIPT_FR, None),
    ("PUB Soupe du jour", RECEIPT_FR, None),
    ("pub Soupe du jour", 'Publier "pub Soupe du jour"? Répondez OUI (30 min).', None),  # the word, not the alias
    ("Soupe du jour: poireaux", 'Publier "Soupe du jour: poireaux"? Répondez OUI (30 min).', "NON"),
    ("PUBLIR Menu du jour", "Vouliez-vous dire PUBLIER? Répondez OUI pour confirmer.", "NON"),
]

EN_TABLE: list[tuple[str, str | re.Pattern[str], str | None]] = [
    ("HELP", t("help", "en"), None),
    ("AIDE", t("help", "en"), None),
    ("INFO", t("help", "en"), None),
    ("STATUS", "Status: Page OK.", None),
    ("ETAT", "Status: Page OK.", None),
    ("UNDO", "No post to remove.", None),
    ("DELETE 7", "Post #7 not found.", None),
    ("YES", "Nothing to confirm.", None),
    ("OUI", "Nothing to confirm.", None),
    ("Hello", t("help_short", "en"), None),
    ("LANGUAGE EN", "Language: English. LANGUE FR pour le francais.", None),
    ("english", "Language: English. LANGUE FR pour le francais.", None),
    ("STOP", "Ardoise: you will get no more texts. Text START to come back.", "START"),
    ("Stop.", t("stop", "en"), "start"),
    ("ARRÊT", t("stop", "en"), "DEBUT"),
    ("POST Soup of the day", RECEIPT_EN, None),
    ("post: Soup of the day", RECEIPT_EN, None),
    ("PUBLIER Soupe du jour", RECEIPT_EN, None),
    ("Soup of the day: leek", 'Post "Soup of the day: leek"? Reply YES (30 min).', "NO"),
    ("PUBLSH Soup of the day", "Did you mean POST? Reply YES to confirm.", "NO"),
]


async def _run_table(
    chat: Chat, clock: Clock, table: list[tuple[str, str | re.Pattern[str], str | None]], lang: str
) -> None:
    failures: list[str] = []
    for body, expected, after in table:
        clock.advance(hours=2)  # no rate limit nor loop guard between rows
        msgs = await chat.say(body)
        got = [m["body"] for m in msgs]
        ok = len(msgs) == 1 and (
            expected.fullmatch(got[0]) is not None if isinstance(expected, re.Pattern) else got[0] == expected
        )
        if ok:
            one_sms(msgs)
        else:
            failures.append(f"{body!r}: expected {expected!r}, got {got!r}")
        if after is not None:
            undo = await chat.texts(after)
            if after.upper().rstrip(".") in ("DEBUT", "START", "UNSTOP") or after == "Début":
                if undo != [t("start", lang)]:
                    failures.append(f"{after!r} after {body!r}: got {undo!r}")
            elif len(undo) != 1:
                failures.append(f"{after!r} after {body!r}: got {undo!r}")
    assert not failures, "\n".join(failures)


async def test_every_keyword_in_french_gets_its_one_reply(chat: Chat, clock: Clock) -> None:
    await _run_table(chat, clock, FR_TABLE, "fr")


async def test_every_keyword_in_english_gets_its_one_reply(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], clock: Clock
) -> None:
    b, _ = await make_business(client, auth, slug="diner", number=NUMBER, phone=OWNER, lang="en")
    await _run_table(Chat(client, auth, runner, [b["id"]]), clock, EN_TABLE, "en")


# --- publish and its receipt -----------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_publier_sends_exactly_one_receipt_naming_the_post(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    body = one_sms(await chat.say("PUBLIER Menu du jour : jarret d’agneau, crème brûlée", future=True))
    assert body == "Publié #1: Page OK"
    assert one_sms(await chat.say("PUBLIER Deuxième", future=True)) == "Publié #2: Page OK"
    items = await posts(client, auth, biz["id"])
    assert [(p["number"], p["text"], p["status"]) for p in items] == [
        (2, "Deuxième", "published"),
        (1, "Menu du jour : jarret d’agneau, crème brûlée", "published"),
    ]
    out = await messages(client, auth, biz["id"], "out")
    assert all(m["peer"] == OWNER for m in out)
    assert [m["kind"] for m in out] == ["receipt", "receipt"]


async def test_help_is_answered_to_a_non_member_in_the_keyword_language(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], biz: dict[str, Any]
) -> None:
    stranger = Chat(client, auth, runner, [biz["id"]], phone=STRANGER)
    assert one_sms(await stranger.say("AIDE")) == t("help", "fr")
    assert one_sms(await stranger.say("help")) == t("help", "en")
    assert one_sms(await stranger.say("INFO")) == t("help", "fr")  # bilingual keyword: the business's language
    out = await messages(client, auth, biz["id"], "out")
    assert {m["peer"] for m in out} == {STRANGER}
    inbound = await messages(client, auth, biz["id"], "in")
    assert {m["status"] for m in inbound} == {"ignored"}


async def test_a_stranger_cannot_publish_and_gets_no_reply(
    rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], biz: dict[str, Any]
) -> None:
    stranger = Chat(client, auth, runner, [biz["id"]], phone=STRANGER)
    assert await stranger.say("PUBLIER Pirate!", future=True) == []
    assert await stranger.say("Texte libre sans mot-clé", future=True) == []
    assert await posts(client, auth, biz["id"]) == []
    assert await count(rt, Post) == 0
    inbound = await messages(client, auth, biz["id"], "in")
    assert [(m["peer"], m["body"], m["status"]) for m in inbound] == [
        (STRANGER, "Texte libre sans mot-clé", "ignored"),
        (STRANGER, "PUBLIER Pirate!", "ignored"),
    ]


# --- opt-out -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["ARRÊT", "STOPALL"])
async def test_opt_out_confirms_once_then_silence_until_start(
    stop: str, chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say(stop)) == t("stop", "fr")
    assert await chat.say("PUBLIER Menu du soir", future=True) == []
    assert await chat.say("ETAT") == []
    assert await chat.say("Texte libre") == []
    inbound = await messages(client, auth, biz["id"], "in")  # newest first
    assert [m["status"] for m in inbound[:3]] == ["ignored"] * 3
    assert await posts(client, auth, biz["id"]) == []
    assert one_sms(await chat.say("DEBUT")) == t("start", "fr")
    assert one_sms(await chat.say("PUBLIER Menu du soir", future=True)).startswith("Publié #")


@pytest.mark.parametrize(("stop", "lang"), [("ARRET", "fr"), ("STOP", "fr"), ("UNSUBSCRIBE", "en")])
async def test_a_stranger_texting_stop_gets_one_confirmation(
    stop: str, lang: str, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], biz: dict[str, Any]
) -> None:
    stranger = Chat(client, auth, runner, [biz["id"]], phone=STRANGER)
    assert one_sms(await stranger.say(stop)) == t("stop", lang)


async def test_stop_on_a_shared_number_opts_out_at_once(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    a, _ = await make_business(client, auth, slug="alpha", number=NUMBER, phone=OWNER)
    b, _ = await make_business(client, auth, slug="beta", number=NUMBER, phone=OWNER)
    chat = Chat(client, auth, runner, [a["id"], b["id"]])
    assert one_sms(await chat.say("STOP")) == t("stop", "fr")
    for biz_id in (a["id"], b["id"]):
        members = (await client.get(f"/api/v1/businesses/{biz_id}/members", headers=auth)).json()["items"]
        assert members[0]["opted_out"] is True
    assert await chat.say("AIDE") == []


async def test_help_on_a_shared_number_is_answered_at_once(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    a, _ = await make_business(client, auth, slug="alpha", number=NUMBER, phone=OWNER)
    b, _ = await make_business(client, auth, slug="beta", number=NUMBER, phone=OWNER)
    chat = Chat(client, auth, runner, [a["id"], b["id"]])
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")


async def test_member_opted_out_gets_nothing_for_a_publish(
    rt: Runtime, chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("ARRET")) == t("stop", "fr")
    assert await chat.say("PUBLIER Menu", future=True) == []
    members = (await client.get(f"/api/v1/businesses/{biz['id']}/members", headers=auth)).json()["items"]
    assert members[0]["opted_out"] is True
    assert one_sms(await chat.say("START")) == t("start", "fr")


# --- language -----------------------------------------------------------------------------------------


async def test_langue_en_switches_every_later_reply(chat: Chat) -> None:
    assert one_sms(await chat.say("LANGUE EN")) == "Language: English. LANGUE FR pour le francais."
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Posted #1: Page OK"
    assert one_sms(await chat.say("AIDE")) == t("help", "en")
    assert one_sms(await chat.say("langue fr")) == "Langue: francais. LANGUAGE EN for English."
    assert one_sms(await chat.say("HELP")) == t("help", "fr")


# --- confirmation ---------------------------------------------------------------------------------------


async def test_free_text_asks_then_oui_within_30_minutes_publishes(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    expected = 'Publier "Menu du jour: soupe à l\'oignon"? Répondez OUI (30 min).'
    assert one_sms(await chat.say("Menu du jour: soupe à l’oignon")) == expected
    assert await posts(client, auth, biz["id"]) == []
    clock.advance(minutes=29)
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK"
    assert [p["text"] for p in await posts(client, auth, biz["id"])] == ["Menu du jour: soupe à l’oignon"]
    assert one_sms(await chat.say("OUI")) == "Rien à confirmer."  # consumed


async def test_oui_after_31_minutes_has_nothing_to_confirm(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("Menu du jour: soupe")) == asks("Menu du jour: soupe")
    clock.advance(minutes=31)
    assert one_sms(await chat.say("OUI", future=True)) == "Rien à confirmer."
    assert await posts(client, auth, biz["id"]) == []


async def test_non_cancels(chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]) -> None:
    assert one_sms(await chat.say("Menu du jour: soupe")) == asks("Menu du jour: soupe")
    assert one_sms(await chat.say("NON")) == "Annulé, rien n'est publié."
    assert one_sms(await chat.say("OUI", future=True)) == "Rien à confirmer."
    assert await posts(client, auth, biz["id"]) == []


async def test_a_second_free_text_joins_the_one_waiting_for_oui(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("Soupe du jour: soupe aux pois")) == asks("Soupe du jour: soupe aux pois")
    joined = "Soupe du jour: soupe aux pois\nDessert: tarte au sirop d’érable"
    assert one_sms(await chat.say("Dessert: tarte au sirop d’érable")) == asks(joined)
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK"
    assert [p["text"] for p in await posts(client, auth, biz["id"])] == [
        "Soupe du jour: soupe aux pois\nDessert: tarte au sirop d’érable"
    ]
    assert one_sms(await chat.say("OUI")) == "Rien à confirmer."


async def test_bare_annuler_answers_the_open_question_and_keeps_the_published_post(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Publié #1: Page OK"
    assert one_sms(await chat.say("Bonjour, vous êtes ouverts?")) == asks("Bonjour, vous êtes ouverts?")
    # "Publier ce texte?" answered ANNULER means no, not "delete my last post".
    assert one_sms(await chat.say("ANNULER")) == "Annulé, rien n'est publié."
    assert [(p["number"], p["status"]) for p in await posts(client, auth, biz["id"])] == [(1, "published")]
    assert one_sms(await chat.say("OUI", future=True)) == "Rien à confirmer."
    # With the question answered, ANNULER is the undo of the last post again.
    assert one_sms(await chat.say("ANNULER")) == "#1 retiré: Page retiré"


async def test_bare_annuler_removes_only_the_members_own_last_post(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], runner: Runner[Runtime]
) -> None:
    staff_phone = "+14185550177"
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/members",
        headers=auth,
        json={"name": "Luc", "phone": staff_phone, "language": "fr", "role": "staff"},
    )
    assert r.status_code == 201, r.text
    staff = Chat(client, auth, runner, [biz["id"]], phone=staff_phone)
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Publié #1: Page OK"
    await staff.new()  # both chats watch the business's outbox
    # Luc has posted nothing: the owner's #1 is not "his last post".
    assert one_sms(await staff.say("ANNULER")) == "Aucune publication à retirer."
    assert [p["status"] for p in await posts(client, auth, biz["id"])] == ["published"]
    assert one_sms(await staff.say("ANNULER 1")) == "#1 retiré: Page retiré"


async def test_undo_with_a_number_still_removes_that_post_while_a_question_is_open(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("LANGUAGE EN")) == "Language: English. LANGUE FR pour le francais."
    assert one_sms(await chat.say("POST Soup", future=True)) == "Posted #1: Page OK"
    assert one_sms(await chat.say("PUBLSH Stew")) == "Did you mean POST? Reply YES to confirm."
    assert one_sms(await chat.say("UNDO 1")) == "#1 removed: Page removed"
    assert one_sms(await chat.say("UNDO")) == "Cancelled, nothing was posted."
    assert one_sms(await chat.say("YES", future=True)) == "Nothing to confirm."


async def test_bare_annuler_after_the_question_lapsed_removes_the_last_post(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Publié #1: Page OK"
    assert one_sms(await chat.say("Menu du jour: soupe")) == asks("Menu du jour: soupe")
    clock.advance(minutes=31)
    assert one_sms(await chat.say("ANNULER", future=True)) == "#1 retiré: Page retiré"


async def test_direct_mode_publishes_free_text_at_once(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    b, _ = await make_business(client, auth, number=NUMBER, phone=OWNER, publish_mode="direct")
    chat = Chat(client, auth, runner, [b["id"]])
    assert one_sms(await chat.say("Menu du jour: soupe")) == "Publié #1: Page OK"
    assert [p["text"] for p in await posts(client, auth, b["id"])] == ["Menu du jour: soupe"]


async def test_direct_mode_set_through_the_api(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    r = await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json={"publish_mode": "direct"})
    assert r.status_code == 200, r.text
    assert one_sms(await chat.say("Menu du jour: soupe")) == "Publié #1: Page OK"


async def test_a_typo_keyword_is_suggested_and_oui_publishes(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    assert one_sms(await chat.say("PUBLIR Menu du jour")) == "Vouliez-vous dire PUBLIER? Répondez OUI pour confirmer."
    assert await posts(client, auth, biz["id"]) == []
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK"
    assert [p["text"] for p in await posts(client, auth, biz["id"])] == ["Menu du jour"]


# --- PIN ------------------------------------------------------------------------------------------------


async def test_annuler_asks_for_the_pin_and_the_undo_receipt_lists_networks(
    rt: Runtime, chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    with running_stub() as stub:
        async with rt.db.write() as s:
            await link_mastodon(s, rt, biz["id"], stub.credentials())
        await set_pin(client, auth, biz, "4821")
        assert one_sms(await chat.say("AIDE")) == t("help", "fr")  # the phone is now seen
        assert one_sms(await chat.say("PUBLIER Menu du jour")) == "Publié #1: Page OK, Mastodon OK"
        assert "Menu du jour" in (await client.get("/b/bistro")).text
        assert one_sms(await chat.say("ANNULER")) == "Code requis: répondez PIN et votre code."
        assert one_sms(await chat.say("PIN 0000")) == "PIN incorrect."
        assert [p["status"] for p in await posts(client, auth, biz["id"])] == ["published"]
        assert stub.deleted == []
        assert one_sms(await chat.say("PIN 4821")) == "#1 retiré: Page retiré, Mastodon retiré"
        assert stub.deleted == [stub.statuses[0]["id"]]
        assert [p["status"] for p in await posts(client, auth, biz["id"])] == ["deleted"]
        assert "Menu du jour" not in (await client.get("/b/bistro")).text
        assert one_sms(await chat.say("PIN 4821")) == "Aucune action en attente d'un PIN."


async def test_publish_from_a_phone_unseen_for_31_days_asks_for_the_pin(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    await set_pin(client, auth, biz, "4821")
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")
    clock.advance(days=29)
    assert one_sms(await chat.say("PUBLIER Un")) == "Publié #1: Page OK"
    clock.advance(days=31)
    assert one_sms(await chat.say("PUBLIER Deux")) == "Code requis: répondez PIN et votre code."
    assert len(await posts(client, auth, biz["id"])) == 1
    assert one_sms(await chat.say("PIN 1234")) == "PIN incorrect."
    assert one_sms(await chat.say("PIN 4821")) == "Publié #2: Page OK"
    assert [p["text"] for p in await posts(client, auth, biz["id"])] == ["Deux", "Un"]


async def test_non_while_a_pin_is_awaited_drops_the_action(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    await set_pin(client, auth, biz, "4821")
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")  # the phone is now seen
    assert one_sms(await chat.say("PUBLIER Soupe", future=True)) == "Publié #1: Page OK"
    assert one_sms(await chat.say("ANNULER")) == "Code requis: répondez PIN et votre code."
    assert one_sms(await chat.say("NON")) == "Annulé, rien n'est publié."
    assert one_sms(await chat.say("PIN 4821")) == "Aucune action en attente d'un PIN."
    assert [p["status"] for p in await posts(client, auth, biz["id"])] == ["published"]


async def test_status_lists_posts_going_out_but_never_an_answers_number(
    rt: Runtime, chat: Chat, biz: dict[str, Any]
) -> None:
    """Answers to mentions (R n) are numbered -1, -2... and owners never see those numbers: ETAT lists the posts."""
    async with rt.db.write() as s:
        for number, reply_to in ((1, None), (-1, 7), (2, None)):
            s.add(Post(business_id=biz["id"], number=number, text="x", reply_to_mention_id=reply_to))
    assert one_sms(await chat.say("ETAT")) == "État: Page OK. En cours: #1, #2."


async def test_undo_without_a_number_never_takes_an_answer_to_a_mention(
    rt: Runtime, chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    async with rt.db.write() as s:
        member = (await s.execute(select(Member).where(col(Member.business_id) == biz["id"]))).scalar_one()
        for number in (-1, -2):
            s.add(
                Post(
                    business_id=biz["id"],
                    number=number,
                    text="Merci!",
                    reply_to_mention_id=7,
                    author_member_id=member.id,
                )
            )
    assert one_sms(await chat.say("ANNULER")) == "Aucune publication à retirer."


async def test_an_unseen_phone_stays_unseen_until_its_pin_even_after_a_harmless_command(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    """A swapped SIM's first ETAT must not unlock publishing, nor may a free text confirmed with OUI."""
    await set_pin(client, auth, biz, "4821")
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")
    clock.advance(days=40)
    assert one_sms(await chat.say("ETAT")) == "État: Page OK."
    assert one_sms(await chat.say("PUBLIER Piratage")) == "Code requis: répondez PIN et votre code."
    assert one_sms(await chat.say("Piratage bis")) == asks("Piratage bis")
    assert one_sms(await chat.say("OUI")) == "Code requis: répondez PIN et votre code."
    assert await posts(client, auth, biz["id"]) == []
    assert one_sms(await chat.say("PIN 4821")) == "Publié #1: Page OK"
    assert [p["text"] for p in await posts(client, auth, biz["id"])] == ["Piratage bis"]
    # The PIN proved the phone: it is seen again.
    assert one_sms(await chat.say("PUBLIER Soupe")) == "Publié #2: Page OK"


async def test_a_reply_from_an_unseen_phone_needs_the_pin(
    rt: Runtime, chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    await set_pin(client, auth, biz, "4821")
    assert one_sms(await chat.say("AIDE")) == t("help", "fr")
    clock.advance(days=31)
    with running_stub() as stub:
        async with rt.db.write() as s:
            acct = await link_mastodon(s, rt, biz["id"], stub.credentials())
            mention = Mention(
                remote_id="9001",
                kind="mention",
                author="@cliente@masto.test",
                text="@bistro c'est comment?",
                target=ReplyTarget("9001"),
            )
            await mention_service.store(s, account=acct, items=[mention])
        assert one_sms(await chat.say("R 1 Venez voir!")) == "Code requis: répondez PIN et votre code."
        assert stub.statuses == []
        assert one_sms(await chat.say("PIN 4821", future=True)) == "Réponse à #1 sur Mastodon: OK"
        assert [st["content"] for st in stub.statuses] == ["<p>@cliente@masto.test Venez voir!</p>"]


# --- protection -----------------------------------------------------------------------------------------


def try_again_at(inbound: list[Any]) -> str:
    """The refusal the owner must get: the oldest acted-on command leaves the hour, rounded up to the minute, told
    in the business's time zone (America/Toronto) as the French write times."""
    oldest = min(datetime.fromisoformat(m["created_at"]) for m in inbound if m["status"] == "processed")
    local = (oldest + timedelta(hours=1, minutes=1)).astimezone(ZoneInfo("America/Toronto"))
    return f"Trop de messages. Réessayez à {fmt_time(local.time().replace(second=0, microsecond=0), 'fr')}."


@BOTH_BACKENDS
async def test_rate_limit_31st_command_refused_once_32nd_silent(
    rt: Runtime, chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    # 32 commands inside the hour, each answered by a distinct text (the loop guard stays out of the way).
    for n in range(1, 33):
        await chat.send(f"EFFACER {n}")
    await drain(chat.runner)
    got = [m["body"] for m in await chat.new()]
    refusals = [b for b in got if b.startswith("Trop de messages.")]
    assert refusals == [try_again_at(await messages(client, auth, biz["id"], "in"))]
    answers = [b for b in got if b.endswith("introuvable.")]
    assert (len(answers), len(refusals), len(got)) == (30, 1, 31), got
    inbound = await messages(client, auth, biz["id"], "in")
    assert sorted(m["status"] for m in inbound) == ["ignored"] * 2 + ["processed"] * 30
    # HELP, STOP and START always work, whatever the rate (carriers require it).
    assert await chat.texts("AIDE") == [t("help", "fr")]
    assert await chat.texts("STOP") == [t("stop", "fr")]
    assert await chat.texts("DEBUT") == [t("start", "fr")]
    assert await chat.texts("EFFACER 33") == []  # still over the limit: the refusal was already sent
    clock.advance(minutes=61)
    assert await chat.texts("EFFACER 33") == ["Publication #33 introuvable."]


async def test_refused_messages_do_not_extend_the_rate_limit(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    for n in range(1, 31):
        await chat.send(f"EFFACER {n}")
    await drain(chat.runner)
    await chat.new()
    clock.advance(minutes=40)
    for n in range(31, 61):  # refused: over the limit (30 of them: alone they would reach it again)
        await chat.send(f"EFFACER {n}")
    await drain(chat.runner)
    # The time said is when the first 30 leave the hour (about 21 minutes from now), not an hour from now.
    assert [m["body"] for m in await chat.new()] == [try_again_at(await messages(client, auth, biz["id"], "in"))]
    clock.advance(minutes=21)  # the 30 acted-on commands are now more than an hour old
    assert await chat.texts("EFFACER 40") == ["Publication #40 introuvable."]


async def test_loop_guard_same_text_to_same_number_five_times_in_ten_minutes(
    chat: Chat, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    replies = [await chat.texts("AIDE") for _ in range(6)]
    assert replies == [[t("help", "fr")]] * 5 + [[]]
    # The held-back reply is not sent, but the operator can see it.
    r = await client.get(f"/api/v1/businesses/{biz['id']}/messages?direction=out&suppressed=true", headers=auth)
    held = [(m["status"], m["note"], m["body"]) for m in r.json()["items"] if m["status"] == "suppressed"]
    assert held == [("suppressed", "loop_guard", t("help", "fr"))]
    assert await chat.texts("ETAT") == ["État: Page OK."]  # another text still goes out
    clock.advance(minutes=11)
    assert await chat.texts("AIDE") == [t("help", "fr")]


async def test_over_1600_characters_is_refused_with_a_clear_reply(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    body = "PUBLIER " + "Très bon menu. " * 120
    reply = one_sms(await chat.say(body, future=True))
    assert reply == f"Message trop long ({len(body.rstrip())} car., max 1600). Rien n'est publié."
    assert await posts(client, auth, biz["id"]) == []


async def test_more_than_ten_media_is_refused(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    media: dict[str, str] = {"NumMedia": "11"}
    for i in range(11):
        media[f"MediaUrl{i}"] = f"https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME{i}"
        media[f"MediaContentType{i}"] = "image/jpeg"
    reply = one_sms(await chat.say("PUBLIER Nos plats", future=True, fields=media))
    assert reply == "Trop de photos (11, max 10). Rien n'est publié."
    assert await posts(client, auth, biz["id"]) == []


async def test_a_photo_that_cannot_be_fetched_is_never_dropped_silently(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    with running_stub() as stub:  # answers 401/404 to a media download: a permanent failure
        media = {"NumMedia": "1", "MediaUrl0": f"{stub.base_url}/nope.jpg", "MediaContentType0": "image/jpeg"}
        # With a keyword or without (the confirmation flow), even a one-word caption: the same answer, nothing posted.
        for body in ("PUBLIER Notre terrasse est ouverte", "Notre terrasse est ouverte", "Dessert!"):
            reply = one_sms(await chat.say(body, future=True, fields=media))
            assert reply == "Photo illisible ou trop lourde. Rien n'est publié.", body
    assert one_sms(await chat.say("OUI")) == "Rien à confirmer."
    assert await posts(client, auth, biz["id"]) == []


async def test_a_photo_with_a_one_word_caption_is_offered_for_publishing(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    with serving_photo(TINY_PNG, "image/png") as media:
        assert one_sms(await chat.say("Dessert!", future=True, fields=media)) == asks("Dessert!")
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK"
    [post] = await posts(client, auth, biz["id"])
    assert post["text"] == "Dessert!"
    assert len(post["media"]) == 1


@pytest.mark.parametrize("word", ["Merci!", "ok", "👍", "Thanks", "🙏🙏"])
async def test_a_lone_thanks_or_emoji_costs_no_sms(chat: Chat, word: str) -> None:
    assert await chat.say(word) == []


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("AIDE PUBLIER", "help_publish"),
        ("aide R", "help_reply"),
        ("HELP POST", "help_publish"),
        ("AIDE M", "help_mentions"),
    ],
)
async def test_help_on_one_command(chat: Chat, typed: str, key: str) -> None:
    assert one_sms(await chat.say(typed)) == t(key, "fr")  # in the member's language, whatever the keyword's


def test_every_command_has_its_help_in_both_languages() -> None:
    missing = [f"help_{c}" for c in get_args(CommandName) if c != "help" and f"help_{c}" not in MESSAGES]
    assert not missing
    for c in get_args(CommandName):
        if c != "help":
            assert set(MESSAGES[f"help_{c}"]) == {"fr", "en"}


async def test_a_lone_unknown_word_gets_the_short_help(chat: Chat) -> None:
    assert one_sms(await chat.say("Bonjour")) == t("help_short", "fr")


# --- webhook: replay and signatures ----------------------------------------------------------------------


@BOTH_BACKENDS
async def test_replayed_message_sid_gives_one_row_one_post_one_receipt(
    rt: Runtime, chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    sid = "SM" + "7" * 32
    first, second = await asyncio.gather(
        send_sms(client, OWNER, NUMBER, "PUBLIER Menu", sid=sid),
        send_sms(client, OWNER, NUMBER, "PUBLIER Menu", sid=sid),
    )
    assert (first.status_code, second.status_code) == (200, 200)
    await drain(chat.runner)
    third = await send_sms(client, OWNER, NUMBER, "PUBLIER Menu", sid=sid)  # after processing too
    assert third.status_code == 200
    await drain(chat.runner, include_future=True)
    assert one_sms(await chat.new()) == "Publié #1: Page OK"
    assert len(await messages(client, auth, biz["id"], "in")) == 1
    assert len(await posts(client, auth, biz["id"])) == 1
    assert await count(rt, InboundMessage) == 1


def _signed(form: dict[str, str], url: str, token: str = TWILIO_TOKEN) -> str:
    sig: str = RequestValidator(token).compute_signature(url, form)
    return sig


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            lambda f: {"X-Twilio-Signature": _signed(f, PUBLIC_URL + "/webhooks/twilio/sms", "x")}, id="forged"
        ),
        pytest.param(lambda f: {}, id="missing"),
        pytest.param(lambda f: {"X-Twilio-Signature": ""}, id="empty"),
        pytest.param(
            lambda f: {"X-Twilio-Signature": _signed(f, "https://evil.example/webhooks/twilio/sms")}, id="other-host"
        ),
        pytest.param(
            lambda f: {"X-Twilio-Signature": _signed(f, PUBLIC_URL + "/webhooks/twilio/status")}, id="other-path"
        ),
        pytest.param(
            lambda f: {
                "X-Twilio-Signature": _signed({**f, "Body": "PUBLIER autre"}, PUBLIC_URL + "/webhooks/twilio/sms")
            },
            id="other-body",
        ),
    ],
)
async def test_bad_signature_is_403_and_nothing_is_stored(
    headers: Any, rt: Runtime, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any]
) -> None:
    form = twilio_form(OWNER, NUMBER, "PUBLIER Menu")
    r = await client.post("/webhooks/twilio/sms", data=form, headers=headers(form))
    assert r.status_code == 403, r.text
    assert await count(rt, InboundMessage) == 0
    assert await count(rt, Job) == 0
    assert await messages(client, auth, biz["id"], "in") == []


async def test_signature_covers_the_raw_query_string_with_a_plus(
    rt: Runtime, client: httpx.AsyncClient, biz: dict[str, Any]
) -> None:
    path = "/webhooks/twilio/sms?tag=a+b&x=%2B1"
    r = await send_sms(client, OWNER, NUMBER, "AIDE", path=path)
    assert r.status_code == 200, r.text
    assert await count(rt, InboundMessage) == 1
    # Signed over a re-encoded query ("+" as a space): not what Twilio called, refused.
    form = twilio_form(OWNER, NUMBER, "AIDE")
    sig = _signed(form, PUBLIC_URL + "/webhooks/twilio/sms?tag=a%20b&x=%2B1")
    r = await client.post(path, data=form, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 403
    assert await count(rt, InboundMessage) == 1


async def test_signature_checked_over_the_public_url_behind_a_proxy(
    rt: Runtime, client: httpx.AsyncClient, biz: dict[str, Any]
) -> None:
    form = twilio_form(OWNER, NUMBER, "AIDE")
    sig = _signed(form, PUBLIC_URL + "/webhooks/twilio/sms")
    r = await client.post(
        "http://10.0.0.7:8000/webhooks/twilio/sms",
        data=form,
        headers={"X-Twilio-Signature": sig, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
    )
    assert r.status_code == 200, r.text
    assert await count(rt, InboundMessage) == 1


@BOTH_BACKENDS
async def test_loop_guard_holds_when_the_commands_arrive_together(chat: Chat) -> None:
    for _ in range(8):
        await chat.send("AIDE")
    await drain(chat.runner)
    assert [m["body"] for m in await chat.new()] == [t("help", "fr")] * 5


# --- one number, two businesses ---------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_shared_number_asks_which_business_and_2_runs_the_command_on_the_second(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    a, _ = await make_business(client, auth, slug="alpha", number=NUMBER, phone=OWNER)
    b, _ = await make_business(client, auth, slug="beta", number=NUMBER, phone=OWNER)
    chat = Chat(client, auth, runner, [a["id"], b["id"]])
    question = one_sms(await chat.say("PUBLIER Menu du jour"))
    assert question == "Pour quelle entreprise? Répondez 1 = Bistro alpha, 2 = Bistro beta"
    assert await posts(client, auth, a["id"]) == []
    assert await posts(client, auth, b["id"]) == []
    receipt = await chat.say("2")
    assert one_sms(receipt) == "Publié #1: Page OK"
    assert await posts(client, auth, a["id"]) == []
    assert [p["text"] for p in await posts(client, auth, b["id"])] == ["Menu du jour"]
    assert "Menu du jour" in (await client.get("/b/beta")).text
    assert "Menu du jour" not in (await client.get("/b/alpha")).text


async def test_shared_number_member_of_one_business_only_is_routed_without_asking(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    a, _ = await make_business(client, auth, slug="alpha", number=NUMBER, phone="+14185550177")
    b, _ = await make_business(client, auth, slug="beta", number=NUMBER, phone=OWNER)
    chat = Chat(client, auth, runner, [a["id"], b["id"]])
    assert one_sms(await chat.say("PUBLIER Menu du jour")) == "Publié #1: Page OK"
    assert [p["text"] for p in await posts(client, auth, b["id"])] == ["Menu du jour"]
    assert await posts(client, auth, a["id"]) == []


# --- the receipt after a slow network ----------------------------------------------------------------------


@BOTH_BACKENDS
async def test_receipt_at_the_deadline_says_pending_and_a_later_failure_sends_one_followup(
    rt: Runtime, chat: Chat, clock: Clock, biz: dict[str, Any]
) -> None:
    with running_stub(MastodonStub(status_http_error=503)) as stub:
        async with rt.db.write() as s:
            await link_mastodon(s, rt, biz["id"], stub.credentials())
        assert await chat.say("PUBLIER Menu du jour") == [], "a receipt before the deadline with Mastodon pending"
        assert stub.status_requests >= 1
        clock.advance(seconds=30)
        assert await chat.new() == []
        await drain(chat.runner)
        assert await chat.new() == []
        clock.advance(seconds=31)  # past the 60 s deadline
        await drain(chat.runner)
        assert one_sms(await chat.new()) == "Publié #1: Page OK, Mastodon en attente"
        # Mastodon now refuses for good: one follow-up, then nothing more.
        stub.status_http_error = 422
        clock.advance(hours=2)
        await drain(chat.runner, include_future=True)
        followup = one_sms(await chat.new())
        # In the owner's words, never the network's technical (English, maybe UCS-2) error text.
        assert followup == "#1 Mastodon: échec (refusé par le réseau). Rien à faire, votre conseiller est avisé."
        clock.advance(hours=2)
        await drain(chat.runner, include_future=True)
        assert await chat.new() == []
        assert stub.creations == 0


@BOTH_BACKENDS
async def test_a_disconnected_account_is_said_once_in_the_receipt(
    rt: Runtime, chat: Chat, clock: Clock, biz: dict[str, Any]
) -> None:
    """One command, one SMS, even when something broke: the receipt names the disconnected account (no separate
    disconnect notice to the author, never a bare ECHEC), and so does the next post's."""
    with running_stub(MastodonStub()) as stub:
        async with rt.db.write() as s:
            await link_mastodon(s, rt, biz["id"], {**stub.credentials(), "access_token": "revoked"})
        receipt = one_sms(await chat.say("PUBLIER Menu du jour"))
        assert receipt == "Publié #1: Page OK, Mastodon déconnecté (conseiller avisé)"
        assert (is_gsm7(receipt), segment_info(receipt).segments) == (True, 1)
        clock.advance(hours=2)
        await drain(chat.runner, include_future=True)
        assert await chat.new() == []  # no disconnect notice, no follow-up
        assert (
            one_sms(await chat.say("PUBLIER Dessert")) == "Publié #2: Page OK, Mastodon déconnecté (conseiller avisé)"
        )
        assert stub.creations == 0


async def test_receipt_waits_for_a_slow_network_that_then_succeeds(
    rt: Runtime, chat: Chat, clock: Clock, biz: dict[str, Any]
) -> None:
    with running_stub(MastodonStub(status_http_error=503)) as stub:
        async with rt.db.write() as s:
            await link_mastodon(s, rt, biz["id"], stub.credentials())
        assert await chat.say("PUBLIER Menu du jour") == []
        stub.status_http_error = None
        clock.advance(seconds=5)
        await drain(chat.runner)
        assert one_sms(await chat.new()) == "Publié #1: Page OK, Mastodon OK"
        assert stub.creations == 1
        await drain(chat.runner, include_future=True)
        assert await chat.new() == []
