"""Bluesky adapter: pure tests (facets, record keys, text fitting, errors) and tests against the REAL
local atproto network (``@pytest.mark.bsky``, see tests/bsky_support.py and tests/bsky/)."""

from __future__ import annotations

import re
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from atproto_client import exceptions as atp_exc
from atproto_client.models.common import XrpcError
from atproto_client.request import Response

from app.kit.errors import AuthError, PermanentError, RetryableError
from app.kit.media import image_size
from app.kit.time import utcnow
from app.networks.base import MediaItem, NetworkCredentials, Post, ReplyTarget
from app.networks.bluesky.adapter import Bluesky
from app.networks.bluesky.errors import classify
from app.networks.bluesky.records import parse_at_uri, record_key_for
from app.networks.bluesky.text import build_facets, fit_text, grapheme_len, mention_handles

if TYPE_CHECKING:
    from tests.bsky_support import BskyAccount, BskyNet

RECORD_KEY_RE = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
LINK = "https://ardoise.example/b/boulangerie/p/42"


def facet_spans(text: str, facets: list[Any]) -> list[tuple[str, str]]:
    """(feature kind, UTF-8 slice of the text) for each facet: what a client would highlight."""
    raw = text.encode("utf-8")
    out = []
    for f in facets:
        index = f["index"] if isinstance(f, dict) else f.index.model_dump(by_alias=True)
        feature = f["features"][0] if isinstance(f, dict) else f.features[0].model_dump(by_alias=True)
        kind = feature["$type"].split("#")[1] if "$type" in feature else type(f.features[0]).__name__.lower()
        out.append((kind, raw[index["byteStart"] : index["byteEnd"]].decode("utf-8")))
    return out


# --- pure: facets ----------------------------------------------------------------------------------

FRENCH = (
    "Crème brûlée 🍮👩‍🍳 chez @alice.test ! Voir https://ardoise.example/p/é?x=1 #pâtisserie #Noël 🇫🇷 @inconnu.test"
)


def test_facets_use_utf8_byte_offsets_with_accents_and_emoji() -> None:
    facets = build_facets(FRENCH, {"alice.test": "did:plc:alice"})
    assert facet_spans(FRENCH, facets) == [
        ("mention", "@alice.test"),
        ("link", "https://ardoise.example/p/é?x=1"),
        ("tag", "#pâtisserie"),
        ("tag", "#Noël"),
    ]
    mention = facets[0]
    assert mention.features[0].did == "did:plc:alice"
    # a byte offset, not a code-point one: "Crème brûlée 🍮👩‍🍳 chez " is 23 code points but 37 bytes
    assert mention.index.byte_start == len("Crème brûlée 🍮👩‍🍳 chez ".encode()) == 37
    assert [f.features[0].tag for f in facets[2:]] == ["pâtisserie", "Noël"]


def test_unresolved_mention_stays_plain_text() -> None:
    assert mention_handles(FRENCH) == ["alice.test", "inconnu.test"]
    kinds = [k for k, _ in facet_spans(FRENCH, build_facets(FRENCH, {}))]
    assert "mention" not in kinds


def test_trailing_punctuation_is_not_part_of_link_or_tag() -> None:
    text = "Ouvert https://ardoise.example/horaires. #soldes!"
    assert facet_spans(text, build_facets(text, {})) == [
        ("link", "https://ardoise.example/horaires"),
        ("tag", "#soldes"),
    ]


# --- pure: record keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("delivery-42-7f3e", id="free-form"),
        pytest.param(uuid.uuid4().hex, id="uuid4-hex"),
        pytest.param(str(uuid.uuid4()), id="uuid4"),
        pytest.param("é" * 64, id="non-ascii"),
        pytest.param("", id="empty"),
    ],
)
def test_record_key_is_a_deterministic_tid(key: str) -> None:
    rkey = record_key_for(key)
    assert rkey == record_key_for(key)
    assert TID_RE.fullmatch(rkey)
    assert RECORD_KEY_RE.fullmatch(rkey)


def test_record_keys_differ_per_idempotency_key() -> None:
    keys = {record_key_for(f"delivery-{i}") for i in range(5000)}
    assert len(keys) == 5000


def test_record_key_keeps_a_tid_and_the_time_of_a_uuid7() -> None:
    assert record_key_for("3jzfcijpj2z2a") == "3jzfcijpj2z2a"
    millis = 1_764_000_000_000  # 2025-11-24

    def uuid7(ms: int, rand: int) -> str:
        return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62) | rand))

    a, b = record_key_for(uuid7(millis, 12345)), record_key_for(uuid7(millis + 1, 0))
    assert TID_RE.fullmatch(a)
    assert a < b  # TIDs sort by time


