"""Businesses. Services take a session and never commit."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.businesses.schemas import BusinessCreate, BusinessRead, BusinessUpdate
from app.errors import Conflict, Unprocessable
from app.kit import media as media_store
from app.kit.time import utcnow
from app.models import Business, BusinessNumber, NetworkAccount


async def numbers_of(session: AsyncSession, business_id: int) -> list[str]:
    rows = await session.execute(
        select(col(BusinessNumber.number))
        .where(col(BusinessNumber.business_id) == business_id)
        .order_by(col(BusinessNumber.id))
    )
    return [r[0] for r in rows]


async def to_read(session: AsyncSession, biz: Business, public_url: str) -> BusinessRead:
    assert biz.id is not None
    return BusinessRead(
        id=biz.id,
        name=biz.name,
        slug=biz.slug,
        timezone=biz.timezone,
        language=biz.language,
        sms_numbers=await numbers_of(session, biz.id),
        publish_mode=biz.publish_mode,
        phone=biz.phone,
        description=biz.description,
        address=biz.address,
        website=biz.website,
        opening_hours=list(biz.opening_hours),
        logo_url=f"{public_url}/media/{biz.logo}" if biz.logo else None,
        page_url=f"{public_url}/b/{biz.slug}",
        feed_url=f"{public_url}/b/{biz.slug}/feed.atom",
        created_at=biz.created_at,
    )


async def _claim_numbers(
    session: AsyncSession, *, biz_id: int, numbers: list[str], may_share: bool, actor: str
) -> None:
    """Numbers belong to one tenant's key: a number another business already uses may only be shared by an
    operator (unscoped) key, and that sharing is audited; a business-scoped key gets 409 and changes nothing."""
    if not numbers:
        return
    rows = await session.execute(
        select(col(BusinessNumber.number), col(BusinessNumber.business_id)).where(
            col(BusinessNumber.number).in_(numbers), col(BusinessNumber.business_id) != biz_id
        )
    )
    taken = sorted({(n, b) for n, b in rows})
    if not taken:
        return
    if not may_share:
        raise Conflict(
            f"{', '.join(sorted({n for n, _ in taken}))}: used by another business; "
            "only an operator key can share a number between businesses"
        )
    await audit.record(
        session,
        actor=actor,
        action="business.number_shared",
        business_id=biz_id,
        detail=", ".join(f"{n} with business {b}" for n, b in taken)[:500],
    )


async def create(session: AsyncSession, *, data: BusinessCreate, actor: str, may_share: bool = False) -> Business:
    """Create a business with its SMS numbers and its built-in page account (``may_share``: an operator key,
    which may give it a number another business uses)."""
    existing = (await session.execute(select(Business).where(col(Business.slug) == data.slug))).scalar_one_or_none()
    if existing is not None:
        raise Conflict(f"the slug {data.slug!r} is taken")
    biz = Business(
        name=data.name,
        slug=data.slug,
        timezone=data.timezone,
        language=data.language,
        publish_mode=data.publish_mode,
        phone=data.phone,
        description=data.description,
        address=data.address,
        website=data.website,
        opening_hours=data.opening_hours or [],
    )
    session.add(biz)
    await session.flush()
    assert biz.id is not None
    await _claim_numbers(session, biz_id=biz.id, numbers=list(data.sms_numbers), may_share=may_share, actor=actor)
    for n in data.sms_numbers:
        session.add(BusinessNumber(business_id=biz.id, number=n))
    session.add(NetworkAccount(business_id=biz.id, network="page", handle=biz.slug))
    await session.flush()
    await audit.record(session, actor=actor, action="business.create", business_id=biz.id, target=biz.slug)
    return biz


async def update(
    session: AsyncSession, *, biz: Business, data: BusinessUpdate, actor: str, may_share: bool = False
) -> Business:
    """Change a business; ``may_share`` (an operator key) lets ``sms_numbers`` take a number another business
    uses (audited); a business-scoped key gets 409 for such a number."""
    assert biz.id is not None
    fields = data.model_dump(exclude_unset=True)
    numbers = fields.pop("sms_numbers", None)
    if numbers is not None:
        await _claim_numbers(session, biz_id=biz.id, numbers=list(numbers), may_share=may_share, actor=actor)
    if "opening_hours" in fields and fields["opening_hours"] is None:
        fields["opening_hours"] = []  # null clears the hours (the column holds a list)
    for k, v in fields.items():
        setattr(biz, k, v)
    if numbers is not None:
        await session.execute(delete(BusinessNumber).where(col(BusinessNumber.business_id) == biz.id))
        for n in numbers:
            session.add(BusinessNumber(business_id=biz.id, number=n))
    biz.updated_at = utcnow()
    session.add(biz)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="business.update",
        business_id=biz.id,
        detail=",".join(sorted(data.model_fields_set)),
    )
    return biz


LOGO_TYPES = ("image/jpeg", "image/png", "image/webp")


def _check_image(data: bytes) -> None:
    from PIL import Image, UnidentifiedImageError  # imported with the first logo, not at start (kit/media.py)

    media_store.load_codecs()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise Unprocessable("the logo is not a readable JPEG, PNG or WebP image") from None


async def set_logo(
    session: AsyncSession, *, biz: Business, data: bytes | None, content_type: str, media_dir: Path, actor: str
) -> Business:
    """Store ``data`` as the business's logo (a media file, shown on its page), or remove it when None."""
    assert biz.id is not None
    if data is None:
        biz.logo = None
    else:
        ctype = content_type.split(";")[0].strip().lower()
        if ctype not in LOGO_TYPES:
            raise Unprocessable(f"send the logo as {', '.join(LOGO_TYPES)} (Content-Type), not {ctype or 'nothing'}")
        await asyncio.to_thread(_check_image, data)
        biz.logo = await asyncio.to_thread(media_store.store, media_dir, data, ctype)
    biz.updated_at = utcnow()
    session.add(biz)
    await session.flush()
    await audit.record(session, actor=actor, action="business.logo", business_id=biz.id, target=biz.logo or "")
    return biz


