"""The chalkboard end to end: a signed MMS webhook carrying a photo served on loopback, the real OCR process
(RapidOCR), the one SMS that says what was read, and the confirmed post whose alt text is that reading on the
page. Also: the owner's correction, NON, a captioned photo, and the engine missing."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.catalogue import t
from app.config import Settings
from app.doctor import ocr_check
from app.models import Post
from app.ocr.correct import correct
from app.ocr.runner import Limits, OcrFailed, Reader
from app.ocr.status import why_off
from app.runtime import Runtime
from tests.support.chat import Chat, biz, chat, one_sms, posts, serving_photo

BOARD = (Path(__file__).resolve().parents[1] / "data" / "ocr" / "board.jpg").read_bytes()
MISSING_TESSERACT = "/nonexistent/tesseract"

__all__ = ["biz", "chat"]  # fixtures


@pytest.fixture
def engine() -> str:
    return "rapidocr"


@pytest.fixture
def settings(db_url: str, make_settings: Callable[..., Settings], engine: str) -> Settings:
    return make_settings(db_url, ocr_engine=engine, ocr_tesseract_cmd=MISSING_TESSERACT)


async def photo_alt(rt: Runtime) -> str | None:
    """The alt text stored on the photo of the only post (the API lists media URLs only)."""
    async with rt.db.read() as s:
        post = (await s.execute(select(Post))).scalar_one()
    return post.media[0].get("alt")


READ = "MENU DU JOUR\nSoupe à l'oignon\nJarret d'agneau 24$\nTarte au sucre"


async def test_a_chalkboard_photo_is_read_confirmed_and_published_with_its_alt_text(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], rt: Runtime
) -> None:
    with serving_photo(BOARD, "image/jpeg", "board.jpg") as mms:
        reply = one_sms(await chat.say("", future=True, fields=mms))
    assert reply == t("confirm_board", "fr", read="MENU DU JOUR, Soupe à l'oignon, Jarret d'agneau 24$, Tarte au sucre")
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK"
    [post] = await posts(client, auth, biz["id"])
    assert post["text"] == READ
    assert len(post["media"]) == 1
    assert await photo_alt(rt) == READ
    page = (await client.get(f"/b/{biz['slug']}")).text
    assert [html.unescape(a) for a in re.findall(r'<img [^>]*alt="([^"]*)"', page)] == [READ]


async def test_a_bare_publier_with_the_photo_is_read_too_and_non_drops_it(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], rt: Runtime
) -> None:
    with serving_photo(BOARD, "image/jpeg", "board.jpg") as mms:
        assert one_sms(await chat.say("PUBLIER", future=True, fields=mms)).startswith("Lu: MENU DU JOUR, Soupe")
    assert one_sms(await chat.say("NON")) == t("cancelled", "fr")
    assert one_sms(await chat.say("OUI")) == t("nothing_to_confirm", "fr")
    assert await posts(client, auth, biz["id"]) == []


async def test_a_text_reply_publishes_the_photo_with_the_owners_text(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], rt: Runtime
) -> None:
    with serving_photo(BOARD, "image/jpeg", "board.jpg") as mms:
        assert one_sms(await chat.say("", future=True, fields=mms)).startswith("Lu: ")
    assert one_sms(await chat.say("Soupe à l'oignon, jarret d'agneau 26$, tarte au sucre")) == "Publié #1: Page OK"
    [post] = await posts(client, auth, biz["id"])
    assert post["text"] == "Soupe à l'oignon, jarret d'agneau 26$, tarte au sucre"
    assert await photo_alt(rt) == post["text"]


async def test_a_captioned_photo_keeps_its_caption_and_gets_the_reading_as_alt_text(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], rt: Runtime
) -> None:
    with serving_photo(BOARD, "image/jpeg", "board.jpg") as mms:
        assert one_sms(await chat.say("PUBLIER Venez diner!", future=True, fields=mms)) == "Publié #1: Page OK"
    [post] = await posts(client, auth, biz["id"])
    assert post["text"] == "Venez diner!"
    assert await photo_alt(rt) == READ


@pytest.mark.parametrize("engine", ["tesseract"])  # pointed at a command that does not exist
async def test_without_an_engine_a_photo_is_offered_as_before_and_doctor_says_why(
    chat: Chat, client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], settings: Settings, rt: Runtime
) -> None:
    with serving_photo(BOARD, "image/jpeg", "board.jpg") as mms:
        assert one_sms(await chat.say("", future=True, fields=mms)) == t("confirm_photo", "fr", minutes=30)
    assert one_sms(await chat.say("OUI")) == "Publié #1: Page OK"
    [post] = await posts(client, auth, biz["id"])
    assert post["text"] == ""
    assert await photo_alt(rt) is None
    check = ocr_check(settings)
    assert check.ok  # optional: a missing engine is not an error, only a capability that is off
    assert check.detail.startswith("off:")
    assert MISSING_TESSERACT in check.detail
    assert why_off("off") == "ARDOISE_OCR_ENGINE=off"


@pytest.mark.parametrize("name", ["rapidocr", "tesseract"])
async def test_each_engine_reads_the_fixture_board_within_its_bounds(name: str) -> None:
    if (why := why_off(name)) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} must be installed in CI (.ci/run): {why}")
        pytest.skip(why)
    reader = Reader(Limits(engine=name, timeout_seconds=60))
    try:
        reading = await reader.read(BOARD)
    finally:
        await reader.close()
    assert correct(reading.lines) == READ.splitlines()
    assert reading.maxrss_mb < Limits().memory_mb


async def test_an_image_over_the_memory_cap_stops_the_ocr_process_not_the_worker() -> None:
    reader = Reader(Limits(engine="rapidocr", memory_mb=256, timeout_seconds=60))
    try:
        with pytest.raises(OcrFailed):
            await reader.read(BOARD)  # 256 MB of address space: ONNX Runtime cannot even load its models
    finally:
        await reader.close()
