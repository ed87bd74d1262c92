"""SMS digests of mentions, comments and reviews: one or two SMS the owner answers by number.

An SMS digest looks like this (one item per line; a newline costs one septet, like a space, and reads better
on a basic phone)::

    12 mentions:
    #4 Bsky cliente1: c'est comment l'Ardoise?
    #5 Google 2*: service lent
    #6 FB Sylvie L.: Les frites étaient froides et la serveuse pas...
    +9: M2
    Répondre: R 4 texte

Contract of :func:`compose_sms_digest`:

* the text is GSM-7 (never UCS-2) and billed as at most ``budget_segments`` segments, counted exactly with
  :func:`app.kit.sms_text.segment_info`;
* items come in :func:`priority` order (questions, then complaints and reviews of 3 stars or less, replies to
  the business's own posts, the rest; newest first within each class); a page shows a prefix of the items not
  shown on earlier pages, at least one item whenever there is one left, so page 1, page 2 (``M2``), ... show
  every item exactly once, deterministically for the same items;
* no paid septet on nothing (``app.mentions.gist``): the gist drops the @handles a text starts with (the
  business's own, mostly), the business's own handles anywhere they only address it, a leading greeting, and a
  question's filler ("est-ce que", "quick question:"), and starts a question at its question so its object
  stays; authors are short (``Nathalie D.``, ``fan`` for ``@fan31479098.bsky.social``);
* as many items as fit with a gist of :data:`MIN_GIST` septets (:data:`MIN_GIST_QUESTION` for a question) are
  included first, then the septets left over are shared max-min fairly: the shortest cut gist grows to its next
  word, again and again, until nothing more fits (no item gets 150 characters while another keeps two words).

Pure: no I/O, no database and no clock (times come in with the items). Item numbers are the business's short
mention numbers (``R 4``); two items with the same number are refused (ValueError).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from app.kit.sms_text import Encoding, fits, segment_info, to_gsm7, truncate_to_segments
from app.mentions.gist import (
    AUTHOR_MAX,
    EXTENSION,
    cut,
    gist_of,
    gsm7_units,
    handle_pattern,
    is_complaint,
    is_question,
    short_author,
)
from app.networks.registry import label as network_label
from app.networks.registry import short_label

__all__ = [
    "AUTHOR_MAX",
    "MIN_GIST",
    "MIN_GIST_QUESTION",
    "Digest",
    "DigestItem",
    "Kind",
    "Lang",
    "compose_sms_digest",
    "cost_as_is",
    "is_complaint",
    "is_question",
    "priority",
]

Lang = Literal["fr", "en"]
Kind = Literal["mention", "reply", "quote", "comment", "review"]

MIN_GIST: Final = 24
"""Septets of gist (``...`` included) every shown item gets before any item gets more: a short clause."""

MIN_GIST_QUESTION: Final = 34
"""The same floor for a question: the owner answers from the SMS, and "Avez-vous des..." cannot be answered.
With greetings and filler gone, most questions are shorter than this, so they are shown whole."""


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One collected mention, comment or review, as the digest needs it.

    ``number`` is the short per-business number the owner types (``R 4``). ``rating`` is the review's stars
    (1-5) and ``None`` for anything else. ``created_at`` only orders items.
    """

    number: int
    network: str
    kind: Kind
    author: str
    text: str
    rating: int | None
    created_at: datetime
    is_reply_to_us: bool


@dataclass(frozen=True, slots=True)
class Digest:
    """An SMS digest page: its text, the numbers it shows (in order) and how many items later pages hold.

    ``segments`` is what the text is billed; the empty digest (nothing to show) has ``text == ""`` and
    ``segments == 0``, and is not to be sent.
    """

    text: str
    shown: list[int]
    remaining: int
    segments: int
    encoding: Encoding = Encoding.GSM7


_TEXTS: Final[dict[str, dict[Lang, str]]] = {
    "reply_hint": {"fr": "Répondre: R {number} texte", "en": "Reply: R {number} text"},
    "link": {"fr": "lien", "en": "link"},
}


def _count(count: int) -> str:
    """The header's count, "1 mention" or "3 mentions": the same words in French and English."""
    return f"{count} mention" if count == 1 else f"{count} mentions"


# --- Priority --------------------------------------------------------------------------------------------------


def _is_low_review(item: DigestItem) -> bool:
    return item.kind == "review" and item.rating is not None and item.rating <= 3


