"""``/b/{slug}``: server-rendered, no JavaScript, small enough for one round trip on a slow link.

Every public route answers ``GET`` and ``HEAD`` with validators (``ETag``, ``Last-Modified``, 304); errors on
``/b/…`` are small HTML pages (404, 410 for a deleted post), never JSON. Links inside the page are relative so
it works under any public URL; ``canonical``, Open Graph and the feed use ``ARDOISE_PUBLIC_URL``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.businesses import service as business_service
from app.deps import RuntimeDep, SessionDep
from app.errors import NotFound
from app.kit import hours as hours_kit
from app.kit import media as media_store
from app.kit import variants
from app.kit.time import utcnow
from app.kit.when_fmt import fmt_moment
from app.models import Business, Post
from app.pages import feed as atom
from app.pages import service
from app.pages.http import cached, http_date, not_modified
from app.pages.text import cut, html_safe, linkify

router = APIRouter(tags=["page"])
_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())

WORDS = {
    "fr": {
        "address": "Adresse",
        "phone": "Tél.",
        "web": "Site",
        "hours": "Heures",
        "older": "Plus anciens →",
        "newer": "← Plus récents",
        "back": "← Toutes les publications",
        "feed": "Fil Atom",
        "empty": "Aucune publication pour l'instant.",
        "none_older": "Rien de plus ancien.",
        "gone": "Cette publication a été retirée.",
        "missing": "Cette publication n'existe pas.",
        "bad": "Adresse invalide.",
        "photo": "Photo de {name}",
    },
    "en": {
        "address": "Address",
        "phone": "Phone",
        "web": "Web",
        "hours": "Hours",
        "older": "Older →",
        "newer": "← Newer",
        "back": "← All posts",
        "feed": "Atom feed",
        "empty": "Nothing posted yet.",
        "none_older": "Nothing older.",
        "gone": "This post was removed.",
        "missing": "There is no such post.",
        "bad": "Bad address.",
        "photo": "Photo from {name}",
    },
}
PAGE_CACHE = "public, max-age=60"
MEDIA_CACHE = "public, max-age=31536000, immutable"  # names are content hashes: a name never changes content
SIZES_ATTR = "(min-width:38em) 36em,100vw"


def _words(biz: Business) -> dict[str, str]:
    return WORDS["fr" if biz.language == "fr" else "en"]


def _when(dt: datetime, biz: Business) -> str:
    """When a post was shown, in the business's time zone and language (``3 déc., 14 h 05`` / ``Dec 3, 2:05 pm``)."""
    zone = ZoneInfo(biz.timezone)
    local = dt.astimezone(zone)
    lang = "fr" if biz.language == "fr" else "en"
    return fmt_moment(local.replace(tzinfo=None), lang, with_year=local.year != utcnow().astimezone(zone).year)


def _region(biz: Business) -> str:
    if biz.phone:
        try:
            return phonenumbers.region_code_for_number(phonenumbers.parse(biz.phone)) or "CA"
        except phonenumbers.NumberParseException:
            pass
    return "CA"


def _phone(biz: Business) -> dict[str, str] | None:
    if not biz.phone:
        return None
    try:
        n = phonenumbers.parse(biz.phone)
    except phonenumbers.NumberParseException:
        return None
    return {
        "e164": phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164),
        "national": phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.NATIONAL),
    }


def _json_ld(biz: Business, page_url: str, logo_url: str | None) -> Markup:
    """schema.org LocalBusiness, made safe inside ``<script>`` (no ``<``, ``>`` or ``&`` left raw)."""
    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "LocalBusiness", "name": biz.name}
    data["url"] = biz.website or page_url
    if biz.website:
        data["mainEntityOfPage"] = page_url
    if biz.description:
        data["description"] = biz.description
    if biz.phone:
        data["telephone"] = biz.phone
    if biz.address:
        data["address"] = {"@type": "PostalAddress", "streetAddress": biz.address}
    if biz.opening_hours:
        data["openingHoursSpecification"] = hours_kit.specification(list(biz.opening_hours))
    if logo_url:
        data["image"] = logo_url
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


async def _pictures(rt: RuntimeDep, post: Post) -> list[tuple[dict[str, str], variants.Picture]]:
    media_dir = Path(rt.settings.media_dir)
    out = []
    for m in post.media:
        name = m.get("path")
        pic = await asyncio.to_thread(variants.picture, media_dir, name) if name else None
        if pic is not None:
            out.append((m, pic))
    return out


