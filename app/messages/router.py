from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from app.deps import BusinessDep, PageDep, SessionDep
from app.messages.schemas import MessageList, MessageRead
from app.models import InboundMessage, OutboundMessage, OutboundStatus

router = APIRouter(prefix="/api/v1/businesses/{business_id}/messages", tags=["messages"])


@router.get("", response_model=MessageList)
async def list_messages(
    biz: BusinessDep,
    session: SessionDep,
    page: PageDep,
    direction: Annotated[
        Literal["in", "out"], Query(description="in: from members and strangers; out: to them")
    ] = "in",
    suppressed: Annotated[
        bool,
        Query(
            description="out: also list the SMS Ardoise held back and never sent (status suppressed, note "
            "opted_out or loop_guard)"
        ),
    ] = False,
) -> MessageList:
    items: list[MessageRead] = []
    last: int | None = None
    if direction == "in":
        qi = select(InboundMessage).where(col(InboundMessage.business_id) == biz.id)
        if page.before_id is not None:
            qi = qi.where(col(InboundMessage.id) < page.before_id)
        rows_in = list((await session.execute(qi.order_by(col(InboundMessage.id).desc()).limit(page.limit))).scalars())
        items = [
            MessageRead(
                id=m.id or 0,
                direction="in",
                channel=m.channel,
                peer=m.peer,
                body=m.body,
                encoding=None,
                segments=None,
                status=m.status,
                kind=None,
                note=m.note or None,
                media=[x.get("url") or x.get("source_url", "") for x in m.media],
                created_at=m.created_at,
            )
            for m in rows_in
        ]
        last = rows_in[-1].id if rows_in else None
    else:
        qo = select(OutboundMessage).where(col(OutboundMessage.business_id) == biz.id)
        if not suppressed:
            qo = qo.where(col(OutboundMessage.status) != OutboundStatus.suppressed.value)
        if page.before_id is not None:
            qo = qo.where(col(OutboundMessage.id) < page.before_id)
        rows_out = list(
            (await session.execute(qo.order_by(col(OutboundMessage.id).desc()).limit(page.limit))).scalars()
        )
        items = [
            MessageRead(
                id=m.id or 0,
                direction="out",
                channel=m.channel,
                peer=m.peer,
                body=m.body,
                encoding=m.encoding,
                segments=m.segments,
                status=m.status,
                kind=m.kind,
                note=m.error_code,
                media=[],
                created_at=m.created_at,
            )
            for m in rows_out
        ]
        last = rows_out[-1].id if rows_out else None
    return MessageList(items=items, next_cursor=page.next_cursor(last, len(items), page.limit))
