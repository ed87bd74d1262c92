from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from app.businesses import service as business_service
from app.businesses.schemas import BusinessCreate, BusinessList, BusinessRead, BusinessUpdate
from app.deps import BusinessDep, PageDep, PrincipalDep, RuntimeDep, SessionDep
from app.errors import Forbidden

router = APIRouter(prefix="/api/v1/businesses", tags=["businesses"])


@router.post("", status_code=201, response_model=BusinessRead)
async def create_business(body: BusinessCreate, session: SessionDep, who: PrincipalDep, rt: RuntimeDep) -> BusinessRead:
    if not who.is_operator:
        raise Forbidden("only an operator key can create businesses")
    biz = await business_service.create(session, data=body, actor=who.actor, may_share=who.is_operator)
    return await business_service.to_read(session, biz, rt.settings.public_url)


@router.get("", response_model=BusinessList)
async def list_businesses(session: SessionDep, who: PrincipalDep, rt: RuntimeDep, page: PageDep) -> BusinessList:
    rows = await business_service.list_visible(
        session, business_id=who.business_id, limit=page.limit, before_id=page.before_id
    )
    items = [await business_service.to_read(session, b, rt.settings.public_url) for b in rows]
    return BusinessList(items=items, next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit))


@router.get("/{business_id}", response_model=BusinessRead)
async def get_business(biz: BusinessDep, session: SessionDep, rt: RuntimeDep) -> BusinessRead:
    return await business_service.to_read(session, biz, rt.settings.public_url)


@router.patch("/{business_id}", response_model=BusinessRead)
async def update_business(
    body: BusinessUpdate, biz: BusinessDep, session: SessionDep, who: PrincipalDep, rt: RuntimeDep
) -> BusinessRead:
    biz = await business_service.update(session, biz=biz, data=body, actor=who.actor, may_share=who.is_operator)
    return await business_service.to_read(session, biz, rt.settings.public_url)


@router.delete("/{business_id}", status_code=204)
async def delete_business(biz: BusinessDep, session: SessionDep, who: PrincipalDep) -> Response:
    if not who.is_operator:
        raise Forbidden("only an operator key can delete a business")
    await business_service.remove(session, biz=biz, actor=who.actor)
    return Response(status_code=204)


@router.put(
    "/{business_id}/logo",
    response_model=BusinessRead,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the image itself (JPEG, PNG or WebP), at most ARDOISE_MAX_BODY_BYTES",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in business_service.LOGO_TYPES},
        }
    },
)
async def set_logo(
    request: Request, biz: BusinessDep, session: SessionDep, who: PrincipalDep, rt: RuntimeDep
) -> BusinessRead:
    """Upload the logo shown on the business's page (the raw image as the request body)."""
    biz = await business_service.set_logo(
        session,
        biz=biz,
        data=await request.body(),
        content_type=request.headers.get("content-type", ""),
        media_dir=Path(rt.settings.media_dir),
        actor=who.actor,
    )
    return await business_service.to_read(session, biz, rt.settings.public_url)


@router.delete("/{business_id}/logo", response_model=BusinessRead)
async def delete_logo(biz: BusinessDep, session: SessionDep, who: PrincipalDep, rt: RuntimeDep) -> BusinessRead:
    biz = await business_service.set_logo(
        session, biz=biz, data=None, content_type="", media_dir=Path(rt.settings.media_dir), actor=who.actor
    )
    return await business_service.to_read(session, biz, rt.settings.public_url)
