"""The chalkboard: a photo sent without a caption is read, offered back in one SMS, and published on OUI.

1. :func:`read_photos` runs in the inbound job (SMS or email), after the photos are fetched and before the
   write transaction opens: the first photo of a message that could become a post is read by the OCR process
   (app/ocr/runner.py: bounded in time and memory), the lines corrected (app/ocr/correct.py), and the text is
   stored on that photo's media entry as ``alt`` (with ``read`` = ``"1"``). OCR runs *before* posting, within
   ``ocr_timeout_seconds``: a photo with a caption is then published with its caption as today, and the text
   read becomes its alt text on every network that takes one. A failed or empty reading changes nothing.
2. :func:`intercept` is the hook in the publish handlers (``app.posts.commands``): a read photo with no text (or a bare
   ``PUBLIER``) gets ``Lu: ... Publier? OUI / corrigez en répondant le texte`` and a pending action holding the
   full text; ``OUI`` publishes the photo with it; a text reply publishes the photo with the owner's text
   (which also becomes the alt text); ``NON`` drops it (the usual confirmation paths).

The text read is never published without the owner's OUI, even for a business in direct publish mode: an
engine's mistake would otherwise go out under the business's name.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from app.catalogue import t
from app.commands import parser as p
from app.commands.context import Ctx, ask, pending
from app.kit.sms_text import ELLIPSIS, septets, to_gsm7
from app.ocr.correct import correct
from app.ocr.runner import Limits, OcrFailed, Reader
from app.ocr.status import why_off
from app.runtime import Runtime

log = structlog.get_logger("ardoise.ocr")

SMS_SEPTETS = 160
READS = (p.Publish, p.Unknown, p.Empty, p.LoneWord)  # commands that may publish the photo they come with


def reader(rt: Runtime) -> Reader:
    """The runtime's OCR process (started on first use, stopped by ``Runtime.close``)."""
    if rt.ocr is None:
        st = rt.settings
        rt.ocr = Reader(
            Limits(
                engine=st.ocr_engine,
                tesseract_cmd=st.ocr_tesseract_cmd,
                timeout_seconds=st.ocr_timeout_seconds,
                memory_mb=st.ocr_memory_mb,
                max_side=st.ocr_max_side,
            )
        )
    assert isinstance(rt.ocr, Reader)
    return rt.ocr


async def read_photos(rt: Runtime, body: str | None, media: list[dict[str, str]]) -> str:
    """Read the first photo in place (see the module doc). ``body`` None (email): read whatever the text says.
    Returns a short note for the logs."""
    images = [m for m in media if m.get("path") and m.get("content_type", "").startswith("image/")]
    if not images:
        return "no photo"
    if body is not None and not isinstance(p.parse(body), READS):
        return "not a post"
    if (why := why_off(rt.settings.ocr_engine, rt.settings.ocr_tesseract_cmd)) is not None:
        return f"off: {why}"
    first = images[0]
    try:
        data = (Path(rt.settings.media_dir) / first["path"]).read_bytes()
        reading = await reader(rt).read(data)
    except (OSError, OcrFailed) as exc:
        log.warning("ocr.failed", error=str(exc)[:300])
        return f"failed: {str(exc)[:100]}"
    lines = correct(reading.lines)
    log.info("ocr.read", lines=len(lines), cpu=round(reading.cpu_seconds, 2), wall=round(reading.wall_seconds, 2))
    if lines:
        first["alt"] = "\n".join(lines)
        first["read"] = "1"
    return f"read {len(lines)} lines"


def read_text(media: list[dict[str, str]]) -> str:
    return next((m["alt"] for m in media if m.get("read") == "1" and m.get("alt")), "")


def fit_reading(text: str, lang: str) -> str:
    """The text read, one line per dish joined by commas, GSM-7, cut at a word boundary so that the whole
    ``confirm_board`` SMS fits one segment."""
    flat = to_gsm7(", ".join(x.strip().rstrip(".,;") for x in text.splitlines() if x.strip()))
    budget = SMS_SEPTETS - septets(t("confirm_board", lang, read=""))
    if septets(flat) <= budget:
        return flat
    # Cut: "..." where the template's own "." is the last of the three ("tarte.. Publier?" reads "tarte...").
    cut = ELLIPSIS[:-1]
    words = flat.split(" ")
    while words and septets(" ".join(words).rstrip(",;:.") + cut) > budget:
        words.pop()
    return " ".join(words).rstrip(",;:.") + cut


async def intercept(ctx: Ctx, text: str) -> str | None:
    """The chalkboard paths of a free text or PUBLIER command; None when they do not apply."""
    text = text.strip()
    read = read_text(ctx.media)
    if not text and read:
        await ask(ctx, "confirm", {"action": "publish", "text": read, "media": ctx.media, "board": 1})
        await ctx.reply("confirm_board", read=fit_reading(read, ctx.lang))
        return "board read: asked to confirm"
    if text and not ctx.media:
        assert ctx.member.id is not None
        offer = await pending(ctx.s, [ctx.member.id], "confirm")
        if offer is not None and offer.payload.get("board"):
            # The owner corrects what was read: their text is the post, and the photo's description.
            ctx.media = [{**m, "alt": text} if m.get("read") == "1" else dict(m) for m in offer.payload["media"]]
            await ctx.s.delete(offer)
            note = await ctx.table.publish(ctx, text)
            return f"board corrected: {note}"
    return None
