"""Request dependencies: the runtime, a session (read for GET, write otherwise), the caller's API key."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import NotFound, Unauthorized, Unprocessable
from app.kit.crypto import hash_api_key
from app.kit.textclean import ascii_digits
from app.kit.time import utcnow
from app.models import ApiKey, Business
from app.runtime import Runtime
from app.schemas_base import DB_INT_MAX

# Every integer a route takes is within what the database stores (app.schemas_base.DbInt): anything else is
# a 422 here, never an overflow deep in the driver. tests/attack/test_edges.py fails on a route without it.
Id = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
IdQuery = Annotated[int | None, Query(ge=1, le=DB_INT_MAX)]


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request, rt: RuntimeDep) -> AsyncIterator[AsyncSession]:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        async with rt.db.read() as session:
            yield session
    else:
        async with rt.db.write() as session:
            yield session


# scope="function": the transaction commits when the route function returns, BEFORE the response is sent,
# so a 2xx always means the write is durable (the default "request" scope would commit after sending).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    business_id: int | None  # None: operator key, sees every business

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    @property
    def is_operator(self) -> bool:
        return self.business_id is None


async def get_principal(request: Request, rt: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <key>' (create one with 'ardoise apikey create')")
    async with rt.db.read() as session:
        key = (
            await session.execute(select(ApiKey).where(col(ApiKey.key_hash) == hash_api_key(token.strip())))
        ).scalar_one_or_none()
    if key is None or key.revoked_at is not None or key.id is None:
        raise Unauthorized("unknown or revoked API key")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= KEY_USE_PRECISION:
        # At most one write per key and minute (the read above tells when): a busy key costs no write per call.
        # In a task of its own: the request may already hold SQLite's one write session (a POST), and waiting
        # for a second one here would wait for ever.
        task = asyncio.create_task(_touch_key(rt, key.id, now))
        _TOUCHING.add(task)
        task.add_done_callback(_TOUCHING.discard)
    return Principal(key_id=key.id, business_id=key.business_id)


_TOUCHING: set[asyncio.Task[None]] = set()


async def _touch_key(rt: Runtime, key_id: int, now: datetime) -> None:
    stale = or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) < now - KEY_USE_PRECISION)
    async with rt.db.write() as session:
        await session.execute(update(ApiKey).where(col(ApiKey.id) == key_id, stale).values(last_used_at=now))


KEY_USE_PRECISION = timedelta(minutes=1)
"""``apikey.last_used_at`` is at most this old while a key is in use."""

PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_business(business_id: Id, session: SessionDep, who: PrincipalDep) -> Business:
    """The business in the path, if this key may see it. Another tenant's business is a 404, like a missing one."""
    if who.business_id is not None and who.business_id != business_id:
        raise NotFound(f"no business {business_id}")
    biz = await session.get(Business, business_id)
    if biz is None or biz.deleted_at is not None:
        raise NotFound(f"no business {business_id}")
    return biz


BusinessDep = Annotated[Business, Depends(get_business)]


async def get_business_readonly(business_id: Id, rt: RuntimeDep, who: PrincipalDep) -> Business:
    """Like ``BusinessDep`` but from a read session, for routes that call a network before they write (the
    request must not hold SQLite's write lock while it waits on the network)."""
    return await readable_business(rt, who.business_id, business_id)


async def readable_business(rt: Runtime, scope: int | None, business_id: int) -> Business:
    """The business ``business_id`` if a key scoped to ``scope`` (None: every business) may see it, read in a
    session of its own; another tenant's is a 404, like a missing or deleted one."""
    if scope is not None and scope != business_id:
        raise NotFound(f"no business {business_id}")
    async with rt.db.read() as session:
        biz = await session.get(Business, business_id)
    if biz is None or biz.deleted_at is not None:
        raise NotFound(f"no business {business_id}")
    return biz


ReadBusinessDep = Annotated[Business, Depends(get_business_readonly)]


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    before_id: int | None

    @staticmethod
    def next_cursor(last_id: int | None, count: int, limit: int) -> str | None:
        if last_id is None or count < limit:
            return None
        return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def get_page(
    limit: Annotated[int, Query(ge=1, le=200, description="items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor from the previous page")] = None,
) -> Page:
    before: int | None = None
    if cursor:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raw = ""
        # ``ascii_digits`` and the range: a cursor is an id this API gave, never ``²``, ``{}`` or 10**40.
        if not ascii_digits(raw) or not 1 <= int(raw) <= DB_INT_MAX:
            raise Unprocessable("cursor is not one this API gave")
        before = int(raw)
    return Page(limit=limit, before_id=before)


PageDep = Annotated[Page, Depends(get_page)]
