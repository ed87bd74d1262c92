"""Post text on the page (links, escaping) and the Atom writer's own rules (titles, XML-invalid characters)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from app.pages.feed import ATOM_NS, Enclosure, Entry, atom, entry_title, tag_uri
from app.pages.text import cut, linkify, xml_safe

A = "{" + ATOM_NS + "}"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        pytest.param("Menu: https://bistro.example/menu.", 'Menu: <a href="https://bistro.example/menu" '
                     'rel="nofollow ugc">https://bistro.example/menu</a>.', id="url-trailing-dot"),
        pytest.param("(voir http://x.example/a_(b))", '(voir <a href="http://x.example/a_(b)" rel="nofollow ugc">'
                     "http://x.example/a_(b)</a>)", id="parentheses"),
        pytest.param("Appelez le 418 555-0161 !", 'Appelez le <a href="tel:+14185550161">418 555-0161</a> !',
                     id="phone"),
        pytest.param("javascript:alert(1) data:text/html,<b>x</b>",
                     "javascript:alert(1) data:text/html,&lt;b&gt;x&lt;/b&gt;", id="other-schemes-stay-text"),
        pytest.param('https://e.example/?a=1&b="2"<script>',
                     '<a href="https://e.example/?a=1&amp;b=" rel="nofollow ugc">'
                     'https://e.example/?a=1&amp;b=</a>&#34;2&#34;&lt;script&gt;', id="escaped"),
        pytest.param("https://e.example/r/4185550161", '<a href="https://e.example/r/4185550161" rel="nofollow ugc">'
                     "https://e.example/r/4185550161</a>", id="digits-inside-url-stay-url"),
        pytest.param("Le 12 décembre à 17 h", "Le 12 décembre à 17 h", id="no-false-phone"),
        pytest.param("a\x0bb\x85c\x00\td\ne", "a b c\td\ne", id="control-characters-dropped"),
    ],
)  # fmt: skip
def test_linkify(text: str, html: str) -> None:
    assert str(linkify(text)) == html


def test_titles_are_cut_at_a_word_boundary() -> None:
    text = "Menu du jour : soupe à l’oignon gratinée, tartare de saumon à l’aneth, jarret d’agneau braisé au vin"
    title = cut(text, 80)
    assert len(title) <= 80
    assert title.endswith("…")
    assert text.startswith(title[:-1])
    assert text[len(title) - 1] == " "  # the cut fell between two words
    assert cut("Court\nsecond line", 80) == "Court"
    assert entry_title("\x0b\x01", 7) == "#7"


def test_xml_invalid_characters_are_dropped() -> None:
    assert xml_safe("a\x00b\x0bc\x1fd\tе\n\ufffe") == "ab cd\tе\n"


def test_feed_document() -> None:
    made = datetime(2026, 3, 1, 12, tzinfo=UTC)
    entry = Entry(
        id=tag_uri(made, "bistro", 3),
        title=entry_title("Photo\x07 du jour", 3),
        text="Photo\x07 du jour & <b>",
        link="https://a.example/b/bistro/p/3",
        published=made,
        updated=made,
        enclosures=(Enclosure("https://a.example/media/x.jpg", "image/jpeg", 1234),),
    )
    root = ET.fromstring(
        atom(
            feed_id=tag_uri(made, "bistro"),
            title="Bistro",
            subtitle=None,
            page_url="https://a.example/b/bistro",
            self_url="https://a.example/b/bistro/feed.atom",
            language="fr",
            updated=made,
            entries=[entry],
        )
    )
    assert root.findtext(f"{A}id") == "tag:ardoise,2026-03-01:bistro"
    e = root.find(f"{A}entry")
    assert e is not None
    assert e.findtext(f"{A}id") == "tag:ardoise,2026-03-01:bistro/3"
    assert e.findtext(f"{A}title") == "Photo du jour"
    assert e.findtext(f"{A}content") == "Photo du jour & <b>"
    assert e.findtext(f"{A}updated") == "2026-03-01T12:00:00Z"
    links = [(x.get("rel"), x.get("type"), x.get("href"), x.get("length")) for x in e.findall(f"{A}link")]
    assert links == [
        ("alternate", "text/html", "https://a.example/b/bistro/p/3", None),
        ("enclosure", "image/jpeg", "https://a.example/media/x.jpg", "1234"),
    ]
