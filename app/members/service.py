from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.errors import Conflict
from app.kit.textclean import ascii_digits
from app.members.schemas import MemberCreate, MemberRead, MemberUpdate
from app.models import Business, Member


def hash_pin(pin: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), 100_000).hex()
    return f"pbkdf2${salt}${digest}"


def check_pin(stored: str | None, pin: str) -> bool:
    if not stored or not ascii_digits(pin):  # ``١٢٣٤`` is not the PIN 1234
        return False
    try:
        _, salt, digest = stored.split("$")
    except ValueError:
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), 100_000).hex(), digest)


def to_read(m: Member) -> MemberRead:
    assert m.id is not None
    return MemberRead(
        id=m.id,
        business_id=m.business_id,
        name=m.name,
        phone=m.phone,
        email=m.email,
        language=m.language,
        role=m.role,
        opted_out=m.opted_out,
        has_pin=bool(m.pin_hash),
        last_seen_at=m.last_seen_at,
        created_at=m.created_at,
    )


async def _check_unique_phone(session: AsyncSession, business_id: int, phone: str | None, exclude: int | None) -> None:
    if not phone:
        return
    q = select(Member).where(col(Member.business_id) == business_id, col(Member.phone) == phone)
    other = (await session.execute(q)).scalar_one_or_none()
    if other is not None and other.id != exclude:
        raise Conflict(f"{phone} is already a member of this business")


async def create(session: AsyncSession, *, biz: Business, data: MemberCreate, actor: str) -> Member:
    assert biz.id is not None
    await _check_unique_phone(session, biz.id, data.phone, None)
    m = Member(
        business_id=biz.id,
        name=data.name,
        phone=data.phone,
        email=str(data.email) if data.email else None,
        language=data.language,
        role=data.role,
        pin_hash=hash_pin(data.pin) if data.pin else None,
    )
    session.add(m)
    await session.flush()
    await audit.record(session, actor=actor, action="member.create", business_id=biz.id, target=f"member:{m.id}")
    return m


async def update(session: AsyncSession, *, member: Member, data: MemberUpdate, actor: str) -> Member:
    fields = data.model_dump(exclude_unset=True)
    if "phone" in fields:
        await _check_unique_phone(session, member.business_id, fields["phone"], member.id)
    pin = fields.pop("pin", None)
    if "pin" in data.model_fields_set:
        member.pin_hash = hash_pin(pin) if pin else None
    for k, v in fields.items():
        setattr(member, k, str(v) if k == "email" and v is not None else v)
    session.add(member)
    await audit.record(
        session,
        actor=actor,
        action="member.update",
        business_id=member.business_id,
        target=f"member:{member.id}",
        detail=",".join(sorted(data.model_fields_set - {"pin"})),
    )
    return member


async def list_members(
    session: AsyncSession, *, business_id: int, limit: int, before_id: int | None = None
) -> list[Member]:
    """A business's members, newest first."""
    q = select(Member).where(col(Member.business_id) == business_id).order_by(col(Member.id).desc()).limit(limit)
    if before_id is not None:
        q = q.where(col(Member.id) < before_id)
    return list((await session.execute(q)).scalars())
