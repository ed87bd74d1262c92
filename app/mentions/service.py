"""Mentions: store what the networks return (once, numbered per business), digest settings, digest slots.

Services take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import insert_for
from app.kit.time import utcnow
from app.mentions.digest import DigestItem
from app.mentions.digest import is_question as _is_question
from app.models import (
    Business,
    DigestSettings,
    Member,
    MentionRow,
    MentionSeen,
    NetworkAccount,
    OutboundMessage,
    OutboundStatus,
)
from app.networks.base import Mention

VALID_DAYS = 7
Kind = Literal["mention", "reply", "quote", "comment", "review"]
KINDS = ("mention", "reply", "quote", "comment", "review")
AUTHOR_PREFIXED = frozenset({"mastodon", "x"})
"""Networks where a reply starts with the author's @handle (Mastodon and X thread by mention as well)."""


def is_question(text: str) -> bool:
    """The digest's own test (accents, curly apostrophes, French inversion, "!" exclamations, links' "?"), so
    what is stored as a question, what is alerted and what the digest puts first always agree."""
    return _is_question(text)


def reply_text(m: MentionRow, text: str) -> str:
    """The text of an answer to ``m``: on Mastodon and X it starts with the author's handle."""
    text = text.strip()
    author = m.author.strip()
    if m.network in AUTHOR_PREFIXED and author:
        handle = author if author.startswith("@") else f"@{author}"
        if not text.lower().startswith(handle.lower()):
            text = f"{handle} {text}"
    return text


async def next_number(session: AsyncSession, business_id: int) -> int:
    res = await session.execute(
        update(Business)
        .where(col(Business.id) == business_id)
        .values(mention_seq=col(Business.mention_seq) + 1)
        .returning(col(Business.mention_seq))
    )
    return int(res.scalar_one())


async def store(session: AsyncSession, *, account: NetworkAccount, items: Sequence[Mention]) -> list[MentionRow]:
    """Insert new items once (unique per account and remote id), each with the business's next short number.
    Items older than the 7-day window are not stored (a newly linked account does not flood the digest)."""
    assert account.id is not None
    oldest = utcnow() - timedelta(days=VALID_DAYS)
    out: list[MentionRow] = []
    for m in items:
        if m.created_at is not None and m.created_at < oldest:
            continue
        exists = (
            await session.execute(
                select(col(MentionRow.id)).where(
                    col(MentionRow.account_id) == account.id, col(MentionRow.remote_id) == m.remote_id[:500]
                )
            )
        ).first()
        if exists:
            continue
        number = await next_number(session, account.business_id)
        ins = insert_for(session, MentionRow)
        values = dict(
            business_id=account.business_id,
            account_id=account.id,
            network=account.network,
            number=number,
            remote_id=m.remote_id[:500],
            kind=m.kind[:16],
            author=m.author[:200],
            text=m.text[:5000],
            url=m.url[:1000],
            rating=m.rating,
            is_question=is_question(m.text),
            is_reply_to_us=m.is_reply_to_us,
            target={"remote_id": m.target.remote_id, **dict(m.target.extra)},
            remote_created_at=m.created_at,
            created_at=utcnow(),
        )
        stmt = ins.values(**values).on_conflict_do_nothing(index_elements=["account_id", "remote_id"])
        new_id = (await session.execute(stmt.returning(col(MentionRow.id)))).scalar_one_or_none()
        if new_id is not None:
            row = await session.get(MentionRow, new_id)
            if row is not None:
                out.append(row)
    return out


async def pending_items(
    session: AsyncSession, business_id: int, *, member_id: int | None = None, only_new: bool = True
) -> list[MentionRow]:
    """Mentions of the last 7 days not yet answered and, with ``only_new``, not yet seen by ``member_id`` (each
    member gets every item once: what one owner saw in their digest still reaches the other)."""
    q = select(MentionRow).where(
        col(MentionRow.business_id) == business_id,
        col(MentionRow.created_at) >= utcnow() - timedelta(days=VALID_DAYS),
        col(MentionRow.answered_at).is_(None),
    )
    if only_new and member_id is not None:
        seen = select(col(MentionSeen.mention_id)).where(col(MentionSeen.member_id) == member_id)
        q = q.where(col(MentionRow.id).not_in(seen))
    elif only_new:
        q = q.where(col(MentionRow.digested_at).is_(None))
    return list((await session.execute(q.order_by(col(MentionRow.id)))).scalars())


async def seen_by(session: AsyncSession, member_id: int, mention_ids: Sequence[int]) -> set[int]:
    """The ids among ``mention_ids`` that ``member_id`` has already seen."""
    if not mention_ids:
        return set()
    rows = await session.execute(
        select(col(MentionSeen.mention_id)).where(
            col(MentionSeen.member_id) == member_id, col(MentionSeen.mention_id).in_(list(mention_ids))
        )
    )
    return {int(r) for r in rows.scalars()}