def tid_parts(tid: str) -> tuple[int, int]:
    """``(microseconds since the epoch, clock id)`` of an atproto TID (base32-sortable, 13 characters)."""
    value = 0
    for ch in tid:
        value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(ch)
    return value >> 10, value & 0x3FF


def test_record_key_is_a_tid_of_the_posts_time() -> None:
    at = datetime(2026, 12, 3, 17, 5, 9, 123456, tzinfo=UTC)
    rkey = record_key_for("delivery-7", at)
    assert TID_RE.fullmatch(rkey)
    micros, clock = tid_parts(rkey)
    assert micros == int(at.timestamp()) * 1_000_000 + 123456  # the post's time, to the microsecond
    assert datetime.fromtimestamp(micros / 1e6, UTC).year == 2026  # not 2023 as the hashed keys were
    assert rkey == record_key_for("delivery-7", at)  # every retry: same key
    assert clock == tid_parts(record_key_for("delivery-7", at + timedelta(days=1)))[1]  # clock id from the key
    assert {tid_parts(record_key_for(f"d{i}", at))[1] for i in range(50)} != {clock}  # other deliveries differ


def test_record_keys_sort_by_post_time() -> None:
    base = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    keys = [record_key_for(uuid.uuid4().hex, base + timedelta(microseconds=n)) for n in (0, 1, 1000, 60_000_000)]
    assert keys == sorted(keys)


def test_hashed_record_keys_are_never_in_the_future() -> None:
    # TID timestamps of hashed keys stay in 2023-2024, well before "now"
    assert all(record_key_for(f"k{i}") < "3lhm" for i in range(1000))


# --- pure: 300 graphemes ---------------------------------------------------------------------------


def test_measure_counts_graphemes_not_code_points() -> None:
    assert Bluesky().measure("👩‍👩‍👧🇫🇷e\u0301") == 3
    assert Bluesky().measure("é" * 300) == 300


def test_text_of_300_graphemes_is_kept_whole() -> None:
    text = ("Pain au levain 🥖 " * 20)[:300]
    assert grapheme_len(text) == 300
    assert fit_text(text, LINK) == text


def test_text_of_301_graphemes_becomes_beginning_plus_link() -> None:
    words = "Aujourd'hui à la boulangerie: croissants, brioches, éclairs 🥐 et tartes aux pommes. "
    text = (words * 5)[:301]
    out = fit_text(text, LINK)
    assert grapheme_len(out) <= 300
    head, link = out.split("… ")
    assert link == LINK
    assert text.startswith(head)
    assert text[len(head)] == " "  # cut at a word boundary


def test_long_text_without_link_is_refused() -> None:
    with pytest.raises(PermanentError) as err:
        fit_text("x " * 200, None)
    assert err.value.code == "too_long"


# --- pure: errors, redaction, misc -----------------------------------------------------------------


def _err(
    cls: type[atp_exc.RequestErrorBase], status: int, error: str = "", headers: dict[str, str] | None = None
) -> Any:
    content = XrpcError(error=error, message=f"{error} message") if error else None
    return cls(Response(success=False, status_code=status, content=content, headers=headers or {}))


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        pytest.param(_err(atp_exc.UnauthorizedError, 401, "AuthenticationRequired"), AuthError, "auth", id="401"),
        pytest.param(_err(atp_exc.BadRequestError, 400, "ExpiredToken"), AuthError, "auth", id="expired"),
        pytest.param(_err(atp_exc.BadRequestError, 400, "InvalidRequest"), PermanentError, "InvalidRequest", id="400"),
        pytest.param(_err(atp_exc.RequestException, 503), RetryableError, "retryable", id="503"),
        pytest.param(_err(atp_exc.NetworkError, 502), RetryableError, "retryable", id="502"),
        pytest.param(atp_exc.InvokeTimeoutError(), RetryableError, "retryable", id="timeout"),
        pytest.param(httpx.ConnectError("refused"), RetryableError, "retryable", id="connect"),
    ],
)
def test_classify(exc: BaseException, expected: type[Exception], code: str) -> None:
    err = classify(exc)
    assert type(err) is expected
    assert err.code == code


