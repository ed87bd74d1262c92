"""Mentions on Bluesky end to end against the REAL local atproto network (the session ``bsky_net`` fixture of
tests/bsky_support.py): a second account mentions the business, ``mentions.poll`` (run by the job runner)
stores it once, the owner reads the SMS digest (``M``), answers with ``R n`` (a reply the second account sees)
and likes it with ``J n``; one SMS each.

The business account is linked through the admin API with handle, app password and ``pds_url``. Ardoise's own
database is PostgreSQL here: the network needs the server anyway, so these tests run where it runs.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from app.models import NetworkAccount
from app.networks.base import Post, ReplyTarget
from app.networks.bluesky.adapter import Bluesky
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.bsky_support import BskyAccount, BskyNet, wait_until
from tests.helpers import drain, make_business
from tests.mentions.test_flow import NUMBER, OWNER, World, one_sms

pytestmark = [
    pytest.mark.bsky,
    pytest.mark.postgres,
    pytest.mark.parametrize("backend", ["postgres"], indirect=True),
]

QUESTION = "Je suis censé d’aller à l’Ardoise, c’est comment? 🤔"
DEADLINE = 60.0  # seconds: AppView reads are eventually consistent (under 1 s; over 20 s once in a busy CI)


async def link(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int, net: BskyNet, acct: BskyAccount) -> int:
    r = await client.post(
        f"/api/v1/businesses/{biz_id}/accounts",
        headers=auth,
        json={
            "network": "bluesky",
            "credentials": {"handle": acct.handle, "app_password": acct.app_password, "pds_url": net.pds},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["handle"].lstrip("@") == acct.handle
    return int(r.json()["id"])


async def poll_until_stored(world: World, count: int) -> None:
    """Run ``mentions.poll`` (through the runner) until ``count`` items are stored, with a deadline."""
    deadline = time.monotonic() + DEADLINE
    while len(await world.mentions()) < count:
        assert time.monotonic() < deadline, "the mention never reached listNotifications"
        await world.poll("bluesky")


def thread_replies(net: BskyNet, uri: str) -> list[dict[str, Any]]:
    out = net.xrpc("GET", "app.bsky.feed.getPostThread", base=net.appview, params={"uri": uri, "depth": 2})
    return [r["post"] for r in out["thread"].get("replies", [])]


def likers(net: BskyNet, uri: str) -> list[str]:
    out = net.xrpc("GET", "app.bsky.feed.getLikes", base=net.appview, params={"uri": uri})
    return [like["actor"]["did"] for like in out["likes"]]


def notifications(net: BskyNet, acct: BskyAccount) -> list[dict[str, Any]]:
    out = net.xrpc("GET", "app.bsky.notification.listNotifications", token=acct.access_jwt)
    return list(out["notifications"])


@pytest.fixture
async def world(
    bsky_net: BskyNet, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> tuple[World, BskyAccount, BskyAccount]:
    business = bsky_net.create_account("biz")
    fan = bsky_net.create_account("fan")
    biz, member = await make_business(client, auth, number=NUMBER, phone=OWNER)
    account_id = await link(client, auth, int(biz["id"]), bsky_net, business)
    w = World(client, auth, runner, rt, biz, member, {}, {"bluesky": account_id})
    await drain(runner)
    await w.new_sms()
    return w, business, fan


async def fan_says(net: BskyNet, fan: BskyAccount, text: str) -> str:
    """The fan posts ``text`` (with a real mention facet for each @handle); its at:// URI."""
    async with httpx.AsyncClient(timeout=20) as http:
        result = await Bluesky(http, base_url=net.pds).publish(
            Post(text=text, idempotency_key=uuid.uuid4().hex), fan.creds()
        )
    return result.remote_id


async def test_mention_digest_reply_and_like_on_the_real_network(
    bsky_net: BskyNet, world: tuple[World, BskyAccount, BskyAccount]
) -> None:
    w, business, fan = world
    uri = await fan_says(bsky_net, fan, f"@{business.handle} {QUESTION}")
    await fan_says(bsky_net, fan, "Rien à voir avec le bistro")  # no mention: not collected

    # Collected once, with its author, text and reply target; polling again stores nothing new.
    await poll_until_stored(w, 1)
    await w.poll("bluesky")
    await w.poll("bluesky")
    (m,) = await w.mentions()
    assert m.network == "bluesky"
    assert m.kind == "mention"
    assert m.number == 1
    assert m.author == fan.handle
    assert m.text == f"@{business.handle} {QUESTION}"
    assert m.remote_id == uri
    assert m.target["uri"] == uri
    assert m.target["cid"]
    assert m.is_question is True

    # M by SMS: the digest shows it, GSM-7, within two segments.
    digest = one_sms(await w.say("M"), max_segments=2)
    assert digest.startswith("1 mention:\n#1 Bsky ")
    line = digest.split("\n")[1]
    # The business's handle the text starts with costs no septet.
    assert re.fullmatch(r"#1 Bsky \S+: Je suis censé d'aller à l'Ardoise, c'est comment\?", line), line
    assert digest.endswith("Répondre: R 1 texte")

    # R 1: a reply in the thread, seen by the fan; exactly one receipt SMS.
    assert one_sms(await w.say("R 1 Merci, à bientôt!")) == "Réponse à #1 sur Bluesky: OK"
    replies = wait_until(lambda: thread_replies(bsky_net, uri), "the reply in the thread", DEADLINE)
    assert [(r["author"]["did"], r["record"]["text"]) for r in replies] == [(business.did, "Merci, à bientôt!")]
    assert replies[0]["record"]["reply"]["parent"]["uri"] == uri
    assert replies[0]["record"]["reply"]["root"]["uri"] == uri
    seen = wait_until(
        lambda: [n for n in notifications(bsky_net, fan) if n["reason"] == "reply"],
        "the fan's reply notification",
        DEADLINE,
    )
    assert seen[0]["author"]["did"] == business.did
    assert seen[0]["record"]["text"] == "Merci, à bientôt!"
    (m,) = await w.mentions()
    assert m.answered_at is not None

    # J 1: the like is visible on the network; exactly one SMS.
    assert one_sms(await w.say("J 1")) == "J'aime envoyé à #1 sur Bluesky."
    assert wait_until(lambda: business.did in likers(bsky_net, uri), "the like", DEADLINE)
    likes = bsky_net.list_records(business.did, "app.bsky.feed.like")
    assert [r["value"]["subject"]["uri"] for r in likes] == [uri]
    (m,) = await w.mentions()
    assert m.liked_at is not None

    # Our own reply is not a mention of us: nothing new on the next poll, and no more SMS.
    await w.poll("bluesky")
    assert len(await w.mentions()) == 1
    assert await w.new_sms() == []


