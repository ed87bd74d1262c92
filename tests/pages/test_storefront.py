"""The page as a storefront: the profile set through the admin API, JSON-LD, sharing tags, links in posts, photos
as sized variants, older posts, HTML errors, validators (ETag/Last-Modified/304), HEAD and gzip, and the feed's
enclosures. Parsed with html5lib in strict mode: any HTML parse error fails the test."""

from __future__ import annotations

import gzip
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import html5lib
import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from app.businesses import service as business_service
from app.kit import media as media_store
from app.posts import service as post_service
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL
from tests.helpers import drain
from tests.kit.test_variants import photo
from tests.pages.test_page import ATOM, business, parse, post

PROFILE: dict[str, Any] = {
    "description": "Bistro de quartier, cuisine du marché.",
    "address": "123 rue Saint-Germain Est, Rimouski, QC G5L 1A1",
    "website": "https://bistro.example",
    "opening_hours": ["Mo-Fr 11:00-21:00", "Sa 17:00-22:00"],
    "phone": "418 555-0161",
}
HTML_NS = "{http://www.w3.org/1999/xhtml}"


def strict(html: str | bytes) -> ET.Element:
    """Parse with html5lib in strict mode: a parse error (bad nesting, stray tag, bad doctype) raises."""
    tree: ET.Element = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(html)
    return tree


def links(tree: ET.Element) -> list[dict[str, str]]:
    return [dict(a.attrib) | {"text": "".join(a.itertext())} for a in tree.iter(f"{HTML_NS}a")]


def json_ld(html: str) -> dict[str, Any]:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(blocks) == 1
    data: dict[str, Any] = json.loads(blocks[0])
    return data


async def profiled(client: httpx.AsyncClient, auth: dict[str, str], lang: str = "fr") -> dict[str, Any]:
    biz = await business(client, auth, lang=lang)
    r = await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json=PROFILE)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def photo_post(rt: Runtime, slug: str, text: str, data: bytes, alt: str = "") -> str:
    """A post with a stored photo, made the way the SMS and email paths make one (the file already stored)."""
    name = media_store.store(Path(rt.settings.media_dir), data, "image/jpeg")
    item = {"path": name, "url": f"{PUBLIC_URL}/media/{name}", "content_type": "image/jpeg"}
    if alt:
        item["alt"] = alt
    async with rt.db.write() as s:
        biz = await business_service.by_slug(s, slug)
        assert biz is not None
        await post_service.create(s, biz=biz, text=text, media=[item], actor="test")
    return name


# --- profile -----------------------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_profile_is_set_read_and_cleared_through_the_admin_api(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    biz = await profiled(client, auth)
    assert {k: biz[k] for k in PROFILE if k != "phone"} == {k: v for k, v in PROFILE.items() if k != "phone"}
    assert biz["phone"] == "+14185550161"
    assert biz["logo_url"] is None
    again = (await client.get(f"/api/v1/businesses/{biz['id']}", headers=auth)).json()
    assert again["opening_hours"] == PROFILE["opening_hours"]
    r = await client.patch(
        f"/api/v1/businesses/{biz['id']}", headers=auth, json={"opening_hours": None, "description": ""}
    )
    assert r.status_code == 200
    assert r.json()["opening_hours"] == []
    assert r.json()["description"] is None
    assert r.json()["address"] == PROFILE["address"]  # untouched


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        pytest.param("opening_hours", ["Lu-Ve 11:00-21:00"], "unknown day", id="french-days"),
        pytest.param("opening_hours", ["Mo-Fr 11h-21h"], "days then hours", id="times"),
        pytest.param("opening_hours", ["Mo 10:00-11:00"] * 15, "at most", id="too-many"),
        pytest.param("website", "javascript:alert(1)", "http(s)", id="script-url"),
        pytest.param("website", "bistro.example", "http(s)", id="no-scheme"),
        pytest.param("description", "x" * 501, "500", id="long-description"),
    ],
)
async def test_bad_profile_is_refused_with_a_reason(
    client: httpx.AsyncClient, auth: dict[str, str], field: str, value: Any, reason: str
) -> None:
    biz = await business(client, auth)
    r = await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json={field: value})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert reason in r.json()["detail"]