async def _render(
    request: Request,
    rt: RuntimeDep,
    biz: Business,
    rows: list[tuple[Post, datetime | None]],
    *,
    single: bool,
    older: str | None = None,
    newer: str | None = None,
    empty: str | None = None,
) -> bytes:
    url = rt.settings.public_url
    page_url = f"{url}/b/{biz.slug}"
    root = "../../../" if single else "../"  # from /b/{slug}/p/{n} or /b/{slug} to the site's root
    region, w = _region(biz), _words(biz)
    view: list[dict[str, Any]] = []
    og_image: dict[str, Any] | None = None
    for post, shown in rows:
        images = []
        for m, pic in await _pictures(rt, post):
            # The owner's caption or the text read from the photo; a photo posted alone is still described.
            described = m.get("alt") or m.get("caption") or cut(html_safe(post.text), 125)
            alt = html_safe(described or w["photo"].format(name=biz.name))
            images.append(
                {
                    "src": f"{root}media/{pic.src.name}",
                    "srcset": ",".join(f"{root}media/{v.name} {v.width}w" for v in pic.variants),
                    "width": pic.src.width,
                    "height": pic.src.height,
                    "alt": alt,
                }
            )
            if og_image is None:
                big = pic.largest
                og_image = {"url": f"{url}/media/{big.name}", "width": big.width, "height": big.height, "alt": alt}
        at = shown or post.created_at
        view.append(
            {
                "number": post.number,
                "html": linkify(post.text, region),
                "iso": at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "when": _when(at, biz),
                "link": str(post.number) if single else f"{biz.slug}/p/{post.number}",
                "images": images,
            }
        )
    logo = await asyncio.to_thread(variants.picture, Path(rt.settings.media_dir), biz.logo) if biz.logo else None
    logo_url = f"{url}/media/{logo.largest.name}" if logo else None
    if single and rows:
        post = rows[0][0]
        canonical = f"{page_url}/p/{post.number}"
        description = html_safe(cut(post.text, 200) if len(post.text) > 200 else post.text)
        title = f"{biz.name} · #{post.number}"
    else:
        canonical = page_url if not newer else f"{page_url}?before={request.query_params.get('before')}"
        first = html_safe(rows[0][0].text) if rows else ""
        description = biz.description or (cut(first, 200) if len(first) > 200 else first) or biz.name
        title = biz.name
    if og_image is None and logo is not None:
        og_image = {"url": logo_url, "width": logo.largest.width, "height": logo.largest.height, "alt": biz.name}
    website = urlsplit(biz.website).netloc.removeprefix("www.") if biz.website else ""
    html = _env.get_template("page.html").render(
        biz=biz,
        lang=biz.language,
        t=w,
        posts=view,
        title=title,
        description=description,
        canonical=canonical,
        og_type="article" if single else "website",
        og_image=og_image,
        feed_url=f"{page_url}/feed.atom",
        feed_link="../feed.atom" if single else f"{biz.slug}/feed.atom",
        jsonld=None if single else _json_ld(biz, page_url, logo_url),
        phone=_phone(biz),
        website_label=website,
        hours=[hours_kit.display(r, biz.language) for r in biz.opening_hours],
        logo={"src": f"{root}media/{logo.src.name}"} if logo else None,
        back=f"../../{biz.slug}" if single else None,
        older=older,
        newer=newer,
        empty=empty or w["empty"],
    )
    return html.encode("utf-8")


def _error(request: Request, status: int, biz: Business | None, message: str = "", home: str = "") -> Response:
    """A small HTML error page (in the business's language when known, else both), linking to ``home``."""
    if biz is None:
        lang, title, label = "fr", "Page introuvable · Page not found", ""
    else:
        lang, title, label = biz.language, biz.name, _words(biz)["back"]
    body = _env.get_template("error.html").render(lang=lang, title=title, message=message, home=home, home_label=label)
    return HTMLResponse(b"" if request.method == "HEAD" else body.encode(), status_code=status)


