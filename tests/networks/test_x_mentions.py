"""X mentions: GET /2/users/{id}/mentions with since_id and pagination, the API-tier 403, replies and likes.
respx contract tests whose bodies follow the X API v2 docs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from app.kit.errors import AuthError, RetryableError
from app.kit.time import set_clock
from app.networks.base import NetworkCredentials, Post, ReplyTarget
from app.networks.x import adapter as x_module
from app.networks.x.adapter import X

API = "https://api.x.test"
API_BASE = API  # the ``api`` router's base (tests/networks/conftest.py)
TOKEN_URL = "https://api.x.test/2/oauth2/token"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ME = "2244994945"
CREDS = NetworkCredentials(
    {
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "expires_at": str(int(NOW.timestamp()) + 7200),
        "user_id": ME,
        "username": "bistro",
    }
)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://docs.x.com/x-api/posts/timelines/quickstart/user-mention-quickstart (GET /2/users/{id}/mentions with
# expansions=author_id and user.fields=username: {"data": [...], "includes": {"users": [...]}, "meta": {
# "result_count", "newest_id", "oldest_id", "next_token"}})


def tweet(tid: str, author: str, text: str, when: str, **more: Any) -> dict[str, Any]:
    return {"id": tid, "author_id": author, "text": text, "created_at": when, "conversation_id": tid, **more}


USERS = {
    "users": [
        {"id": "111", "name": "Cliente", "username": "cliente1"},
        {"id": ME, "name": "Bistro", "username": "bistro"},
    ]
}
PAGE_1 = {
    "data": [
        tweet("1900000000000000003", "111", "@bistro c&#39;est comment le brunch ?", "2026-05-01T11:00:00.000Z"),
        tweet("1900000000000000002", ME, "@bistro rappel", "2026-05-01T10:30:00.000Z"),
    ],
    "includes": USERS,
    "meta": {
        "result_count": 2,
        "newest_id": "1900000000000000003",
        "oldest_id": "1900000000000000002",
        "next_token": "7140dibdnow9c7btw4b3w1k0krte6ywsgrgmkmkadvo3",
    },
}
PAGE_2 = {
    "data": [
        tweet(
            "1900000000000000001",
            "111",
            "@bistro merci !",
            "2026-05-01T10:00:00.000Z",
            in_reply_to_user_id=ME,
            referenced_tweets=[{"type": "replied_to", "id": "1899999999999999999"}],
        ),
        tweet(
            "999000000000000000",
            "111",
            "regardez ça @bistro",
            "2026-05-01T09:00:00.000Z",
            referenced_tweets=[{"type": "quoted", "id": "1"}],
        ),
    ],
    "includes": USERS,
    "meta": {"result_count": 2, "newest_id": "1900000000000000001", "oldest_id": "999000000000000000"},
}
EMPTY = {"meta": {"result_count": 0}}
# https://docs.x.com/x-api/fundamentals/response-codes-and-errors : problem+json; a tier without the endpoint answers
# 403 "client-not-enrolled" (same body as in test_x.py)
TIER = {
    "title": "Client Forbidden",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a "
    "Twitter developer App that is attached to a Project.",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


@pytest.fixture
def xa(http: httpx.AsyncClient) -> X:
    return X(http, api_url=API, token_url=TOKEN_URL, client_id="cid")


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    set_clock(lambda: NOW)
    x_module._tier_logged.clear()
    yield
    set_clock(None)


async def test_first_poll_reads_one_small_page(xa: X, api: respx.MockRouter) -> None:
    route = api.get(f"/2/users/{ME}/mentions").respond(200, json=PAGE_1)
    items, cursor = await xa.fetch_mentions(CREDS, None)
    assert [m.remote_id for m in items] == ["1900000000000000003"], "our own post is skipped"
    m = items[0]
    assert (m.kind, m.author, m.text) == ("mention", "@cliente1", "@bistro c'est comment le brunch ?")
    assert m.url == "https://x.com/cliente1/status/1900000000000000003"
    assert m.created_at == datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
    assert cursor == "1900000000000000003"
    sent = dict(route.calls.last.request.url.params)
    assert sent["max_results"] == "20"
    assert sent["expansions"] == "author_id"
    assert sent["user.fields"] == "username"
    assert "since_id" not in sent
    assert route.call_count == 1, "no cursor: only the latest page"


async def test_since_id_and_pagination(xa: X, api: respx.MockRouter) -> None:
    route = api.get(f"/2/users/{ME}/mentions").mock(
        side_effect=[httpx.Response(200, json=PAGE_1), httpx.Response(200, json=PAGE_2)]
    )
    items, cursor = await xa.fetch_mentions(CREDS, "998000000000000000")
    assert [m.remote_id for m in items] == ["999000000000000000", "1900000000000000001", "1900000000000000003"]
    quote, reply, _ = items
    assert quote.kind == "quote"
    assert (reply.kind, reply.is_reply_to_us) == ("reply", True)
    assert cursor == "1900000000000000003", "ids compare as numbers, not text"
    first, second = (dict(c.request.url.params) for c in route.calls)
    assert first["since_id"] == second["since_id"] == "998000000000000000"
    assert first["max_results"] == "100"
    assert second["pagination_token"] == PAGE_1["meta"]["next_token"]  # type: ignore[index]


async def test_nothing_new_keeps_the_cursor(xa: X, api: respx.MockRouter) -> None:
    api.get(f"/2/users/{ME}/mentions").respond(200, json=EMPTY)
    assert await xa.fetch_mentions(CREDS, "1900000000000000003") == ([], "1900000000000000003")


async def test_api_tier_without_mentions_is_not_an_error(xa: X, api: respx.MockRouter) -> None:
    route = api.get(f"/2/users/{ME}/mentions").respond(403, json=TIER)
    assert await xa.fetch_mentions(CREDS, "1900000000000000003") == ([], "1900000000000000003")
    assert await xa.fetch_mentions(CREDS, "1900000000000000003") == ([], "1900000000000000003")
    assert route.call_count == 2
    assert ME in x_module._tier_logged  # logged once per account and process


async def test_rate_limit_retries_at_the_reset(xa: X, api: respx.MockRouter) -> None:
    reset = str(int(NOW.timestamp()) + 900)
    api.get(f"/2/users/{ME}/mentions").respond(429, json=TOO_MANY, headers={"x-rate-limit-reset": reset})
    with pytest.raises(RetryableError) as err:
        await xa.fetch_mentions(CREDS, None)
    assert err.value.retry_after == 900


async def test_expired_token_is_an_auth_error(xa: X, api: respx.MockRouter) -> None:
    api.get(f"/2/users/{ME}/mentions").respond(401, json=UNAUTHORIZED)
    with pytest.raises(AuthError):
        await xa.fetch_mentions(CREDS, None)


async def test_rotated_tokens_come_back_with_the_items(xa: X, api: respx.MockRouter) -> None:
    # https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token (refresh answer, rotated token)
    api.post("/2/oauth2/token").respond(
        200, json={"token_type": "bearer", "expires_in": 7200, "access_token": "at-2", "refresh_token": "rt-2"}
    )
    route = api.get(f"/2/users/{ME}/mentions").respond(200, json=EMPTY)
    stale = NetworkCredentials({**CREDS.data, "expires_at": "1"})
    await xa.fetch_mentions(stale, None)
    assert stale.renewed["refresh_token"] == "rt-2"
    assert route.calls.last.request.headers["Authorization"] == "Bearer at-2"


async def test_like_posts_the_tweet_id(xa: X, api: respx.MockRouter) -> None:
    # https://docs.x.com/x-api/posts/likes/quickstart/manage-likes : POST /2/users/{id}/likes {"tweet_id"} →
    # {"data": {"liked": true}}
    route = api.post(f"/2/users/{ME}/likes").respond(200, json={"data": {"liked": True}})
    await xa.like_item(ReplyTarget(remote_id="1900000000000000003"), CREDS)
    assert json.loads(route.calls.last.request.content) == {"tweet_id": "1900000000000000003"}


async def test_reply_sets_in_reply_to_tweet_id(xa: X, api: respx.MockRouter) -> None:
    # https://docs.x.com/x-api/posts/manage-tweets/quickstart : POST /2/tweets {"text", "reply": {...}} → 201
    route = api.post("/2/tweets").respond(201, json={"data": {"id": "1900000000000000010", "text": "Oui !"}})
    target = ReplyTarget(remote_id="1900000000000000003")
    await xa.publish(Post(text="Oui, dès 10 h !", idempotency_key="k", reply_to=target), CREDS)
    body = json.loads(route.calls.last.request.content)
    assert body == {"text": "Oui, dès 10 h !", "reply": {"in_reply_to_tweet_id": "1900000000000000003"}}