async def test_a_reply_to_the_business_is_collected_as_a_reply(
    bsky_net: BskyNet, world: tuple[World, BskyAccount, BskyAccount]
) -> None:
    w, business, fan = world
    # The business posts through Ardoise; the fan answers it in the thread (no @mention at all).
    r = await w.client.post(f"/api/v1/businesses/{w.biz_id}/posts", headers=w.auth, json={"text": "Soupe du jour"})
    assert r.status_code == 202, r.text
    await drain(w.runner)
    post = (await w.client.get(f"/api/v1/businesses/{w.biz_id}/posts/{r.json()['id']}", headers=w.auth)).json()
    assert {d["network"]: d["status"] for d in post["deliveries"]}["bluesky"] == "published"
    (own,) = bsky_net.list_records(business.did)
    own_uri, own_cid = str(own["uri"]), str(own["cid"])
    # The AppView notifies a reply only if it already knows the parent: wait until it has indexed the post
    # (under load it lags the PDS, and a reply indexed first never makes a notification).
    await asyncio.to_thread(
        wait_until,
        lambda: bsky_net.xrpc("GET", "app.bsky.feed.getPosts", base=bsky_net.appview, params={"uris": own_uri})[
            "posts"
        ],
        "the business's post in the AppView",
        30.0,
    )
    async with httpx.AsyncClient(timeout=20) as http:
        await Bluesky(http, base_url=bsky_net.pds).publish(
            Post(
                text="Elle est à quoi, la soupe?",
                idempotency_key=uuid.uuid4().hex,
                reply_to=ReplyTarget(remote_id=own_uri, extra={"uri": own_uri, "cid": own_cid}),
            ),
            fan.creds(),
        )

    await poll_until_stored(w, 1)
    (m,) = await w.mentions()
    assert m.kind == "reply"
    assert m.is_reply_to_us is True
    assert m.text == "Elle est à quoi, la soupe?"
    assert m.target["root_uri"] == own_uri

    # R 1 answers in the same thread: root = the business's post, parent = the fan's reply.
    assert one_sms(await w.say("R 1 Aux poireaux!")) == "Réponse à #1 sur Bluesky: OK"
    replies = wait_until(lambda: thread_replies(bsky_net, m.remote_id), "the answer in the thread", DEADLINE)
    assert replies[0]["record"]["reply"]["root"]["uri"] == own_uri
    assert replies[0]["record"]["reply"]["parent"]["uri"] == m.remote_id


async def _creds(rt: Runtime, account_id: int) -> dict[str, str]:
    async with rt.db.read() as s:
        acct = await s.get(NetworkAccount, account_id)
        assert acct is not None
        return rt.vault.decrypt(acct.credentials)


async def _set_creds(rt: Runtime, account_id: int, **changes: str) -> None:
    async with rt.db.write() as s:
        acct = await s.get(NetworkAccount, account_id)
        assert acct is not None
        acct.credentials = rt.vault.encrypt({**rt.vault.decrypt(acct.credentials), **changes})
        s.add(acct)


async def test_sessions_made_by_polls_and_likes_are_stored_back(
    bsky_net: BskyNet, world: tuple[World, BskyAccount, BskyAccount]
) -> None:
    """A poll or a like that had to log in stores the new session; the next call uses it instead of the app
    password (shown by breaking the password: the poll still works)."""
    w, business, fan = world
    account_id = w.accounts["bluesky"]
    await _set_creds(w.rt, account_id, session="")
    uri = await fan_says(bsky_net, fan, f"@{business.handle} Vous êtes ouverts dimanche?")
    await poll_until_stored(w, 1)
    session = (await _creds(w.rt, account_id))["session"]
    assert session.split(":::")[1] == business.did

    await _set_creds(w.rt, account_id, app_password="wrong-password-0000")
    await fan_says(bsky_net, fan, f"@{business.handle} Et lundi?")
    await poll_until_stored(w, 2)  # with the stored session: the password is never used
    (acct_row,) = [a for a in await w.mentions() if a.remote_id == uri]
    assert acct_row.number == 1

    await _set_creds(w.rt, account_id, session="", app_password=business.app_password)
    assert one_sms(await w.say("J 1")) == "J'aime envoyé à #1 sur Bluesky."
    assert (await _creds(w.rt, account_id))["session"].split(":::")[1] == business.did
    assert wait_until(lambda: business.did in likers(bsky_net, uri), "the like", DEADLINE)
