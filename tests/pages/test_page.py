"""The built-in page ``/b/{slug}``, its single-post pages and its Atom feed; then the page in headless Chromium."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL
from tests.helpers import drain
from tests.support.chromium import chromium, dump_dom
from tests.support.live import live_settings, seeding, serving

ATOM = "{http://www.w3.org/2005/Atom}"
ACCENTS = "Soupe à l’oignon, crème brûlée et « café » : c’est ça, l’été à Québec ! Où ? Là-bas, naïf Noël"
LONG_FR = (
    "Menu du jour : soupe à l’oignon gratinée, tartare de saumon à l’aneth, jarret d’agneau braisé au vin "
    "rouge, purée de céleri-rave et légumes racines rôtis. Dessert : crème brûlée à l’érable ou tarte au "
    "sucre maison. Réservez au 418 555-0100 — terrasse ouverte dès 11 h 30, on vous attend ! Numéro {n}"
)
FOURTEEN_KB = 14 * 1024


class Meta(HTMLParser):
    """The ``<html lang>``, ``<title>``, ``<meta>`` tags and visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.meta: dict[str, str] = {}
        self.links: list[dict[str, str]] = []
        self.scripts = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "meta" and ("property" in a or "name" in a):
            self.meta[a.get("property") or a["name"]] = a.get("content", "")
        elif tag == "link":
            self.links.append(a)
        elif tag == "script" and a.get("type") != "application/ld+json":
            self.scripts += 1  # JSON-LD is data, not JavaScript
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse(html: str) -> Meta:
    p = Meta()
    p.feed(html)
    return p


async def business(
    client: httpx.AsyncClient, auth: dict[str, str], slug: str = "bistro", name: str = "Bistro Démo", lang: str = "fr"
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/businesses",
        headers=auth,
        json={"name": name, "slug": slug, "language": lang, "timezone": "America/Toronto"},
    )
    assert r.status_code == 201, r.text
    biz: dict[str, Any] = r.json()
    return biz


async def post(client: httpx.AsyncClient, auth: dict[str, str], biz: dict[str, Any], text: str) -> dict[str, Any]:
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": text})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


@BOTH_BACKENDS
async def test_page_has_lang_open_graph_and_accents(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth)
    await post(client, auth, biz, "Hier soir")
    await post(client, auth, biz, ACCENTS)
    await drain(runner)
    r = await client.get("/b/bistro")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.content.decode("utf-8")
    page = parse(html)
    assert page.lang == "fr"
    assert page.title == "Bistro Démo"
    assert page.meta["og:title"] == "Bistro Démo"
    assert page.meta["og:type"] == "website"
    assert page.meta["og:url"] == f"{PUBLIC_URL}/b/bistro"
    assert page.meta["og:locale"] == "fr_CA"
    assert page.meta["og:description"] == ACCENTS  # the newest post
    assert page.meta["description"] == ACCENTS
    assert "width=device-width" in page.meta["viewport"]
    assert {"rel": "alternate", "type": "application/atom+xml"}.items() <= next(
        link for link in page.links if link.get("type") == "application/atom+xml"
    ).items()
    assert page.scripts == 0  # no JavaScript needed
    assert ACCENTS in html  # raw UTF-8, no entity or mojibake
    assert html.index(ACCENTS) < html.index("Hier soir")  # newest first


