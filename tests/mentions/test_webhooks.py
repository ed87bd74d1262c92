"""Inbound mention webhooks through the real app: Meta verification and signed notifications (Facebook Page
``feed``, Instagram ``comments`` / ``mentions``), and Google Business Profile notifications by Pub/Sub push.

Payloads follow the documented formats; the tests sign them the way Meta does (HMAC-SHA256 of the raw body with the
app secret, ``X-Hub-Signature-256: sha256=<hex>``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlmodel import col

from app.accounts.service import link
from app.config import Settings
from app.kit.time import utcnow
from app.main import create_app, make_runner
from app.mentions import webhooks
from app.models import Job, MentionRow, NetworkAccount
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import PUBLIC_URL
from tests.helpers import drain, make_business

APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "ardoise-verify-7d1f"
PUBSUB_TOKEN = "pubsub-push-token-42"
PAGE_ID = "1234567890"
IG_ID = "17841405822304914"
LOC = "accounts/111/locations/222"
NOW_EPOCH = int(utcnow().timestamp())  # Meta sends epoch seconds; the store keeps the last 7 days only
RECENT = datetime.fromtimestamp(NOW_EPOCH - 3600, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def settings(db_url: str, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        db_url, facebook_app_secret=APP_SECRET, meta_verify_token=VERIFY_TOKEN, google_pubsub_token=PUBSUB_TOKEN
    )


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, with this router included when the lead has not included it yet."""
    app = create_app(rt.settings, runtime=rt)
    app.state.runtime = rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
        yield c


@pytest.fixture
def runner(rt: Runtime) -> Runner[Runtime]:
    r = make_runner(rt)
    r.tasks.setdefault(webhooks.INSTAGRAM_MENTION_TASK, webhooks.fetch_instagram_mention)
    return r


@pytest.fixture
def graph() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=False) as router:
        yield router


async def linked(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, network: str, creds: dict[str, str]
) -> int:
    biz, _ = await make_business(client, auth)
    async with rt.db.write() as s:
        acct = await link(
            s,
            business_id=biz["id"],
            network=network,
            handle=f"@{network}",
            credentials=creds,
            settings={},
            vault=rt.vault,
            actor="test",
        )
        assert acct.id is not None
        return acct.id


async def facebook_page(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> int:
    return await linked(client, auth, rt, "facebook", {"page_id": PAGE_ID, "page_access_token": "EAAG-page"})


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_meta(client: httpx.AsyncClient, payload: Any, *, signature: str | None = "auto") -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await client.post("/webhooks/meta", content=body, headers=headers)


async def mentions(rt: Runtime) -> list[MentionRow]:
    async with rt.db.read() as s:
        return list((await s.execute(select(MentionRow).order_by(col(MentionRow.id)))).scalars())


async def jobs(rt: Runtime, kind: str) -> list[Job]:
    async with rt.db.read() as s:
        return list((await s.execute(select(Job).where(col(Job.kind) == kind))).scalars())


# --- recorded payloads --------------------------------------------------------------------------------------
# https://developers.facebook.com/docs/graph-api/webhooks/getting-started (notification envelope: object, entry[] with
# id, time, changes[] of {field, value}) and https://developers.facebook.com/docs/pages-api/webhooks-for-pages (Page
# field ``feed``: value with item, verb, post_id, comment_id, parent_id, from{id,name}, message, created_time)


def feed_comment(
    comment_id: str = f"{PAGE_ID}_555_901",
    message: str = "Vous êtes ouverts ce soir ? 🙂",
    who: tuple[str, str] = ("6100012345", "Cliente Une"),
) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": NOW_EPOCH,
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "from": {"id": who[0], "name": who[1]},
                            "post": {"status_type": "added_photos", "is_published": True, "id": f"{PAGE_ID}_555"},
                            "message": message,
                            "post_id": f"{PAGE_ID}_555",
                            "comment_id": comment_id,
                            "created_time": NOW_EPOCH - 10,
                            "item": "comment",
                            "parent_id": f"{PAGE_ID}_555",
                            "verb": "add",
                        },
                    }
                ],
            }
        ],
    }


# https://developers.facebook.com/docs/instagram-platform/webhooks/examples (``comments`` payload: id, from{id,
# username}, text, media{id, media_product_type}) and
# https://developers.facebook.com/docs/graph-api/webhooks/reference/instagram (``mentions``: media_id, comment_id)
IG_COMMENT = {
    "object": "instagram",
    "entry": [
        {
            "id": IG_ID,
            "time": NOW_EPOCH,
            "changes": [
                {
                    "field": "comments",
                    "value": {
                        "from": {"id": "232323232", "username": "cliente.une"},
                        "media": {"id": "17895695668004550", "media_product_type": "FEED"},
                        "id": "17865799348089039",
                        "text": "Trop beau ce gâteau 😍",
                    },
                }
            ],
        }
    ],
}
IG_MENTION = {
    "object": "instagram",
    "entry": [
        {
            "id": IG_ID,
            "time": NOW_EPOCH,
            "changes": [
                {"field": "mentions", "value": {"media_id": "17920238422030506", "comment_id": "17873440459141021"}}
            ],
        }
    ],
}


