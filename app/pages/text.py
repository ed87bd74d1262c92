"""Text helpers for the public page and feed: links in post text, XML-safe text, titles cut at a word boundary."""

from __future__ import annotations

import re

import phonenumbers
from markupsafe import Markup, escape

# A web address as owners type them: http(s) only (no javascript:, data: ...), trailing punctuation left out.
_URL = re.compile(r"https?://[^\s<>\"'«»]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}’'\"»…"
# Characters XML 1.0 cannot carry at all (C0 controls except tab/LF/CR, surrogates, U+FFFE/U+FFFF).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# What HTML also reports as a parse error: the C1 controls and DEL too (a post may carry any of these).
_HTML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


_SPACING = re.compile("[\x0b\x0c\x85]")  # vertical tab, form feed, next line separate words: a space


def html_safe(text: str) -> str:
    """``text`` without control characters a browser would flag (tab, line feed and carriage return stay)."""
    return _HTML_INVALID.sub("", _SPACING.sub(" ", text))


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (a feed with one of them is not well-formed)."""
    return _XML_INVALID.sub("", _SPACING.sub(" ", text))


def _urls(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break  # keep the parenthesis of https://fr.wikipedia.org/wiki/Tarte_(cuisine)
            url = url[:-1]
        if len(url) > len("https://"):
            out.append((m.start(), m.start() + len(url), url))
    return out


def _phones(text: str, region: str) -> list[tuple[int, int, str]]:
    # POSSIBLE, not VALID: a number in a fictional range (555-01xx) is still what the owner meant to share.
    found = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    return [
        (m.start, m.end, "tel:" + phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164))
        for m in found
    ]


def linkify(text: str, region: str = "CA") -> Markup:
    """Post text as HTML: everything escaped, web addresses and phone numbers made links.

    Only ``http(s)`` and ``tel:`` links are made; web links carry ``rel="nofollow ugc"`` (the text is the
    owner's, not vouched for by Ardoise). A phone number inside an address stays part of the address.
    """
    text = html_safe(text)
    spans = _urls(text)
    for start, end, href in _phones(text, region):
        if not any(s < end and start < e for s, e, _ in spans):
            spans.append((start, end, href))
    spans.sort()
    out: list[str] = []
    pos = 0
    for start, end, href in spans:
        out.append(str(escape(text[pos:start])))
        rel = "" if href.startswith("tel:") else ' rel="nofollow ugc"'  # rel means nothing to a dialler
        out.append(f'<a href="{escape(href)}"{rel}>{escape(text[start:end])}</a>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def cut(text: str, limit: int) -> str:
    """The first line of ``text`` in at most ``limit`` characters, cut at a word boundary with an ellipsis."""
    line = " ".join(text.strip().split("\n", 1)[0].split())
    if len(line) <= limit:
        return line
    head = line[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + "…"
