from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    business_id: int | None = None,
    target: str = "",
    detail: str = "",
) -> None:
    """Add an audit row in the caller's transaction (it commits with the write it describes)."""
    session.add(
        AuditEvent(
            actor=actor[:64], action=action[:64], business_id=business_id, target=target[:128], detail=detail[:2000]
        )
    )
