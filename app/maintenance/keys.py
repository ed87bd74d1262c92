"""Admin API keys for the operator's CLI: create, list, revoke, rotate. Only a hash of a key is stored, so a key
is printed once, when it is made; listings show its name, prefix and scope, never the key.

A revoked key answers 401 on its next request: ``app/deps.py`` looks the key up in the database on every
request (no cache), so nothing has to be restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit import service as audit
from app.kit.crypto import hash_api_key, new_api_key
from app.kit.time import utcnow
from app.maintenance import OpsError
from app.models import ApiKey, Business

MIN_PREFIX = 6
"""A key is named by its whole name or by at least this many first characters of its prefix."""


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    name: str
    prefix: str
    scope: str  # "operator" or the business's slug
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def create(session: AsyncSession, *, name: str, business_slug: str | None, actor: str = "cli") -> str:
    """Store a new key (its hash) and return the key itself, which is never retrievable again."""
    business_id = None
    if business_slug:
        biz = (await session.execute(select(Business).where(col(Business.slug) == business_slug))).scalar_one_or_none()
        if biz is None or biz.deleted_at is not None:
            raise OpsError(f"no business with slug {business_slug!r}")
        business_id = biz.id
    key = new_api_key()
    session.add(ApiKey(name=name, prefix=key[:10], key_hash=hash_api_key(key), business_id=business_id))
    await audit.record(session, actor=actor, action="apikey.create", business_id=business_id, target=name)
    return key


async def list_keys(session: AsyncSession, *, include_revoked: bool = False) -> list[KeyRow]:
    q = (
        select(ApiKey, col(Business.slug))
        .join(Business, col(Business.id) == col(ApiKey.business_id), isouter=True)
        .order_by(col(ApiKey.id))
    )
    if not include_revoked:
        q = q.where(col(ApiKey.revoked_at).is_(None))
    return [
        KeyRow(
            id=k.id or 0,
            name=k.name,
            prefix=k.prefix,
            scope=slug or "operator",
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )
        for k, slug in (await session.execute(q)).all()
    ]


async def find_active(session: AsyncSession, which: str) -> ApiKey:
    """The one active key whose name is ``which`` or whose prefix starts with it (6 characters at least)."""
    which = which.strip()
    conds = [col(ApiKey.name) == which]
    if len(which) >= MIN_PREFIX:
        conds.append(col(ApiKey.prefix).startswith(which, autoescape=True))
    rows = list((await session.execute(select(ApiKey).where(col(ApiKey.revoked_at).is_(None), or_(*conds)))).scalars())
    if not rows:
        raise OpsError(f"no active API key named {which!r} or with that prefix (see: ardoise apikey list)")
    if len(rows) > 1:
        listed = ", ".join(f"{k.name} ({k.prefix}…)" for k in rows)
        raise OpsError(f"{len(rows)} active keys answer to {which!r}: {listed}; name one by its prefix")
    return rows[0]


async def revoke(session: AsyncSession, which: str, *, actor: str = "cli") -> ApiKey:
    key = await find_active(session, which)
    key.revoked_at = utcnow()
    session.add(key)
    await audit.record(session, actor=actor, action="apikey.revoke", business_id=key.business_id, target=key.name)
    return key


async def rotate(session: AsyncSession, which: str, *, actor: str = "cli") -> tuple[ApiKey, str]:
    """Revoke the key and make a new one with the same name and scope, in one transaction."""
    old = await revoke(session, which, actor=actor)
    key = new_api_key()
    session.add(ApiKey(name=old.name, prefix=key[:10], key_hash=hash_api_key(key), business_id=old.business_id))
    await audit.record(session, actor=actor, action="apikey.rotate", business_id=old.business_id, target=old.name)
    return old, key
