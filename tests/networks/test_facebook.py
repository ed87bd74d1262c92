"""Facebook Page adapter: respx contract tests with request and response bodies from Meta's Graph API docs."""

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
from app.networks.facebook.adapter import Facebook
from app.networks.facebook.graph import meta_retry_after
from tests.networks.harness import ANY_WAIT, Answer, check_answer, rows

GRAPH = "https://graph.test/v23.0"
API_BASE = GRAPH  # the ``api`` router's base (tests/networks/conftest.py)
PAGE = "1234567890"
TOKEN = "EAAG-page-token"
CREDS = NetworkCredentials({"page_id": PAGE, "page_access_token": TOKEN})
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.facebook.com/docs/graph-api/guides/error-handling (the documented error shape; the codes and
# their meaning come from the "Error Codes" table of the same page)


def graph_error(code: int, message: str, *, subcode: int | None = None, kind: str = "OAuthException") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "EJplcsCHuLu"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


EXPIRED = graph_error(
    190, "Error validating access token: Session has expired on Monday, 01-Jan-24 10:00:00 PST.", subcode=463
)
PERMISSION = graph_error(200, "(#200) The user hasn't authorized the application to perform this action")
PERMISSION_10 = graph_error(10, "(#10) This endpoint requires the 'pages_manage_posts' permission")
APP_LIMIT = graph_error(4, "(#4) Application request limit reached")
PAGE_LIMIT = graph_error(32, "(#32) Page request limit reached")
USER_LIMIT = graph_error(17, "(#17) User request limit reached")
UNKNOWN = graph_error(1, "An unknown error has occurred.")
DUPLICATE = graph_error(506, "Duplicate status message")
INVALID = graph_error(100, "(#100) Invalid parameter", kind="OAuthException")
GONE = graph_error(
    100,
    "Unsupported delete request. Object with ID '1234567890_999' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation.",
    subcode=33,
    kind="GraphMethodException",
)


@pytest.fixture
def fb(http: httpx.AsyncClient) -> Facebook:
    return Facebook(http, base_url="https://graph.test", graph_version="v23.0")


@pytest.fixture
def frozen() -> Iterator[datetime]:
    set_clock(lambda: NOW)
    yield NOW
    set_clock(None)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def image(n: int = 1, alt: str = "") -> MediaItem:
    return MediaItem(
        path=f"/tmp/{n}.jpg", url=f"https://ardoise.test/media/{n}.jpg", content_type="image/jpeg", alt=alt
    )


# --- publishing ------------------------------------------------------------------------------------------


async def test_text_goes_to_the_feed_with_the_page_token(fb: Facebook, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/pages-api/posts : POST /{page-id}/feed → {"id": "{page-id}_{post-id}"}
    # (success shape from that guide; it was not found in the local docs index when these tests were written)
    route = api.post(f"/{PAGE}/feed").respond(200, json={"id": f"{PAGE}_555"})
    result = await fb.publish(Post(text="Soupe du jour : courge ! #midi", idempotency_key="k1"), CREDS)
    assert result.remote_id == f"{PAGE}_555"
    assert result.url == f"https://www.facebook.com/{PAGE}_555"
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert form(sent) == {"message": "Soupe du jour : courge ! #midi"}


async def test_one_photo_goes_to_photos_by_public_url(fb: Facebook, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/pages-api/posts : POST /{page-id}/photos → {"id": photo, "post_id": post}
    # (same caveat as above; ``alt_text_custom`` is the Photo node's custom alt text field)
    route = api.post(f"/{PAGE}/photos").respond(200, json={"id": "777", "post_id": f"{PAGE}_778"})
    result = await fb.publish(Post(text="Nouveau menu", idempotency_key="k", media=[image(alt="Le menu")]), CREDS)
    assert result.remote_id == f"{PAGE}_778"  # the story, which is what a reader sees and what UNDO deletes
    assert form(route.calls.last.request) == {
        "url": "https://ardoise.test/media/1.jpg",
        "message": "Nouveau menu",
        "alt_text_custom": "Le menu",
    }


async def test_several_photos_are_unpublished_then_attached(fb: Facebook, api: respx.MockRouter) -> None:
    photos = api.post(f"/{PAGE}/photos").mock(
        side_effect=[httpx.Response(200, json={"id": "901"}), httpx.Response(200, json={"id": "902"})]
    )
    feed = api.post(f"/{PAGE}/feed").respond(200, json={"id": f"{PAGE}_903"})
    result = await fb.publish(Post(text="Deux photos", idempotency_key="k", media=[image(1), image(2)]), CREDS)
    assert result.remote_id == f"{PAGE}_903"
    assert [form(c.request)["published"] for c in photos.calls] == ["false", "false"]
    sent = form(feed.calls.last.request)
    assert sent["message"] == "Deux photos"
    assert json.loads(sent["attached_media[0]"]) == {"media_fbid": "901"}
    assert json.loads(sent["attached_media[1]"]) == {"media_fbid": "902"}


def test_long_text_is_kept_whole_up_to_the_page_limit(fb: Facebook) -> None:
    text = "mot " * 5000
    assert fb.fit(Post(text=text, idempotency_key="k", link="https://ardoise.test/b/x/1")) == text.strip()
    too_long = "a" * 70_000
    fitted = fb.fit(Post(text=too_long, idempotency_key="k", link="https://ardoise.test/b/x/1"))
    assert len(fitted) <= fb.max_chars
    assert fitted.endswith("… https://ardoise.test/b/x/1")
    with pytest.raises(PermanentError) as err:
        fb.fit(Post(text=too_long, idempotency_key="k"))
    assert err.value.code == "too_long"


# --- failures --------------------------------------------------------------------------------------------


# What the Graph API answers a publish with, and what the adapter makes of it (the network's table; harness.py).
ANSWERS = [
    Answer("expired-token-190", 400, EXPIRED, AuthError, "auth", retry_after=ANY_WAIT),
    Answer("permission-200", 403, PERMISSION, AuthError, "permission", retry_after=ANY_WAIT),
    Answer("permission-10", 400, PERMISSION_10, AuthError, "permission", retry_after=ANY_WAIT),
    Answer("app-limit-4", 400, APP_LIMIT, RetryableError, "rate_limited", retry_after=ANY_WAIT),
    Answer("user-limit-17", 400, USER_LIMIT, RetryableError, "rate_limited", retry_after=ANY_WAIT),
    Answer("page-limit-32", 400, PAGE_LIMIT, RetryableError, "rate_limited", retry_after=ANY_WAIT),
    Answer("unknown-1", 500, UNKNOWN, RetryableError, "http_500", retry_after=ANY_WAIT),
    Answer("5xx-no-body", 503, None, RetryableError, "http_503", retry_after=ANY_WAIT),
    Answer("duplicate-506", 400, DUPLICATE, PermanentError, "duplicate", retry_after=ANY_WAIT),
    Answer("invalid-parameter", 400, INVALID, PermanentError, "graph_100", retry_after=ANY_WAIT),
]


@pytest.mark.parametrize("row", rows(ANSWERS))
async def test_errors_are_classified(fb: Facebook, api: respx.MockRouter, row: Answer) -> None:
    row = replace(row, reason_has=row.body["error"]["message"][:20] if row.body else "")
    await check_answer(api.post(f"/{PAGE}/feed"), row, lambda: fb.publish(Post(text="x", idempotency_key="k"), CREDS))


async def test_rate_limit_waits_for_the_business_use_case_estimate(
    fb: Facebook, api: respx.MockRouter, frozen: datetime
) -> None:
    # https://developers.facebook.com/docs/graph-api/overview/rate-limiting : X-Business-Use-Case-Usage header
    buc = {
        PAGE: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": 17,
            }
        ]
    }
    api.post(f"/{PAGE}/feed").respond(400, json=PAGE_LIMIT, headers={"X-Business-Use-Case-Usage": json.dumps(buc)})
    with pytest.raises(RetryableError) as err:
        await fb.publish(Post(text="x", idempotency_key="k"), CREDS)
    assert err.value.retry_after == 17 * 60


def test_app_usage_at_100_percent_gives_a_default_wait() -> None:
    headers = httpx.Headers({"X-App-Usage": json.dumps({"call_count": 100, "total_time": 20, "total_cputime": 9})})
    assert meta_retry_after(headers, NOW) == 600.0
    assert meta_retry_after(httpx.Headers({"X-App-Usage": '{"call_count": 12}'}), NOW) is None


async def test_timeouts_are_retryable(fb: Facebook, api: respx.MockRouter) -> None:
    api.post(f"/{PAGE}/feed").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(RetryableError) as err:
        await fb.publish(Post(text="x", idempotency_key="k"), CREDS)
    assert err.value.code == "timeout"


async def test_missing_token_is_an_auth_error(fb: Facebook) -> None:
    with pytest.raises(AuthError):
        await fb.publish(Post(text="x", idempotency_key="k"), NetworkCredentials({"page_id": PAGE}))


# --- verify, find_existing, delete ------------------------------------------------------------------------


async def test_verify_reads_the_page(fb: Facebook, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/graph-api/reference/page : fields id, name, username
    api.get(f"/{PAGE}", params={"fields": "id,name,username"}).respond(
        200, json={"id": PAGE, "name": "Bistro Ardoise", "username": "bistroardoise"}
    )
    info = await fb.verify(CREDS)
    assert (info.handle, info.remote_id, info.display_name) == ("bistroardoise", PAGE, "Bistro Ardoise")


async def test_find_existing_matches_recent_message(fb: Facebook, api: respx.MockRouter, frozen: datetime) -> None:
    # https://developers.facebook.com/docs/graph-api/reference/page/feed : data[] of {id, message, created_time}
    api.get(f"/{PAGE}/feed").respond(
        200,
        json={
            "data": [
                {"id": f"{PAGE}_1", "message": "Autre chose", "created_time": "2026-05-01T11:00:00+0000"},
                {"id": f"{PAGE}_2", "message": "Soupe  du jour", "created_time": "2026-05-01T11:30:00+0000"},
                {"id": f"{PAGE}_3", "message": "Ouvert!", "created_time": "2026-04-28T11:30:00+0000"},
            ],
            "paging": {"cursors": {"before": "QVFIU", "after": "QVFIU"}},
        },
    )
    found = await fb.find_existing(Post(text="Soupe du jour", idempotency_key="k"), CREDS)
    assert found is not None
    assert found.remote_id == f"{PAGE}_2"
    assert await fb.find_existing(Post(text="Ouvert!", idempotency_key="k"), CREDS) is None  # too old: not ours


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(200, {"success": True}, id="deleted"),
        pytest.param(400, GONE, id="already-gone-100-33"),
        pytest.param(404, GONE, id="already-gone-404"),
    ],
)
async def test_delete_succeeds_when_gone(
    fb: Facebook, api: respx.MockRouter, status: int, body: dict[str, Any]
) -> None:
    route = api.delete(f"/{PAGE}_999").respond(status, json=body)
    await fb.delete(f"{PAGE}_999", CREDS)
    assert route.called


async def test_delete_with_expired_token_is_an_auth_error(fb: Facebook, api: respx.MockRouter) -> None:
    api.delete(f"/{PAGE}_999").respond(400, json=EXPIRED)
    with pytest.raises(AuthError):
        await fb.delete(f"{PAGE}_999", CREDS)


def test_redact_lists_the_page_token(fb: Facebook) -> None:
    assert list(fb.redact(CREDS)) == [TOKEN]
