"""Instagram mentions: comments on recent media and tags by polling, answers as comment replies or through the
mentions edge, no likes. respx contract tests whose bodies follow Meta's Instagram Platform reference."""

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
from app.networks.instagram.adapter import Instagram
from tests.networks.harness import ANY_WAIT, Answer, check_answer, rows

GRAPH = "https://graph.test/v23.0"
API_BASE = GRAPH  # the ``api`` router's base (tests/networks/conftest.py)
IG = "17841405822304914"
TOKEN = "EAAG-page-token"
CREDS = NetworkCredentials({"ig_user_id": IG, "access_token": TOKEN, "username": "bistro.ardoise"})
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.facebook.com/docs/instagram-platform/comment-moderation (GET /<IG_MEDIA_ID>/comments, replies;
# IG Comment fields ``id``, ``text``, ``timestamp``, ``username``, ``from{id,username}``, ``replies``) and
# https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media (IG User media
# listing with field expansion)


def ig_comment(cid: str, when: str, text: str, user: str = "cliente.une", **more: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "text": text,
        "timestamp": when,
        "username": user,
        "from": {"id": f"90{cid}", "username": user},
        **more,
    }


MEDIA = {
    "data": [
        {
            "id": "17895695668004550",
            "permalink": "https://www.instagram.com/p/Cx1/",
            "timestamp": "2026-04-30T18:00:00+0000",
            "comments": {
                "data": [
                    ig_comment(
                        "17870913679156914",
                        "2026-05-01T09:00:00+0000",
                        "C’est ouvert dimanche ?",
                        replies={
                            "data": [
                                ig_comment("17870913679156915", "2026-05-01T09:05:00+0000", "Oui !", "bistro.ardoise"),
                                ig_comment("17870913679156916", "2026-05-01T09:10:00+0000", "Merci 🙏"),
                            ]
                        },
                    ),
                ]
            },
        }
    ],
    "paging": {"cursors": {"before": "b", "after": "a"}},
}
# https://developers.facebook.com/docs/graph-api/reference/shadow-ig-user/tags/ (media the account is tagged in)
TAGS = {
    "data": [
        {
            "id": "18027939643107654",
            "caption": "Brunch chez @bistro.ardoise",
            "timestamp": "2026-05-01T10:00:00+0000",
            "username": "client.deux",
            "permalink": "https://www.instagram.com/p/Cx2/",
        }
    ],
    "paging": {"cursors": {"before": "b", "after": "a"}},
}
EXPIRED = {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
APP_LIMIT = {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}


@pytest.fixture
def ig(http: httpx.AsyncClient) -> Instagram:
    return Instagram(http, base_url="https://graph.test", graph_version="v23.0")


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    set_clock(lambda: NOW)
    yield
    set_clock(None)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_comments_replies_and_tags_oldest_first_without_our_own(ig: Instagram, api: respx.MockRouter) -> None:
    media = api.get(f"/{IG}/media").respond(200, json=MEDIA)
    api.get(f"/{IG}/tags").respond(200, json=TAGS)
    items, cursor = await ig.fetch_mentions(CREDS, None)
    assert [m.remote_id for m in items] == ["17870913679156914", "17870913679156916", "18027939643107654"]
    top, reply, tag = items
    assert (top.kind, top.author, top.text, top.is_reply_to_us) == (
        "comment",
        "@cliente.une",
        "C’est ouvert dimanche ?",
        True,
    )
    assert top.target == ReplyTarget(remote_id="17870913679156914", extra={"media_id": "17895695668004550"})
    assert reply.target.extra["reply_to"] == "17870913679156914"  # one level: answered on the top comment
    assert (tag.kind, tag.author, tag.target.extra["type"]) == ("mention", "@client.deux", "tag")
    assert cursor == "2026-05-01T10:00:00+00:00"
    assert "comments.limit(50)" in media.calls.last.request.url.params["fields"]


async def test_tags_are_paged_while_new(ig: Instagram, api: respx.MockRouter) -> None:
    api.get(f"/{IG}/media").respond(200, json={"data": []})
    newer = {**TAGS, "paging": {"cursors": {"after": "NEXT"}, "next": f"{GRAPH}/{IG}/tags?after=NEXT"}}
    older = {
        "data": [{"id": "1", "caption": "vieux", "timestamp": "2026-04-01T10:00:00+0000", "username": "x"}],
        "paging": {"cursors": {"after": "MORE"}, "next": f"{GRAPH}/{IG}/tags?after=MORE"},
    }
    tags = api.get(f"/{IG}/tags").mock(side_effect=[httpx.Response(200, json=newer), httpx.Response(200, json=older)])
    items, cursor = await ig.fetch_mentions(CREDS, "2026-04-30T00:00:00+00:00")
    assert [m.remote_id for m in items] == ["18027939643107654"]
    assert tags.call_count == 2, "the second page reached the cursor: no third call"
    assert tags.calls[1].request.url.params["after"] == "NEXT"
    assert cursor == "2026-05-01T10:00:00+00:00"


# What the Graph API answers a media poll with, and what the adapter makes of it (harness.py).
POLL_ANSWERS = [
    Answer("expired-token", 400, EXPIRED, AuthError, "", retry_after=ANY_WAIT),
    Answer("rate-limit", 400, APP_LIMIT, RetryableError, "", retry_after=ANY_WAIT),
    Answer("outage", 503, None, RetryableError, "", retry_after=ANY_WAIT),
]


@pytest.mark.parametrize("row", rows(POLL_ANSWERS))
async def test_poll_failures(ig: Instagram, api: respx.MockRouter, row: Answer) -> None:
    await check_answer(api.get(f"/{IG}/media"), row, lambda: ig.fetch_mentions(CREDS, None))


async def test_no_likes_on_instagram(ig: Instagram) -> None:
    with pytest.raises(PermanentError) as err:
        await ig.like_item(ReplyTarget(remote_id="17870913679156914"), CREDS)
    assert err.value.code == "unsupported"
    assert "instagram" in err.value.reason


async def test_answer_to_a_comment_is_a_reply(ig: Instagram, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/instagram-platform/comment-moderation : POST /<IG_COMMENT_ID>/replies
    # ?message=… → {"id": "<reply id>"}
    route = api.post("/17870913679156914/replies").respond(200, json={"id": "17870913679156999"})
    target = ReplyTarget(remote_id="17870913679156916", extra={"reply_to": "17870913679156914"})
    result = await ig.publish(Post(text="Oui, de 10 h à 14 h.", idempotency_key="k", reply_to=target), CREDS)
    assert result.remote_id == "17870913679156999"
    assert result.skipped is None, "an answer needs no photo"
    assert form(route.calls.last.request) == {"message": "Oui, de 10 h à 14 h."}


async def test_answer_to_a_tag_goes_through_the_mentions_edge(ig: Instagram, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/mentions :
    # POST /{ig-user-id}/mentions with media_id (and comment_id) and message → {"id"}
    route = api.post(f"/{IG}/mentions").respond(200, json={"id": "17911111111111111"})
    target = ReplyTarget(remote_id="18027939643107654", extra={"type": "tag", "media_id": "18027939643107654"})
    await ig.publish(Post(text="Merci !", idempotency_key="k", reply_to=target), CREDS)
    assert form(route.calls.last.request) == {"media_id": "18027939643107654", "message": "Merci !"}


async def test_a_retried_answer_is_found(ig: Instagram, api: respx.MockRouter) -> None:
    api.get("/17870913679156914/replies").respond(
        200, json={"data": [ig_comment("555", "2026-05-01T11:59:00+0000", "Oui, de 10 h à 14 h.", "bistro.ardoise")]}
    )
    target = ReplyTarget(remote_id="17870913679156914")
    found = await ig.find_existing(Post(text="Oui, de 10 h à 14 h.", idempotency_key="k", reply_to=target), CREDS)
    assert found is not None
    assert found.remote_id == "555"


async def test_mentioned_comment_from_a_webhook(ig: Instagram, api: respx.MockRouter) -> None:
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/mentioned_comment
    route = api.get(f"/{IG}").respond(
        200,
        json={
            "mentioned_comment": {
                "id": "17873440459141021",
                "text": "@bistro.ardoise vous livrez ?",
                "timestamp": "2026-05-01T11:00:00+0000",
                "username": "cliente.trois",
                "media": {"id": "17920238422030506", "permalink": "https://www.instagram.com/p/Cx3/"},
            },
            "id": IG,
        },
    )
    m = await ig.mentioned(CREDS, media_id="17920238422030506", comment_id="17873440459141021")
    assert m is not None
    assert (m.kind, m.author, m.text) == ("mention", "@cliente.trois", "@bistro.ardoise vous livrez ?")
    assert m.target.extra == {
        "type": "mention_comment",
        "media_id": "17920238422030506",
        "comment_id": "17873440459141021",
    }
    assert "mentioned_comment.comment_id(17873440459141021)" in route.calls.last.request.url.params["fields"]
