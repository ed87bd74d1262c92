"""Which business and member an inbound SMS is for: the number it was sent to, then the sender's membership; a
phone that is a member of several businesses sharing one number is asked which one it means."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.commands.context import pending
from app.kit.time import utcnow
from app.messages import outbox
from app.models import Business, BusinessNumber, InboundMessage, InboundStatus, Member, PendingAction
from app.runtime import Runtime


@dataclass
class Routed:
    business: Business | None
    member: Member | None
    candidates: list[Business] = field(default_factory=list)
    memberships: list[tuple[Business, Member]] = field(default_factory=list)


async def route(s: AsyncSession, inbound: InboundMessage) -> Routed:
    """``To`` → business; where a number serves several businesses, the sender's membership decides."""
    bizs = list(
        (
            await s.execute(
                select(Business)
                .join(BusinessNumber, col(BusinessNumber.business_id) == col(Business.id))
                .where(col(BusinessNumber.number) == inbound.to, col(Business.deleted_at).is_(None))
                .order_by(col(Business.id))
            )
        ).scalars()
    )
    if not bizs:
        return Routed(None, None)
    members = list(
        (
            await s.execute(
                select(Member)
                .where(col(Member.phone) == inbound.peer, col(Member.business_id).in_([b.id for b in bizs]))
                .order_by(col(Member.id))
            )
        ).scalars()
    )
    pairs = [(b, m) for m in members for b in bizs if b.id == m.business_id]
    if len(pairs) == 1:
        return Routed(pairs[0][0], pairs[0][1], bizs, pairs)
    if not pairs:
        return Routed(bizs[0] if len(bizs) == 1 else None, None, bizs, [])
    return Routed(None, None, bizs, pairs)


def answer_to(inbound: InboundMessage) -> outbox.Target:
    """An SMS answer to ``inbound``: from the number it was sent to, threaded to it."""
    return outbox.Target("sms", inbound.id, sms_from=inbound.to or None)


async def answer_stranger(
    rt: Runtime, s: AsyncSession, inbound: InboundMessage, biz: Business | None, lang: str, key: str
) -> None:
    await outbox.say(
        s,
        rt.settings,
        None,
        key,
        to=answer_to(inbound),
        kind="reply",
        business_id=biz.id if biz else None,
        lang=lang,
        address_override=inbound.peer,
    )


Chosen = tuple[Business, Member, str, list[dict[str, str]]]


async def choose(rt: Runtime, s: AsyncSession, inbound: InboundMessage, routed: Routed, body: str) -> Chosen | None:
    """One number, several businesses for this sender: a digit answering the earlier question gives the chosen
    membership and the message it held back (to run now); anything else asks (None)."""
    first_member = routed.memberships[0][1]
    assert first_member.id is not None
    question = await pending(s, [m.id for _, m in routed.memberships if m.id is not None], "choose")
    choice = body.strip().rstrip(".")
    if question is not None and choice.isdigit():
        options: list[int] = [int(x) for x in question.payload.get("options", [])]
        idx = int(choice) - 1
        if 0 <= idx < len(options):
            pair = next((bm for bm in routed.memberships if bm[0].id == options[idx]), None)
            await s.delete(question)
            if pair is not None:
                stored = [dict(m) for m in question.payload.get("media", [])]
                return pair[0], pair[1], str(question.payload.get("text", "")), stored
    choices = ", ".join(f"{i + 1} = {b.name}" for i, (b, _) in enumerate(routed.memberships))
    await s.execute(
        delete(PendingAction).where(
            col(PendingAction.member_id) == first_member.id, col(PendingAction.needs) == "choose"
        )
    )
    s.add(
        PendingAction(
            member_id=first_member.id,
            kind="choose",
            needs="choose",
            payload={"text": body, "options": [b.id for b, _ in routed.memberships]},
            expires_at=utcnow() + timedelta(minutes=30),
        )
    )
    inbound.status = InboundStatus.processed.value
    inbound.business_id = routed.memberships[0][0].id
    await outbox.say(
        s,
        rt.settings,
        first_member,
        "which_business",
        to=answer_to(inbound),
        kind="reply",
        business_id=inbound.business_id,
        address_override=inbound.peer,
        choices=choices,
    )
    return None
