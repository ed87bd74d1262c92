"""Fitting a post into a network's limit without cutting it silently: the beginning, then ``… <link to the
full post on the Ardoise page>``, with the hashtags that fell in the cut part kept after the link when they fit.
Shared by the adapters whose rule is "cut and link" (Mastodon, Facebook, Instagram, Google, X); docs/networks.md."""

from __future__ import annotations

import re
from collections.abc import Callable

ELLIPSIS = "…"
HASHTAG_RE = re.compile(r"(?<![=/)\w&#])#(\w+)")
_WORD_BREAK_TRIM = " \t\r\n,;:-–—"


def _hashtags(text: str) -> list[str]:
    seen: dict[str, str] = {}
    for match in HASHTAG_RE.finditer(text):
        seen.setdefault(match.group(1).casefold(), "#" + match.group(1))
    return list(seen.values())


def shorten(text: str, limit: int, link: str, measure: Callable[[str], int]) -> str:
    """``text``'s beginning + ``… link``, within ``limit``; the hashtags that fell in the cut part follow the link
    when they fit without eating more than a quarter of the post."""
    tail = f"{ELLIPSIS} {link}"
    tags = _hashtags(text)
    missing: list[str] = []
    for _ in range(5):
        extra = "".join(f" {tag}" for tag in missing)
        if measure(extra) > limit // 4:
            break
        head = _cut(text, limit - measure(tail + extra), measure)
        kept = {tag.casefold() for tag in _hashtags(head)}
        now_missing = [tag for tag in tags if tag.casefold() not in kept]
        if now_missing == missing:
            candidate = _join(head, tail + extra)
            if measure(candidate) <= limit:
                return candidate
            break
        missing = now_missing
    head = _cut(text, limit - measure(tail), measure)
    return _join(head, tail)


def _join(head: str, tail: str) -> str:
    return f"{head}{tail}" if head else tail.removeprefix(f"{ELLIPSIS} ")


def _cut(text: str, budget: int, measure: Callable[[str], int]) -> str:
    """The longest beginning of ``text`` ending at a word boundary that measures at most ``budget``; a single
    word longer than that is cut between graphemes."""
    if budget <= 0:
        return ""
    breaks = [i for i, char in enumerate(text) if char.isspace()]
    # Cutting at whitespace never splits a URL or a mention, so the measure grows with the cut point.
    lo, hi, best = 0, len(breaks) - 1, ""
    while lo <= hi:
        mid = (lo + hi) // 2
        head = text[: breaks[mid]].rstrip(_WORD_BREAK_TRIM)
        if measure(head) <= budget:
            best, lo = head, mid + 1
        else:
            hi = mid - 1
    if best:
        return str(best)
    # Only a first word longer than the budget gets here; ``regex`` (2 MB) is not loaded by a server at start.
    import regex

    graphemes: list[str] = regex.findall(r"\X", text)
    lo, hi, count = 0, len(graphemes), 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if measure("".join(graphemes[:mid])) <= budget:
            count, lo = mid, mid + 1
        else:
            hi = mid - 1
    return "".join(graphemes[:count]).rstrip(_WORD_BREAK_TRIM)
