"""One home for a linked account's credentials: decrypt them for an adapter, store back what the adapter renewed,
and mark the account broken when the network refuses them.

``account_credentials`` is the only way the features hand credentials to an adapter::

    async with account_credentials(rt, account, business) as creds:
        result = await net.publish(post, creds)

On exit, whether the call succeeded or raised, the tokens the adapter wrote to ``creds.renewed`` are merged into
the stored (encrypted) credentials in their own short transaction: X rotates its refresh token at every refresh,
so dropping the new one after a failed call would break the account at its next use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.catalogue import label, t
from app.kit.crypto import Vault
from app.kit.time import utcnow
from app.logging import add_secrets
from app.messages import outbox
from app.models import AccountStatus, Business, Member, NetworkAccount
from app.networks.base import NetworkCredentials
from app.runtime import Runtime
from app.worker import queue


def credentials(rt: Runtime, acct: NetworkAccount, biz: Business) -> NetworkCredentials:
    """The account's decrypted credentials, with the business's identifiers an adapter may need; their secrets are
    registered for redaction from the logs. Prefer ``account_credentials``, which also stores renewed tokens."""
    data = rt.vault.decrypt(acct.credentials) if acct.credentials else {}
    data.setdefault("slug", biz.slug)
    data.setdefault("business_phone", biz.phone or "")
    data.setdefault("public_url", rt.settings.public_url)
    creds = NetworkCredentials(data=data)
    net = rt.networks.get(acct.network)
    if net is not None:
        add_secrets(net.redact(creds))  # whatever logs later, these never appear in clear
    return creds


@asynccontextmanager
async def account_credentials(rt: Runtime, acct: NetworkAccount, biz: Business) -> AsyncIterator[NetworkCredentials]:
    """Decrypted credentials for one adapter call (or a few); on exit, success or exception, ``creds.renewed`` is
    stored if the adapter put anything there."""
    creds = credentials(rt, acct, biz)
    try:
        yield creds
    finally:
        if creds.renewed:
            net = rt.networks.get(acct.network)
            if net is not None:
                add_secrets(net.redact(NetworkCredentials(data=creds.renewed)))
            await store_refreshed(rt, acct.id, creds.renewed)


async def store_refreshed(rt: Runtime, account_id: int | None, refreshed: Mapping[str, str] | None) -> None:
    """Merge renewed credentials into the stored ones of ``account_id``, in a transaction of their own."""
    if not refreshed or account_id is None:
        return
    async with rt.db.write() as s:
        acct = await s.get(NetworkAccount, account_id)
        if acct is not None:
            merge_credentials(rt.vault, acct, refreshed, s)


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


async def mark_account_broken(
    rt: Runtime,
    s: AsyncSession,
    acct: NetworkAccount,
    biz: Business,
    reason: str,
    *,
    told_by_receipt: int | None = None,
) -> None:
    """Mark the account broken and tell the owners (one SMS each) and the operator, once per breakage.

    ``told_by_receipt`` is the member whose pending receipt will name the disconnected account: no second SMS.
    """
    if acct.status == AccountStatus.broken.value:
        return
    acct.status = AccountStatus.broken.value
    acct.status_reason = reason[:500]
    acct.last_checked_at = utcnow()
    s.add(acct)
    owners = (
        (await s.execute(select(Member).where(col(Member.business_id) == biz.id, col(Member.role) == "owner")))
        .scalars()
        .all()
    )
    for m in owners:
        if m.id != told_by_receipt:
            await outbox.send(
                s,
                rt.settings,
                m,
                t("account_broken", m.language, network=label(acct.network)),
                to=outbox.SMS,
                kind="account_broken",
                business_id=biz.id,
                dedup_key=f"broken:{acct.id}:{m.id}:{utcnow().date().isoformat()}",
            )
    await queue.enqueue(
        s,
        "ops.notify_operator",
        {
            "event": "account.broken",
            "business": biz.slug,
            "account_id": acct.id,
            "network": acct.network,
            "reason": reason[:300],
        },
        business_id=biz.id,
        lane="operator-webhook",
    )


async def account_broke(rt: Runtime, account_id: int, biz: Business, reason: str) -> None:
    """:func:`mark_account_broken` in a write transaction of its own, after a call outside one failed for good."""
    async with rt.db.write() as s:
        acct = await s.get(NetworkAccount, account_id)
        if acct is not None:
            await mark_account_broken(rt, s, acct, biz, reason)