def _number(raw: str | None) -> int | None:
    """A post number or cursor from the URL: a positive 32-bit integer, else None."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    n = int(raw)
    return n if 0 < n < 2**31 else None


async def page(slug: str, request: Request, session: SessionDep, rt: RuntimeDep) -> Response:
    biz = await business_service.by_slug(session, slug)
    if biz is None:
        return _error(request, 404, None)
    raw_before = request.query_params.get("before")
    before = _number(raw_before)
    if raw_before is not None and before is None:
        return _error(request, 400, biz, _words(biz)["bad"], home=biz.slug)
    rows = await service.visible_posts(session, biz, limit=service.PAGE_SIZE + 1, before=before)
    more, rows = len(rows) > service.PAGE_SIZE, rows[: service.PAGE_SIZE]
    body = await _render(
        request,
        rt,
        biz,
        rows,
        single=False,
        older=f"{biz.slug}?before={rows[-1][0].number}" if more else None,
        newer=biz.slug if before is not None else None,
        empty=_words(biz)["none_older"] if before is not None else None,
    )
    changed = await service.last_change(session, biz)
    return cached(request, body, "text/html; charset=utf-8", last_modified=changed, cache_control=PAGE_CACHE)


async def one_post(slug: str, number: str, request: Request, session: SessionDep, rt: RuntimeDep) -> Response:
    biz = await business_service.by_slug(session, slug)
    if biz is None:
        return _error(request, 404, None)
    n = _number(number)
    post, shown, gone = await service.one_post(session, biz, n) if n is not None else (None, None, False)
    if post is None:
        words = _words(biz)
        return _error(request, 410 if gone else 404, biz, words["gone" if gone else "missing"], home=f"../../{slug}")
    body = await _render(request, rt, biz, [(post, shown)], single=True)
    changed = max(d for d in (shown, post.created_at, biz.updated_at) if d is not None)
    return cached(request, body, "text/html; charset=utf-8", last_modified=changed, cache_control=PAGE_CACHE)


async def feed(slug: str, request: Request, session: SessionDep, rt: RuntimeDep) -> Response:
    biz = await business_service.by_slug(session, slug)
    if biz is None:
        return _error(request, 404, None)
    rows = await service.visible_posts(session, biz, limit=service.FEED_SIZE)
    url = rt.settings.public_url
    media_dir = Path(rt.settings.media_dir)
    entries = []
    for post, shown in rows:
        enclosures = []
        for m in post.media:
            path = media_store.safe_path(media_dir, m.get("path", ""))
            if path is not None:
                ctype = m.get("content_type", "image/jpeg")
                enclosures.append(atom.Enclosure(f"{url}/media/{path.name}", ctype, path.stat().st_size))
        at = shown or post.created_at
        entries.append(
            atom.Entry(
                id=atom.tag_uri(biz.created_at, biz.slug, post.number),
                title=atom.entry_title(post.text, post.number),
                text=post.text,
                link=f"{url}/b/{biz.slug}/p/{post.number}",
                published=post.created_at,
                updated=at,
                enclosures=tuple(enclosures),
            )
        )
    changed = await service.last_change(session, biz)
    body = atom.atom(
        feed_id=atom.tag_uri(biz.created_at, biz.slug),
        title=biz.name,
        subtitle=biz.description,
        page_url=f"{url}/b/{biz.slug}",
        self_url=f"{url}/b/{biz.slug}/feed.atom",
        language=biz.language,
        updated=changed,
        entries=entries,
    )
    return cached(request, body, "application/atom+xml; charset=utf-8", last_modified=changed, cache_control=PAGE_CACHE)


async def media_file(name: str, request: Request, rt: RuntimeDep) -> Response:
    path = media_store.safe_path(Path(rt.settings.media_dir), name)
    if path is None:
        raise NotFound("no such media")
    stat = path.stat()
    modified = datetime.fromtimestamp(int(stat.st_mtime), tz=ZoneInfo("UTC"))
    etag = f'"{path.stem}"'  # the name is the content hash
    headers = {"ETag": etag, "Cache-Control": MEDIA_CACHE, "Last-Modified": http_date(modified)}
    if not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, headers=headers)


async def elsewhere(rest: str, request: Request) -> Response:
    """Any other address under ``/b/``: ``/b/{slug}/`` goes to the page (its links are relative to it), the rest
    is the small HTML 404 a customer can read, never the API's JSON."""
    slug = rest.removesuffix("/")
    if rest.endswith("/") and slug and "/" not in slug:
        return Response(status_code=308, headers={"Location": f"../{slug}"})
    return _error(request, 404, None)


for _path, _fn in (
    ("/b/{slug}", page),
    ("/b/{slug}/p/{number}", one_post),
    ("/b/{slug}/feed.atom", feed),
    ("/media/{name}", media_file),
):
    router.add_api_route(_path, _fn, methods=["GET"], response_class=HTMLResponse if "/b/" in _path else Response)
    router.add_api_route(_path, _fn, methods=["HEAD"], include_in_schema=False)
# Last: only what no route above takes (no API to document there).
router.add_api_route("/b/{rest:path}", elsewhere, methods=["GET", "HEAD"], include_in_schema=False)