def priority(item: DigestItem) -> tuple[int, float, int]:
    """Sort key, most important first: questions (0), reviews of 3 stars or less and complaints that are not
    good reviews (1), replies to the business's own posts (2), the rest (3); newest first within a class, then
    the higher (newer) number first.

    Pass ``created_at`` all aware or all naive: a naive time is read as the machine's local time."""
    if is_question(item.text):
        rank = 0
    elif _is_low_review(item) or ((item.rating is None or item.rating <= 3) and is_complaint(item.text)):
        rank = 1
    elif item.is_reply_to_us:
        rank = 2
    else:
        rank = 3
    return (rank, -item.created_at.timestamp(), -item.number)


def _ordered(items: Sequence[DigestItem]) -> list[DigestItem]:
    numbers = [item.number for item in items]
    if len(set(numbers)) != len(numbers):
        raise ValueError("item numbers must be unique")
    return sorted(items, key=priority)


# --- SMS -------------------------------------------------------------------------------------------------------


def _fits(text: str, units: int, budget_segments: int) -> bool:
    """``fits(text, budget_segments)`` given the text's septets, skipping the exact count when it cannot matter."""
    if units > _max_units(budget_segments):
        return False
    if units <= 160 or not any(ch in EXTENSION for ch in text):
        return True
    return fits(text, budget_segments)  # an ESC pair may be pushed to the next part


@dataclass(frozen=True, slots=True)
class _Entry:
    """One item ready for SMS: ``head`` is "#4 Bsky cliente1" or "#5 Google 2*", ``gist`` the full gist."""

    number: int
    head: str
    gist: str
    floor: int  # MIN_GIST or MIN_GIST_QUESTION

    def line(self, gist: str) -> str:
        return f"{self.head}: {gist}" if gist else self.head

    def min_gist(self) -> str:
        return cut(self.gist, self.floor)


def _entry(item: DigestItem, lang: Lang, own: re.Pattern[str] | None = None) -> _Entry:
    # the registry's short label: every septet of a label is paid on every line of every digest
    label = to_gsm7(short_label(item.network))[:8]
    who = f"{item.rating}*" if item.kind == "review" and item.rating is not None else short_author(item.author)
    head = " ".join(part for part in (f"#{item.number}", label, who) if part)
    floor = MIN_GIST_QUESTION if is_question(item.text) else MIN_GIST
    return _Entry(item.number, head, gist_of(item.text, _TEXTS["link"][lang], own), floor)


def _header(total: int, page: int) -> str:
    return f"{_count(total)}:" if page == 1 else f"{_count(total)} p{page}:"


def _render(header: str, lines: Sequence[str], remaining: int, page: int, hint: str) -> str:
    parts = [header, *lines]
    if remaining:
        parts.append(f"+{remaining}: M{page + 1}")
    parts.append(hint)
    return "\n".join(parts)


def _max_units(budget_segments: int) -> int:
    """GSM-7 septets ``budget_segments`` segments hold, before any ESC pair is pushed to the next part."""
    return 160 if budget_segments == 1 else 153 * budget_segments


def _page(
    queue: Sequence[DigestItem],
    entry_of: Callable[[DigestItem], _Entry],
    total: int,
    page: int,
    lang: Lang,
    budget_segments: int,
) -> tuple[str, int]:
    """Text of one page showing a prefix of ``queue`` (never empty), and how many items it shows.

    ``entry_of`` prepares an item for SMS; it is only called for the items the page may show (to_gsm7 on
    long texts is the costly part).
    """
    header = _header(total, page)
    hint = _TEXTS["reply_hint"][lang].format(number=queue[0].number)
    limit = _max_units(budget_segments)

    # 1. As many items as fit with their minimum gist. Without the footer, the length only grows with k, so
    # the first k over the limit ends the search; with the footer, a larger k can fit where a smaller one
    # did not (the "+r: M2" line goes when r reaches 0), hence every k up to there is tried.
    lines: list[str] = []
    fixed = gsm7_units(header) + gsm7_units(hint) + 1
    shown = 0
    for item in queue:
        entry = entry_of(item)
        lines.append(entry.line(entry.min_gist()))
        fixed += gsm7_units(lines[-1]) + 1
        if fixed > limit:
            break
        remaining = len(queue) - len(lines)
        footer = len(f"+{remaining}: M{page + 1}") + 1 if remaining else 0
        if fixed + footer <= limit:
            text = _render(header, lines, remaining, page, hint)
            if _fits(text, fixed + footer, budget_segments):
                shown = len(lines)
    if shown == 0:
        return _single(entry_of(queue[0]), header, hint, len(queue) - 1, page, budget_segments), 1

    # 2. Share what is left fairly: the shortest cut gist grows to its next word, again and again (see _share).
    # Counting septets ignores an ESC pair pushed to the next part, so if the result does not fit, retry with
    # one septet less (the minimum layout fits).
    entries = [entry_of(item) for item in queue[:shown]]
    remaining = len(queue) - shown
    base = [entry.min_gist() for entry in entries]
    base_units = gsm7_units(
        _render(header, [e.line(g) for e, g in zip(entries, base, strict=True)], remaining, page, hint)
    )
    while True:
        cuts = list(base)
        slack = _share(entries, cuts, limit - base_units)
        text = _render(header, [e.line(c) for e, c in zip(entries, cuts, strict=True)], remaining, page, hint)
        if _fits(text, limit - slack, budget_segments):
            return text, shown
        limit -= 1


