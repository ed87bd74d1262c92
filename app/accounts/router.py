from __future__ import annotations

import structlog
from fastapi import APIRouter, Response

from app.accounts import service as account_service
from app.accounts.schemas import AccountCreate, AccountList, AccountRead, AccountTest
from app.audit import service as audit
from app.deps import BusinessDep, Id, PageDep, PrincipalDep, ReadBusinessDep, RuntimeDep, SessionDep
from app.errors import BadGateway, Conflict, NotFound, Unprocessable
from app.kit.errors import AdapterError, AuthError
from app.kit.time import utcnow
from app.logging import add_secrets
from app.models import AccountStatus, NetworkAccount
from app.networks.base import NetworkCredentials

log = structlog.get_logger("ardoise.accounts")
router = APIRouter(prefix="/api/v1/businesses/{business_id}/accounts", tags=["accounts"])


@router.get("", response_model=AccountList)
async def list_accounts(biz: BusinessDep, session: SessionDep, page: PageDep) -> AccountList:
    assert biz.id is not None
    rows = await account_service.list_accounts(session, business_id=biz.id, limit=page.limit, before_id=page.before_id)
    return AccountList(
        items=[account_service.to_read(a) for a in rows],
        next_cursor=page.next_cursor(rows[-1].id if rows else None, len(rows), page.limit),
    )


@router.post("", status_code=201, response_model=AccountRead)
async def link_account(body: AccountCreate, biz: ReadBusinessDep, who: PrincipalDep, rt: RuntimeDep) -> AccountRead:
    """Link an account: the credentials are verified with the network first, then stored encrypted."""
    if body.network == "page":
        raise Conflict("every business already has its page account")
    if body.network not in rt.networks:
        raise Unprocessable(f"unknown network {body.network!r}; known: {', '.join(sorted(rt.networks))}")
    net = rt.network(body.network)
    given = NetworkCredentials(data=body.credentials)
    add_secrets(net.redact(given))
    # The answer never carries what the remote server said (its body, status, port): the URL may be a
    # tenant's probe of some other host. The reason goes to the log for the operator.
    try:
        info = await net.verify(given)
    except AuthError as exc:
        log.info("account.link_refused", network=body.network, reason=exc.reason[:300])
        raise Unprocessable(f"{body.network} refused these credentials") from None
    except AdapterError as exc:
        log.info("account.link_failed", network=body.network, code=exc.code, reason=exc.reason[:300])
        raise BadGateway(
            f"{body.network} could not be reached to verify the account, or did not answer as it should"
        ) from None
    creds = {**body.credentials, **given.renewed}  # what verify renewed or learned (a session, the user id)
    assert biz.id is not None
    async with rt.db.write() as session:
        acct = await account_service.link(
            session,
            business_id=biz.id,
            network=body.network,
            handle=info.handle,
            credentials=creds,
            settings=dict(body.settings),
            vault=rt.vault,
            actor=who.actor,
        )
        acct.last_checked_at = utcnow()
    return account_service.to_read(acct)


@router.post("/{account_id}/test", response_model=AccountTest)
async def test_account(account_id: Id, biz: ReadBusinessDep, who: PrincipalDep, rt: RuntimeDep) -> AccountTest:
    """Verify the account's credentials now. A working account that was broken is active again; refused
    credentials (revoked, expired) mark it broken as a failed delivery would, with the owner and the operator
    told once. A network that is down changes nothing."""
    return await account_service.test(rt, business=biz, account_id=account_id, actor=who.actor)


@router.delete("/{account_id}", status_code=204)
async def disable_account(account_id: Id, biz: BusinessDep, session: SessionDep, who: PrincipalDep) -> Response:
    acct = await session.get(NetworkAccount, account_id)
    if acct is None or acct.business_id != biz.id:
        raise NotFound(f"no account {account_id} in business {biz.id}")
    if acct.network == "page":
        raise Conflict("the built-in page cannot be removed")
    acct.status = AccountStatus.disabled.value
    acct.credentials = ""
    session.add(acct)
    await audit.record(
        session, actor=who.actor, action="account.disable", business_id=biz.id, target=f"account:{account_id}"
    )
    return Response(status_code=204)