@BOTH_BACKENDS
async def test_page_shows_the_profile_with_json_ld(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    await profiled(client, auth)
    html = (await client.get("/b/bistro")).text
    tree = strict(html)
    text = "".join(tree.itertext())
    for shown in (PROFILE["description"], PROFILE["address"], "lun.–ven. 11 h–21 h", "sam. 17 h–22 h"):
        assert shown in text, shown
    found = links(tree)
    assert {"href": "tel:+14185550161", "text": "(418) 555-0161"}.items() <= next(
        a for a in found if a["href"].startswith("tel:")
    ).items()  # national format, E.164 link
    assert any(a["href"] == "https://bistro.example" and a["text"] == "bistro.example" for a in found)
    ld = json_ld(html)
    assert ld["@type"] == "LocalBusiness"
    assert ld["name"] == "Bistro Démo"
    assert ld["telephone"] == "+14185550161"
    assert ld["address"] == {"@type": "PostalAddress", "streetAddress": PROFILE["address"]}
    assert ld["openingHoursSpecification"][1] == {
        "@type": "OpeningHoursSpecification",
        "dayOfWeek": ["Saturday"],
        "opens": "17:00",
        "closes": "22:00",
    }
    assert parse(html).meta["description"] == PROFILE["description"]


async def test_english_page_shows_english_hours(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await profiled(client, auth, lang="en")
    html = (await client.get("/b/bistro")).text
    # each rule in a no-wrap span: "Sat 5 pm–10 pm" never leaves "10 pm" alone on the next line
    assert '<span class="n">Mon–Fri 11 am–9 pm</span> · <span class="n">Sat 5 pm–10 pm</span>' in html
    assert parse(html).lang == "en"


async def test_json_ld_cannot_be_broken_out_of(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz = await business(client, auth, name="</script><script>alert(1)</script>")
    await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json={"description": "a & b <!-- c"})
    html = (await client.get("/b/bistro")).text
    assert html.count("<script") == 1
    assert json_ld(html)["name"] == "</script><script>alert(1)</script>"
    assert json_ld(html)["description"] == "a & b <!-- c"
    assert parse(html).scripts == 0


# --- posts: links, photos, pages ------------------------------------------------------------------------------


async def test_urls_and_phone_numbers_in_posts_become_links(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth)
    await post(client, auth, biz, "Réservez au 418 555 0161 ou https://bistro.example/menu. <b>Merci</b>")
    await drain(runner)
    for path in ("/b/bistro", "/b/bistro/p/1"):
        tree = strict((await client.get(path)).text)
        article = next(tree.iter(f"{HTML_NS}article"))
        found = links(article)
        assert {"href": "tel:+14185550161", "text": "418 555 0161"} in found
        assert {
            "href": "https://bistro.example/menu",
            "rel": "nofollow ugc",
            "text": "https://bistro.example/menu",
        } in (found)
        assert "<b>Merci</b>" in "".join(article.itertext())  # shown as text, not markup


@BOTH_BACKENDS
async def test_photo_is_served_as_sized_lazy_variants_with_alt_text(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    await business(client, auth)
    raw = photo()
    await photo_post(rt, "bistro", "Tarte au sucre maison, tout juste sortie du four", raw)
    await photo_post(rt, "bistro", "Deuxième", photo(900, 1200), alt="Une assiette de pâtes")
    await drain(runner)
    r = await client.get("/b/bistro")
    tree = strict(r.text)
    imgs = [dict(i.attrib) for i in tree.iter(f"{HTML_NS}img")]
    assert [i["alt"] for i in imgs] == ["Une assiette de pâtes", "Tarte au sucre maison, tout juste sortie du four"]
    big = imgs[1]
    assert (big["width"], big["height"], big["loading"]) == ("400", "267", "lazy")
    candidates = [c.strip().split(" ") for c in big["srcset"].split(",")]
    assert [w for _, w in candidates] == ["400w", "800w"]
    for url, _ in candidates:
        m = await client.get(urljoin(f"{PUBLIC_URL}/b/bistro", url))
        assert m.status_code == 200
        assert m.headers["content-type"] == "image/jpeg"
        assert m.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(m.content) < 100_000 < len(raw)
    page = parse(r.text)
    assert page.meta["og:image"].startswith(f"{PUBLIC_URL}/media/")
    assert page.meta["og:image"].endswith("-800-q70.jpg")
    assert page.meta["twitter:card"] == "summary_large_image"
    post_page = parse((await client.get("/b/bistro/p/1")).text)
    assert post_page.meta["og:type"] == "article"
    assert post_page.meta["og:image:width"] == "800"
    assert post_page.meta["og:image:alt"] == "Tarte au sucre maison, tout juste sortie du four"
    assert post_page.meta["og:description"] == "Tarte au sucre maison, tout juste sortie du four"


@pytest.mark.parametrize(("lang", "alt"), [("fr", "Photo de Bistro Démo"), ("en", "Photo from Bistro Démo")])
async def test_a_photo_posted_without_text_still_has_alt_text(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime, lang: str, alt: str
) -> None:
    """A photo alone (an MMS without caption that OCR did not read) is content, not decoration: never alt=""."""
    await business(client, auth, lang=lang)
    await photo_post(rt, "bistro", "", photo())
    await drain(runner)
    html = (await client.get("/b/bistro")).text
    assert [i.get("alt") for i in strict(html).iter(f"{HTML_NS}img")] == [alt]
    assert parse((await client.get("/b/bistro/p/1")).text).meta["og:image:alt"] == alt


@BOTH_BACKENDS
async def test_older_posts_through_keyset_links(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth)
    for n in range(1, 46):
        await post(client, auth, biz, f"Publication numéro {n}.")
    await drain(runner)
    url, pages = f"{PUBLIC_URL}/b/bistro", []
    while True:
        r = await client.get(url)
        assert r.status_code == 200
        tree = strict(r.text)
        shown = "".join("".join(a.itertext()) for a in tree.iter(f"{HTML_NS}article"))
        pages.append([int(n) for n in re.findall(r"Publication numéro (\d+)\.", shown)])
        older = [a for a in links(tree) if a.get("rel") == "next"]
        if not older:
            break
        assert older[0]["text"] == "Plus anciens →"
        url = urljoin(url, older[0]["href"])
    assert pages == [list(range(45, 25, -1)), list(range(25, 5, -1)), list(range(5, 0, -1))]
    assert url == f"{PUBLIC_URL}/b/bistro?before=6"
    newer = next(a for a in links(strict(r.text)) if a["text"] == "← Plus récents")
    assert urljoin(url, newer["href"]) == f"{PUBLIC_URL}/b/bistro"
    for bad in ("abc", "0", "-3", "99999999999"):
        r = await client.get(f"/b/bistro?before={bad}")
        assert r.status_code == 400
        assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Rien de plus ancien." in (await client.get("/b/bistro?before=1")).text


async def test_post_page_links_back_and_deleted_post_is_gone(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth)
    await post(client, auth, biz, "Soupe du jour")
    created = await post(client, auth, biz, "Retiré bientôt")
    await drain(runner)
    tree = strict((await client.get("/b/bistro/p/1")).text)
    back = next(a for a in links(tree) if a["text"] == "← Toutes les publications")
    assert urljoin(f"{PUBLIC_URL}/b/bistro/p/1", back["href"]) == f"{PUBLIC_URL}/b/bistro"
    feed = next(a for a in links(tree) if a["text"] == "Fil Atom")
    assert urljoin(f"{PUBLIC_URL}/b/bistro/p/1", feed["href"]) == f"{PUBLIC_URL}/b/bistro/feed.atom"
    r = await client.delete(f"/api/v1/businesses/{biz['id']}/posts/{created['id']}", headers=auth)
    assert r.status_code in (200, 202, 204), r.text
    await drain(runner)
    gone = await client.get("/b/bistro/p/2")
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "text/html; charset=utf-8"
    assert "Cette publication a été retirée." in gone.text
    strict(gone.text)
    for path in ("/b/bistro/p/3", "/b/bistro/p/abc", "/b/bistro/p/0", "/b/bistro/p/99999999999"):
        r = await client.get(path)
        assert (r.status_code, r.headers["content-type"]) == (404, "text/html; charset=utf-8"), path
        strict(r.text)
    assert (await client.head("/b/bistro/p/2")).status_code == 410
    strict((await client.get("/b/nobody")).text)


# --- low bandwidth: validators, HEAD, gzip -------------------------------------------------------------------


@BOTH_BACKENDS
@pytest.mark.parametrize("path", ["/b/bistro", "/b/bistro/p/1", "/b/bistro/feed.atom"])
async def test_validators_304_and_head(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], path: str
) -> None:
    biz = await business(client, auth)
    await post(client, auth, biz, "Premier plat " * 60)
    await drain(runner)
    r = await client.get(path)
    assert r.status_code == 200
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('W/"')
    assert r.headers["content-encoding"] == "gzip"  # httpx asks for it, as browsers do
    assert int(r.headers["content-length"]) < len(r.content)
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get(path, headers={"If-Modified-Since": modified})).status_code == 304
    assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200
    head = await client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == etag
    assert head.headers["content-type"] == r.headers["content-type"]
    plain = await client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == r.content
    # Something new on the page: the old validators no longer match.
    await post(client, auth, biz, "Second plat")
    await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json={"description": "Nouveau"})
    await drain(runner)
    if path != "/b/bistro/p/1":
        assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 200


