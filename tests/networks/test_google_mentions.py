"""Google Business Profile reviews: polling with pageToken, answers with PUT …/reply, no likes. respx contract
tests whose bodies follow the My Business API v4 reference."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import NetworkCredentials, Post, ReplyTarget
from app.networks.google.adapter import Google
from tests.networks.harness import ANY_WAIT, Answer, check_answer, rows

API = "https://gbp.test/v4"
TOKEN_URL = "https://oauth.test/token"
LOC = "accounts/111/locations/222"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CREDS = NetworkCredentials(
    {
        "account_id": "111",
        "location_id": "222",
        "access_token": "ya29.old",
        "refresh_token": "1//refresh",
        "expires_at": str(int(NOW.timestamp()) + 3600),
    }
)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews (Review: name, reviewId,
# reviewer{profilePhotoUrl, displayName, isAnonymous}, starRating ONE..FIVE, comment, createTime, updateTime,
# reviewReply{comment, updateTime}) and .../accounts.locations.reviews/list (ListReviewsResponse: reviews,
# averageRating, totalReviewCount, nextPageToken; orderBy "updateTime desc"; pageSize at most 50)


def review(
    rid: str, stars: str, when: str, comment: str = "", name: str = "Cliente Une", **more: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": f"{LOC}/reviews/{rid}",
        "reviewId": rid,
        "reviewer": {
            "profilePhotoUrl": "https://lh3.googleusercontent.com/a/x",
            "displayName": name,
            "isAnonymous": False,
        },
        "starRating": stars,
        "createTime": when,
        "updateTime": when,
        **more,
    }
    if comment:
        row["comment"] = comment
    return row


PAGE_1 = {
    "reviews": [
        review("AbFvOqn3", "TWO", "2026-05-01T11:00:00.123456789Z", "Service lent, plats froids."),
        review(
            "AbFvOqn2",
            "FIVE",
            "2026-05-01T10:00:00Z",
            "Parfait",
            reviewReply={"comment": "Merci !", "updateTime": "2026-05-01T10:30:00Z"},
        ),
    ],
    "averageRating": 3.5,
    "totalReviewCount": 3,
    "nextPageToken": "PAGE2",
}
PAGE_2 = {
    "reviews": [review("AbFvOqn1", "FOUR", "2026-04-30T09:00:00Z", name="", reviewer={"isAnonymous": True})],
    "averageRating": 3.5,
    "totalReviewCount": 3,
}
# https://cloud.google.com/apis/design/errors (google.rpc.Status as JSON)
UNAUTHENTICATED = {
    "error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}
}
EXHAUSTED = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}


@pytest.fixture
def gbp(http: httpx.AsyncClient) -> Google:
    return Google(http, api_url=API, token_url=TOKEN_URL, client_id="cid", client_secret="secret")


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    set_clock(lambda: NOW)
    yield
    set_clock(None)


async def test_reviews_newest_first_are_paged_and_returned_oldest_first(gbp: Google, api: respx.MockRouter) -> None:
    route = api.get(f"{API}/{LOC}/reviews").mock(
        side_effect=[httpx.Response(200, json=PAGE_1), httpx.Response(200, json=PAGE_2)]
    )
    items, cursor = await gbp.fetch_mentions(CREDS, "2026-04-29T00:00:00+00:00")
    assert [m.remote_id for m in items] == ["AbFvOqn1", "AbFvOqn3"], "the answered review is skipped"
    anonymous, low = items
    assert (low.kind, low.rating, low.author, low.text) == ("review", 2, "Cliente Une", "Service lent, plats froids.")
    assert low.target == ReplyTarget(remote_id=f"{LOC}/reviews/AbFvOqn3")
    assert low.created_at == datetime(2026, 5, 1, 11, 0, 0, 123456, tzinfo=UTC)
    assert (anonymous.author, anonymous.rating, anonymous.text) == ("Google", 4, "")
    assert cursor == "2026-05-01T11:00:00.123456+00:00"
    first, second = (dict(c.request.url.params) for c in route.calls)
    assert first == {"pageSize": "50", "orderBy": "updateTime desc"}
    assert second["pageToken"] == "PAGE2"
    assert route.calls.last.request.headers["Authorization"] == "Bearer ya29.old"


async def test_paging_stops_at_the_cursor(gbp: Google, api: respx.MockRouter) -> None:
    route = api.get(f"{API}/{LOC}/reviews").respond(200, json=PAGE_1)
    items, cursor = await gbp.fetch_mentions(CREDS, "2026-05-01T10:00:00+00:00")
    assert [m.remote_id for m in items] == ["AbFvOqn3"]
    assert route.call_count == 1, "page 1 already holds the review at the cursor"
    assert cursor == "2026-05-01T11:00:00.123456+00:00"


async def test_first_poll_reads_one_page_only(gbp: Google, api: respx.MockRouter) -> None:
    route = api.get(f"{API}/{LOC}/reviews").respond(200, json=PAGE_1)
    await gbp.fetch_mentions(CREDS, None)
    assert route.call_count == 1


async def test_a_refreshed_token_comes_back_with_the_items(gbp: Google, api: respx.MockRouter) -> None:
    # https://developers.google.com/identity/protocols/oauth2/web-server#offline (refresh answer)
    api.post(TOKEN_URL).respond(200, json={"access_token": "ya29.new", "expires_in": 3599, "token_type": "Bearer"})
    api.get(f"{API}/{LOC}/reviews").respond(200, json={"averageRating": 0, "totalReviewCount": 0})
    stale = NetworkCredentials({**CREDS.data, "expires_at": "1"})
    await gbp.fetch_mentions(stale, None)
    assert stale.renewed["access_token"] == "ya29.new"


# What the Business Profile API answers a reviews poll with, and what the adapter makes of it (harness.py).
POLL_ANSWERS = [
    Answer("quota", 429, EXHAUSTED, RetryableError, "", retry_after=ANY_WAIT),
    Answer("outage", 503, None, RetryableError, "", retry_after=ANY_WAIT),
]


@pytest.mark.parametrize("row", rows(POLL_ANSWERS))
async def test_poll_failures(gbp: Google, api: respx.MockRouter, row: Answer) -> None:
    await check_answer(api.get(f"{API}/{LOC}/reviews"), row, lambda: gbp.fetch_mentions(CREDS, None))


async def test_a_revoked_token_is_an_auth_error(gbp: Google, api: respx.MockRouter) -> None:
    api.get(f"{API}/{LOC}/reviews").respond(401, json=UNAUTHENTICATED)
    api.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    )
    with pytest.raises(AuthError):
        await gbp.fetch_mentions(CREDS, None)


async def test_answer_is_put_on_the_review_reply(gbp: Google, api: respx.MockRouter) -> None:
    # https://developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews/updateReply :
    # PUT …/reviews/{id}/reply with a ReviewReply {"comment"} → the ReviewReply
    route = api.put(f"{API}/{LOC}/reviews/AbFvOqn3/reply").respond(
        200, json={"comment": "Désolés, on s’améliore !", "updateTime": "2026-05-01T12:00:00Z"}
    )
    target = ReplyTarget(remote_id=f"{LOC}/reviews/AbFvOqn3")
    post = Post(text="Désolés, on s’améliore !", idempotency_key="k", reply_to=target)
    assert await gbp.find_existing(post, CREDS) is None, "the PUT is idempotent: a retry just puts it again"
    result = await gbp.publish(post, CREDS)
    assert result.remote_id == f"{LOC}/reviews/AbFvOqn3/reply"
    assert json.loads(route.calls.last.request.content) == {"comment": "Désolés, on s’améliore !"}


async def test_no_likes_on_reviews(gbp: Google) -> None:
    with pytest.raises(PermanentError) as err:
        await gbp.like_item(ReplyTarget(remote_id=f"{LOC}/reviews/AbFvOqn3"), CREDS)
    assert err.value.code == "unsupported"
