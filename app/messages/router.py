from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.deps import BusinessDep, PageDep, SessionDep
from app.messages import service as message_service
from app.messages.schemas import MessageList, MessageRead

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
    assert biz.id is not None
    items: list[MessageRead] = []
    last: int | None = None
    if direction == "in":
        rows_in = await message_service.list_inbound(
            session, business_id=biz.id, limit=page.limit, before_id=page.before_id
        )
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
        rows_out = await message_service.list_outbound(
            session, business_id=biz.id, limit=page.limit, before_id=page.before_id, suppressed=suppressed
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