def test_rate_limit_is_retryable_with_delay_from_headers() -> None:
    err = classify(_err(atp_exc.RateLimitExceededError, 429, "RateLimitExceeded", {"retry-after": "42"}))
    assert isinstance(err, RetryableError)
    assert err.retry_after == 42
    reset = str(int(time.time()) + 120)
    err = classify(_err(atp_exc.RateLimitExceededError, 429, "RateLimitExceeded", {"ratelimit-reset": reset}))
    assert isinstance(err, RetryableError)
    assert err.retry_after is not None
    assert 100 < err.retry_after <= 120


def test_grapheme_limit_rejection_is_permanent_too_long() -> None:
    exc = atp_exc.BadRequestError(
        Response(
            success=False,
            status_code=400,
            content=XrpcError(error="InvalidRequest", message="Invalid app.bsky.feed.post record: grapheme too big"),
            headers={},
        )
    )
    assert classify(exc).code == "too_long"


def test_redact_returns_password_session_and_tokens() -> None:
    creds = NetworkCredentials({"handle": "a.test", "app_password": "pw", "session": "a.test:::did:x:::ACC:::REF:::u"})
    assert set(Bluesky().redact(creds)) == {"pw", "a.test:::did:x:::ACC:::REF:::u", "ACC", "REF"}


def test_parse_at_uri() -> None:
    assert parse_at_uri("at://did:plc:x/app.bsky.feed.post/3k") == ("did:plc:x", "app.bsky.feed.post", "3k")
    with pytest.raises(PermanentError):
        parse_at_uri("https://bsky.app/profile/x/post/3k")


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xd0\x80\x40" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_image_size_reads_png_header() -> None:
    assert image_size(png(40, 30)) == (40, 30)
    assert image_size(b"not an image") is None


# --- against the real local network ----------------------------------------------------------------