async def mark_seen(session: AsyncSession, member_id: int, mentions: Sequence[MentionRow]) -> None:
    """Record that ``member_id`` has seen ``mentions`` (idempotent); an item's ``digested_at`` is when a member
    first saw it."""
    if not mentions:
        return
    now = utcnow()
    rows = [{"mention_id": m.id, "member_id": member_id, "seen_at": now} for m in mentions]
    await session.execute(
        insert_for(session, MentionSeen).values(rows).on_conflict_do_nothing(index_elements=["mention_id", "member_id"])
    )
    for m in mentions:
        if m.digested_at is None:
            m.digested_at = now
            session.add(m)


async def by_number(session: AsyncSession, business_id: int, number: int) -> MentionRow | None:
    return (
        await session.execute(
            select(MentionRow).where(
                col(MentionRow.business_id) == business_id,
                col(MentionRow.number) == number,
                col(MentionRow.created_at) >= utcnow() - timedelta(days=VALID_DAYS),
            )
        )
    ).scalar_one_or_none()


async def own_handles(session: AsyncSession, business_id: int) -> list[str]:
    """The business's own handles on its networks: a digest does not spend septets on them."""
    rows = await session.execute(
        select(col(NetworkAccount.handle)).where(
            col(NetworkAccount.business_id) == business_id, col(NetworkAccount.handle) != ""
        )
    )
    return [str(h) for h in rows.scalars()]


def to_item(m: MentionRow) -> DigestItem:
    kind: Kind = m.kind if m.kind in KINDS else "mention"  # type: ignore[assignment]
    return DigestItem(
        number=m.number,
        network=m.network,
        kind=kind,
        author=m.author,
        text=m.text,
        rating=m.rating,
        created_at=m.remote_created_at or m.created_at,
        is_reply_to_us=m.is_reply_to_us,
    )


async def settings_for(session: AsyncSession, member: Member) -> DigestSettings:
    assert member.id is not None
    found = await session.get(DigestSettings, member.id)
    if found is None:
        found = DigestSettings(member_id=member.id)
        session.add(found)
        await session.flush()
    return found


def _hm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def in_quiet_hours(st: DigestSettings, local: datetime) -> bool:
    start, end, t = _hm(st.quiet_start), _hm(st.quiet_end), local.time()
    if start == end:
        return False
    return (start <= t or t < end) if start > end else (start <= t < end)


def quiet_end_after(st: DigestSettings, local: datetime) -> datetime:
    """The end of the quiet period ``local`` falls in (the next ``quiet_end`` wall-clock time)."""
    end = _hm(st.quiet_end)
    candidate = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=local.tzinfo)
    return candidate


def due_slots(st: DigestSettings, tz: ZoneInfo, now: datetime) -> list[datetime]:
    """Digest slots (aware, local) that have started in the last 12 hours: yesterday's and today's hours."""
    local = now.astimezone(tz)
    out: list[datetime] = []
    for day in (local.date() - timedelta(days=1), local.date()):
        for h in st.hours:
            slot = _localize(day, _hm(h), tz)
            if slot <= local < slot + timedelta(hours=12):
                out.append(slot)
    return out


def _localize(day: date, at: time, tz: ZoneInfo) -> datetime:
    # Across a daylight-saving change a wall-clock time may not exist (spring) or exist twice (autumn);
    # normalising through UTC moves a missing time forward and takes the first of a doubled one.
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC")).astimezone(tz)


def local_midnight(tz: ZoneInfo, now: datetime) -> datetime:
    """The start of ``now``'s local day (aware); DST never moves midnight in the zones we serve, and if it
    did, normalising through UTC would move it forward."""
    return _localize(now.astimezone(tz).date(), time(0), tz)


async def segments_sent_today(session: AsyncSession, member: Member, tz: ZoneInfo) -> int:
    """SMS segments of digests and alerts sent unasked to ``member`` since local midnight (the daily cap).

    A digest the member asked for (``M``, ``M2``: an answer to their SMS) does not count: the cap limits what
    Ardoise sends on its own initiative, never an answer."""
    total = (
        await session.execute(
            select(func.coalesce(func.sum(col(OutboundMessage.segments)), 0)).where(
                col(OutboundMessage.member_id) == member.id,
                col(OutboundMessage.channel) == "sms",
                col(OutboundMessage.kind).in_(["digest", "alert"]),
                col(OutboundMessage.in_reply_to_id).is_(None),
                col(OutboundMessage.created_at) >= local_midnight(tz, utcnow()),
                col(OutboundMessage.status) != OutboundStatus.suppressed.value,  # held back: never sent, costs nothing
            )
        )
    ).scalar_one()
    return int(total or 0)