async def remove(session: AsyncSession, *, biz: Business, actor: str) -> None:
    """Soft delete: the business disappears from the API and its page, its history stays for the audit."""
    assert biz.id is not None
    biz.deleted_at = utcnow()
    biz.slug = f"{biz.slug}~deleted~{biz.id}"[:64]
    session.add(biz)
    await session.execute(delete(BusinessNumber).where(col(BusinessNumber.business_id) == biz.id))
    await audit.record(session, actor=actor, action="business.delete", business_id=biz.id)


async def by_slug(session: AsyncSession, slug: str) -> Business | None:
    if "\x00" in slug or len(slug) > 64:
        return None  # never a slug (and PostgreSQL refuses NUL in text)
    biz = (await session.execute(select(Business).where(col(Business.slug) == slug))).scalar_one_or_none()
    return None if biz is None or biz.deleted_at is not None else biz


async def list_visible(
    session: AsyncSession, *, business_id: int | None, limit: int, before_id: int | None = None
) -> list[Business]:
    """Businesses not deleted, newest first; a key scoped to ``business_id`` sees only that one (None: all)."""
    q = select(Business).where(col(Business.deleted_at).is_(None)).order_by(col(Business.id).desc()).limit(limit)
    if business_id is not None:
        q = q.where(col(Business.id) == business_id)
    if before_id is not None:
        q = q.where(col(Business.id) < before_id)
    return list((await session.execute(q)).scalars())


async def names_of(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """Business names by id (deleted ones too: old jobs and audit rows still name them)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(col(Business.id), col(Business.name)).where(col(Business.id).in_(wanted)))
    return {i: name for i, name in rows.all() if i is not None}
