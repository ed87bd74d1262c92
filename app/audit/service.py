from __future__ import annotations

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import run_prepared
from app.kit.time import utcnow
from app.models import AuditEvent

AUDIT: Table = AuditEvent.__table__  # type: ignore[attr-defined]


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    business_id: int | None = None,
    target: str = "",
    detail: str = "",
) -> None:
    """Add an audit row in the caller's transaction (it commits with the write it describes). A Core INSERT built
    once (``app.db.prepared``): two rows per SMS command, written once and never read back by the writer."""
    values = {
        "at": utcnow(),
        "actor": actor[:64],
        "action": action[:64],
        "business_id": business_id,
        "target": target[:128],
        "detail": detail[:2000],
    }
    await run_prepared(session, "audit.record", lambda _d: insert(AUDIT), values)


async def list_events(
    session: AsyncSession, *, business_id: int | None, limit: int, before_id: int | None = None
) -> list[AuditEvent]:
    """Newest first. ``business_id`` None: every event (operator); otherwise only that business's events."""
    q = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
    if business_id is not None:
        q = q.where(col(AuditEvent.business_id) == business_id)
    if before_id is not None:
        q = q.where(col(AuditEvent.id) < before_id)
    return list((await session.execute(q)).scalars())
