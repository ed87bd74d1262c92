"""Facebook Page mentions: comments and tags by polling, answers as comments, likes. respx contract tests whose
bodies follow Meta's Graph API reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import NetworkCredentials, Post, ReplyTarget
from app.networks.facebook.adapter import Facebook
from tests.networks.harness import ANY_WAIT, Answer, check_answer, rows

GRAPH = "https://graph.test/v23.0"
API_BASE = GRAPH  # the ``api`` router's base (tests/networks/conftest.py)
PAGE = "1234567890"
TOKEN = "EAAG-page-token"
CREDS = NetworkCredentials({"page_id": PAGE, "page_access_token": TOKEN})
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
POST_ID = f"{PAGE}_5550001"

# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.facebook.com/docs/graph-api/reference/page/feed (Page feed: posts with ``id``, ``created_time``,
# ``permalink_url``; edges such as ``comments`` expand inline with field expansion) and
# https://developers.facebook.com/docs/graph-api/reference/object/comments (Comment: ``id``, ``message``,
# ``created_time``, ``from{id,name}``, ``parent``; ``filter=stream``, ``order=reverse_chronological``; listings carry
# ``paging.cursors.after`` and ``paging.next``)


def comment(
    cid: str, when: str, text: str, *, who: tuple[str, str] = ("77001", "Cliente Une"), parent: str = ""
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"{POST_ID}_{cid}" if "_" not in cid else cid,
        "message": text,
        "created_time": when,
        "permalink_url": f"https://www.facebook.com/{POST_ID}?comment_id={cid}",
        "from": {"id": who[0], "name": who[1]},
    }
    if parent:
        row["parent"] = {"id": parent}
    return row


def listing(rows: list[dict[str, Any]], after: str = "") -> dict[str, Any]:
    paging: dict[str, Any] = {"cursors": {"before": "QVFIUmJlZAZDZD", "after": after or "QVFIUmVuZAZDZD"}}
    if after:
        paging["next"] = f"{GRAPH}/next?after={after}"
    return {"data": rows, "paging": paging}


def feed(comments: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": POST_ID,
                "permalink_url": f"https://www.facebook.com/{POST_ID}",
                "comments": comments,
            }
        ],
        "paging": {"cursors": {"before": "b", "after": "a"}},
    }


# https://developers.facebook.com/docs/graph-api/reference/page/tagged (public posts in which the Page is tagged;
# ``from`` only returned for some posts)
TAGGED = listing(
    [
        {
            "id": "99887766_1122",
            "message": "Souper parfait chez @Bistro Ardoise, c’est comment le brunch ?",
            "created_time": "2026-05-01T10:30:00+0000",
            "permalink_url": "https://www.facebook.com/99887766/posts/1122",
            "from": {"id": "99887766", "name": "Client Deux"},
        }
    ]
)

# https://developers.facebook.com/docs/graph-api/guides/error-handling (error object; codes 190, 10, 4)
EXPIRED = {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
NO_PERMISSION = {
    "error": {"message": "(#10) This endpoint requires the 'pages_read_user_content' permission", "code": 10}
}
APP_LIMIT = {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}


@pytest.fixture
def fb(http: httpx.AsyncClient) -> Facebook:
    return Facebook(http, base_url="https://graph.test", graph_version="v23.0", mention_max_pages=3)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    set_clock(lambda: NOW)
    yield
    set_clock(None)


def params(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


# --- polling -------------------------------------------------------------------------------------------------


async def test_first_poll_reads_comments_and_tags_skips_the_page_and_orders_oldest_first(
    fb: Facebook, api: respx.MockRouter
) -> None:
    comments = listing(
        [
            comment("3", "2026-05-01T11:00:00+0000", "Merci, à samedi !", who=(PAGE, "Bistro Ardoise")),
            comment("2", "2026-05-01T09:00:00+0000", "Et le dimanche ?", parent=f"{POST_ID}_1"),
            comment("1", "2026-05-01T08:00:00+0000", "Vous êtes ouverts ce soir ?"),
        ]
    )
    feed_route = api.get(f"/{PAGE}/feed").respond(200, json=feed(comments))
    tagged_route = api.get(f"/{PAGE}/tagged").respond(200, json=TAGGED)

    items, cursor = await fb.fetch_mentions(CREDS, None)

    assert [m.remote_id for m in items] == [f"{POST_ID}_1", f"{POST_ID}_2", "99887766_1122"]
    first, reply, tag = items
    assert (first.kind, first.author, first.text, first.is_reply_to_us) == (
        "comment",
        "Cliente Une",
        "Vous êtes ouverts ce soir ?",
        True,
    )
    assert first.target == ReplyTarget(remote_id=f"{POST_ID}_1", extra={"post_id": POST_ID})
    # a reply in a thread is answered on the thread's top comment (Facebook threads are two levels deep)
    assert reply.target.extra == {"post_id": POST_ID, "reply_to": f"{POST_ID}_1"}
    assert (tag.kind, tag.author, tag.target.remote_id) == ("mention", "Client Deux", "99887766_1122")
    assert first.created_at == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    # the Page's own comment is not a mention; the cursor is the newest item's time
    assert cursor == "2026-05-01T10:30:00+00:00"
    sent = params(feed_route.calls.last.request)
    assert sent["limit"] == "10"
    assert "comments.filter(stream).order(reverse_chronological)" in sent["fields"]
    assert feed_route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert tagged_route.called


async def test_with_a_cursor_it_pages_until_it_reaches_known_items(fb: Facebook, api: respx.MockRouter) -> None:
    cursor = "2026-05-01T09:00:00+00:00"
    first_page = listing(
        [
            comment("9", "2026-05-01T11:30:00+0000", "Bravo pour le nouveau menu"),
            comment("8", "2026-05-01T11:00:00+0000", "Réservation pour 4 ?"),
        ],
        after="AFTER1",
    )
    second_page = listing(
        [
            comment("7", "2026-05-01T10:00:00+0000", "Super"),
            comment("6", "2026-05-01T08:59:00+0000", "déjà vu"),  # older than the cursor: the walk stops here
        ],
        after="AFTER2",
    )
    api.get(f"/{PAGE}/feed").respond(200, json=feed(first_page))
    more = api.get(f"/{POST_ID}/comments").respond(200, json=second_page)
    tagged = api.get(f"/{PAGE}/tagged").mock(
        side_effect=[
            httpx.Response(200, json=listing([], after="TAG2")),
            httpx.Response(200, json=listing([])),
        ]
    )

    items, new_cursor = await fb.fetch_mentions(CREDS, cursor)

    assert [m.remote_id.rsplit("_", 1)[1] for m in items] == ["7", "8", "9"]
    assert new_cursor == "2026-05-01T11:30:00+00:00"
    assert more.call_count == 1, "stops at the first page that reaches the cursor"
    assert params(more.calls.last.request)["after"] == "AFTER1"
    assert params(more.calls.last.request)["order"] == "reverse_chronological"
    assert tagged.call_count == 2
    assert params(tagged.calls[1].request)["after"] == "TAG2"


async def test_nothing_new_keeps_the_cursor(fb: Facebook, api: respx.MockRouter) -> None:
    api.get(f"/{PAGE}/feed").respond(200, json={"data": []})
    api.get(f"/{PAGE}/tagged").respond(200, json={"data": []})
    assert await fb.fetch_mentions(CREDS, "2026-05-01T09:00:00+00:00") == ([], "2026-05-01T09:00:00+00:00")


# What the Graph API answers a poll with, and what the adapter makes of it (harness.py).
POLL_ANSWERS = [
    Answer("expired-token", 400, EXPIRED, AuthError, "auth", retry_after=ANY_WAIT),
    Answer("rate-limit", 403, APP_LIMIT, RetryableError, "rate_limited", retry_after=ANY_WAIT),
    Answer(
        "unknown-1",
        500,
        {"error": {"message": "An unknown error has occurred.", "code": 1}},
        RetryableError,
        "http_500",
        retry_after=ANY_WAIT,
    ),
]


@pytest.mark.parametrize("row", rows(POLL_ANSWERS))
async def test_poll_failures_are_classified(fb: Facebook, api: respx.MockRouter, row: Answer) -> None:
    await check_answer(api.get(f"/{PAGE}/feed"), row, lambda: fb.fetch_mentions(CREDS, None))


async def test_a_missing_comment_permission_does_not_break_the_account(fb: Facebook, api: respx.MockRouter) -> None:
    api.get(f"/{PAGE}/feed").respond(200, json={"data": []})
    api.get(f"/{PAGE}/tagged").respond(400, json=NO_PERMISSION)
    with pytest.raises(PermanentError) as err:
        await fb.fetch_mentions(CREDS, None)
    assert not isinstance(err.value, AuthError), "publishing still works: the account must not be marked broken"
    assert err.value.code == "permission"


# --- answers and likes ---------------------------------------------------------------------------------------


async def test_an_answer_is_a_comment_on_the_comment(fb: Facebook, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/graph-api/reference/object/comments#publish : POST /{object-id}/comments
    # with ``message`` (``attachment_url`` for a photo) → {"id": "<comment id>"}
    route = api.post(f"/{POST_ID}_1/comments").respond(200, json={"id": f"{POST_ID}_4"})
    target = ReplyTarget(remote_id=f"{POST_ID}_1", extra={"post_id": POST_ID})
    result = await fb.publish(Post(text="Oui, jusqu’à 22 h !", idempotency_key="k", reply_to=target), CREDS)
    assert result.remote_id == f"{POST_ID}_4"
    assert form(route.calls.last.request) == {"message": "Oui, jusqu’à 22 h !"}


async def test_an_answer_to_a_reply_goes_to_the_top_comment(fb: Facebook, api: respx.MockRouter) -> None:
    route = api.post(f"/{POST_ID}_1/comments").respond(200, json={"id": f"{POST_ID}_5"})
    target = ReplyTarget(remote_id=f"{POST_ID}_2", extra={"post_id": POST_ID, "reply_to": f"{POST_ID}_1"})
    await fb.publish(Post(text="Le dimanche aussi.", idempotency_key="k", reply_to=target), CREDS)
    assert route.called


async def test_a_retried_answer_finds_the_pages_earlier_comment(fb: Facebook, api: respx.MockRouter) -> None:
    earlier = listing(
        [
            comment("4", "2026-05-01T11:59:00+0000", "Oui, jusqu’à 22 h !", who=(PAGE, "Bistro Ardoise")),
            comment("3", "2026-05-01T11:58:00+0000", "Oui, jusqu’à 22 h !"),  # same words, someone else
        ]
    )
    api.get(f"/{POST_ID}_1/comments").respond(200, json=earlier)
    target = ReplyTarget(remote_id=f"{POST_ID}_1")
    found = await fb.find_existing(Post(text="Oui, jusqu’à 22 h !", idempotency_key="k", reply_to=target), CREDS)
    assert found is not None
    assert found.remote_id == f"{POST_ID}_4"


async def test_like_is_a_like_on_the_object(fb: Facebook, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/graph-api/reference/object/likes : POST /{object-id}/likes → success
    route = api.post(f"/{POST_ID}_1/likes").respond(200, json={"success": True})
    await fb.like_item(ReplyTarget(remote_id=f"{POST_ID}_1"), CREDS)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_like_without_the_engagement_permission_is_permanent(fb: Facebook, api: respx.MockRouter) -> None:
    api.post(f"/{POST_ID}_1/likes").respond(403, json={"error": {"message": "(#200) Permissions error", "code": 200}})
    with pytest.raises(PermanentError) as err:
        await fb.like_item(ReplyTarget(remote_id=f"{POST_ID}_1"), CREDS)
    assert err.value.code == "permission"
    assert not isinstance(err.value, AuthError)


async def test_subscribe_webhooks_installs_the_app_on_the_page(fb: Facebook, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/pages-api/webhooks-for-pages : POST /{page-id}/subscribed_apps
    # ?subscribed_fields=feed → {"success": "true"}
    route = api.post(f"/{PAGE}/subscribed_apps").respond(200, json={"success": "true"})
    await fb.subscribe_webhooks(CREDS)
    assert params(route.calls.last.request) == {"subscribed_fields": "feed"}
