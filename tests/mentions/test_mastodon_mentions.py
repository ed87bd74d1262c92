"""Mentions on Mastodon end to end against ``mastodon-mock``: someone mentions the business, ``mentions.poll``
stores it once, the owner reads it by SMS (``M``), answers (``R n``, a reply that starts with their @handle
and is ``in_reply_to_id`` the mention) and likes it (``J n``, a favourite), one SMS each.

The mock runs in-process once per module, as in ``tests/networks/test_mastodon.py``. The account is linked
through the admin API (``POST /accounts``, which verifies the token with the instance), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, SeedConfig, StreamingConfig
from mastodon_mock.testing.server import MockServer

from app.kit.sms_text import is_gsm7
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS
from tests.helpers import drain, make_business
from tests.mentions.test_flow import NUMBER, OWNER, World, one_sms

pytestmark = [BOTH_BACKENDS]
LINK_TIMEOUT = 30.0  # seconds: a linking request that hangs (a writer-lock deadlock) fails instead of hanging CI


@dataclass(frozen=True)
class Instance:
    base_url: str
    http: httpx.Client

    def as_user(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def sign_up(http: httpx.Client, username: str) -> str:
    """The real registration flow: app, client-credentials token, ``POST /api/v1/accounts``; the user token."""
    app = http.post(
        "/api/v1/apps",
        data={"client_name": "ardoise-tests", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write"},
    ).json()
    app_token = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write",
        },
    ).json()["access_token"]
    r = http.post(
        "/api/v1/accounts",
        headers={"Authorization": f"Bearer {app_token}"},
        data={"username": username, "email": f"{username}@example.test", "password": "x" * 16, "agreement": "true"},
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def instance() -> Iterator[Instance]:
    config = MastodonMockConfig(
        domain="masto.test",
        url_scheme="http",
        database=DatabaseConfig(path=":memory:"),
        seed=SeedConfig(),
        streaming=StreamingConfig(heartbeat_seconds=0.2),
    )
    with (
        MockServer(config=config, startup_timeout=30.0) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as http,
    ):
        yield Instance(server.base_url, http)


@dataclass
class Masto:
    world: World
    instance: Instance
    business_token: str
    fan_token: str
    business: str
    fan: str

    def fan_says(self, text: str) -> dict[str, Any]:
        r = self.instance.http.post(
            "/api/v1/statuses", headers=self.instance.as_user(self.fan_token), data={"status": text}
        )
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def get(self, path: str, token: str) -> Any:
        r = self.instance.http.get(path, headers=self.instance.as_user(token))
        r.raise_for_status()
        return r.json()


_accounts = iter(range(1, 10_000))


@pytest.fixture
async def masto(
    instance: Instance, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> Masto:
    """A business whose Mastodon account is linked through the admin API, and a fan on the same instance."""
    n = next(_accounts)
    business, fan = f"fournil{n}", f"cliente{n}"
    business_token, fan_token = sign_up(instance.http, business), sign_up(instance.http, fan)
    biz, member = await make_business(client, auth, number=NUMBER, phone=OWNER)
    r = await asyncio.wait_for(
        client.post(
            f"/api/v1/businesses/{biz['id']}/accounts",
            headers=auth,
            json={
                "network": "mastodon",
                "credentials": {"instance_url": instance.base_url, "access_token": business_token},
            },
        ),
        LINK_TIMEOUT,
    )
    assert r.status_code == 201, r.text
    account = r.json()
    assert account["handle"].lstrip("@").startswith(business)
    world = World(client, auth, runner, rt, biz, member, {}, {"mastodon": int(account["id"])})
    await drain(runner)
    await world.new_sms()
    return Masto(world, instance, business_token, fan_token, business, fan)


async def test_a_mention_is_stored_once_shown_answered_and_liked(masto: Masto) -> None:
    world = masto.world
    business = masto.business
    status = masto.fan_says(f"@{business} Je suis censé d’aller à l’Ardoise, c’est comment? 🤔")
    masto.fan_says("Rien à voir avec le bistro")  # no mention: not collected

    await world.poll("mastodon")
    await world.poll("mastodon")  # nothing new the second time
    (m,) = await world.mentions()
    assert m.network == "mastodon"
    assert m.number == 1
    assert m.author == f"@{masto.fan}"
    assert "Je suis censé d’aller à l’Ardoise" in m.text
    assert m.is_question is True
    assert m.remote_id  # the notification id; the status is the reply target
    assert m.target["remote_id"] == status["id"]

    # M: the digest, GSM-7, within two segments.
    digest = one_sms(await world.say("M"), max_segments=2)
    assert is_gsm7(digest)
    # The business's handle the text starts with costs no septet.
    assert f"#1 Masto {masto.fan}: Je suis censé d'aller à l'Ardoise, c'est comment?" in digest

    # R 1: a reply that starts with the author's handle, in reply to the mention; one receipt SMS.
    assert one_sms(await world.say("R 1 Merci, à bientôt!")) == "Réponse à #1 sur Mastodon: OK"
    context = masto.get(f"/api/v1/statuses/{status['id']}/context", masto.fan_token)
    (answer,) = context["descendants"]
    assert answer["in_reply_to_id"] == status["id"]
    assert answer["account"]["username"] == business
    assert "Merci, à bientôt!" in answer["content"]
    text = answer.get("text") or answer["content"]
    assert f"@{masto.fan}" in text.split("Merci")[0]
    notes = masto.get("/api/v1/notifications", masto.fan_token)
    assert any(n["type"] == "mention" and n["status"]["id"] == answer["id"] for n in notes)
    (m,) = await world.mentions()
    assert m.answered_at is not None

    # J 1: a favourite the fan can see; one SMS.
    assert one_sms(await world.say("J 1")) == "J'aime envoyé à #1 sur Mastodon."
    seen = masto.get(f"/api/v1/statuses/{status['id']}", masto.business_token)
    assert seen["favourited"] is True
    fans = masto.get(f"/api/v1/statuses/{status['id']}/favourited_by", masto.fan_token)
    assert [a["username"] for a in fans] == [business]
    notes = masto.get("/api/v1/notifications", masto.fan_token)
    assert any(n["type"] == "favourite" and n["status"]["id"] == status["id"] for n in notes)

    # Nothing more arrives on a new poll: our own reply is not a mention of us.
    await world.poll("mastodon")
    assert len(await world.mentions()) == 1
    assert await world.new_sms() == []


async def test_english_owner_reply_and_like(masto: Masto) -> None:
    world = masto.world
    business = masto.business
    r = await world.client.patch(
        f"/api/v1/businesses/{world.biz_id}/members/{world.member_id}", headers=world.auth, json={"language": "en"}
    )
    assert r.status_code == 200, r.text
    status = masto.fan_says(f"@{business} Do you have vegan options?")
    await world.poll("mastodon")

    digest = one_sms(await world.say("?"), max_segments=2)
    assert digest.startswith("1 mention:\n#1 Masto ")
    assert digest.endswith("Reply: R 1 text")
    assert one_sms(await world.say("REPLY 1 Yes, three of them!")) == "Reply to #1 on Mastodon: OK"
    assert one_sms(await world.say("LIKE 1")) == "Liked #1 on Mastodon."
    (answer,) = masto.get(f"/api/v1/statuses/{status['id']}/context", masto.fan_token)["descendants"]
    assert answer["in_reply_to_id"] == status["id"]
    assert masto.get(f"/api/v1/statuses/{status['id']}", masto.business_token)["favourited"] is True


async def test_m_right_after_a_fans_mention_polls_first_and_shows_it(masto: Masto) -> None:
    """No scheduled poll ran since the fan wrote (it runs every 5 minutes): M asks the instance first."""
    world = masto.world
    masto.fan_says(f"@{masto.business} Vous êtes ouverts le 26 décembre?")

    digest = one_sms(await world.say("M"), max_segments=2)

    assert digest.split("\n")[:2] == ["1 mention:", f"#1 Masto {masto.fan}: Vous etes ouverts le 26 décembre?"]
    (m,) = await world.mentions()
    assert m.digested_at is not None