def _share(entries: Sequence[_Entry], cuts: list[str], slack: int) -> int:
    """Lengthen ``cuts`` (in place) with ``slack`` septets, max-min fair: the shortest cut gist grows to its next
    word first (ties: the more important item), until nothing more fits. Returns the septets left unused."""
    while slack > 0:
        best: tuple[int, int, str] | None = None
        for i, entry in enumerate(entries):
            if cuts[i] == entry.gist:
                continue
            size = gsm7_units(cuts[i])
            if best is not None and size >= best[0]:
                continue
            longer = _next_longer(entry.gist, size, slack)
            if longer is not None:
                best = (size, i, longer)
        if best is None:
            break
        size, i, longer = best
        slack -= gsm7_units(longer) - size
        cuts[i] = longer
    return slack


def _next_longer(gist: str, size: int, slack: int) -> str | None:
    """The shortest cut of ``gist`` longer than ``size`` septets that costs at most ``slack`` more, if any."""
    for extra in range(1, slack + 1):
        longer = cut(gist, size + extra)
        if gsm7_units(longer) > size:
            return longer
    return None


def _single(entry: _Entry, header: str, hint: str, remaining: int, page: int, budget_segments: int) -> str:
    """One item with as much gist as fits; only reached with budgets or numbers far outside real use."""
    for room in range(MIN_GIST - 1, -1, -1):
        text = _render(header, [entry.line(cut(entry.gist, room))], remaining, page, hint)
        if fits(text, budget_segments):
            return text
    return truncate_to_segments(text, budget_segments)


def _pages(
    items: Sequence[DigestItem], lang: Lang, budget_segments: int, own_handles: Sequence[str] = ()
) -> Iterator[Digest]:
    queue = _ordered(items)
    cache: dict[int, _Entry] = {}
    own = handle_pattern(own_handles)

    def entry_of(item: DigestItem) -> _Entry:
        if item.number not in cache:
            cache[item.number] = _entry(item, lang, own)
        return cache[item.number]

    total = len(queue)
    start = 0
    page = 1
    while start < total:
        text, shown = _page(queue[start:], entry_of, total, page, lang, budget_segments)
        start += shown
        info = segment_info(text)
        yield Digest(
            text=text,
            shown=[item.number for item in queue[start - shown : start]],
            remaining=total - start,
            segments=info.segments,
            encoding=info.encoding,
        )
        page += 1


def compose_sms_digest(
    items: Sequence[DigestItem],
    lang: Lang,
    *,
    budget_segments: int = 2,
    page: int = 1,
    own_handles: Sequence[str] = (),
) -> Digest:
    """Page ``page`` of the SMS digest of ``items`` (see the module docstring for the format and contract).

    ``own_handles`` are the business's handles on its networks (``@lardoise.bsky.social``): a gist does not
    spend septets on them where they only address the business.

    Page 2 shows the items that follow those page 1 shows, and so on; a page past the last one, like an empty
    ``items``, gives the empty digest (``text == ""``, nothing to send: the caller says there is nothing more).
    Raises ValueError when ``budget_segments < 1``, ``page < 1`` or two items share a number.
    """
    if budget_segments < 1:
        raise ValueError("budget_segments must be >= 1")
    if page < 1:
        raise ValueError("page must be >= 1")
    for number, digest in enumerate(_pages(items, lang, budget_segments, own_handles), start=1):
        if number == page:
            return digest
    return Digest(text="", shown=[], remaining=0, segments=0)


def cost_as_is(items: Sequence[DigestItem]) -> int:
    """Segments billed to forward each item as its own SMS, as written: "#4 Bluesky cliente1: <text>".

    No transliteration (one accent or emoji makes the SMS UCS-2) and no cut: what a naive forwarder would pay,
    the baseline the digest is measured against.
    """
    total = 0
    for item in items:
        label = network_label(item.network)
        total += segment_info(f"#{item.number} {label} {item.author}: {item.text}").segments
    return total
