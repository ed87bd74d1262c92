"""Mastodon adapter.

Two halves:

- against ``mastodon-mock`` (a FastAPI Mastodon fake) started once per session on a free loopback port in a
  thread, with two accounts signed up through its API: ``fournil`` (the business) and ``cliente`` (who
  mentions it);
- respx contract tests with responses shaped like real Mastodon's (docs.joinmastodon.org examples) for what
  the mock does differently: v2 media answering 202 / ``url: null``, an ISO-8601 ``X-RateLimit-Reset``, the
  rendered ``h-card`` mentions, plus error classification.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, SeedConfig, StreamingConfig
from mastodon_mock.testing.server import MockServer

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import set_clock
from app.networks.base import MediaItem, NetworkCredentials, Post, ReplyTarget
from app.networks.mastodon.adapter import Mastodon
from app.networks.mastodon.api import MentionItem, parse_rate_limit_reset
from app.networks.mastodon.text import measure_text

# A 1×1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

# --- mastodon-mock, once per session ------------------------------------------------------------------------


@dataclass(frozen=True)
class MockInstance:
    base_url: str
    business_token: str
    business_id: str
    fan_token: str

    def creds(self, **extra: str) -> NetworkCredentials:
        return NetworkCredentials({"instance_url": self.base_url, "access_token": self.business_token, **extra})


def _sign_up(http: httpx.Client, username: str) -> tuple[str, str]:
    """The real registration flow: app → client-credentials token → ``POST /api/v1/accounts`` → user token."""
    app = http.post(
        "/api/v1/apps",
        data={"client_name": "ardoise-tests", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write"},
    ).json()
    app_token = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write",
        },
    ).json()["access_token"]
    signup = http.post(
        "/api/v1/accounts",
        headers={"Authorization": f"Bearer {app_token}"},
        data={"username": username, "email": f"{username}@example.test", "password": "x" * 16, "agreement": "true"},
    )
    signup.raise_for_status()
    token = str(signup.json()["access_token"])
    me = http.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}).json()
    return token, str(me["id"])


@pytest.fixture(scope="session")
def masto_instance() -> Iterator[MockInstance]:
    # MockServer (shipped with mastodon-mock) runs uvicorn in a daemon thread on port 0 and reads the bound port
    # back, so there is no free-port race. Its own reset()/fault() helpers need `httpx2`, which we do not
    # install: we drive /api/v1/_mock/* with httpx instead.
    config = MastodonMockConfig(
        domain="masto.test",
        url_scheme="http",
        database=DatabaseConfig(path=":memory:"),
        seed=SeedConfig(),  # no seeded users: the tests sign theirs up through the API
        streaming=StreamingConfig(heartbeat_seconds=0.2),
    )
    with (
        MockServer(config=config, startup_timeout=30.0) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as http,
    ):
        business_token, business_id = _sign_up(http, "fournil")
        fan_token, _ = _sign_up(http, "cliente")
        yield MockInstance(server.base_url, business_token, business_id, fan_token)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
def masto(http: httpx.AsyncClient) -> Mastodon:
    return Mastodon(http)


@pytest.fixture
async def fault(masto_instance: MockInstance, http: httpx.AsyncClient) -> AsyncIterator[Any]:
    """``await fault(rule)`` registers a mastodon-mock fault rule; every rule is removed after the test."""
    ids: list[str] = []

    async def add(rule: dict[str, Any]) -> str:
        resp = await http.post(f"{masto_instance.base_url}/api/v1/_mock/faults", json=rule)
        resp.raise_for_status()
        ids.append(str(resp.json()["id"]))
        return ids[-1]

    yield add
    for rule_id in ids:
        await http.delete(f"{masto_instance.base_url}/api/v1/_mock/faults/{rule_id}")


async def _get(http: httpx.AsyncClient, inst: MockInstance, path: str, token: str | None = None) -> httpx.Response:
    return await http.get(f"{inst.base_url}{path}", headers={"Authorization": f"Bearer {token or inst.business_token}"})


def _key() -> str:
    return f"post:{datetime.now(UTC).timestamp()}:{id(object())}:mastodon"


# --- against mastodon-mock ------------------------------------------------------------------------------------


async def test_verify_returns_handle_and_instance_limits(masto: Mastodon, masto_instance: MockInstance) -> None:
    info = await masto.verify(masto_instance.creds())

    assert info.handle == "@fournil@masto.test"
    assert info.remote_id == masto_instance.business_id
    assert info.limits["max_characters"] == 500
    assert info.limits["max_media_attachments"] == 4
    assert info.limits["image_size_limit"] > 0


async def test_publish_text_with_accents_emoji_and_hashtag(
    masto: Mastodon, masto_instance: MockInstance, http: httpx.AsyncClient
) -> None:
    text = "Croissants chauds à 7 h, pains au chocolat dorés 🥐☕ #boulangerie #Gatineau"

    result = await masto.publish(Post(text=text, idempotency_key=_key()), masto_instance.creds())

    status = (await _get(http, masto_instance, f"/api/v1/statuses/{result.remote_id}")).json()
    assert result.url == status["url"]
    assert result.url.startswith("http://masto.test/@fournil/")
    assert status["visibility"] == "public"
    assert "à 7 h" in status["content"]
    assert "🥐☕" in status["content"]
    assert {tag["name"].lower() for tag in status["tags"]} == {"boulangerie", "gatineau"}


async def test_visibility_from_credentials(
    masto: Mastodon, masto_instance: MockInstance, http: httpx.AsyncClient
) -> None:
    result = await masto.publish(
        Post(text="Pour les abonnés seulement", idempotency_key=_key()), masto_instance.creds(visibility="unlisted")
    )

    status = (await _get(http, masto_instance, f"/api/v1/statuses/{result.remote_id}")).json()
    assert status["visibility"] == "unlisted"


async def test_same_idempotency_key_gives_the_same_status_once(
    masto: Mastodon, masto_instance: MockInstance, http: httpx.AsyncClient
) -> None:
    text = f"Fermé lundi pour inventaire ({_key()})"
    post = Post(text=text, idempotency_key=_key())

    first = await masto.publish(post, masto_instance.creds())
    second = await masto.publish(post, masto_instance.creds())

    assert second.remote_id == first.remote_id
    statuses = (await _get(http, masto_instance, f"/api/v1/accounts/{masto_instance.business_id}/statuses")).json()
    assert sum(1 for s in statuses if "inventaire" in s["content"] and text[-20:] in s["content"]) == 1


async def test_media_is_uploaded_with_its_description(
    masto: Mastodon, masto_instance: MockInstance, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    image = tmp_path / "vitrine.png"
    image.write_bytes(PNG)
    media = MediaItem(
        path=str(image), url="https://ardoise.test/m/1.png", content_type="image/png", alt="La vitrine, côté rue"
    )

    result = await masto.publish(
        Post(text="Nouvelle vitrine!", idempotency_key=_key(), media=[media]), masto_instance.creds()
    )

    status = (await _get(http, masto_instance, f"/api/v1/statuses/{result.remote_id}")).json()
    [attachment] = status["media_attachments"]
    assert attachment["description"] == "La vitrine, côté rue"
    assert attachment["type"] == "image"


async def test_too_long_text_posts_the_beginning_and_the_link(
    masto: Mastodon, masto_instance: MockInstance, http: httpx.AsyncClient
) -> None:
    # mastodon-mock counts raw characters (a URL is not 23 as on a real instance), so keep the link under 23.
    link = "https://ard.test/p/42"
    text = "Aujourd'hui au fournil: " + " ".join(f"miche{i} dorée" for i in range(80))
    assert measure_text(text) > 500

    result = await masto.publish(Post(text=text, idempotency_key=_key(), link=link), masto_instance.creds())

    source = (await _get(http, masto_instance, f"/api/v1/statuses/{result.remote_id}/source")).json()
    sent = source["text"]
    assert sent.endswith(f"… {link}")
    head = sent.removesuffix(f"… {link}")
    assert text.startswith(head)
    assert text[len(head)] == " "  # cut at a word boundary
    assert 450 < measure_text(sent) <= 500


async def test_delete_then_the_status_is_gone(
    masto: Mastodon, masto_instance: MockInstance, http: httpx.AsyncClient
) -> None:
    result = await masto.publish(Post(text="Erreur de prix, désolé", idempotency_key=_key()), masto_instance.creds())

    await masto.delete(result.remote_id, masto_instance.creds())

    assert (await _get(http, masto_instance, f"/api/v1/statuses/{result.remote_id}")).status_code == 404
    await masto.delete(result.remote_id, masto_instance.creds())  # already gone: still a success


async def test_bad_token_is_an_auth_error(masto: Mastodon, masto_instance: MockInstance) -> None:
    creds = NetworkCredentials({"instance_url": masto_instance.base_url, "access_token": "revoked-token"})

    with pytest.raises(AuthError):
        await masto.verify(creds)
    with pytest.raises(AuthError):
        await masto.publish(Post(text="Bonjour", idempotency_key=_key()), creds)


async def test_rate_limit_is_retryable_after_the_epoch_reset(
    masto: Mastodon, masto_instance: MockInstance, fault: Any
) -> None:
    # The mock's ratelimit fault sends X-RateLimit-Reset as a Unix epoch (now + 300); Retry-After is made
    # shorter so that only reading the epoch gives ~300 s.
    await fault(
        {
            "match": {"methods": ["POST"], "path": "/api/v1/statuses"},
            "effect": {"type": "ratelimit", "headers": {"Retry-After": "5"}},
            "count": 1,
        }
    )
    post = Post(text="Promo du jour", idempotency_key=_key())

    with pytest.raises(RetryableError) as caught:
        await masto.publish(post, masto_instance.creds())

    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after is not None
    assert 250 < caught.value.retry_after <= 301
    assert (await masto.publish(post, masto_instance.creds())).remote_id  # the rule fired once


async def test_server_error_and_timeout_are_retryable(
    masto_instance: MockInstance, http: httpx.AsyncClient, fault: Any
) -> None:
    await fault({"match": {"path": "/api/v1/accounts/verify_credentials"}, "effect": {"status": 503}, "count": 1})
    with pytest.raises(RetryableError) as caught:
        await Mastodon(http).verify(masto_instance.creds())
    assert caught.value.code == "http_503"

    await fault(
        {
            "match": {"path": "/api/v1/accounts/verify_credentials"},
            "effect": {"type": "latency", "delay_ms": 1500},
            "count": 1,
        }
    )
    async with httpx.AsyncClient(timeout=0.3) as impatient:
        with pytest.raises(RetryableError) as caught:
            await Mastodon(impatient).verify(masto_instance.creds())
    assert caught.value.code == "timeout"


async def test_find_existing_matches_text_and_reply_target(masto: Mastodon, masto_instance: MockInstance) -> None:
    creds = masto_instance.creds(account_id=masto_instance.business_id)
    post = Post(text=f"Soupe du jour: courge & gingembre 🎃 #midi {_key()}", idempotency_key=_key())
    published = await masto.publish(post, creds)

    found = await masto.find_existing(post, creds)
    again_without_account_id = await masto.find_existing(post, masto_instance.creds())

    assert found is not None
    assert found.remote_id == published.remote_id
    assert found.url == published.url
    assert again_without_account_id == found
    assert await masto.find_existing(Post(text=post.text + " (bis)", idempotency_key=_key()), creds) is None
    as_reply = Post(text=post.text, idempotency_key=_key(), reply_to=ReplyTarget(remote_id="1"))
    assert await masto.find_existing(as_reply, creds) is None


async def test_mentions_are_polled_from_the_cursor_and_can_be_answered(
    masto_instance: MockInstance, http: httpx.AsyncClient
) -> None:
    masto = Mastodon(http, mention_page_size=2)
    creds = masto_instance.creds()
    fan = {"Authorization": f"Bearer {masto_instance.fan_token}"}
    own = await masto.publish(Post(text="Nouveau: pain de seigle", idempotency_key=_key()), creds)

    async def fan_says(text: str, reply_to: str | None = None) -> str:
        data = {"status": text, **({"in_reply_to_id": reply_to} if reply_to else {})}
        resp = await http.post(f"{masto_instance.base_url}/api/v1/statuses", headers=fan, data=data)
        resp.raise_for_status()
        return str(resp.json()["id"])

    await fan_says("@fournil premier message")
    first, cursor = await masto.mentions(creds, None)
    assert first
    assert first[-1].text == "@fournil premier message"
    assert cursor == first[-1].remote_id

    # Not mentions: a favourite of the business's status, a status that doesn't name it.
    await http.post(f"{masto_instance.base_url}/api/v1/statuses/{own.remote_id}/favourite", headers=fan)
    await fan_says("Rien à voir")
    texts = [
        "@fournil Je suis censé d'aller à l'Ardoise, c'est comment? 🤔",
        "@fournil vous ouvrez dimanche?",
        "@fournil merci!",
    ]
    reply_id = await fan_says(texts[0], reply_to=own.remote_id)
    await fan_says(texts[1])
    await fan_says(texts[2])

    items, new_cursor = await masto.mentions(creds, cursor)  # three mentions over two pages of two

    assert [item.text for item in items] == texts
    assert all(isinstance(item, MentionItem) for item in items)
    question = items[0]
    assert question.author == "@cliente"
    assert question.status_id == reply_id
    assert question.in_reply_to_id == own.remote_id
    assert question.url.endswith(f"/{reply_id}")
    assert question.created_at.tzinfo is not None
    assert new_cursor == items[-1].remote_id
    assert await masto.mentions(creds, new_cursor) == ([], new_cursor)

    await masto.favourite(question.status_id, creds)
    answer = await masto.publish(
        Post(
            text="@cliente Très bien! Venez goûter.", idempotency_key=_key(), reply_to=ReplyTarget(question.status_id)
        ),
        creds,
    )

    seen = (await _get(http, masto_instance, f"/api/v1/statuses/{question.status_id}")).json()
    assert seen["favourited"] is True
    reply = (await _get(http, masto_instance, f"/api/v1/statuses/{answer.remote_id}")).json()
    assert reply["in_reply_to_id"] == question.status_id


# --- contract tests: responses shaped like real Mastodon --------------------------------------------------------

INSTANCE = "https://social.example"
CREDS = NetworkCredentials({"instance_url": "social.example/", "access_token": "tok-secret"})

STATUS_JSON: dict[str, Any] = {
    "id": "113459211873212345",
    "created_at": "2024-11-26T14:03:11.000Z",
    "in_reply_to_id": None,
    "in_reply_to_account_id": None,
    "sensitive": False,
    "spoiler_text": "",
    "visibility": "public",
    "language": "fr",
    "uri": "https://social.example/users/fournil/statuses/113459211873212345",
    "url": "https://social.example/@fournil/113459211873212345",
    "replies_count": 0,
    "reblogs_count": 0,
    "favourites_count": 0,
    "edited_at": None,
    "content": "<p>Croissants chauds</p>",
    "reblog": None,
    "application": {"name": "Ardoise", "website": None},
    "account": {"id": "109348213981232", "username": "fournil", "acct": "fournil"},
    "media_attachments": [],
    "mentions": [],
    "tags": [],
    "emojis": [],
    "card": None,
    "poll": None,
}
MEDIA_PROCESSING_JSON: dict[str, Any] = {  # POST /api/v2/media → 202 (docs.joinmastodon.org/methods/media/#v2)
    "id": "22348641",
    "type": "image",
    "url": None,
    "preview_url": "https://files.social.example/media_attachments/files/022/348/641/small/cebc6d51be03e509.jpeg",
    "remote_url": None,
    "text_url": None,
    "meta": {"original": {"width": 640, "height": 480, "size": "640x480", "aspect": 1.3333333333333333}},
    "description": "La vitrine, côté rue",
    "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
}
MEDIA_DONE_JSON = {
    **MEDIA_PROCESSING_JSON,
    "url": "https://files.social.example/media_attachments/files/022/348/641/original/e96382f26c72a29c.jpeg",
}
MENTION_NOTIFICATION_JSON: dict[str, Any] = {
    "id": "34975861",
    "type": "mention",
    "created_at": "2024-11-26T15:40:02.412Z",
    "account": {"id": "109911", "username": "cliente", "acct": "cliente@other.example"},
    "status": {
        **STATUS_JSON,
        "id": "113459555555550001",
        "created_at": "2024-11-26T15:40:02.000Z",
        "in_reply_to_id": "113459211873212345",
        "url": "https://other.example/@cliente/113459555555550001",
        "account": {"id": "109911", "username": "cliente", "acct": "cliente@other.example"},
        # Real Mastodon renders mentions as h-cards and drops the mention's domain from the visible text.
        "content": (
            '<p><span class="h-card" translate="no"><a href="https://social.example/@fournil" class="u-url mention">'
            "@<span>fournil</span></a></span> c&#39;est comment, l&#39;Ardoise? "
            '<a href="https://other.example/tags/gatineau" class="mention hashtag" rel="tag">#<span>gatineau</span></a>'
            "</p>"
        ),
    },
}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=INSTANCE, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def frozen_now() -> Iterator[datetime]:
    now = datetime(2020, 9, 8, 13, 20, tzinfo=UTC)
    set_clock(lambda: now)
    yield now
    set_clock(None)


async def test_v2_media_202_is_polled_until_processed(api: respx.MockRouter, tmp_path: Path) -> None:
    image = tmp_path / "vitrine.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    upload = api.post("/api/v2/media").respond(202, json=MEDIA_PROCESSING_JSON)
    poll = api.get("/api/v1/media/22348641").mock(
        side_effect=[httpx.Response(206), httpx.Response(206), httpx.Response(200, json=MEDIA_DONE_JSON)]
    )
    create = api.post("/api/v1/statuses").respond(200, json=STATUS_JSON)
    media = MediaItem(
        path=str(image), url="https://ardoise.test/m/1.jpg", content_type="image/jpeg", alt="La vitrine, côté rue"
    )

    async with httpx.AsyncClient() as client:
        result = await Mastodon(client, media_poll_interval=0.01).publish(
            Post(text="Croissants chauds", idempotency_key="post:42:mastodon", media=[media]), CREDS
        )

    assert result.remote_id == "113459211873212345"
    assert result.url == "https://social.example/@fournil/113459211873212345"
    assert poll.call_count == 3
    multipart = upload.calls.last.request.content
    assert b'name="description"' in multipart
    assert "La vitrine, côté rue".encode() in multipart
    sent = create.calls.last.request
    assert sent.headers["Idempotency-Key"] == "post:42:mastodon"
    assert sent.headers["Authorization"] == "Bearer tok-secret"
    form = httpx.QueryParams(sent.content.decode())
    assert form.get_list("media_ids[]") == ["22348641"]
    assert form["status"] == "Croissants chauds"
    assert form["visibility"] == "public"


async def test_media_still_processing_after_the_bounded_wait_is_retryable(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    image = tmp_path / "video.mp4"
    image.write_bytes(b"\x00" * 64)
    api.post("/api/v2/media").respond(202, json={**MEDIA_PROCESSING_JSON, "type": "video"})
    api.get("/api/v1/media/22348641").respond(206)
    create = api.post("/api/v1/statuses").respond(200, json=STATUS_JSON)
    media = MediaItem(path=str(image), url="https://ardoise.test/m/1.mp4", content_type="video/mp4")

    async with httpx.AsyncClient() as client:
        masto = Mastodon(client, media_wait=0.05, media_poll_interval=0.01)
        with pytest.raises(RetryableError) as caught:
            await masto.publish(Post(text="Vidéo", idempotency_key="k", media=[media]), CREDS)

    assert caught.value.code == "media_processing"
    assert not create.called


async def test_iso_rate_limit_reset_sets_retry_after(api: respx.MockRouter, frozen_now: datetime) -> None:
    api.post("/api/v1/statuses").respond(
        429,
        json={"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2020-09-08T13:25:00.019685Z",
        },
    )

    async with httpx.AsyncClient() as client:
        with pytest.raises(RetryableError) as caught:
            await Mastodon(client).publish(Post(text="Promo", idempotency_key="k"), CREDS)

    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == pytest.approx(300.019685)


async def test_text_too_long_422_is_permanent_with_mastodons_words(api: respx.MockRouter) -> None:
    api.post("/api/v1/statuses").respond(
        422, json={"error": "Validation failed: Text is too long (maximum is 500 characters)"}
    )

    async with httpx.AsyncClient() as client:
        with pytest.raises(PermanentError) as caught:
            await Mastodon(client).publish(Post(text="x", idempotency_key="k"), CREDS)

    assert not isinstance(caught.value, AuthError)
    assert caught.value.code == "rejected"
    assert "Text is too long (maximum is 500 characters)" in caught.value.reason


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "code", "retry_after"),
    [
        pytest.param(500, {"error": "An unexpected error occurred"}, {}, RetryableError, "http_500", None, id="500"),
        pytest.param(502, "<html>Bad Gateway</html>", {}, RetryableError, "http_502", None, id="502-html"),
        pytest.param(503, "", {"Retry-After": "120"}, RetryableError, "http_503", 120.0, id="503-retry-after"),
        pytest.param(401, {"error": "The access token is invalid"}, {}, AuthError, "auth", None, id="401-invalid"),
        pytest.param(401, {"error": "The access token was revoked"}, {}, AuthError, "auth", None, id="401-revoked"),
        pytest.param(
            403, {"error": "This action is outside the authorized scopes"}, {}, AuthError, "auth", None, id="403-scopes"
        ),
        pytest.param(
            403, {"error": "Your login is currently disabled"}, {}, AuthError, "auth", None, id="403-login-disabled"
        ),
        pytest.param(
            403, {"error": "This action is not allowed"}, {}, PermanentError, "forbidden", None, id="403-not-allowed"
        ),
        pytest.param(404, {"error": "Record not found"}, {}, PermanentError, "not_found", None, id="404"),
        pytest.param(410, {"error": "Gone"}, {}, PermanentError, "http_410", None, id="410"),
    ],
)
async def test_error_classification(
    api: respx.MockRouter,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: type[AdapterError],
    code: str,
    retry_after: float | None,
) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    api.post("/api/v1/statuses").respond(status, content=content, headers=headers)

    async with httpx.AsyncClient() as client:
        with pytest.raises(AdapterError) as caught:
            await Mastodon(client).publish(Post(text="Bonjour", idempotency_key="k"), CREDS)

    assert type(caught.value) is expected
    assert caught.value.code == code
    if isinstance(caught.value, RetryableError):
        assert caught.value.retry_after == retry_after
    assert "tok-secret" not in caught.value.reason


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError("connection refused"), id="connect"),
        pytest.param(httpx.ReadTimeout("read timed out"), id="read-timeout"),
        pytest.param(httpx.RemoteProtocolError("peer closed connection"), id="protocol"),
    ],
)
async def test_transport_failures_are_retryable(api: respx.MockRouter, failure: Exception) -> None:
    api.post("/api/v1/statuses").mock(side_effect=failure)

    async with httpx.AsyncClient() as client:
        with pytest.raises(RetryableError):
            await Mastodon(client).publish(Post(text="Bonjour", idempotency_key="k"), CREDS)


async def test_verify_falls_back_to_v1_instance_then_to_500(api: respx.MockRouter) -> None:
    api.get("/api/v1/accounts/verify_credentials").respond(
        200, json={"id": "109348213981232", "username": "fournil", "acct": "fournil", "display_name": "Le Fournil"}
    )
    v2 = api.get("/api/v2/instance").respond(404, json={"error": "Record not found"})
    v1 = api.get("/api/v1/instance").respond(
        200,
        json={
            "uri": "example.org",
            "configuration": {"statuses": {"max_characters": 1000, "max_media_attachments": 4}},
        },
    )

    async with httpx.AsyncClient() as client:
        info = await Mastodon(client).verify(CREDS)
        assert v2.called
        assert info.handle == "@fournil@example.org"
        assert info.display_name == "Le Fournil"
        assert info.limits["max_characters"] == 1000

        v1.respond(500)
        info = await Mastodon(client).verify(CREDS)
        assert info.handle == "@fournil@social.example"
        assert dict(info.limits) == {"max_characters": 500}


async def test_delete_of_a_missing_status_succeeds(api: respx.MockRouter) -> None:
    api.delete("/api/v1/statuses/404404").respond(404, json={"error": "Record not found"})

    async with httpx.AsyncClient() as client:
        await Mastodon(client).delete("404404", CREDS)


async def test_mentions_read_real_notifications_and_page_with_min_id(api: respx.MockRouter) -> None:
    route = api.get("/api/v1/notifications").respond(
        200,
        json=[MENTION_NOTIFICATION_JSON],
        headers={"Link": '<https://social.example/api/v1/notifications?max_id=34975861>; rel="next"'},
    )

    async with httpx.AsyncClient() as client:
        items, cursor = await Mastodon(client).mentions(CREDS, "34975000")

    assert items == [
        MentionItem(
            remote_id="34975861",
            author="@cliente@other.example",
            text="@fournil c'est comment, l'Ardoise? #gatineau",
            url="https://other.example/@cliente/113459555555550001",
            created_at=datetime(2024, 11, 26, 15, 40, 2, tzinfo=UTC),
            in_reply_to_id="113459211873212345",
            status_id="113459555555550001",
        )
    ]
    assert cursor == "34975861"
    params = route.calls.last.request.url.params
    assert params.get_list("types[]") == ["mention"]
    assert params["min_id"] == "34975000"


async def test_find_existing_reads_rendered_html_and_ignores_old_statuses(
    api: respx.MockRouter, frozen_now: datetime
) -> None:
    recent = frozen_now - timedelta(minutes=90)
    old = frozen_now - timedelta(days=1)
    text = "Salut @cliente@other.example, lien: https://example.com/abcdefghijklmnopqrstuvwxyz0123456789"
    rendered = (
        '<p>Salut <span class="h-card"><a href="https://other.example/@cliente" class="u-url mention">@<span>cliente'
        '</span></a></span>, lien: <a href="https://example.com/abcdefghijklmnopqrstuvwxyz0123456789">'
        '<span class="invisible">https://</span><span class="ellipsis">example.com/abcdefghijklmnopq</span>'
        '<span class="invisible">rstuvwxyz0123456789</span></a></p>'
    )
    api.get("/api/v1/accounts/109348213981232/statuses").respond(
        200,
        json=[
            {**STATUS_JSON, "id": "2", "content": rendered, "created_at": recent.isoformat()},
            {**STATUS_JSON, "id": "1", "content": "<p>Ouvert aujourd&#39;hui!</p>", "created_at": old.isoformat()},
        ],
    )
    creds = NetworkCredentials({**CREDS.data, "account_id": "109348213981232"})

    async with httpx.AsyncClient() as client:
        masto = Mastodon(client)
        found = await masto.find_existing(Post(text=text, idempotency_key="k"), creds)
        stale = await masto.find_existing(Post(text="Ouvert aujourd'hui!", idempotency_key="k"), creds)

    assert found is not None
    assert found.remote_id == "2"
    assert stale is None


# --- pure functions ----------------------------------------------------------------------------------------------

NOW = datetime(2020, 9, 8, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2020-09-08T13:25:00.019685Z", 300.019685, id="iso-z-micro"),
        pytest.param("2020-09-08T13:25:00Z", 300.0, id="iso-z"),
        pytest.param("2020-09-08T09:25:00-04:00", 300.0, id="iso-offset"),
        pytest.param("2020-09-08T13:25:00", 300.0, id="iso-naive-is-utc"),
        pytest.param(str(int(NOW.timestamp()) + 300), 300.0, id="epoch"),
        pytest.param(f"{NOW.timestamp() + 12.5}", 12.5, id="epoch-fraction"),
        pytest.param("120", 120.0, id="small-number-is-a-delay"),
        pytest.param("2020-09-08T13:00:00Z", 0.0, id="iso-past"),
        pytest.param(str(int(NOW.timestamp()) - 60), 0.0, id="epoch-past"),
        pytest.param("", None, id="empty"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("-5", None, id="negative"),
        pytest.param("nan", None, id="nan"),
    ],
)
def test_parse_rate_limit_reset(value: str, expected: float | None) -> None:
    result = parse_rate_limit_reset(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Bonjour", 7, id="ascii"),
        pytest.param("café", 4, id="accent-composed"),
        pytest.param("cafe\u0301", 4, id="accent-decomposed"),
        pytest.param("🥐👨‍👩‍👧🇨🇦", 3, id="emoji-graphemes"),
        pytest.param("voir https://ardoise.example/b/le-fournil/p/2024-11-26-croissants", 5 + 23, id="url-is-23"),
        pytest.param("http://a.b", 23, id="short-url-is-23-too"),
        pytest.param("(https://example.com/x).", 1 + 23 + 2, id="url-trailing-punctuation"),
        pytest.param("ardoise.example/p/1", 19, id="no-scheme-not-a-url"),
        pytest.param("@cliente@other.example merci", 14, id="remote-mention-counts-username"),
        pytest.param("@cliente merci", 14, id="local-mention"),
        pytest.param("me@example.com", 14, id="email-not-a-mention"),
        pytest.param("#boulangerie", 12, id="hashtag"),
    ],
)
def test_measure_counts_like_mastodon(text: str, expected: int) -> None:
    assert measure_text(text) == expected
    assert Mastodon(httpx.AsyncClient()).measure(text) == expected


def test_fit_keeps_text_that_fits_and_cuts_long_text_at_a_word() -> None:
    masto = Mastodon(httpx.AsyncClient())
    creds = NetworkCredentials({"instance_url": INSTANCE, "access_token": "t"})
    link = "https://ardoise.example/b/le-fournil/p/2024-11-26-croissants-et-pains"
    long_text = " ".join(["Pain au levain cuit au bois ce matin."] * 20) + " #boulangerie #gatineau"

    assert masto.fit(Post(text="  Court.  ", idempotency_key="k"), creds) == "Court."
    assert (
        masto.fit(
            Post(text=long_text, idempotency_key="k"), NetworkCredentials({**creds.data, "max_characters": "1000"})
        )
        == long_text
    )

    fitted = masto.fit(Post(text=long_text, idempotency_key="k", link=link), creds)
    assert measure_text(fitted) <= 500
    assert f"… {link}" in fitted
    assert fitted.endswith(" #boulangerie #gatineau")  # the hashtags that were cut follow the link
    head = fitted.split("…")[0]
    assert long_text.startswith(head)
    assert long_text[len(head)] == " "

    with pytest.raises(PermanentError) as caught:
        masto.fit(Post(text=long_text, idempotency_key="k"), creds)
    assert caught.value.code == "too_long"

    one_word = "a" * 900
    fitted = masto.fit(Post(text=one_word, idempotency_key="k", link=link), creds)
    assert fitted == "a" * (500 - 25) + f"… {link}"


async def test_bad_settings_are_permanent(api: respx.MockRouter) -> None:
    async with httpx.AsyncClient() as client:
        masto = Mastodon(client)
        with pytest.raises(PermanentError, match="visibility"):
            await masto.publish(
                Post(text="x", idempotency_key="k"), NetworkCredentials({**CREDS.data, "visibility": "everyone"})
            )
        with pytest.raises(PermanentError, match="instance_url"):
            await masto.verify(NetworkCredentials({"access_token": "t"}))
        with pytest.raises(AuthError):
            await masto.verify(NetworkCredentials({"instance_url": INSTANCE}))
        media = [MediaItem(path="/nonexistent", url="u", content_type="image/png")] * 5
        with pytest.raises(PermanentError, match="at most 4 images"):
            await masto.publish(Post(text="x", idempotency_key="k", media=media), CREDS)


def test_redact_returns_the_access_token() -> None:
    assert list(Mastodon(httpx.AsyncClient()).redact(CREDS)) == ["tok-secret"]
    assert list(Mastodon(httpx.AsyncClient()).redact(NetworkCredentials({}))) == []
