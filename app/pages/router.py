"""``/b/{slug}``: server-rendered, no JavaScript, small enough for one round trip on a slow link."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, HTMLResponse
from feedgen.feed import FeedGenerator
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlmodel import col

from app.businesses import service as business_service
from app.deps import Id, RuntimeDep, SessionDep
from app.errors import NotFound
from app.kit import media as media_store
from app.kit.textclean import strip_control
from app.models import Business, Delivery, DeliveryStatus, Post
from app.posts import service as post_service

router = APIRouter(tags=["page"])
_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())

MONTHS_FR = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]


def _when(dt: datetime, biz: Business) -> str:
    local = dt.astimezone(ZoneInfo(biz.timezone))
    if biz.language == "fr":
        return f"{local.day} {MONTHS_FR[local.month - 1]} {local.year}, {local.hour} h {local.minute:02d}"
    return local.strftime("%b %-d, %Y, %-I:%M %p")


async def _visible_posts(session: SessionDep, biz: Business, limit: int, number: int | None = None) -> list[Post]:
    """Posts whose page delivery is published (the worker has put them on the page), newest first."""
    q = (
        select(Post)
        .join(Delivery, col(Delivery.post_id) == col(Post.id))
        .where(
            col(Post.business_id) == biz.id,
            col(Post.deleted_at).is_(None),
            col(Post.reply_to_mention_id).is_(None),
            col(Delivery.network) == "page",
            col(Delivery.status) == DeliveryStatus.published.value,
        )
        .order_by(col(Post.number).desc())
        .limit(limit)
    )
    if number is not None:
        q = q.where(col(Post.number) == number)
    return list((await session.execute(q)).scalars())


async def _biz(session: SessionDep, slug: str) -> Business:
    biz = await business_service.by_slug(session, slug)
    if biz is None:
        raise NotFound(f"no page {slug!r}")
    return biz


def _render(biz: Business, posts: list[Post], public_url: str, canonical: str) -> str:
    view: list[dict[str, Any]] = [
        {
            "number": p.number,
            "text": p.text,
            "iso": p.created_at.isoformat(),
            "when": _when(p.created_at, biz),
            "link": post_service.permalink(public_url, biz, p.number),
            "media": [m for m in p.media if m.get("url")],
        }
        for p in posts
    ]
    first = posts[0].text if posts else ""
    description = (first[:150] + "…") if len(first) > 150 else first
    og_image = next((m["url"] for p in posts for m in p.media if m.get("url")), None)
    return _env.get_template("page.html").render(
        biz=biz,
        posts=view,
        title=biz.name,
        description=description or biz.name,
        canonical=canonical,
        feed_url=f"{public_url}/b/{biz.slug}/feed.atom",
        og_image=og_image,
        empty="Aucune publication pour l'instant." if biz.language == "fr" else "Nothing posted yet.",
    )


@router.get("/b/{slug}", response_class=HTMLResponse)
async def page(slug: str, session: SessionDep, rt: RuntimeDep) -> HTMLResponse:
    biz = await _biz(session, slug)
    posts = await _visible_posts(session, biz, 20)
    url = rt.settings.public_url
    return HTMLResponse(_render(biz, posts, url, f"{url}/b/{biz.slug}"), headers={"Cache-Control": "max-age=30"})


@router.get("/b/{slug}/p/{number}", response_class=HTMLResponse)
async def one_post(slug: str, number: Id, session: SessionDep, rt: RuntimeDep) -> HTMLResponse:
    biz = await _biz(session, slug)
    posts = await _visible_posts(session, biz, 1, number)
    if not posts:
        raise NotFound(f"no post #{number}")
    url = rt.settings.public_url
    return HTMLResponse(_render(biz, posts, url, post_service.permalink(url, biz, number)))


@router.get("/b/{slug}/feed.atom")
async def feed(slug: str, session: SessionDep, rt: RuntimeDep) -> Response:
    biz = await _biz(session, slug)
    posts = await _visible_posts(session, biz, 50)
    url = rt.settings.public_url
    fg = FeedGenerator()
    fg.id(f"{url}/b/{biz.slug}")
    fg.title(biz.name)
    fg.link(href=f"{url}/b/{biz.slug}", rel="alternate")
    fg.link(href=f"{url}/b/{biz.slug}/feed.atom", rel="self")
    fg.language(biz.language)
    fg.author({"name": biz.name})
    fg.updated(posts[0].created_at if posts else biz.created_at)
    for p in reversed(posts):  # feedgen prepends: add oldest first so the newest ends up first
        e = fg.add_entry()
        link = post_service.permalink(url, biz, p.number)
        e.id(link)
        text = strip_control(p.text)  # XML cannot hold a control character: a row stored before #11 may
        e.title(text.split("\n", 1)[0][:80] or f"#{p.number}")
        e.link(href=link)
        e.content(text, type="text")
        e.published(p.created_at)
        e.updated(p.created_at)
        for m in p.media:
            if m.get("url"):
                e.link(href=m["url"], rel="enclosure", type=m.get("content_type", "image/jpeg"))
    body: bytes = fg.atom_str(pretty=False)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/media/{name}")
async def media_file(name: str, rt: RuntimeDep) -> FileResponse:
    path = media_store.safe_path(Path(rt.settings.media_dir), name)
    if path is None:
        raise NotFound("no such media")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400, immutable"})
