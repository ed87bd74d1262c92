"""The mentions API: list with filters and pages, answer a mention, digest settings per member, tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from app.models import Delivery, DigestSettings, NetworkAccount, Post
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import make_key
from tests.helpers import drain
from tests.mentions.test_flow import FakeGoogle, FakeMastodon, FakeNet, World, build_world
from tests.support.clock import Clock

T0 = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return T0


@pytest.fixture
async def world(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> World:
    """Six items: three on Bluesky (one a reply), two on Mastodon an hour later, one Google review after that."""
    w = await build_world(client, auth, runner, rt, nets=[FakeNet(), FakeMastodon(), FakeGoogle()])
    w.nets["bluesky"].say("Vous ouvrez dimanche?", author="cliente1.bsky.social")
    w.nets["bluesky"].say("Merci pour hier!", author="luc.bsky.social", kind="reply", to_us=True)
    w.nets["bluesky"].say("Superbe terrasse 😍", author="marie.bsky.social")
    await w.poll("bluesky")
    clock.now = T0 + timedelta(hours=1)
    w.nets["mastodon"].say("@fournil c'est où exactement?", author="@ana@masto.example")
    w.nets["mastodon"].say("@fournil bravo", author="@paul@masto.example", kind="reply", to_us=True)
    await w.poll("mastodon")
    clock.now = T0 + timedelta(hours=2)
    w.nets["google"].say("Service lent.", author="Jean G.", kind="review", rating=2)
    await w.poll("google")
    return w


async def listing(world: World, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    return await world.client.get(
        f"/api/v1/businesses/{world.biz_id}/mentions", headers=headers or world.auth, params=params
    )


async def numbers(world: World, **params: Any) -> list[int]:
    r = await listing(world, **params)
    assert r.status_code == 200, r.text
    return [int(m["number"]) for m in r.json()["items"]]


# --- list -------------------------------------------------------------------------------------------------------


async def test_list_shows_every_item_newest_first(world: World) -> None:
    r = await listing(world)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["number"] for m in body["items"]] == [6, 5, 4, 3, 2, 1]
    assert body["next_cursor"] is None
    review = body["items"][0]
    assert review["network"] == "google"
    assert review["kind"] == "review"
    assert review["rating"] == 2
    assert review["author"] == "Jean G."
    assert review["url"] == "https://google.example/item/1"
    question = body["items"][-1]
    assert question["text"] == "Vous ouvrez dimanche?"
    # When it was said on the network (here as the fake network says: at the poll), beside when it was collected.
    assert datetime.fromisoformat(question["posted_at"]) == T0
    assert datetime.fromisoformat(review["posted_at"]) == T0 + timedelta(hours=2)
    assert question["is_question"] is True
    assert question["answered_at"] is None
    assert question["account_id"] == world.accounts["bluesky"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"network": "bluesky"}, [3, 2, 1]),
        ({"network": "mastodon"}, [5, 4]),
        ({"network": "facebook"}, []),
        ({"kind": "reply"}, [5, 2]),
        ({"kind": "review"}, [6]),
        ({"network": "bluesky", "kind": "mention"}, [3, 1]),
        ({"since": (T0 + timedelta(hours=1)).isoformat()}, [6, 5, 4]),
        ({"since": "2026-06-10T15:30:00+00:00"}, [6]),
        ({"since": "2026-06-10T11:30:00-04:00"}, [6]),  # the same instant in Toronto
        ({"since": "2026-06-10T15:30:00"}, [6]),  # no zone: UTC
        ({"since": "2026-06-11T00:00:00Z"}, []),
    ],
)
async def test_list_filters(world: World, params: dict[str, str], expected: list[int]) -> None:
    assert await numbers(world, **params) == expected


async def test_list_filters_answered(world: World) -> None:
    mention_id = await id_of(world, 1)
    r = await reply(world, mention_id, "Oui, de 10h à 15h!")
    assert r.status_code == 202, r.text

    assert await numbers(world, answered="true") == [1]
    assert await numbers(world, answered="false") == [6, 5, 4, 3, 2]
    assert await numbers(world, answered="false", network="bluesky") == [3, 2]


async def test_list_pages(world: World) -> None:
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        r = await listing(world, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [m["number"] for m in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1]
    assert pages == 2
    # Pages with filters.
    r = await listing(world, limit=2, network="bluesky")
    assert [m["number"] for m in r.json()["items"]] == [3, 2]
    r = await listing(world, limit=2, network="bluesky", cursor=r.json()["next_cursor"])
    assert [m["number"] for m in r.json()["items"]] == [1]


@pytest.mark.parametrize(
    "params",
    [
        {"answered": "maybe"},
        {"since": "yesterday"},
        {"limit": 0},
        {"limit": 500},
        {"cursor": "not-a-cursor!"},
        {"network": "x" * 40},
    ],
)
async def test_list_refuses_bad_parameters(world: World, params: dict[str, Any]) -> None:
    r = await listing(world, **params)
    assert r.status_code == 422, r.text


# --- reply ------------------------------------------------------------------------------------------------------


async def id_of(world: World, number: int) -> int:
    for m in await world.mentions():
        if m.number == number:
            assert m.id is not None
            return m.id
    raise AssertionError(f"no mention #{number}")


async def reply(world: World, mention_id: int, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await world.client.post(
        f"/api/v1/businesses/{world.biz_id}/mentions/{mention_id}/reply",
        headers=headers or world.auth,
        json={"text": text},
    )


async def test_reply_is_delivered_to_that_account_only(world: World) -> None:
    r = await reply(world, await id_of(world, 1), "  Oui, de 10h à 15h! 🙂 ")

    assert r.status_code == 202, r.text
    post = r.json()
    assert post["source"] == "reply"
    assert post["text"] == "Oui, de 10h à 15h! 🙂"
    assert [(d["network"], d["account_id"]) for d in post["deliveries"]] == [("bluesky", world.accounts["bluesky"])]
    await drain(world.runner)

    bsky = world.nets["bluesky"]
    assert [p.text for p in bsky.published] == ["Oui, de 10h à 15h! 🙂"]
    assert bsky.published[0].reply_to == bsky.items[0].target
    assert not world.nets["mastodon"].published
    assert not world.nets["google"].published
    r = await world.client.get(f"/api/v1/businesses/{world.biz_id}/posts/{post['id']}", headers=world.auth)
    assert r.json()["status"] == "published"
    assert [d["status"] for d in r.json()["deliveries"]] == ["published"]
    assert await world.new_sms() == []  # an API reply sends no SMS receipt
    answered = [m for m in await world.mentions() if m.number == 1]
    assert answered[0].answered_at is not None


async def test_reply_on_mastodon_through_the_api_starts_with_the_handle(world: World) -> None:
    r = await reply(world, await id_of(world, 4), "C'est au 12 rue Principale.")
    assert r.status_code == 202, r.text
    assert r.json()["text"] == "@ana@masto.example C'est au 12 rue Principale."
    r = await reply(world, await id_of(world, 5), "@paul@masto.example merci!")
    assert r.json()["text"] == "@paul@masto.example merci!"  # not twice


@pytest.mark.parametrize(("text", "status"), [("", 422), ("   ", 422), ("x" * 5001, 422)])
async def test_reply_refuses_empty_or_huge_text(world: World, text: str, status: int) -> None:
    r = await reply(world, await id_of(world, 1), text)
    assert r.status_code == status, r.text
    async with world.rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Post))).scalar_one() == 0


async def test_reply_to_a_missing_mention_is_404(world: World) -> None:
    r = await reply(world, 999_999, "Bonjour")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_reply_when_the_account_was_unlinked_is_a_conflict(world: World) -> None:
    r = await world.client.delete(
        f"/api/v1/businesses/{world.biz_id}/accounts/{world.accounts['bluesky']}", headers=world.auth
    )
    assert r.status_code == 204, r.text
    r = await reply(world, await id_of(world, 1), "Bonjour")
    assert r.status_code == 409, r.text
    async with world.rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Delivery))).scalar_one() == 0


# --- digest settings --------------------------------------------------------------------------------------------


def settings_url(world: World, member_id: int | None = None) -> str:
    return f"/api/v1/businesses/{world.biz_id}/members/{member_id or world.member_id}/digest"


async def test_digest_settings_defaults_without_creating_a_row(world: World) -> None:
    async with world.rt.db.write() as s:  # polling made none; a member never scheduled has none
        st = await s.get(DigestSettings, world.member_id)
        if st is not None:
            await s.delete(st)
    assert await world.settings() == {
        "hours": ["08:00", "17:00"],
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "daily_cap_segments": 6,
        "budget_segments": 2,
        "channel": "sms",
        "paused_until": None,
        "alerts": False,
    }
    async with world.rt.db.read() as s:
        assert await s.get(DigestSettings, world.member_id) is None


async def test_digest_settings_update_and_read_back(world: World) -> None:
    r = await world.put_settings(
        hours=["18:00", "09:30", "09:30"],
        quiet_start="22:00",
        quiet_end="07:00",
        daily_cap_segments=4,
        budget_segments=1,
        channel="both",
        paused_until="2026-06-12T12:00:00",
        alerts=True,
    )
    assert r.status_code == 200, r.text
    expected = {
        "hours": ["09:30", "18:00"],  # sorted, once each
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "daily_cap_segments": 4,
        "budget_segments": 1,
        "channel": "both",
        "paused_until": "2026-06-12T12:00:00Z",  # no zone given: UTC
        "alerts": True,
    }
    got = r.json()
    got["paused_until"] = got["paused_until"].replace("+00:00", "Z")
    assert got == expected
    again = await world.settings()
    again["paused_until"] = again["paused_until"].replace("+00:00", "Z")
    assert again == expected

    # Only what is sent changes; paused_until null resumes.
    r = await world.put_settings(paused_until=None, hours=[])
    assert r.status_code == 200, r.text
    assert r.json()["paused_until"] is None
    assert r.json()["hours"] == []
    assert r.json()["alerts"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"hours": ["25:00"]},
        {"hours": ["8h"]},
        {"hours": ["08:60"]},
        {"hours": ["8:00"]},
        {"hours": ["08:00", "10:00", "12:00", "14:00", "16:00"]},
        {"hours": "08:00"},
        {"quiet_start": "21h"},
        {"quiet_end": "24:00"},
        {"daily_cap_segments": -1},
        {"daily_cap_segments": 51},
        {"budget_segments": 0},
        {"budget_segments": 5},
        {"channel": "fax"},
        {"channel": None},
        {"hours": None},
        {"alerts": None},
        {"quiet_start": None},
        {"alerts": "sometimes"},
        {"paused_until": "next week"},
    ],
)
async def test_digest_settings_refuse_bad_values(world: World, body: dict[str, Any]) -> None:
    before = await world.settings()
    r = await world.client.put(settings_url(world), headers=world.auth, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await world.settings() == before


async def test_digest_by_email_needs_an_email_address(world: World) -> None:
    async with world.rt.db.write() as s:
        from app.models import Member

        member = await s.get(Member, world.member_id)
        assert member is not None
        member.email = None
        s.add(member)
    r = await world.put_settings(channel="email")
    assert r.status_code == 422, r.text
    assert "email" in r.text
    assert (await world.put_settings(channel="sms")).status_code == 200


async def test_digest_settings_of_a_missing_member_is_404(world: World) -> None:
    assert (await world.client.get(settings_url(world, 999_999), headers=world.auth)).status_code == 404
    r = await world.client.put(settings_url(world, 999_999), headers=world.auth, json={"alerts": True})
    assert r.status_code == 404


# --- tenants ----------------------------------------------------------------------------------------------------


async def test_another_business_key_gets_404_everywhere(
    world: World, client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    r = await client.post(
        "/api/v1/businesses",
        headers=auth,
        json={"name": "Autre", "slug": "autre", "timezone": "America/Toronto", "sms_numbers": ["+15817000009"]},
    )
    assert r.status_code == 201, r.text
    other_key = {"Authorization": f"Bearer {await make_key(rt, business_id=int(r.json()['id']))}"}
    own_key = {"Authorization": f"Bearer {await make_key(rt, business_id=world.biz_id)}"}
    mention_id = await id_of(world, 1)

    assert (await listing(world, headers=other_key)).status_code == 404
    assert (await reply(world, mention_id, "Pirate", headers=other_key)).status_code == 404
    assert (await client.get(settings_url(world), headers=other_key)).status_code == 404
    r = await client.put(settings_url(world), headers=other_key, json={"alerts": True, "channel": "email"})
    assert r.status_code == 404
    async with rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Post))).scalar_one() == 0
    assert (await world.settings())["alerts"] is False

    # The business's own key sees and changes its own.
    assert len((await listing(world, headers=own_key)).json()["items"]) == 6
    assert (await client.put(settings_url(world), headers=own_key, json={"alerts": True})).status_code == 200


async def test_another_business_mention_under_own_business_is_404(
    world: World, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    other = await build_world(
        client, auth, runner, rt, slug="autre", number="+15817000009", phone="+14185550999", nets=[FakeNet()]
    )
    other.net.say("Chez l'autre")
    await other.poll()
    (theirs,) = await other.mentions()
    assert theirs.id is not None

    # Our key, their mention id under our business: 404, and nothing posted anywhere.
    r = await reply(world, theirs.id, "Pirate")
    assert r.status_code == 404
    r = await client.get(settings_url(world, other.member_id), headers=world.auth)
    assert r.status_code == 404
    async with rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Post))).scalar_one() == 0
        accounts = (await s.execute(select(col(NetworkAccount.id)))).scalars().all()
        assert len(accounts) >= 4
