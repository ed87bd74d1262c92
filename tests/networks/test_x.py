"""X adapter: weighted length (pure) and respx contract tests with bodies from the X API v2 docs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import MediaItem, NetworkCredentials, Post, ReplyTarget
from app.networks.x.adapter import X
from app.networks.x.text import fit_text, weighted_length
from tests.networks.harness import Answer, check_answer, rows

API = "https://api.x.test"
API_BASE = API  # the ``api`` router's base (tests/networks/conftest.py)
TOKEN_URL = "https://api.x.test/2/oauth2/token"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FRESH = str(int(NOW.timestamp()) + 7200)
CREDS = NetworkCredentials(
    {
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "expires_at": FRESH,
        "user_id": "2244994945",
        "username": "bistro",
    }
)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://docs.x.com/x-api/posts/manage-tweets/quickstart : POST /2/tweets → 201 {"data": {"id", "text"}}
CREATED = {"data": {"id": "1445880548472328192", "text": "Hello from the X API!"}}
# https://docs.x.com/x-api/fundamentals/response-codes-and-errors : problem+json {title, detail, type}
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
# The two 403 bodies below are real X answers as widely reported (the docs page above documents the format and the
# ``client-forbidden`` type, not these exact texts).
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
CLIENT_FORBIDDEN = {
    "client_id": "123",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a "
    "Twitter developer App that is attached to a Project.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
INVALID = {
    "errors": [{"parameters": {"text": ["x" * 10]}, "message": "Tweet text is too long"}],
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": "https://api.twitter.com/2/problems/invalid-request",
}
# https://docs.x.com/x-api/media/quickstart/media-upload-chunked : the upload answers {"data": {"id", "media_key",
# "expires_after_secs"}}
UPLOADED = {"data": {"id": "1880028106020515840", "media_key": "3_1880028106020515840", "expires_after_secs": 86400}}
# https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token : token answer
TOKENS = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "at-2",
    "scope": "tweet.write users.read tweet.read offline.access media.write",
    "refresh_token": "rt-2",
}


# --- weighted length (pure) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("hello", 5, id="ascii"),
        pytest.param("Crème brûlée à emporter", 23, id="french-accents"),
        pytest.param("Cre\u0300me", 5, id="nfc-normalized"),
        pytest.param("日本語", 6, id="cjk-weighs-2"),
        pytest.param("한국어", 6, id="hangul-weighs-2"),
        pytest.param("Привет", 6, id="cyrillic-weighs-1"),
        pytest.param("👍", 2, id="emoji"),
        pytest.param("👨‍👩‍👧‍👦", 2, id="zwj-family-is-one-emoji"),
        pytest.param("🇨🇦", 2, id="flag"),
        pytest.param("👍🏽", 2, id="skin-tone"),
        pytest.param("“Bienvenue”", 11, id="curly-quotes-weigh-1"),
        pytest.param("…", 2, id="ellipsis-weighs-2"),
        pytest.param("https://ardoise.example/b/bistro/12345/a-very-long-path", 23, id="url-is-23"),
        pytest.param("Menu: https://x.test/a.", 6 + 23 + 1, id="url-trailing-dot-not-counted"),
        pytest.param("ardoise.ca/menu", 23, id="bare-domain"),
        pytest.param("a.b", 3, id="not-a-domain"),
    ],
)
def test_weighted_length(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


def test_long_text_is_cut_with_the_link_and_fits() -> None:
    link = "https://ardoise.example/b/bistro/12"
    text = "Aujourd'hui au menu " + "soupe à l'oignon gratinée, " * 20 + "#midi #bistro"
    fitted = fit_text(Post(text=text, idempotency_key="k", link=link))
    assert weighted_length(fitted) <= 280
    assert f"… {link}" in fitted
    assert "#midi" in fitted  # hashtags cut off are carried after the link when they fit


def test_cjk_text_is_cut_at_140_characters() -> None:
    fitted = fit_text(Post(text="日" * 200, idempotency_key="k", link="https://a.test/1"))
    assert weighted_length(fitted) <= 280
    with pytest.raises(PermanentError):
        fit_text(Post(text="日" * 141, idempotency_key="k"))
    assert fit_text(Post(text="日" * 140, idempotency_key="k")) == "日" * 140


# --- contract tests -------------------------------------------------------------------------------------------


@pytest.fixture
def x(http: httpx.AsyncClient) -> X:
    return X(http, api_url=API, token_url=TOKEN_URL, client_id="cid", client_secret="csecret")


@pytest.fixture(autouse=True)
def frozen() -> Iterator[datetime]:
    set_clock(lambda: NOW)
    yield NOW
    set_clock(None)


async def test_publish_text_and_reply(x: X, api: respx.MockRouter) -> None:
    route = api.post("/2/tweets").respond(201, json=CREATED)
    post = Post(text="Ouvert ce soir 🍷", idempotency_key="k", reply_to=ReplyTarget(remote_id="1346889436626259968"))
    result = await x.publish(post, CREDS)
    assert result.remote_id == "1445880548472328192"
    assert result.url == "https://x.com/bistro/status/1445880548472328192"
    assert CREDS.renewed == {}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer at-1"
    assert json.loads(sent.content) == {
        "text": "Ouvert ce soir 🍷",
        "reply": {"in_reply_to_tweet_id": "1346889436626259968"},
    }


async def test_publish_with_media_uploads_then_posts(x: X, api: respx.MockRouter, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    upload = api.post("/2/media/upload").respond(200, json=UPLOADED)
    # POST /2/media/metadata (https://docs.x.com/x-api/media/quickstart/best-practices links it for alt text); its
    # answer is not read by the adapter beyond the status
    meta = api.post("/2/media/metadata").respond(
        200, json={"data": {"associated_metadata": True, "id": "1880028106020515840"}}
    )
    tweet = api.post("/2/tweets").respond(201, json=CREATED)
    media = [MediaItem(path=str(photo), url="https://a.test/p.jpg", content_type="image/jpeg", alt="Une tarte")]
    await x.publish(Post(text="Tarte", idempotency_key="k", media=media), CREDS)
    body = upload.calls.last.request.content
    assert b'name="media_category"' in body
    assert b"tweet_image" in body
    assert b"fake-jpeg" in body
    assert json.loads(meta.calls.last.request.content) == {
        "id": "1880028106020515840",
        "metadata": {"alt_text": {"text": "Une tarte"}},
    }
    assert json.loads(tweet.calls.last.request.content)["media"] == {"media_ids": ["1880028106020515840"]}


async def test_expiring_token_is_refreshed_first_and_returned(x: X, api: respx.MockRouter) -> None:
    refresh = api.post("/2/oauth2/token").respond(200, json=TOKENS)
    tweet = api.post("/2/tweets").respond(201, json=CREATED)
    soon = NetworkCredentials({**CREDS.data, "expires_at": str(int(NOW.timestamp()) + 60)})
    await x.publish(Post(text="x", idempotency_key="k"), soon)
    assert soon.renewed == {"access_token": "at-2", "refresh_token": "rt-2", "expires_at": FRESH}
    assert tweet.calls.last.request.headers["Authorization"] == "Bearer at-2"
    sent = refresh.calls.last.request
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert {k: v[0] for k, v in parse_qs(sent.content.decode()).items()} == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "client_id": "cid",
    }


async def test_two_jobs_refreshing_at_once_share_one_refresh(x: X, api: respx.MockRouter) -> None:
    refresh = api.post("/2/oauth2/token").respond(200, json=TOKENS)
    api.post("/2/tweets").respond(201, json=CREATED)
    data = {**CREDS.data, "expires_at": str(int(NOW.timestamp()) + 60)}
    first, second = NetworkCredentials(data), NetworkCredentials(data)  # the second still holds the dead token
    await x.publish(Post(text="a", idempotency_key="k1"), first)
    await x.publish(Post(text="b", idempotency_key="k2"), second)
    assert refresh.call_count == 1
    assert first.renewed == second.renewed


async def test_failure_after_refresh_carries_the_new_tokens(x: X, api: respx.MockRouter) -> None:
    api.post("/2/oauth2/token").respond(200, json=TOKENS)
    api.post("/2/tweets").respond(503, json={"title": "Service Unavailable", "detail": "Service Unavailable"})
    soon = NetworkCredentials({**CREDS.data, "expires_at": ""})
    with pytest.raises(RetryableError):
        await x.publish(Post(text="x", idempotency_key="k"), soon)
    assert soon.renewed == {
        "access_token": "at-2",
        "refresh_token": "rt-2",
        "expires_at": FRESH,
    }


async def test_revoked_refresh_token_is_an_auth_error(x: X, api: respx.MockRouter) -> None:
    # RFC 6749 §5.2 error answer of the token endpoint
    api.post("/2/oauth2/token").respond(
        400, json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
    )
    soon = NetworkCredentials({**CREDS.data, "expires_at": "0"})
    with pytest.raises(AuthError) as err:
        await x.publish(Post(text="x", idempotency_key="k"), soon)
    assert "Value passed for the token was invalid" in err.value.reason


# What the X API answers a post with, and what the adapter makes of it (harness.py).
ANSWERS = [
    Answer("expired-401", 401, UNAUTHORIZED, AuthError, "auth"),
    Answer(
        "rate-limited-reset-epoch",
        429,
        TOO_MANY,
        RetryableError,
        "rate_limited",
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW.timestamp()) + 900)},
        retry_after=900.0,
    ),
    Answer("duplicate-403", 403, DUPLICATE, PermanentError, "duplicate"),
    Answer("permission-client-forbidden", 403, CLIENT_FORBIDDEN, AuthError, "auth"),
    Answer("invalid-400", 400, INVALID, PermanentError, "http_400"),
    Answer("5xx", 500, {"title": "Internal Server Error"}, RetryableError, "http_500"),
]


@pytest.mark.parametrize("row", rows(ANSWERS))
async def test_errors_are_classified(x: X, api: respx.MockRouter, row: Answer) -> None:
    await check_answer(api.post("/2/tweets"), row, lambda: x.publish(Post(text="x", idempotency_key="k"), CREDS))


async def test_too_many_images_is_permanent(x: X) -> None:
    media = [MediaItem(path=f"/tmp/{i}", url="", content_type="image/jpeg") for i in range(5)]
    with pytest.raises(PermanentError) as err:
        await x.publish(Post(text="x", idempotency_key="k", media=media), CREDS)
    assert err.value.code == "too_many_media"


async def test_find_existing_matches_text_with_tco_links(x: X, api: respx.MockRouter) -> None:
    # https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id : {"data": [{"id", "text", "created_at"}], "meta"}
    api.get("/2/users/2244994945/tweets").respond(
        200,
        json={
            "data": [
                {"id": "1", "text": "Autre", "created_at": "2026-05-01T11:00:00.000Z"},
                {
                    "id": "2",
                    "text": "Pain &amp; café https://t.co/56a0vZUx7i",
                    "created_at": "2026-05-01T11:59:00.000Z",
                },
            ],
            "meta": {"result_count": 2, "newest_id": "2", "oldest_id": "1"},
        },
    )
    found = await x.find_existing(Post(text="Pain & café https://ardoise.test/b/x/1", idempotency_key="k"), CREDS)
    assert found is not None
    assert found.remote_id == "2"
    assert await x.find_existing(Post(text="Rien", idempotency_key="k"), CREDS) is None


async def test_verify_returns_the_handle(x: X, api: respx.MockRouter) -> None:
    # https://docs.x.com/x-api/users/user-lookup-me : {"data": {"id", "name", "username"}}
    api.get("/2/users/me").respond(200, json={"data": {"id": "2244994945", "name": "Bistro", "username": "bistro"}})
    info = await x.verify(CREDS)
    assert (info.handle, info.remote_id) == ("@bistro", "2244994945")


@pytest.mark.parametrize("status", [200, 404])
async def test_delete(x: X, api: respx.MockRouter, status: int) -> None:
    # https://docs.x.com/x-api/posts/manage-tweets/quickstart : DELETE /2/tweets/:id → {"data": {"deleted": true}}
    body = {"data": {"deleted": True}} if status == 200 else {"title": "Not Found Error", "detail": "Not Found"}
    route = api.delete("/2/tweets/1445880548472328192").respond(status, json=body)
    await x.delete("1445880548472328192", CREDS)
    assert route.called


def test_redact(x: X) -> None:
    assert set(x.redact(CREDS)) == {"at-1", "rt-1"}