# --- Meta verification -----------------------------------------------------------------------------------------


async def test_verification_answers_the_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert r.status_code == 200
    assert r.text == "1158201444"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
    ids=["wrong-token", "wrong-mode", "nothing"],
)
async def test_verification_refused(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    r = await client.get("/webhooks/meta", params=params)
    assert r.status_code == 403
    assert r.text != "1"


# --- Meta notifications ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", sign(b"another body"), sign(b"x", secret="other-secret")],
    ids=["missing", "zeros", "wrong-scheme", "other-body", "other-secret"],
)
async def test_forged_notifications_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, signature: str | None
) -> None:
    await facebook_page(client, auth, rt)
    r = await post_meta(client, feed_comment(), signature=signature)
    assert r.status_code == 403
    assert await mentions(rt) == []


async def test_a_comment_is_stored_once_even_when_delivered_twice(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    account_id = await facebook_page(client, auth, rt)
    first = await post_meta(client, feed_comment())
    again = await post_meta(client, feed_comment())
    assert (first.status_code, again.status_code) == (200, 200)
    rows = await mentions(rt)
    assert len(rows) == 1
    m = rows[0]
    assert (m.account_id, m.network, m.kind, m.author) == (account_id, "facebook", "comment", "Cliente Une")
    assert m.remote_id == f"{PAGE_ID}_555_901"
    assert m.text == "Vous êtes ouverts ce soir ? 🙂"
    assert m.is_question
    assert m.number == 1
    assert m.target == {"remote_id": f"{PAGE_ID}_555_901", "post_id": f"{PAGE_ID}_555"}
    assert len(await jobs(rt, "mentions.alert")) == 1, "a question may be alerted at once, enqueued with the row"


async def test_the_pages_own_comments_and_other_changes_are_ignored(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    await facebook_page(client, auth, rt)
    own = feed_comment(who=(PAGE_ID, "Bistro Ardoise"), message="Merci !")
    reaction = feed_comment()
    reaction["entry"][0]["changes"][0]["value"] = {"item": "reaction", "verb": "add", "reaction_type": "like"}
    other_page = feed_comment()
    other_page["entry"][0]["id"] = "999"
    for payload in (own, reaction, other_page, {"object": "user", "entry": []}):
        assert (await post_meta(client, payload)).status_code == 200
    assert await mentions(rt) == []


async def test_an_unreadable_signed_body_is_acknowledged(client: httpx.AsyncClient) -> None:
    body = b"{not json"
    r = await client.post("/webhooks/meta", content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert r.status_code == 200


async def test_a_body_over_one_megabyte_is_refused(client: httpx.AsyncClient, rt: Runtime) -> None:
    body = b"x" * (webhooks.MAX_BODY + 1)
    r = await client.post("/webhooks/meta", content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert r.status_code == 413
    assert await mentions(rt) == []


async def test_an_instagram_comment_is_stored(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> None:
    await linked(client, auth, rt, "instagram", {"ig_user_id": IG_ID, "access_token": "EAAG", "username": "bistro"})
    assert (await post_meta(client, IG_COMMENT)).status_code == 200
    assert (await post_meta(client, IG_COMMENT)).status_code == 200
    rows = await mentions(rt)
    assert [(m.network, m.kind, m.author, m.text) for m in rows] == [
        ("instagram", "comment", "@cliente.une", "Trop beau ce gâteau 😍")
    ]
    assert rows[0].target == {"remote_id": "17865799348089039", "media_id": "17895695668004550"}
    assert rows[0].remote_created_at is not None, "the entry time stands in for the comment's"


async def test_an_instagram_mention_is_read_by_a_job_then_stored(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    rt: Runtime,
    runner: Runner[Runtime],
    graph: respx.MockRouter,
) -> None:
    await linked(client, auth, rt, "instagram", {"ig_user_id": IG_ID, "access_token": "EAAG", "username": "bistro"})
    assert (await post_meta(client, IG_MENTION)).status_code == 200
    assert (await post_meta(client, IG_MENTION)).status_code == 200
    assert len(await jobs(rt, webhooks.INSTAGRAM_MENTION_TASK)) == 1, "one lookup per mention"
    assert await mentions(rt) == [], "a mentions notification carries ids only"
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/mentioned_comment
    graph.get(f"https://graph.facebook.com/v23.0/{IG_ID}").respond(
        200,
        json={
            "mentioned_comment": {
                "id": "17873440459141021",
                "text": "@bistro vous livrez à Gatineau ?",
                "timestamp": RECENT,
                "username": "cliente.trois",
                "media": {"id": "17920238422030506", "permalink": "https://www.instagram.com/p/Cx3/"},
            },
            "id": IG_ID,
        },
    )
    await drain(runner)
    rows = await mentions(rt)
    assert [(m.kind, m.author, m.text) for m in rows] == [
        ("mention", "@cliente.trois", "@bistro vous livrez à Gatineau ?")
    ]


# --- Google Business Profile via Pub/Sub push ---------------------------------------------------------------------
# https://cloud.google.com/pubsub/docs/push (push request body: {"message": {"data": base64, "attributes",
# "messageId", "publishTime"}, "subscription"}) and
# https://developers.google.com/my-business/reference/notifications/rest/v1/NotificationSetting (NEW_REVIEW: the
# notification names the review and its location)


def push(
    kind: str = "NEW_REVIEW", review: str = f"{LOC}/reviews/AbFvOqn3", message_id: str = "2070443601311540"
) -> dict[str, Any]:
    data = {"type": kind, "reviewName": review, "locationName": LOC}
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "attributes": {},
            "messageId": message_id,
            "publishTime": "2026-05-01T12:00:00.000Z",
        },
        "subscription": "projects/ardoise/subscriptions/gbp-push",
    }


async def google_location(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> int:
    creds = {
        "account_id": "111",
        "location_id": "222",
        "access_token": "ya29.a",
        "refresh_token": "1//r",
        "expires_at": "4102444800",  # 2100: no refresh in this test
    }
    return await linked(client, auth, rt, "google", creds)


async def test_a_new_review_push_polls_the_location_once(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    account_id = await google_location(client, auth, rt)
    for _ in range(2):  # Pub/Sub delivers at least once
        r = await client.post(f"/webhooks/google/pubsub?token={PUBSUB_TOKEN}", json=push())
        assert r.status_code == 204
    polls = await jobs(rt, "mentions.poll")
    assert [j.payload for j in polls] == [{"account_id": account_id}]
    assert polls[0].dedup_key == f"gbp:{account_id}:NEW_REVIEW:{LOC}/reviews/AbFvOqn3"


async def test_the_poll_stores_the_review(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, runner: Runner[Runtime], graph: respx.MockRouter
) -> None:
    await google_location(client, auth, rt)
    # https://developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews/list
    graph.get(f"https://mybusiness.googleapis.com/v4/{LOC}/reviews").respond(
        200,
        json={
            "reviews": [
                {
                    "name": f"{LOC}/reviews/AbFvOqn3",
                    "reviewId": "AbFvOqn3",
                    "reviewer": {"displayName": "Cliente Une", "isAnonymous": False},
                    "starRating": "TWO",
                    "comment": "Service lent",
                    "createTime": RECENT,
                    "updateTime": RECENT,
                }
            ],
            "averageRating": 2,
            "totalReviewCount": 1,
        },
    )
    assert (await client.post(f"/webhooks/google/pubsub?token={PUBSUB_TOKEN}", json=push())).status_code == 204
    await drain(runner)
    rows = await mentions(rt)
    assert [(m.network, m.kind, m.rating, m.text) for m in rows] == [("google", "review", 2, "Service lent")]


@pytest.mark.parametrize("token", ["", "wrong", PUBSUB_TOKEN + "x"], ids=["none", "wrong", "longer"])
async def test_a_push_with_a_bad_token_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, token: str
) -> None:
    await google_location(client, auth, rt)
    r = await client.post(f"/webhooks/google/pubsub?token={token}", json=push())
    assert r.status_code == 403
    assert await jobs(rt, "mentions.poll") == []


async def test_other_pushes_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    await google_location(client, auth, rt)
    url = f"/webhooks/google/pubsub?token={PUBSUB_TOKEN}"
    other_location = push(review="accounts/111/locations/999/reviews/Z")
    other_location["message"]["data"] = base64.b64encode(
        json.dumps({"type": "NEW_REVIEW", "reviewName": "accounts/111/locations/999/reviews/Z"}).encode()
    ).decode()
    for body in (push(kind="GOOGLE_UPDATE"), other_location, {"message": {"data": "!!not base64 json"}}, {"x": 1}):
        assert (await client.post(url, json=body)).status_code == 204
    assert await jobs(rt, "mentions.poll") == []


async def test_an_updated_review_polls_again_per_message(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    await google_location(client, auth, rt)
    url = f"/webhooks/google/pubsub?token={PUBSUB_TOKEN}"
    for message_id in ("1", "2", "2"):
        assert (await client.post(url, json=push(kind="UPDATED_REVIEW", message_id=message_id))).status_code == 204
    assert len(await jobs(rt, "mentions.poll")) == 2


def test_signature_helper_matches_metas_documented_scheme() -> None:
    body = b'{"object":"page","entry":[]}'
    assert webhooks.meta_signature_ok(APP_SECRET, body, sign(body))
    assert not webhooks.meta_signature_ok("", body, sign(body, secret=""))
    assert not webhooks.meta_signature_ok(APP_SECRET, body + b" ", sign(body))


async def test_accounts_are_found_without_a_stored_index(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    account_id = await facebook_page(client, auth, rt)
    async with rt.db.read() as s:
        found = await webhooks.accounts_by_remote_id(s, rt, "facebook", "page_id")
        acct = await s.get(NetworkAccount, account_id)
    assert acct is not None
    assert [a.account.id for a in found[PAGE_ID]] == [account_id]
