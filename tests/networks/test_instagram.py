"""Instagram adapter: respx contract tests with request and response bodies from Meta's Instagram Platform docs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import MediaItem, NetworkCredentials, Post
from app.networks.instagram import MAX_CAPTION, SKIPPED_NO_PHOTO, Instagram, fit_caption

GRAPH = "https://graph.test/v23.0"
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
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def ig(http: httpx.AsyncClient) -> Instagram:
    return Instagram(http, base_url="https://graph.test", graph_version="v23.0", container_wait=1.0, poll_interval=0.01)


@pytest.fixture
def graph() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=GRAPH, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def image(n: int = 1, alt: str = "") -> MediaItem:
    return MediaItem(
        path=f"/tmp/{n}.jpg", url=f"https://ardoise.test/media/{n}.jpg", content_type="image/jpeg", alt=alt
    )


def mock_publish_path(graph: respx.MockRouter, *, statuses: list[str] | None = None) -> dict[str, respx.Route]:
    routes = {
        "quota": graph.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_OK),
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
        "media": graph.post(f"/{IG}/media").respond(200, json={"id": "17889455560051444"}),
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
        "status": graph.get("/17889455560051444").mock(
            side_effect=[
                httpx.Response(200, json={"status_code": s, "id": "17889455560051444"})
                for s in (statuses or ["FINISHED"])
            ]
        ),
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
        "publish": graph.post(f"/{IG}/media_publish").respond(200, json={"id": "17920238422030506"}),
        "permalink": graph.get("/17920238422030506").respond(
            200, json={"permalink": "https://www.instagram.com/p/Cabc123/", "id": "17920238422030506"}
        ),
    }
    return routes


async def test_text_only_is_skipped_not_failed(ig: Instagram, graph: respx.MockRouter) -> None:
    result = await ig.publish(Post(text="Pas de photo aujourd'hui", idempotency_key="k"), CREDS)
    assert result.skipped == SKIPPED_NO_PHOTO
    assert result.remote_id == ""
    assert not graph.calls


async def test_one_photo_container_is_polled_then_published(ig: Instagram, graph: respx.MockRouter) -> None:
    routes = mock_publish_path(graph, statuses=["IN_PROGRESS", "FINISHED"])
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


async def test_carousel_for_several_photos(ig: Instagram, graph: respx.MockRouter) -> None:
    graph.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_OK)
    media = graph.post(f"/{IG}/media").mock(
        side_effect=[httpx.Response(200, json={"id": cid}) for cid in ("c1", "c2", "parent")]
    )
    for cid in ("c1", "c2", "parent"):
        graph.get(f"/{cid}").respond(200, json={"status_code": "FINISHED", "id": cid})
    graph.post(f"/{IG}/media_publish").respond(200, json={"id": "m1"})
    graph.get("/m1").respond(200, json={"permalink": "https://www.instagram.com/p/X/", "id": "m1"})
    result = await ig.publish(Post(text="Deux", idempotency_key="k", media=[image(1), image(2)]), CREDS)
    assert result.remote_id == "m1"
    sent = [form(c.request) for c in media.calls]
    assert sent[0] == {"image_url": "https://ardoise.test/media/1.jpg", "is_carousel_item": "true"}
    assert sent[2] == {"media_type": "CAROUSEL", "children": "c1,c2", "caption": "Deux"}


async def test_daily_limit_reached_is_retryable_in_an_hour(ig: Instagram, graph: respx.MockRouter) -> None:
    graph.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_FULL)
    container = graph.post(f"/{IG}/media")
    with pytest.raises(RetryableError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert (err.value.code, err.value.retry_after) == ("quota", 3600.0)
    assert not container.called


async def test_container_error_is_permanent(ig: Instagram, graph: respx.MockRouter) -> None:
    routes = mock_publish_path(graph, statuses=["ERROR"])
    with pytest.raises(PermanentError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert err.value.code == "media_rejected"
    assert not routes["publish"].called


async def test_container_still_processing_is_retryable(ig: Instagram, graph: respx.MockRouter) -> None:
    mock_publish_path(graph, statuses=["IN_PROGRESS"] * 200)
    with pytest.raises(RetryableError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert err.value.code == "media_processing"


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        pytest.param(400, EXPIRED, AuthError, "auth", id="expired-token-190"),
        pytest.param(403, PERMISSION, AuthError, "permission", id="permission-10"),
        pytest.param(400, LIMIT, RetryableError, "rate_limited", id="app-limit-4"),
        pytest.param(502, {"error": {"message": "Bad gateway", "code": 2}}, RetryableError, "http_502", id="5xx"),
    ],
)
async def test_errors_are_classified(
    ig: Instagram, graph: respx.MockRouter, status: int, body: dict[str, Any], expected: type[AdapterError], code: str
) -> None:
    graph.get(f"/{IG}/content_publishing_limit").respond(200, json=QUOTA_OK)
    graph.post(f"/{IG}/media").respond(status, json=body)
    with pytest.raises(AdapterError) as err:
        await ig.publish(Post(text="x", idempotency_key="k", media=[image()]), CREDS)
    assert type(err.value) is expected
    assert err.value.code == code


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


async def test_find_existing_matches_recent_caption(ig: Instagram, graph: respx.MockRouter) -> None:
    set_clock(lambda: NOW)
    try:
        # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
        graph.get(f"/{IG}/media").respond(
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


async def test_verify_reads_the_account(ig: Instagram, graph: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user
    graph.get(f"/{IG}").respond(200, json={"id": IG, "username": "bistro.ardoise", "name": "Bistro"})
    info = await ig.verify(CREDS)
    assert (info.handle, info.remote_id) == ("@bistro.ardoise", IG)


async def test_delete_is_not_supported(ig: Instagram, graph: respx.MockRouter) -> None:
    with pytest.raises(PermanentError) as err:
        await ig.delete("17920238422030506", CREDS)
    assert "does not allow deleting" in err.value.reason
    assert not graph.calls


def test_redact_lists_the_token(ig: Instagram) -> None:
    assert list(ig.redact(CREDS)) == [TOKEN]