class Counter:
    """Counts XRPC calls by method, through httpx event hooks on the client the adapter shares."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.calls.append(request.url.path.rsplit("/", 1)[-1])

    def count(self, nsid: str) -> int:
        return self.calls.count(nsid)


@pytest.fixture
async def counter() -> Counter:
    return Counter()


@pytest.fixture
async def bsky(bsky_net: BskyNet, counter: Counter) -> AsyncIterator[Bluesky]:
    async with httpx.AsyncClient(timeout=20, event_hooks={"request": [counter]}) as http:
        yield Bluesky(http, base_url=bsky_net.pds, app_url="https://bsky.app")


def new_post(text: str, **kw: Any) -> Post:
    key = kw.pop("idempotency_key", uuid.uuid4().hex)
    return Post(text=text, idempotency_key=key, created_at=kw.pop("created_at", utcnow()), **kw)


def rkey_of(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


@pytest.mark.bsky
async def test_verify_with_app_password(bsky: Bluesky, bsky_account: BskyAccount) -> None:
    creds = bsky_account.creds()
    info = await bsky.verify(creds)
    assert info.handle == bsky_account.handle
    assert info.remote_id == bsky_account.did
    assert creds.renewed["session"]  # the new session only: the rest of the credentials is already stored
    assert set(creds.renewed) == {"session"}
    assert info.limits["max_chars"] == 300


@pytest.mark.bsky
async def test_bad_app_password_is_auth_error(bsky: Bluesky, bsky_account: BskyAccount) -> None:
    creds = NetworkCredentials({"handle": bsky_account.handle, "app_password": "aaaa-bbbb-cccc-dddd"})
    with pytest.raises(AuthError):
        await bsky.verify(creds)
    with pytest.raises(AuthError):
        await bsky.publish(new_post("Bonjour"), creds)


@pytest.mark.bsky
async def test_publish_french_text_with_link_mention_and_hashtag_facets(
    bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount
) -> None:
    friend = bsky_net.create_account("f")
    text = (
        f"Crème brûlée 🍮👩‍🍳 du jour, merci @{friend.handle} ! Réservez sur "
        "https://ardoise.example/b/chez-zoé?j=1 #pâtisserie #Noël 🇫🇷 (@personne.test)"
    )
    result = await bsky.publish(new_post(text), bsky_account.creds())

    assert result.remote_id.startswith(f"at://{bsky_account.did}/app.bsky.feed.post/")
    assert result.url == f"https://bsky.app/profile/{bsky_account.handle}/post/{rkey_of(result.remote_id)}"
    stored = bsky_net.get_record(result.remote_id)
    assert stored is not None
    record = stored["value"]
    assert record["text"] == text
    assert facet_spans(record["text"], record["facets"]) == [
        ("mention", f"@{friend.handle}"),
        ("link", "https://ardoise.example/b/chez-zoé?j=1"),
        ("tag", "#pâtisserie"),
        ("tag", "#Noël"),
    ]
    assert record["facets"][0]["features"][0]["did"] == friend.did
    assert record["facets"][2]["features"][0]["tag"] == "pâtisserie"
    # the AppView indexes it and notifies the friend's mention
    post = bsky_net.wait_until(lambda: bsky_net.author_feed(bsky_account.did), "post in author feed")[0]
    assert post["record"]["text"] == text


@pytest.mark.bsky
async def test_publish_images_with_alt_text(
    bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(png(40, 30))
    second.write_bytes(png(10, 20))
    media = [
        MediaItem(path=str(first), url="https://ardoise.example/m/a.png", content_type="image/png", alt="Une tarte"),
        MediaItem(path=str(second), url="https://ardoise.example/m/b.png", content_type="image/png"),
    ]
    result = await bsky.publish(new_post("Tartes du jour 🥧", media=media), bsky_account.creds())

    stored = bsky_net.get_record(result.remote_id)
    assert stored is not None
    images = stored["value"]["embed"]["images"]
    assert [i["alt"] for i in images] == ["Une tarte", "Tartes du jour 🥧"]  # no alt: the caption
    assert (images[0]["aspectRatio"]["width"], images[0]["aspectRatio"]["height"]) == (40, 30)
    assert images[0]["image"]["mimeType"] == "image/png"
    assert bsky_net.get_blob(bsky_account.did, images[0]["image"]["ref"]["$link"]) == first.read_bytes()
    post = bsky_net.wait_until(lambda: bsky_net.author_feed(bsky_account.did), "image post in feed")[0]
    assert post["embed"]["$type"] == "app.bsky.embed.images#view"
    assert post["embed"]["images"][0]["alt"] == "Une tarte"


@pytest.mark.bsky
async def test_more_than_four_images_is_refused(bsky: Bluesky, bsky_account: BskyAccount, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png(2, 2))
    media = [MediaItem(path=str(path), url="u", content_type="image/png")] * 5
    with pytest.raises(PermanentError):
        await bsky.publish(new_post("Cinq", media=media), bsky_account.creds())


@pytest.mark.bsky
async def test_300_graphemes_published_whole_301_as_beginning_plus_link(
    bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount
) -> None:
    base = "Menu: soupe à l'oignon, bœuf bourguignon 🍷, île flottante 🍮 et café ☕. "
    exact = (base * 6)[:300]
    assert grapheme_len(exact) == 300
    whole = await bsky.publish(new_post(exact, link=LINK), bsky_account.creds())
    stored = bsky_net.get_record(whole.remote_id)
    assert stored is not None
    assert stored["value"]["text"] == exact

    longer = (base * 6)[:301]
    cut = await bsky.publish(new_post(longer, link=LINK), bsky_account.creds())
    stored = bsky_net.get_record(cut.remote_id)
    assert stored is not None
    text = stored["value"]["text"]
    assert text.endswith("… " + LINK)
    assert longer.startswith(text.removesuffix("… " + LINK))
    assert grapheme_len(text) <= 300
    assert ("link", LINK) in facet_spans(text, stored["value"]["facets"])

    with pytest.raises(PermanentError):  # no link to the full text: refused, never cut silently
        await bsky.publish(new_post(longer), bsky_account.creds())


@pytest.mark.bsky
async def test_retry_with_same_idempotency_key_makes_one_post(
    bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount
) -> None:
    post = new_post("Une seule fois, même si on réessaie 🔁")
    assert await bsky.find_existing(post, bsky_account.creds()) is None

    first = await bsky.publish(post, bsky_account.creds())
    again = await bsky.publish(post, bsky_account.creds())  # e.g. the worker died before recording success
    fresh = Bluesky(base_url=bsky_net.pds, app_url="https://bsky.app")  # its own HTTP client, no session
    third = await fresh.publish(post, bsky_account.creds())

    assert first.remote_id == again.remote_id == third.remote_id
    assert rkey_of(first.remote_id) == record_key_for(post.idempotency_key, post.created_at)
    assert post.created_at is not None
    micros, _ = tid_parts(rkey_of(first.remote_id))
    assert micros == int(post.created_at.timestamp()) * 1_000_000 + post.created_at.microsecond
    assert len(bsky_net.list_records(bsky_account.did)) == 1
    bsky_net.wait_until(lambda: bsky_net.author_feed(bsky_account.did), "post in feed")
    assert len(bsky_net.author_feed(bsky_account.did)) == 1

    found = await bsky.find_existing(post, bsky_account.creds())
    assert found is not None
    assert found.remote_id == first.remote_id
    assert found.url == first.url


@pytest.mark.bsky
async def test_retry_with_images_does_not_upload_again(
    bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount, counter: Counter, tmp_path: Path
) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png(4, 4))
    post = new_post("Photo", media=[MediaItem(path=str(path), url="u", content_type="image/png")])
    first = await bsky.publish(post, bsky_account.creds())
    uploads = counter.count("com.atproto.repo.uploadBlob")
    assert (await bsky.publish(post, bsky_account.creds())).remote_id == first.remote_id
    assert counter.count("com.atproto.repo.uploadBlob") == uploads == 1
    assert len(bsky_net.list_records(bsky_account.did)) == 1


@pytest.mark.bsky
async def test_delete_removes_the_post_and_deleting_again_succeeds(
    bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount
) -> None:
    post = new_post("À supprimer 🗑️")
    result = await bsky.publish(post, bsky_account.creds())
    bsky_net.wait_until(lambda: bsky_net.author_feed(bsky_account.did), "post in feed")

    await bsky.delete(result.remote_id, bsky_account.creds())

    assert bsky_net.get_record(result.remote_id) is None
    assert await bsky.find_existing(post, bsky_account.creds()) is None
    bsky_net.wait_until(lambda: not bsky_net.author_feed(bsky_account.did), "post gone from feed")
    await bsky.delete(result.remote_id, bsky_account.creds())  # already gone: still a success


@pytest.mark.bsky
async def test_stored_session_is_reused_without_create_session(
    bsky: Bluesky, bsky_account: BskyAccount, counter: Counter
) -> None:
    first = bsky_account.creds()
    await bsky.publish(new_post("Premier"), first)
    assert counter.count("com.atproto.server.createSession") == 1
    assert first.renewed["session"]
    stored = {**first.data, **first.renewed}

    second, third = NetworkCredentials(stored), NetworkCredentials(stored)
    await bsky.publish(new_post("Deuxième"), second)
    await bsky.verify(third)
    assert counter.count("com.atproto.server.createSession") == 1  # no new login
    assert second.renewed == {}  # session unchanged: nothing to store
    assert third.renewed == {}


@pytest.mark.bsky
async def test_broken_stored_session_falls_back_to_app_password(
    bsky: Bluesky, bsky_account: BskyAccount, counter: Counter
) -> None:
    first = bsky_account.creds()
    await bsky.publish(new_post("Premier"), first)
    handle, did, _access, _refresh, pds = first.renewed["session"].split(":::")
    fake = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImRpZDp4In0.c2ln"  # exp 2100, bad signature
    broken = bsky_account.creds(session=":::".join([handle, did, fake, fake, pds]))

    stored_session = broken.get("session")
    await bsky.publish(new_post("Deuxième"), broken)
    assert counter.count("com.atproto.server.createSession") == 2
    assert broken.renewed["session"] != stored_session


@pytest.mark.bsky
async def test_reply_and_like(bsky: Bluesky, bsky_net: BskyNet, bsky_account: BskyAccount) -> None:
    customer = bsky_net.create_account("c")
    question = await bsky.publish(new_post(f"@{bsky_account.handle} vous ouvrez dimanche ?"), customer.creds())
    stored = bsky_net.get_record(question.remote_id)
    assert stored is not None
    target = ReplyTarget(remote_id=question.remote_id, extra={"uri": question.remote_id, "cid": stored["cid"]})

    answer = await bsky.publish(new_post("Oui, de 8 h à 13 h !", reply_to=target), bsky_account.creds())
    reply = bsky_net.get_record(answer.remote_id)
    assert reply is not None
    for ref in ("parent", "root"):
        assert reply["value"]["reply"][ref]["uri"] == question.remote_id
        assert reply["value"]["reply"][ref]["cid"] == stored["cid"]

    creds = bsky_account.creds()
    like = await bsky.like(question.remote_id, stored["cid"], creds)
    assert creds.renewed["session"]  # logged in with the app password: the new session comes back to be stored
    assert await bsky.like(question.remote_id, stored["cid"], bsky_account.creds()) == like  # once
    likes = bsky_net.list_records(bsky_account.did, "app.bsky.feed.like")
    assert [r["uri"] for r in likes] == [like]
