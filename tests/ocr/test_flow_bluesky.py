"""The chalkboard end to end on the local Bluesky network (issue #16's acceptance): a signed MMS webhook carrying
a photo served on loopback, the real OCR process (RapidOCR), the SMS saying what was read, ``OUI``, and the post
on the business's Bluesky account (linked through the admin API) carrying the photo with the read text as its
``alt``, read back from the dev PDS with the atproto client. The page half is tests/ocr/test_flow.py.

Needs the network (``make bsky``) and PostgreSQL: skipped locally without them, a failure under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from atproto_client import Client
from atproto_client.models.com.atproto.repo.list_records import Params as ListRecords

from app.catalogue import t
from app.config import Settings
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.bsky_support import BskyAccount, BskyNet
from tests.helpers import drain, make_business
from tests.mentions.test_bluesky_mentions import link
from tests.ocr.test_flow import BOARD, MISSING_TESSERACT, READ, photo_alt
from tests.support.chat import NUMBER, OWNER, Chat, one_sms, posts, serving_photo

pytestmark = [
    pytest.mark.bsky,
    pytest.mark.postgres,
    pytest.mark.parametrize("backend", ["postgres"], indirect=True),
]


@pytest.fixture
def settings(db_url: str, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(db_url, ocr_engine="rapidocr", ocr_tesseract_cmd=MISSING_TESSERACT)


def posted_records(pds: str, did: str) -> list[dict[str, Any]]:
    """The account's ``app.bsky.feed.post`` records as the PDS stores them (a public read: no session)."""
    out = Client(base_url=pds).com.atproto.repo.list_records(
        ListRecords(repo=did, collection="app.bsky.feed.post", limit=10)
    )
    return [r.model_dump(by_alias=True) for r in out.records]


async def test_a_read_chalkboard_is_posted_on_bluesky_with_the_reading_as_alt_text(
    bsky_net: BskyNet,
    bsky_account: BskyAccount,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
) -> None:
    biz, _ = await make_business(client, auth, number=NUMBER, phone=OWNER)
    await link(client, auth, int(biz["id"]), bsky_net, bsky_account)
    await drain(runner)
    chat = Chat(client, auth, runner, [biz["id"]])
    await chat.new()  # whatever linking sent is not part of the exchange

    with serving_photo(BOARD, "image/jpeg", "board.jpg") as mms:
        reply = one_sms(await chat.say("", future=True, fields=mms))
    assert reply == t("confirm_board", "fr", read="MENU DU JOUR, Soupe à l'oignon, Jarret d'agneau 24$, Tarte au sucre")
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK, Bluesky OK"

    [post] = await posts(client, auth, biz["id"])
    assert post["text"] == READ
    assert await photo_alt(rt) == READ
    [record] = posted_records(bsky_net.pds, bsky_account.did)
    value = record["value"]
    assert value["text"] == READ
    embed = value["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    [image] = embed["images"]
    assert image["alt"] == READ
    assert image["image"]["mimeType"] == "image/jpeg"
    assert image["image"]["size"] > 0
