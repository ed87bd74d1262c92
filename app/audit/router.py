from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from app.audit import service as audit
from app.deps import PageDep, PrincipalDep, SessionDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor: str
    business_id: int | None
    action: str
    target: str
    detail: str


class AuditList(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = None


@router.get("", response_model=AuditList)
async def list_audit(session: SessionDep, who: PrincipalDep, page: PageDep) -> AuditList:
    rows = await audit.list_events(session, business_id=who.business_id, limit=page.limit, before_id=page.before_id)
    items = [
        AuditRead(
            id=a.id or 0,
            at=a.at,
            actor=a.actor,
            business_id=a.business_id,
            action=a.action,
            target=a.target,
            detail=a.detail,
        )
        for a in rows
    ]
    return AuditList(items=items, next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit))
