"""How X counts a post's length (twitter-text v3 weighting) and the text ``publish`` sends."""

from __future__ import annotations

import html
import re
import unicodedata

import regex

from app.kit.errors import PermanentError
from app.networks.base import Post
from app.networks.text import shorten

MAX_WEIGHTED = 280

# twitter-text v3 configuration (the one X uses for the 280 limit): every code point weighs 200 (= 2 characters)
# except these ranges, which weigh 100 (= 1); the total is divided by 100. URLs weigh 23 whatever their length,
# an emoji sequence weighs 2, and the text is NFC-normalized before counting.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_URL_WEIGHT = 23
# twitter-text also links bare domains (``ardoise.ca/menu``). The real extractor knows every TLD; this list covers
# what a small business in Canada or France writes. Counting a missed bare domain by its length can only be
# shorter than 23 for short domains, so the common ones matter most.
_TLDS = (
    "com|net|org|ca|fr|qc|info|biz|io|co|app|be|ch|us|uk|eu|shop|store|online|site|restaurant|cafe|bar|quebec|"
    "paris|bzh|me|tv|ly|gl|gg|ai|dev"
)
_URL_RE = re.compile(
    rf"(?:https?://[^\s<>\"]+|(?<![\w@./-])(?:www\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/[^\s<>\"]*)?)",
    re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?'\")]}»…"
_EMOJI_RE = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}|[\u20e3\ufe0f]")


def _urls(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL_RE.finditer(text):
        url = match.group(0)
        kept = url.rstrip(_URL_TRAILING)
        if "://" not in kept and "." not in kept.strip("."):
            continue
        spans.append((match.start(), match.start() + len(kept)))
    return spans


def _code_point_weight(char: str) -> int:
    cp = ord(char)
    return 1 if any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES) else 2


def _plain_weight(text: str) -> int:
    total = 0
    for grapheme in regex.findall(r"\X", text):
        if _EMOJI_RE.search(grapheme):
            total += 2  # a whole emoji sequence (ZWJ family, flag, keycap, skin tone) counts as one heavy char
        else:
            total += sum(_code_point_weight(char) for char in grapheme)
    return total


def weighted_length(text: str) -> int:
    """Length of ``text`` as X counts it against the 280 limit (twitter-text v3 weighting).

    Latin, accented Latin, Greek, Cyrillic, Hebrew, Arabic... count 1 per code point; CJK, Hangul and most other
    scripts count 2; an emoji (even a multi-code-point sequence) counts 2; a URL counts 23.
    """
    text = unicodedata.normalize("NFC", text)
    total, pos = 0, 0
    for start, end in _urls(text):
        total += _plain_weight(text[pos:start]) + _URL_WEIGHT
        pos = end
    return total + _plain_weight(text[pos:])


def fit_text(post: Post, limit: int = MAX_WEIGHTED) -> str:
    """The text ``publish`` sends: ``post.text`` when it fits, else its beginning + ``… <link>`` (the hashtags that
    fell in the cut part follow when they fit). Without a link to the full text that is a PermanentError."""
    text = post.text.strip()
    length = weighted_length(text)
    if length <= limit:
        return text
    if not post.link:
        raise PermanentError(
            f"text is {length} weighted characters, x takes {limit}, and there is no link to the full text",
            code="too_long",
        )
    return shorten(text, limit, post.link, weighted_length)


def comparable(text: str) -> str:
    """Text reduced for comparing what we sent with what X shows: X escapes ``&<>`` as HTML entities and
    rewrites every link to t.co."""
    text = html.unescape(text)
    out, pos = [], 0
    for start, end in _urls(text):
        out.append(text[pos:start])
        out.append("<url>")
        pos = end
    out.append(text[pos:])
    return " ".join("".join(out).split())