async def test_english_page_and_empty_page(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await business(client, auth, slug="corner", name="Corner Café", lang="en")
    r = await client.get("/b/corner")
    page = parse(r.text)
    assert page.lang == "en"
    assert page.meta["og:locale"] == "en_CA"
    assert page.meta["og:description"] == "Corner Café"
    assert "Nothing posted yet." in r.text


async def test_page_escapes_html_in_posts_and_names(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth, name='Chez <Toto> & "fils"')
    evil = '<script>alert("pwned")</script> <img src=x onerror=alert(1)> & <b>gras</b>'
    await post(client, auth, biz, evil)
    await drain(runner)
    for path in ("/b/bistro", "/b/bistro/p/1"):
        html = (await client.get(path)).text
        assert "<script>" not in html
        assert html.count("<script") == (1 if path == "/b/bistro" else 0)  # the JSON-LD only
        assert "<img src=x" not in html
        assert "<b>gras" not in html
        assert "&lt;script&gt;alert(" in html
        assert "Chez &lt;Toto&gt; &amp; " in html
        page = parse(html)
        assert page.scripts == 0
        assert page.meta["og:description"] == evil  # the attribute holds the text, escaped, not markup
        assert page.meta["og:title"] == 'Chez <Toto> & "fils"'


async def test_page_with_twenty_long_french_posts_is_under_14_kb(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth, name="Bistro Le Petit Gourmand de la Côte-de-Beaupré")
    for n in range(1, 22):
        await post(client, auth, biz, LONG_FR.format(n=n))
    await drain(runner)
    r = await client.get("/b/bistro")
    size = len(r.content)
    assert size < FOURTEEN_KB, f"{size} bytes"
    shown = [n for n in range(1, 22) if f"Numéro {n}<" in r.text]
    assert shown == list(range(2, 22))  # the 20 newest
    assert len(LONG_FR) > 280


@BOTH_BACKENDS
async def test_post_is_on_the_page_when_its_answer_is(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """The page needs no job: the post and its page delivery commit in the request's transaction."""
    biz = await business(client, auth)
    await post(client, auth, biz, "Pain au levain tout chaud")
    assert "Pain au levain" in (await client.get("/b/bistro")).text
    assert "Pain au levain" in (await client.get("/b/bistro/feed.atom")).text
    assert (await client.get("/b/bistro/p/1")).status_code == 200


@BOTH_BACKENDS
async def test_atom_feed_is_valid_newest_first_with_accents(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth)
    texts = ["Premier : café offert", "Deuxième : « brunch » dès 9 h", ACCENTS]
    for text in texts:
        await post(client, auth, biz, text)
    await drain(runner)
    r = await client.get("/b/bistro/feed.atom")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}title") == "Bistro Démo"
    assert (root.findtext(f"{ATOM}id") or "").startswith("tag:ardoise,")
    assert root.findtext(f"{ATOM}updated")
    rels = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert rels["self"] == f"{PUBLIC_URL}/b/bistro/feed.atom"
    assert rels["alternate"] == f"{PUBLIC_URL}/b/bistro"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content") for e in entries] == texts[::-1]
    day = biz["created_at"][:10]
    assert [e.findtext(f"{ATOM}id") for e in entries] == [f"tag:ardoise,{day}:bistro/{n}" for n in (3, 2, 1)]
    for e in entries:
        assert e.findtext(f"{ATOM}title")
        assert e.findtext(f"{ATOM}updated")
        assert e.find(f"{ATOM}link") is not None


async def test_single_post_page(client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]) -> None:
    biz = await business(client, auth)
    await post(client, auth, biz, "Le premier")
    await post(client, auth, biz, ACCENTS)
    await drain(runner)
    r = await client.get("/b/bistro/p/2")
    assert r.status_code == 200
    assert ACCENTS in r.text
    assert "Le premier" not in r.text
    page = parse(r.text)
    assert page.meta["og:url"] == f"{PUBLIC_URL}/b/bistro/p/2"
    assert page.lang == "fr"
    assert (await client.get("/b/bistro/p/99")).status_code == 404
    assert (await client.get("/b/bistro/p/abc")).status_code in (404, 422)


@pytest.mark.parametrize(
    "path", ["/b/nobody", "/b/nobody/feed.atom", "/b/nobody/p/1", "/b/", "/b/nobody/menu", "/b/nobody/p/1/x"]
)
async def test_unknown_slug_is_a_small_html_404(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Page introuvable" in r.text
    assert len(r.content) < 1024
    assert (await client.head(path)).status_code == 404


async def test_a_page_address_with_a_trailing_slash_goes_to_the_page(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await business(client, auth)
    r = await client.get("/b/bistro/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (308, "../bistro")
    assert str((await client.get("/b/bistro/", follow_redirects=True)).url) == f"{PUBLIC_URL}/b/bistro"


# --- headless Chromium on a real server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def live_page(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> AsyncIterator[str]:
    """A real uvicorn server serving a business with one published post."""
    settings = live_settings(tmp_path_factory.mktemp("live"), sqlite_template)
    async with seeding(settings) as (c, auth, _):
        biz = await business(c, auth, slug="demo")
        await post(c, auth, biz, ACCENTS)
    async with serving(settings) as url:
        yield url


async def test_page_renders_in_headless_chromium(live_page: str, tmp_path: Path) -> None:
    exe = chromium()
    async with httpx.AsyncClient(timeout=10) as c:  # the real server answers before Chromium is asked
        assert (await c.get(f"{live_page}/b/demo")).status_code == 200
    done = await asyncio.to_thread(dump_dom, exe, f"{live_page}/b/demo", tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert '<html lang="fr">' in dom
    assert "<h1>Bistro Démo</h1>" in dom
    for fragment in ("à l’oignon", "crème brûlée", "« café »", "c’est ça", "l’été à Québec", "naïf Noël"):
        assert fragment in dom, fragment
    assert "Ã" not in dom  # no mojibake (UTF-8 read as Latin-1)
