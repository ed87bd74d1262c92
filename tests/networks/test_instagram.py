"""Instagram adapter: respx contract tests with request and response bodies from Meta's Instagram Platform docs."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import MediaItem, NetworkCredentials, Post
from app.networks.instagram.adapter import MAX_CAPTION, SKIPPED_NO_PHOTO, Instagram, fit_caption
from tests.networks.harness import ANY_WAIT, Answer, check_answer, rows

GRAPH = "https://graph.test/v23.0"
API_BASE = GRAPH  # the ``api`` router's base (tests/networks/conftest.py)
IG = "17841405822304914"
TOKEN = "EAAG-page-token"
CREDS = NetworkCredentials({"ig_user_id": IG, "access_token": TOKEN})
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit/
QUOTA_OK = {"data": [{"quota_usage": 2, "config": {"quota_total": 50, "quota_duration": 86400}}]}
QUOTA_FULL = {"data": [{"quota_usage": 50, "config": {"quota_total": 50, "quota_duration": 86400}}]}
# https://developers.facebook.com/docs/graph-api/guides/error-handling
EXPIRED = {
    "error": {
        "message": "Error validating access token: The session has been invalidated because the user changed their "
        "password or Facebook has changed the session for security reasons.",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 460,
        "fbtrace_id": "EJplcsCHuLu",
    }
}
PERMISSION = {
    "error": {
        "message": "(#10) Application does not have permission for this action",
        "type": "OAuthException",
        "code": 10,
        "fbtrace_id": "EJplcsCHuLu",
    }
}
# https://developers.facebook.com/docs/graph-api/guides/error-handling (code 4: "API Too Many Calls")
LIMIT = {
    "error": {
        "message": "Application request limit reached",
        "type": "OAuthException",
        "code": 4,
        "fbtrace_id": "EJplcsCHuLu",
    }
}


@pytest.fixture
def ig(http: httpx.AsyncClient) -> Instagram:
    return Instagram(http, base_url="https://graph.test", graph_version="v23.0", container_wait=1.0, poll_interval=0.01)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def image(n: int = 1, alt: str = "") -> MediaItem:
    return MediaItem(
        path=f"/tmp/{n}.jpg", url=f"https://ardoise.test/media/{n}.jpg", content_type="image/jpeg", alt=alt
    )


def mock_publish_path(api: respx.MockRouter, *, statuses: list[str] | None = None) -> dict[str, respx.Route]:
    routes = {
        "quota": api.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_OK),
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
        "media": api.post(f"/{IG}/media").respond(200, json={"id": "17889455560051444"}),
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
        "status": api.get("/17889455560051444").mock(
            side_effect=[
                httpx.Response(200, json={"status_code": s, "id": "17889455560051444"})
                for s in (statuses or ["FINISHED"])
            ]
        ),
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
        "publish": api.post(f"/{IG}/media_publish").respond(200, json={"id": "17920238422030506"}),
        "permalink": api.get("/17920238422030506").respond(
            200, json={"permalink": "https://www.instagram.com/p/Cabc123/", "id": "17920238422030506"}
        ),
    }
    return routes


async def test_text_only_is_skipped_not_failed(ig: Instagram, api: respx.MockRouter) -> None:
    result = await ig.publish(Post(text="Pas de photo aujourd'hui", idempotency_key="k"), CREDS)
    assert result.skipped == SKIPPED_NO_PHOTO
    assert result.remote_id == ""
    assert not api.calls


async def test_one_photo_container_is_polled_then_published(ig: Instagram, api: respx.MockRouter) -> None:
    routes = mock_publish_path(api, statuses=["IN_PROGRESS", "FINISHED"])
    post = Post(text="Croissants chauds #boulangerie", idempotency_key="k", media=[image(alt="Des croissants")])
    result = await ig.publish(post, CREDS)
    assert result.remote_id == "17920238422030506"
    assert result.url == "https://www.instagram.com/p/Cabc123/"
    assert form(routes["media"].calls.last.request) == {
        "image_url": "https://ardoise.test/media/1.jpg",
        "caption": "Croissants chauds #boulangerie",
        "alt_text": "Des croissants",
    }
    assert routes["status"].call_count == 2
    published = routes["publish"].calls.last.request
    assert published.url.params["creation_id"] == "17889455560051444"
    assert published.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_carousel_for_several_photos(ig: Instagram, api: respx.MockRouter) -> None:
    api.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_OK)
    media = api.post(f"/{IG}/media").mock(
        side_effect=[httpx.Response(200, json={"id": cid}) for cid in ("c1", "c2", "parent")]
    )
    for cid in ("c1", "c2", "parent"):
        api.get(f"/{cid}").respond(200, json={"status_code": "FINISHED", "id": cid})
    api.post(f"/{IG}/media_publish").respond(200, json={"id": "m1"})
    api.get("/m1").respond(200, json={"permalink": "https://www.instagram.com/p/X/", "id": "m1"})
    result = await ig.publish(Post(text="Deux", idempotency_key="k", media=[image(1), image(2)]), CREDS)
    assert result.remote_id == "m1"
    sent = [form(c.request) for c in media.calls]
    assert sent[0] == {"image_url": "https://ardoise.test/media/1.jpg", "is_carousel_item": "true"}
    assert sent[2] == {"media_type": "CAROUSEL", "children": "c1,c2", "caption": "Deux"}


async def test_daily_limit_reached_is_retryable_in_an_hour(ig: Instagram, api: respx.MockRouter) -> None:
    api.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_FULL)
    container = api.post(f"/{IG}/media")
    with pytest.raises(RetryableError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert (err.value.code, err.value.retry_after) == ("quota", 3600.0)
    assert not container.called


async def test_container_error_is_permanent(ig: Instagram, api: respx.MockRouter) -> None:
    routes = mock_publish_path(api, statuses=["ERROR"])
    with pytest.raises(PermanentError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert err.value.code == "media_rejected"
    assert not routes["publish"].called


async def test_container_still_processing_is_retryable(ig: Instagram, api: respx.MockRouter) -> None:
    mock_publish_path(api, statuses=["IN_PROGRESS"] * 200)
    with pytest.raises(RetryableError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert err.value.code == "media_processing"


# What the Graph API answers a media container with, and what the adapter makes of it (harness.py).
ANSWERS = [
    Answer("expired-token-190", 400, EXPIRED, AuthError, "auth", retry_after=ANY_WAIT),
    Answer("permission-10", 403, PERMISSION, AuthError, "permission", retry_after=ANY_WAIT),
    Answer("app-limit-4", 400, LIMIT, RetryableError, "rate_limited", retry_after=ANY_WAIT),
    Answer(
        "5xx", 502, {"error": {"message": "Bad gateway", "code": 2}}, RetryableError, "http_502", retry_after=ANY_WAIT
    ),
]


@pytest.mark.parametrize("row", rows(ANSWERS))
async def test_errors_are_classified(ig: Instagram, api: respx.MockRouter, row: Answer) -> None:
    api.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_OK)
    await check_answer(
        api.post(f"/{IG}/media"), row, lambda: ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    )


def test_caption_keeps_30_hashtags_and_2200_characters() -> None:
    tags = " ".join(f"#tag{i}" for i in range(35))
    caption = fit_caption(Post(text=f"Menu {tags}", idempotency_key="k"))
    assert caption.count("#") == 30
    assert caption.endswith("tag30 tag31 tag32 tag33 tag34")
    long = fit_caption(Post(text="mot " * 1000, idempotency_key="k", link="https://ardoise.test/b/x/1"))
    assert len(long) <= MAX_CAPTION
    assert long.endswith("… https://ardoise.test/b/x/1")
    with pytest.raises(PermanentError):
        fit_caption(Post(text="a" * 3000, idempotency_key="k"))


async def test_find_existing_matches_recent_caption(ig: Instagram, api: respx.MockRouter) -> None:
    set_clock(lambda: NOW)
    try:
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
        api.get(f"/{IG}/media").respond(
            200,
            json={
                "data": [
                    {"id": "1", "caption": "Autre", "timestamp": "2026-05-01T11:00:00+0000"},
                    {"id": "2", "caption": "Pain frais", "timestamp": "2026-05-01T11:50:00+0000", "permalink": "p2"},
                ]
            },
        )
        found = await ig.find_existing(Post(text="Pain frais", idempotency_key="k", media=[image()]), CREDS)
        assert found is not None
        assert (found.remote_id, found.url) == ("2", "p2")
        assert await ig.find_existing(Post(text="Rien", idempotency_key="k", media=[image()]), CREDS) is None
    finally:
        set_clock(None)


async def test_verify_reads_the_account(ig: Instagram, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user
    api.get(f"/{IG}").respond(200, json={"id": IG, "username": "bistro.ardoise", "name": "Bistro"})
    info = await ig.verify(CREDS)
    assert (info.handle, info.remote_id) == ("@bistro.ardoise", IG)


async def test_delete_is_not_supported(ig: Instagram, api: respx.MockRouter) -> None:
    with pytest.raises(PermanentError) as err:
        await ig.delete("17920238422030506", CREDS)
    assert "does not allow deleting" in err.value.reason
    assert not api.calls


def test_redact_lists_the_token(ig: Instagram) -> None:
    assert list(ig.redact(CREDS)) == [TOKEN]
