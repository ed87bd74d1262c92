"""How Mastodon counts a status (every URL 23, ``@user@domain`` as ``@user``) and its HTML as plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import regex

DEFAULT_URL_CHARACTERS = 23  # Mastodon counts every http(s) URL as 23 characters, whatever its length

# Approximations of twitter-text's extractors, which Mastodon uses to count: URLs need a scheme
# (``extract_url_without_protocol: false``) and lose trailing punctuation; a mention ``@user@domain``
# counts as ``@user``.
_URL_RE = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}»…"
_MENTION_RE = re.compile(r"(?<![=/\w@])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w.-]+\w)?", re.IGNORECASE)


def measure_text(text: str, *, url_chars: int = DEFAULT_URL_CHARACTERS) -> int:
    """Length as Mastodon's StatusLengthValidator counts it: grapheme clusters, URLs as ``url_chars``,
    ``@user@domain`` as ``@user``."""
    countable = _URL_RE.sub(lambda m: _url_placeholder(m.group(0), url_chars), text)
    countable = _MENTION_RE.sub(lambda m: "@" + m.group(1), countable)
    return len(regex.findall(r"\X", countable))


def _url_placeholder(url: str, url_chars: int) -> str:
    kept = url.rstrip(_URL_TRAILING)
    return "x" * url_chars + url[len(kept) :]


def html_to_text(html: str) -> str:
    """A status ``content`` (HTML) as the plain text its author typed: ``<br>`` is a line break, ``<p>`` a
    paragraph, and link texts are joined back (Mastodon hides parts of long URLs in invisible spans)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._parts.append("\n")
        elif tag == "p" and self._parts:
            self._parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self._parts.append(data)

    def text(self) -> str:
        return "".join(self._parts).strip()


def normalized(text: str) -> str:
    """Text reduced for comparing what we sent with what the instance shows (mentions lose their domain when
    rendered, whitespace is re-flowed into paragraphs)."""
    text = _MENTION_RE.sub(lambda m: "@" + m.group(1), text)
    return " ".join(text.split())
