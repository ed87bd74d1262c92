from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.credentials import account_credentials, mark_account_broken
from app.accounts.schemas import AccountRead, AccountTest
from app.audit import service as audit
from app.errors import NotFound
from app.kit.crypto import Vault
from app.kit.errors import AdapterError, AuthError
from app.kit.time import utcnow
from app.lanes import network_lane
from app.models import AccountStatus, Business, NetworkAccount
from app.runtime import Runtime

log = structlog.get_logger("ardoise.accounts")


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


def lane_of(acct: NetworkAccount) -> str:
    """The job lane of work on this account (its network; for Mastodon, its instance)."""
    return network_lane(acct.network, acct.handle)


async def lanes_of(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, str]:
    """Job lanes by account id, for jobs enqueued without the accounts at hand."""
    if not account_ids:
        return {}
    rows = await session.execute(select(NetworkAccount).where(col(NetworkAccount.id).in_(list(account_ids))))
    return {a.id: lane_of(a) for a in rows.scalars() if a.id is not None}


async def list_accounts(
    session: AsyncSession, *, business_id: int, limit: int, before_id: int | None = None
) -> list[NetworkAccount]:
    """A business's linked accounts (the page included, disabled ones too), newest first."""
    q = select(NetworkAccount).where(col(NetworkAccount.business_id) == business_id)
    if before_id is not None:
        q = q.where(col(NetworkAccount.id) < before_id)
    return list((await session.execute(q.order_by(col(NetworkAccount.id).desc()).limit(limit))).scalars())


async def test(rt: Runtime, *, business: Business, account_id: int, actor: str) -> AccountTest:
    """Verify an account's stored credentials with its network now, and record the outcome. A working account
    that was broken is active again; refused credentials (revoked, expired) mark it broken as a failed delivery
    would, with the owner and the operator told once. A network that is down changes nothing. Opens its own
    sessions: the network call must not hold SQLite's write lock."""
    async with rt.db.read() as session:
        acct = await session.get(NetworkAccount, account_id)
    if acct is None or acct.business_id != business.id:
        raise NotFound(f"no account {account_id} in business {business.id}")
    refused = False
    try:
        async with account_credentials(rt, acct, business) as creds:
            info = await rt.network(acct.network).verify(creds)
        ok, detail, handle = True, "ok", info.handle
    except AdapterError as exc:
        # the tenant sees the kind of failure, never the remote answer (it goes to the log)
        log.info("account.test_failed", account_id=account_id, code=exc.code, reason=exc.reason[:300])
        ok, handle, refused = False, acct.handle, isinstance(exc, AuthError)
        detail = "the network refused the credentials" if refused else f"the network could not be used ({exc.code})"
    async with rt.db.write() as session:
        a = await session.get(NetworkAccount, account_id)
        biz = await session.get(Business, business.id)
        assert a is not None
        assert biz is not None
        a.last_checked_at = utcnow()
        if ok and a.status == AccountStatus.broken.value:
            a.status, a.status_reason = AccountStatus.active.value, ""
        elif refused and a.status == AccountStatus.active.value:
            await mark_account_broken(rt, session, a, biz, detail)
        session.add(a)
        status = a.status
        await audit.record(
            session,
            actor=actor,
            action="account.test",
            business_id=business.id,
            target=f"account:{account_id}",
            detail=detail[:200],
        )
    return AccountTest(ok=ok, handle=handle, detail=detail, status=status)
