"""Bluesky text: graphemes (how it counts its 300), the text ``publish`` sends, and rich-text facets (links,
tags, mentions) with their UTF-8 byte offsets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import regex
from atproto_client import models
from atproto_client.utils import facet_detection

from app.kit.errors import PermanentError
from app.networks.text import shorten

MAX_GRAPHEMES = 300

_GRAPHEME = regex.compile(r"\X")


# --- text -------------------------------------------------------------------------------------------


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters, as Bluesky counts them (an emoji with skin tone or a flag is one)."""
    return _GRAPHEME.findall(text)  # type: ignore[no-any-return]


def grapheme_len(text: str) -> int:
    return len(graphemes(text))


def fit_text(text: str, link: str | None, limit: int = MAX_GRAPHEMES) -> str:
    """Return ``text`` if it fits, else the shared "cut and link" rule (app/networks/text.py) counted in graphemes:
    its beginning at a word boundary + ``… link``, with the hashtags that fell in the cut part when they fit.

    Nothing is silently cut: the link leads to the full post on the Ardoise page. Without a link a too
    long text is refused (``PermanentError("too_long")``).
    """
    if grapheme_len(text) <= limit:
        return text
    if not link:
        raise PermanentError("too_long", code="too_long")
    return shorten(text, limit, link, grapheme_len)


def mention_handles(text: str) -> list[str]:
    """Handles mentioned in ``text`` (lowercase, without ``@``, each once, in order)."""
    seen: dict[str, None] = {}
    for m in facet_detection.detect_mentions(text):
        seen.setdefault(m.handle.lower(), None)
    return list(seen)


def build_facets(text: str, dids: Mapping[str, str]) -> list[Any]:
    """Rich-text facets of ``text``: links, ``#tags`` and the mentions whose handle is in ``dids``.

    Offsets are UTF-8 byte offsets, as the lexicon requires (``é`` is 2 bytes, most emoji 4). Detection is
    the SDK's port of the official TypeScript ``detectFacets``, so what is linked matches the Bluesky app.
    Mentions missing from ``dids`` (handles that did not resolve) stay plain text.
    """
    facets: list[Any] = list(facet_detection.detect_facets(text))
    for m in facet_detection.detect_mentions(text):
        did = dids.get(m.handle.lower())
        if did is None:
            continue
        facets.append(
            models.AppBskyRichtextFacet.Main(
                features=[models.AppBskyRichtextFacet.Mention(did=did)],
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=m.byte_start, byte_end=m.byte_end),
            )
        )
    facets.sort(key=lambda f: f.index.byte_start)
    kept: list[Any] = []
    for facet in facets:  # the lexicon forbids overlapping facets; keep the first
        if kept and facet.index.byte_start < kept[-1].index.byte_end:
            continue
        kept.append(facet)
    return kept
