"""The reason in a follow-up SMS comes from the catalogue (owner's language, GSM-7), never from the adapter."""

from __future__ import annotations

import pytest

from app.catalogue import t
from app.kit.sms_text import is_gsm7, segment_info
from app.posts.service import reason_key


@pytest.mark.parametrize(
    ("code", "reason", "key"),
    [
        ("too_long", "text is 612 characters, mastodon takes 500, and there is no link", "why_too_long"),
        ("too_many_media", "mastodon takes at most 4 images per post, this one has 6", "why_photo"),
        ("not_image", "not an image: text/html", "why_photo"),
        ("gave_up", "gave up after 8 attempts: mastodon POST /api/v1/statuses timed out", "why_unreachable"),
        ("http_503", "facebook POST /feed: 503 Service Unavailable", "why_unreachable"),
        ("http_422", "mastodon refused it: Validation failed: Texte contient « » des caractères", "why_refused"),
        ("", "something nobody expected", "why_refused"),
    ],
)
def test_reason_key(code: str, reason: str, key: str) -> None:
    assert reason_key(code, reason) == key


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("key", ["why_too_long", "why_photo", "why_unreachable", "why_refused"])
def test_followup_with_every_reason_is_one_gsm7_segment_in_the_owners_language(lang: str, key: str) -> None:
    text = t("followup_failed", lang, number="1234", network="Google Business Profile", reason=t(key, lang))
    assert is_gsm7(text)
    assert segment_info(text).segments == 1, text
    other = "fr" if lang == "en" else "en"
    assert t(key, other) not in text or t(key, other) == t(key, lang)
