from __future__ import annotations

from fastapi import APIRouter, Response

from app.audit import service as audit
from app.deps import BusinessDep, Id, PageDep, PrincipalDep, SessionDep
from app.errors import NotFound
from app.members import service as member_service
from app.members.schemas import MemberCreate, MemberList, MemberRead, MemberUpdate
from app.models import Member

router = APIRouter(prefix="/api/v1/businesses/{business_id}/members", tags=["members"])


async def _member(session: SessionDep, business_id: int, member_id: Id) -> Member:
    m = await session.get(Member, member_id)
    if m is None or m.business_id != business_id:
        raise NotFound(f"no member {member_id} in business {business_id}")
    return m


@router.post("", status_code=201, response_model=MemberRead)
async def create_member(body: MemberCreate, biz: BusinessDep, session: SessionDep, who: PrincipalDep) -> MemberRead:
    return member_service.to_read(await member_service.create(session, biz=biz, data=body, actor=who.actor))


@router.get("", response_model=MemberList)
async def list_members(biz: BusinessDep, session: SessionDep, page: PageDep) -> MemberList:
    assert biz.id is not None
    rows = await member_service.list_members(session, business_id=biz.id, limit=page.limit, before_id=page.before_id)
    return MemberList(
        items=[member_service.to_read(m) for m in rows],
        next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit),
    )


@router.get("/{member_id}", response_model=MemberRead)
async def get_member(member_id: Id, biz: BusinessDep, session: SessionDep) -> MemberRead:
    assert biz.id is not None
    return member_service.to_read(await _member(session, biz.id, member_id))


@router.patch("/{member_id}", response_model=MemberRead)
async def update_member(
    member_id: Id, body: MemberUpdate, biz: BusinessDep, session: SessionDep, who: PrincipalDep
) -> MemberRead:
    assert biz.id is not None
    m = await _member(session, biz.id, member_id)
    return member_service.to_read(await member_service.update(session, member=m, data=body, actor=who.actor))


@router.delete("/{member_id}", status_code=204)
async def delete_member(member_id: Id, biz: BusinessDep, session: SessionDep, who: PrincipalDep) -> Response:
    assert biz.id is not None
    m = await _member(session, biz.id, member_id)
    await session.delete(m)
    await audit.record(
        session, actor=who.actor, action="member.delete", business_id=biz.id, target=f"member:{member_id}"
    )
    return Response(status_code=204)
