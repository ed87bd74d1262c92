"""The Atom feed (RFC 4287) of a business's page, written with ``xml.etree``.

Written here rather than with feedgen, which drops ``rel`` and ``type`` from an entry's extra links so a photo
became a second ``rel="alternate"`` (lkiesow/python-feedgen#135). What RFC 4287 asks and this keeps:
one ``rel="alternate"`` link per entry (the post page), photos as ``rel="enclosure"`` with ``type`` and
``length``; ``id`` values are ``tag:`` URIs (RFC 4151) built from the slug, the business's creation date and
the post number, so they stay the same when the public URL changes; ``updated`` on the feed and every entry.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from app.pages.text import cut, xml_safe

ATOM_NS = "http://www.w3.org/2005/Atom"
TITLE_CHARS = 80


@dataclass(frozen=True, slots=True)
class Enclosure:
    href: str
    type: str
    length: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    text: str
    link: str
    published: datetime
    updated: datetime
    enclosures: tuple[Enclosure, ...] = ()


def tag_uri(created: datetime, slug: str, number: int | None = None) -> str:
    """``tag:ardoise,2026-12-03:bistro/12``: the same whatever ``ARDOISE_PUBLIC_URL`` is (RFC 4151)."""
    base = f"tag:ardoise,{created.astimezone(UTC).date().isoformat()}:{slug}"
    return base if number is None else f"{base}/{number}"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = xml_safe(text)
    return el


def entry_title(text: str, number: int) -> str:
    return cut(xml_safe(text), TITLE_CHARS) or f"#{number}"


def atom(
    *,
    feed_id: str,
    title: str,
    subtitle: str | None,
    page_url: str,
    self_url: str,
    language: str,
    updated: datetime,
    entries: list[Entry],
) -> bytes:
    """The feed document, UTF-8, newest entry first as given."""
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": language})
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    if subtitle:
        _sub(feed, "subtitle", subtitle)
    _sub(feed, "updated", _iso(updated))
    _sub(feed, "link", rel="alternate", type="text/html", href=page_url)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    author = _sub(feed, "author")
    _sub(author, "name", title)
    _sub(author, "uri", page_url)
    _sub(feed, "generator", "Ardoise")
    for e in entries:
        el = _sub(feed, "entry")
        _sub(el, "id", e.id)
        _sub(el, "title", e.title)
        _sub(el, "published", _iso(e.published))
        _sub(el, "updated", _iso(e.updated))
        _sub(el, "link", rel="alternate", type="text/html", href=e.link)
        for enc in e.enclosures:
            attrs = {"rel": "enclosure", "type": enc.type, "href": enc.href}
            if enc.length is not None:
                attrs["length"] = str(enc.length)
            _sub(el, "link", **attrs)
        _sub(el, "content", e.text, type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