async def test_media_validators(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> None:
    await business(client, auth)
    name = await photo_post(rt, "bistro", "Photo", photo(600, 400))
    r = await client.get(f"/media/{name}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-encoding" not in r.headers  # JPEG is not compressed again
    assert (await client.get(f"/media/{name}", headers={"If-None-Match": r.headers["etag"]})).status_code == 304
    since = {"If-Modified-Since": r.headers["last-modified"]}
    assert (await client.get(f"/media/{name}", headers=since)).status_code == 304
    head = await client.head(f"/media/{name}")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(r.content)))


async def test_twenty_posts_fit_the_first_round_trip_with_a_profile(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await profiled(client, auth)
    for i in range(24):
        text = f"Menu {i}: potage, jarret d'agneau, tarte au sucre. Réservez au 418 555 0161 ou https://bistro.example/menu"
        await post(client, auth, biz, text)
    await drain(runner)
    plain = await client.get("/b/bistro", headers={"Accept-Encoding": "identity"})
    zipped = await client.get("/b/bistro", headers={"Accept-Encoding": "gzip"})
    assert len(plain.content) < 14 * 1024
    assert int(zipped.headers["content-length"]) < 14 * 1024
    assert int(zipped.headers["content-length"]) == len(gzip.compress(plain.content, 9)) or (
        int(zipped.headers["content-length"]) < len(plain.content) / 3
    )
    assert plain.text.count("<article") == 20
    assert '<link rel="stylesheet"' not in plain.text  # CSS inline, nothing else to fetch
    assert not re.search(r'src="https?://(?!testserver)', plain.text)  # no external assets


# --- the feed ----------------------------------------------------------------------------------------------


async def test_feed_has_one_alternate_per_entry_and_photos_as_enclosures(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    biz = await business(client, auth)
    raw = photo(600, 400)
    name = await photo_post(
        rt, "bistro", "Photo du jour, une assiette magnifique et bien garnie pour ce midi seulement, venez vite", raw
    )
    await post(client, auth, biz, "Sans photo, contrôle")
    await drain(runner)
    root = ET.fromstring((await client.get("/b/bistro/feed.atom")).content)
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 2
    for e in entries:
        rels = [link.get("rel") for link in e.findall(f"{ATOM}link")]
        assert rels.count("alternate") == 1
    enclosures = [link.attrib for link in entries[1].findall(f"{ATOM}link") if link.get("rel") == "enclosure"]
    assert enclosures == [
        {"rel": "enclosure", "type": "image/jpeg", "href": f"{PUBLIC_URL}/media/{name}", "length": str(len(raw))}
    ]
    title = entries[1].findtext(f"{ATOM}title") or ""
    assert title == "Photo du jour, une assiette magnifique et bien garnie pour ce midi seulement…"
    assert "\x0b" not in (entries[0].findtext(f"{ATOM}content") or "")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"tag:ardoise,{biz['created_at'][:10]}:bistro/{n}" for n in (2, 1)
    ]  # no public URL inside: ids survive a move


# --- logo --------------------------------------------------------------------------------------------------


def logo_png() -> bytes:
    """A round terracotta badge with a white "A", as a small business's logo might be."""
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((0, 0, 299, 299), fill=(163, 64, 42, 255))
    draw.text((150, 150), "A", fill="white", anchor="mm", font=ImageFont.load_default(size=190))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@BOTH_BACKENDS
async def test_logo_is_uploaded_shown_and_removed(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await business(client, auth)
    url = f"/api/v1/businesses/{biz['id']}/logo"
    for ctype, body, reason in (
        ("image/png", b"not a picture", "not a readable"),
        ("text/plain", logo_png(), "send the logo as"),
        ("", logo_png(), "not nothing"),
    ):
        r = await client.put(url, headers={**auth, "Content-Type": ctype} if ctype else auth, content=body)
        assert r.status_code == 422, (ctype, r.text)
        assert reason in r.json()["detail"]
    r = await client.put(url, headers={**auth, "Content-Type": "image/png"}, content=logo_png())
    assert r.status_code == 200, r.text
    logo_url = r.json()["logo_url"]
    assert logo_url.startswith(f"{PUBLIC_URL}/media/")
    assert logo_url.endswith(".png")
    assert (await client.get(logo_url)).content == logo_png()
    html = (await client.get("/b/bistro")).text
    tree = strict(html)
    logo = next(i.attrib for i in tree.iter(f"{HTML_NS}img") if i.get("class") == "logo")
    assert (await client.get(urljoin(f"{PUBLIC_URL}/b/bistro", logo["src"]))).headers["content-type"] == "image/jpeg"
    page = parse(html)
    assert page.meta["og:image"].endswith("-300-q70.jpg")  # no photo yet: the logo previews the page
    assert json_ld(html)["image"] == page.meta["og:image"]
    r = await client.delete(url, headers=auth)
    assert r.status_code == 200
    assert r.json()["logo_url"] is None
    assert 'class="logo"' not in (await client.get("/b/bistro")).text
