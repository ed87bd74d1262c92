"""Google Business Profile adapter: respx contract tests with bodies from the My Business API v4 reference and the
Google API error model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import MediaItem, NetworkCredentials, Post
from app.networks.google.adapter import MAX_SUMMARY, Google, fit_summary
from tests.networks.harness import Answer, check_answer, rows

API = "https://gbp.test/v4"
TOKEN_URL = "https://oauth.test/token"
LOC = "accounts/111/locations/222"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FRESH = str(int(NOW.timestamp()) + 3600)
CREDS = NetworkCredentials(
    {
        "account_id": "111",
        "location_id": "222",
        "location_title": "Bistro Ardoise",
        "access_token": "ya29.old",
        "refresh_token": "1//refresh",
        "expires_at": FRESH,
        "business_phone": "+14185550120",
        "language": "fr",
    }
)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts (LocalPost resource:
# name, languageCode, summary, callToAction, createTime, updateTime, state, media, searchUrl, topicType)
CREATED = {
    "name": f"{LOC}/localPosts/333",
    "languageCode": "fr",
    "summary": "Soupe du jour",
    "callToAction": {"actionType": "CALL"},
    "createTime": "2026-05-01T11:59:59.123456789Z",
    "updateTime": "2026-05-01T11:59:59.123456789Z",
    "state": "LIVE",
    "searchUrl": "https://local.google.com/place?id=1&use=posts&lpsid=333",
    "topicType": "STANDARD",
}
# https://cloud.google.com/apis/design/errors (google.rpc.Status as JSON: {"error": {code, message, status}})
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential.",
        "status": "UNAUTHENTICATED",
    }
}
PERMISSION_DENIED = {
    "error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}
}
EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.",
        "status": "RESOURCE_EXHAUSTED",
    }
}
INVALID = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
UNAVAILABLE = {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}
# https://developers.google.com/identity/protocols/oauth2/web-server#offline (refresh answer)
REFRESHED = {
    "access_token": "ya29.new",
    "expires_in": 3599,
    "scope": "https://www.googleapis.com/auth/business.manage",
    "token_type": "Bearer",
}
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


@pytest.fixture
def google(http: httpx.AsyncClient) -> Google:
    return Google(http, api_url=API, token_url=TOKEN_URL, client_id="cid.apps", client_secret="gsecret")


@pytest.fixture(autouse=True)
def frozen() -> Iterator[datetime]:
    set_clock(lambda: NOW)
    yield NOW
    set_clock(None)


async def test_publish_sends_summary_photo_and_call_button(google: Google, api: respx.MockRouter) -> None:
    route = api.post(f"{API}/{LOC}/localPosts").respond(200, json=CREATED)
    media = [MediaItem(path="/tmp/1.jpg", url="https://ardoise.test/media/1.jpg", content_type="image/jpeg")]
    result = await google.publish(Post(text="Soupe du jour", idempotency_key="k", media=media), CREDS)
    assert result.remote_id == f"{LOC}/localPosts/333"
    assert result.url.startswith("https://local.google.com/")
    assert CREDS.renewed == {}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer ya29.old"
    assert json.loads(sent.content) == {
        "languageCode": "fr",
        "summary": "Soupe du jour",
        "topicType": "STANDARD",
        "media": [{"mediaFormat": "PHOTO", "sourceUrl": "https://ardoise.test/media/1.jpg"}],
        "callToAction": {"actionType": "CALL"},
    }


async def test_no_phone_no_call_button(google: Google, api: respx.MockRouter) -> None:
    route = api.post(f"{API}/{LOC}/localPosts").respond(200, json=CREATED)
    creds = NetworkCredentials({k: v for k, v in CREDS.data.items() if k != "business_phone"})
    await google.publish(Post(text="x", idempotency_key="k"), creds)
    assert "callToAction" not in json.loads(route.calls.last.request.content)


async def test_expiring_token_is_refreshed_and_returned(google: Google, api: respx.MockRouter) -> None:
    token = api.post(TOKEN_URL).respond(200, json=REFRESHED)
    route = api.post(f"{API}/{LOC}/localPosts").respond(200, json=CREATED)
    soon = NetworkCredentials({**CREDS.data, "expires_at": str(int(NOW.timestamp()) + 30)})
    await google.publish(Post(text="x", idempotency_key="k"), soon)
    assert route.calls.last.request.headers["Authorization"] == "Bearer ya29.new"
    assert soon.renewed == {
        "access_token": "ya29.new",
        "refresh_token": "1//refresh",  # Google keeps the refresh token: the old one stays stored
        "expires_at": str(int(NOW.timestamp()) + 3599),
    }
    assert {k: v[0] for k, v in parse_qs(token.calls.last.request.content.decode()).items()} == {
        "grant_type": "refresh_token",
        "refresh_token": "1//refresh",
        "client_id": "cid.apps",
        "client_secret": "gsecret",
    }


async def test_a_401_refreshes_once_and_retries(google: Google, api: respx.MockRouter) -> None:
    api.post(TOKEN_URL).respond(200, json=REFRESHED)
    route = api.post(f"{API}/{LOC}/localPosts").mock(
        side_effect=[httpx.Response(401, json=UNAUTHENTICATED), httpx.Response(200, json=CREATED)]
    )
    creds = NetworkCredentials(CREDS.data)  # a copy: the adapter writes the new token to its ``renewed``
    await google.publish(Post(text="x", idempotency_key="k"), creds)
    assert route.call_count == 2
    assert creds.renewed["access_token"] == "ya29.new"


async def test_revoked_refresh_token_is_an_auth_error(google: Google, api: respx.MockRouter) -> None:
    api.post(TOKEN_URL).respond(400, json=INVALID_GRANT)
    soon = NetworkCredentials({**CREDS.data, "expires_at": "0"})
    with pytest.raises(AuthError) as err:
        await google.publish(Post(text="x", idempotency_key="k"), soon)
    assert "Token has been expired or revoked" in err.value.reason


# What the Business Profile API answers a local post with, and what the adapter makes of it (harness.py).
ANSWERS = [
    Answer("permission-denied", 403, PERMISSION_DENIED, AuthError, "permission"),
    Answer("quota-default-wait", 429, EXHAUSTED, RetryableError, "rate_limited", retry_after=60.0),
    Answer("retry-after", 429, EXHAUSTED, RetryableError, "rate_limited", {"Retry-After": "120"}, retry_after=120.0),
    Answer("5xx", 503, UNAVAILABLE, RetryableError, "http_503"),
    Answer("invalid-argument", 400, INVALID, PermanentError, "http_400"),
]


@pytest.mark.parametrize("row", rows(ANSWERS))
async def test_errors_are_classified(google: Google, api: respx.MockRouter, row: Answer) -> None:
    row = replace(row, reason_has=row.body["error"]["message"])
    await check_answer(
        api.post(f"{API}/{LOC}/localPosts"), row, lambda: google.publish(Post(text="x", idempotency_key="k"), CREDS)
    )


@pytest.mark.parametrize(
    ("failure", "code"),
    [(httpx.ConnectError("refused"), "network"), (httpx.ReadTimeout("slow"), "timeout")],
    ids=["connect", "timeout"],
)
async def test_transport_failures_are_retryable_and_name_google(
    google: Google, api: respx.MockRouter, failure: Exception, code: str
) -> None:
    api.post(f"{API}/{LOC}/localPosts").mock(side_effect=failure)
    with pytest.raises(RetryableError) as err:
        await google.publish(Post(text="x", idempotency_key="k"), CREDS)
    assert err.value.code == code
    assert err.value.reason.startswith(f"google POST /v4/{LOC}/localPosts"), err.value.reason


async def test_401_without_refresh_token_is_an_auth_error(google: Google, api: respx.MockRouter) -> None:
    api.post(f"{API}/{LOC}/localPosts").respond(401, json=UNAUTHENTICATED)
    creds = NetworkCredentials({k: v for k, v in CREDS.data.items() if k != "refresh_token"})
    with pytest.raises(AuthError):
        await google.publish(Post(text="x", idempotency_key="k"), creds)


def test_summary_limit() -> None:
    fitted = fit_summary(Post(text="mot " * 500, idempotency_key="k", link="https://ardoise.test/b/x/1"))
    assert len(fitted) <= MAX_SUMMARY
    assert fitted.endswith("… https://ardoise.test/b/x/1")
    with pytest.raises(PermanentError):
        fit_summary(Post(text="a" * 1501, idempotency_key="k"))


async def test_find_existing_lists_local_posts(google: Google, api: respx.MockRouter) -> None:
    # https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/list :
    # {"localPosts": [LocalPost], "nextPageToken": string}
    api.get(f"{API}/{LOC}/localPosts", params={"pageSize": "10"}).respond(
        200, json={"localPosts": [{**CREATED, "summary": "Autre", "name": f"{LOC}/localPosts/1"}, CREATED]}
    )
    found = await google.find_existing(Post(text="Soupe du jour", idempotency_key="k"), CREDS)
    assert found is not None
    assert found.remote_id == f"{LOC}/localPosts/333"
    assert await google.find_existing(Post(text="Rien", idempotency_key="k"), CREDS) is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(200, {}, id="deleted"),
        pytest.param(
            404,
            {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}},
            id="already-gone",
        ),
    ],
)
async def test_delete(google: Google, api: respx.MockRouter, status: int, body: dict[str, Any]) -> None:
    # https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/delete : empty body
    route = api.delete(f"{API}/{LOC}/localPosts/333").respond(status, json=body)
    await google.delete(f"{LOC}/localPosts/333", CREDS)
    assert route.called


async def test_verify_lists_one_post_and_returns_the_title(google: Google, api: respx.MockRouter) -> None:
    api.get(f"{API}/{LOC}/localPosts", params={"pageSize": "1"}).respond(200, json={})
    info = await google.verify(CREDS)
    assert (info.handle, info.remote_id) == ("Bistro Ardoise", LOC)


def test_redact(google: Google) -> None:
    assert set(google.redact(CREDS)) == {"ya29.old", "1//refresh"}
