"""Credentials renewed while collecting or liking are stored back (X rotates its refresh token at every refresh:
a poll that dropped the new one would break the account at the next call). The X API is a respx contract (bodies
from the X API v2 docs, as in tests/networks/test_x_mentions.py); the job runner, the database and the vault are
real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlmodel import col

from app.accounts import service as account_service
from app.accounts.credentials import merge_credentials
from app.kit.time import set_clock
from app.models import Job, NetworkAccount
from app.networks.x.adapter import X
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.helpers import drain
from tests.mentions.test_flow import World, build_world, one_sms

API = "https://api.x.test"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ME = "2244994945"
STALE = {
    "access_token": "at-1",
    "refresh_token": "rt-1",
    "expires_at": "1",  # long expired: the adapter refreshes before calling
    "user_id": ME,
    "username": "bistro",
}
# https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token (refresh answer, rotated token)
ROTATED = {"token_type": "bearer", "expires_in": 7200, "access_token": "at-2", "refresh_token": "rt-2"}
# https://docs.x.com/x-api/posts/timelines/quickstart/user-mention-quickstart
MENTIONS = {
    "data": [
        {
            "id": "1900000000000000003",
            "author_id": "111",
            "text": "@bistro vous ouvrez dimanche?",
            "created_at": "2026-05-01T11:00:00.000Z",
            "conversation_id": "1900000000000000003",
        }
    ],
    "includes": {"users": [{"id": "111", "name": "Cliente", "username": "cliente1"}]},
    "meta": {"result_count": 1, "newest_id": "1900000000000000003", "oldest_id": "1900000000000000003"},
}
UNAVAILABLE = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    set_clock(lambda: NOW)
    yield
    set_clock(None)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False, assert_all_mocked=False) as router:
        router.route(host="test").pass_through()  # the app under test (ASGI) is not the X API
        yield router


@pytest.fixture
async def x_world(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> AsyncIterator[World]:
    world = await build_world(client, auth, runner, rt, nets=[])
    async with httpx.AsyncClient(timeout=5.0) as http:
        rt.networks["x"] = X(http, api_url=API, token_url=f"{API}/2/oauth2/token", client_id="cid")
        async with rt.db.write() as s:
            acct = await account_service.link(
                s,
                business_id=world.biz_id,
                network="x",
                handle="bistro",
                credentials=STALE,
                settings={},
                vault=rt.vault,
                actor="test",
            )
            assert acct.id is not None
            world.accounts["x"] = acct.id
        await drain(runner)
        yield world


async def stored(world: World) -> dict[str, str]:
    async with world.rt.db.read() as s:
        acct = await s.get(NetworkAccount, world.accounts["x"])
        assert acct is not None
        return world.rt.vault.decrypt(acct.credentials)


async def test_a_poll_stores_the_rotated_tokens(x_world: World, api: respx.MockRouter) -> None:
    token = api.post("/2/oauth2/token").respond(200, json=ROTATED)
    mentions = api.get(f"/2/users/{ME}/mentions").respond(200, json=MENTIONS)

    await x_world.poll("x")

    (m,) = await x_world.mentions()
    assert m.text == "@bistro vous ouvrez dimanche?"
    creds = await stored(x_world)
    assert (creds["access_token"], creds["refresh_token"]) == ("at-2", "rt-2")
    # The next poll uses the stored token: no second refresh (rt-1 is dead at X once rotated).
    await x_world.poll("x")
    assert token.call_count == 1
    assert mentions.calls.last.request.headers["Authorization"] == "Bearer at-2"


async def test_a_poll_that_fails_after_the_refresh_keeps_the_new_tokens(x_world: World, api: respx.MockRouter) -> None:
    api.post("/2/oauth2/token").respond(200, json=ROTATED)
    api.get(f"/2/users/{ME}/mentions").respond(503, json=UNAVAILABLE)

    await x_world.poll("x")

    creds = await stored(x_world)
    assert (creds["access_token"], creds["refresh_token"]) == ("at-2", "rt-2")
    assert await x_world.mentions() == []
    async with x_world.rt.db.read() as s:
        (job,) = (await s.execute(select(Job).where(col(Job.kind) == "mentions.poll"))).scalars()
        assert job.state == "queued"  # retried later: the outage delays collection, it loses nothing


async def test_a_like_stores_the_rotated_tokens(x_world: World, api: respx.MockRouter) -> None:
    api.post("/2/oauth2/token").respond(200, json=ROTATED)
    api.get(f"/2/users/{ME}/mentions").respond(200, json=MENTIONS)
    await x_world.poll("x")
    # The access token expires again before the like: a second rotation, to rt-3.
    async with x_world.rt.db.write() as s:
        acct = await s.get(NetworkAccount, x_world.accounts["x"])
        assert acct is not None
        merge_credentials(x_world.rt.vault, acct, {"expires_at": "1"}, s)
    api.post("/2/oauth2/token").respond(200, json={**ROTATED, "access_token": "at-3", "refresh_token": "rt-3"})
    like = api.post(f"/2/users/{ME}/likes").respond(200, json={"data": {"liked": True}})

    assert one_sms(await x_world.say("J 1")) == "J'aime envoyé à #1 sur X."
    assert like.calls.last.request.headers["Authorization"] == "Bearer at-3"
    creds = await stored(x_world)
    assert (creds["access_token"], creds["refresh_token"]) == ("at-3", "rt-3")
