from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from app.audit import service as audit
from app.deps import BusinessDep, Id, PageDep, PrincipalDep, RuntimeDep, SessionDep
from app.errors import Conflict, NotFound, Unprocessable
from app.kit.time import utcnow
from app.mentions import service as mention_service
from app.mentions.schemas import (
    DigestSettingsRead,
    DigestSettingsUpdate,
    MentionList,
    MentionRead,
    MentionReply,
)
from app.models import AccountStatus, DigestSettings, Member, MentionRow, NetworkAccount
from app.posts import service as post_service
from app.posts.schemas import PostRead
from app.posts.schemas import to_read as post_read
from app.schemas_base import UtcDateTime

router = APIRouter(prefix="/api/v1/businesses/{business_id}", tags=["mentions"])


def _read(m: MentionRow) -> MentionRead:
    return MentionRead(
        id=m.id or 0,
        number=m.number,
        network=m.network,
        account_id=m.account_id,
        kind=m.kind,
        author=m.author,
        text=m.text,
        url=m.url,
        rating=m.rating,
        is_question=m.is_question,
        created_at=m.created_at,
        posted_at=m.remote_created_at,
        answered_at=m.answered_at,
        digested_at=m.digested_at,
    )


@router.get("/mentions", response_model=MentionList)
async def list_mentions(
    biz: BusinessDep,
    session: SessionDep,
    page: PageDep,
    network: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    answered: Annotated[bool | None, Query()] = None,
    since: Annotated[UtcDateTime | None, Query()] = None,
) -> MentionList:
    q = select(MentionRow).where(col(MentionRow.business_id) == biz.id)
    if network:
        q = q.where(col(MentionRow.network) == network)
    if kind:
        q = q.where(col(MentionRow.kind) == kind)
    if answered is not None:
        q = q.where(col(MentionRow.answered_at).isnot(None) if answered else col(MentionRow.answered_at).is_(None))
    if since is not None:
        q = q.where(col(MentionRow.created_at) >= since)  # UtcDateTime: aware, UTC, storable
    if page.before_id is not None:
        q = q.where(col(MentionRow.id) < page.before_id)
    rows = list((await session.execute(q.order_by(col(MentionRow.id).desc()).limit(page.limit))).scalars())
    return MentionList(
        items=[_read(m) for m in rows],
        next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit),
    )


@router.post("/mentions/{mention_id}/reply", status_code=202, response_model=PostRead)
async def reply_to_mention(
    mention_id: Id, body: MentionReply, biz: BusinessDep, session: SessionDep, who: PrincipalDep, rt: RuntimeDep
) -> PostRead:
    """Answer on the network the mention came from, through the same exactly-once delivery engine as posts."""
    m = await session.get(MentionRow, mention_id)
    if m is None or m.business_id != biz.id:
        raise NotFound(f"no mention {mention_id} in business {biz.id}")
    acct = await session.get(NetworkAccount, m.account_id)
    if acct is None or acct.status == AccountStatus.disabled.value:
        raise Conflict(f"the {m.network} account mention {mention_id} came from is no longer linked")
    text = mention_service.reply_text(m, body.text)
    if not text:
        raise Unprocessable("the reply is empty")
    post, ds = await post_service.create(session, biz=biz, text=text, source="reply", actor=who.actor, reply_to=m)
    m.answered_at = utcnow()
    session.add(m)
    return post_read(post, ds, biz, rt.settings.public_url)


async def _member(session: SessionDep, business_id: int, member_id: Id) -> Member:
    m = await session.get(Member, member_id)
    if m is None or m.business_id != business_id:
        raise NotFound(f"no member {member_id} in business {business_id}")
    return m


def _settings_read(st: DigestSettings) -> DigestSettingsRead:
    return DigestSettingsRead(
        hours=list(st.hours),
        quiet_start=st.quiet_start,
        quiet_end=st.quiet_end,
        daily_cap_segments=st.daily_cap_segments,
        budget_segments=st.budget_segments,
        channel=st.channel,
        paused_until=st.paused_until,
        alerts=st.alerts,
    )


@router.get("/members/{member_id}/digest", response_model=DigestSettingsRead)
async def get_digest_settings(member_id: Id, biz: BusinessDep, session: SessionDep) -> DigestSettingsRead:
    assert biz.id is not None
    member = await _member(session, biz.id, member_id)
    found = await session.get(DigestSettings, member.id)
    return _settings_read(found or DigestSettings(member_id=member_id))


@router.put("/members/{member_id}/digest", response_model=DigestSettingsRead)
async def update_digest_settings(
    member_id: Id, body: DigestSettingsUpdate, biz: BusinessDep, session: SessionDep, who: PrincipalDep
) -> DigestSettingsRead:
    assert biz.id is not None
    member = await _member(session, biz.id, member_id)
    changes = body.model_dump(exclude_unset=True)
    channel = changes.get("channel")
    if channel in ("email", "both") and not member.email:
        raise Unprocessable(f"member {member_id} has no email address for {channel} digests")
    if channel in ("sms", "both") and not member.phone:
        raise Unprocessable(f"member {member_id} has no phone number for {channel} digests")
    st = await mention_service.settings_for(session, member)
    for k, v in changes.items():
        setattr(st, k, v)
    session.add(st)
    await audit.record(
        session,
        actor=who.actor,
        action="digest.update",
        business_id=biz.id,
        target=f"member:{member_id}",
        detail=",".join(sorted(body.model_fields_set)),
    )
    return _settings_read(st)
