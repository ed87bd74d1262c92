from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.schemas import AccountRead
from app.audit import service as audit
from app.kit.crypto import Vault
from app.models import NetworkAccount
from app.worker import queue


def to_read(a: NetworkAccount) -> AccountRead:
    assert a.id is not None
    return AccountRead(
        id=a.id,
        network=a.network,
        handle=a.handle,
        status=a.status,
        status_reason=a.status_reason,
        last_checked_at=a.last_checked_at,
        created_at=a.created_at,
    )


async def link(
    session: AsyncSession,
    *,
    business_id: int,
    network: str,
    handle: str,
    credentials: dict[str, str],
    settings: dict[str, str],
    vault: Vault,
    actor: str,
) -> NetworkAccount:
    """Store a verified account; credentials are encrypted, never returned by the API nor logged."""
    acct = NetworkAccount(
        business_id=business_id,
        network=network,
        handle=handle,
        credentials=vault.encrypt(credentials) if credentials else "",
        settings=dict(settings),
    )
    session.add(acct)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="account.link",
        business_id=business_id,
        target=f"account:{acct.id}",
        detail=f"{network} {handle}",
    )
    return acct


def merge_credentials(
    vault: Vault, acct: NetworkAccount, refreshed: Mapping[str, str] | None, session: AsyncSession
) -> None:
    """Store credentials an adapter renewed during a call (a Bluesky session, rotated OAuth tokens) on ``acct``.
    X replaces its refresh token at every refresh: dropping the new one would break the account at its next use."""
    if not refreshed:
        return
    data = vault.decrypt(acct.credentials) if acct.credentials else {}
    data.update(refreshed)
    acct.credentials = vault.encrypt(data)
    session.add(acct)


def lane_of(acct: NetworkAccount) -> str:
    """The job lane of work on this account (its network; for Mastodon, its instance)."""
    return queue.network_lane(acct.network, acct.handle)


async def lanes_of(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, str]:
    """Job lanes by account id, for jobs enqueued without the accounts at hand."""
    if not account_ids:
        return {}
    rows = await session.execute(select(NetworkAccount).where(col(NetworkAccount.id).in_(list(account_ids))))
    return {a.id: lane_of(a) for a in rows.scalars() if a.id is not None}
