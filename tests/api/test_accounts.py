"""Linked network accounts: list, link (verified, stored encrypted), test, disable."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlmodel import col

from app.models import NetworkAccount
from app.runtime import Runtime
from tests.api.support import assert_paginates, assert_problem, key_id
from tests.helpers import make_business

MASTO = "https://masto.example"
TOKEN = "masto-access-token-0123456789abcdef"
SQLITE_DEADLOCK = (
    "BUG: app/accounts/router.py link_account/test_account open rt.db.write() while the request's "
    "SessionDep write session (taken by BusinessDep for non-GET) still holds Database._write_lock: "
    "on SQLite the request waits on itself forever"
)


def with_backends(sqlite_marks: list[pytest.MarkDecorator]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        "backend",
        [
            pytest.param("sqlite", marks=sqlite_marks),
            pytest.param("postgres", marks=pytest.mark.postgres),
        ],
        indirect=True,
    )


@pytest.fixture
def masto() -> Iterator[respx.MockRouter]:
    """A Mastodon instance that accepts ``TOKEN`` only."""

    def verify(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "The access token is invalid"})
        return httpx.Response(200, json={"id": "42", "username": "bistro", "acct": "bistro"})

    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.get(f"{MASTO}/api/v1/accounts/verify_credentials").mock(side_effect=verify)
        router.get(f"{MASTO}/api/v2/instance").mock(
            return_value=httpx.Response(
                200, json={"domain": "masto.example", "configuration": {"statuses": {"max_characters": 500}}}
            )
        )
        yield router


async def test_every_business_has_its_page_account(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)
    assert r.status_code == 200, r.text
    [page] = r.json()["items"]
    assert page["network"] == "page"
    assert page["handle"] == "bistro"
    assert page["status"] == "active"
    assert "credentials" not in page


async def test_linking_an_unknown_network_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/accounts", headers=auth, json={"network": "myspace", "credentials": {}}
    )
    body = assert_problem(r, 422)
    assert "myspace" in body["detail"]
    assert "mastodon" in body["detail"]  # says which networks exist


async def test_linking_the_page_network_is_409(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/accounts", headers=auth, json={"network": "page", "credentials": {}}
    )
    assert_problem(r, 409)
    accounts = (await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)).json()["items"]
    assert [a["network"] for a in accounts] == ["page"]


async def test_refused_credentials_are_422_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], masto: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/accounts",
        headers=auth,
        json={"network": "mastodon", "credentials": {"instance_url": MASTO, "access_token": "wrong-token-xyz"}},
    )
    body = assert_problem(r, 422)
    assert "refused" in body["detail"]
    accounts = (await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)).json()["items"]
    assert [a["network"] for a in accounts] == ["page"]


@with_backends([])
async def test_link_verifies_and_stores_credentials_encrypted(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, masto: respx.MockRouter, operator_key: str
) -> None:
    biz, _ = await make_business(client, auth)
    r = await asyncio.wait_for(
        client.post(
            f"/api/v1/businesses/{biz['id']}/accounts",
            headers=auth,
            json={"network": "mastodon", "credentials": {"instance_url": MASTO, "access_token": TOKEN}},
        ),
        timeout=4,
    )
    assert r.status_code == 201, r.text
    acct = r.json()
    assert acct["network"] == "mastodon"
    assert acct["handle"] == "@bistro@masto.example"
    assert acct["status"] == "active"
    assert TOKEN not in r.text
    async with rt.db.read() as s:
        row = (await s.execute(select(NetworkAccount).where(col(NetworkAccount.id) == acct["id"]))).scalar_one()
    assert TOKEN not in row.credentials
    assert rt.vault.decrypt(row.credentials)["access_token"] == TOKEN
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    assert (audit[0]["action"], audit[0]["actor"]) == ("account.link", f"key:{await key_id(rt, operator_key)}")
    assert TOKEN not in str(audit)


@with_backends([])
async def test_account_test_checks_the_credentials_now(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, operator_key: str
) -> None:
    biz, _ = await make_business(client, auth)
    page_id = (await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)).json()["items"][0]["id"]
    r = await asyncio.wait_for(
        client.post(f"/api/v1/businesses/{biz['id']}/accounts/{page_id}/test", headers=auth), timeout=4
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "handle": "bistro", "detail": "ok", "status": "active"}
    [acct] = (await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)).json()["items"]
    assert acct["last_checked_at"] is not None
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    assert (audit[0]["action"], audit[0]["actor"]) == ("account.test", f"key:{await key_id(rt, operator_key)}")


@with_backends([])
async def test_account_test_with_revoked_credentials_marks_it_broken_and_tells_the_owner_once(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, masto: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/accounts",
        headers=auth,
        json={"network": "mastodon", "credentials": {"instance_url": MASTO, "access_token": TOKEN}},
    )
    assert r.status_code == 201, r.text
    acct_id = r.json()["id"]
    async with rt.db.write() as s:  # the owner revokes the app on the instance
        row = await s.get(NetworkAccount, acct_id)
        assert row is not None
        row.credentials = rt.vault.encrypt({"instance_url": MASTO, "access_token": "revoked"})
    url = f"/api/v1/businesses/{biz['id']}/accounts/{acct_id}/test"
    for _ in range(2):
        r = await client.post(url, headers=auth)
        assert r.status_code == 200, r.text
        assert (r.json()["ok"], r.json()["status"]) == (False, "broken")
    accounts = (await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)).json()["items"]
    assert {a["network"]: a["status"] for a in accounts} == {"page": "active", "mastodon": "broken"}
    out = (await client.get(f"/api/v1/businesses/{biz['id']}/messages?direction=out", headers=auth)).json()["items"]
    assert [m["body"] for m in out] == ["Mastodon déconnecté: votre conseiller est avisé. Vos autres comptes marchent."]
    # Working again (the token was renewed): the test brings it back.
    async with rt.db.write() as s:
        row = await s.get(NetworkAccount, acct_id)
        assert row is not None
        row.credentials = rt.vault.encrypt({"instance_url": MASTO, "access_token": TOKEN})
    r = await client.post(url, headers=auth)
    assert (r.json()["ok"], r.json()["status"]) == (True, "active")


async def test_unknown_account_is_404(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    assert_problem(await client.delete(f"/api/v1/businesses/{biz['id']}/accounts/999999", headers=auth), 404)
    assert_problem(await client.post(f"/api/v1/businesses/{biz['id']}/accounts/999999/test", headers=auth), 404)


async def _add_accounts(rt: Runtime, business_id: int, n: int) -> list[int]:
    ids: list[int] = []
    async with rt.db.write() as s:
        for i in range(n):
            acct = NetworkAccount(
                business_id=business_id,
                network="mastodon",
                handle=f"@bistro{i}@masto.example",
                credentials=rt.vault.encrypt({"instance_url": MASTO, "access_token": f"{TOKEN}-{i}"}),
            )
            s.add(acct)
            await s.flush()
            assert acct.id is not None
            ids.append(acct.id)
    return ids


async def test_disable_an_account_forgets_its_credentials(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, operator_key: str
) -> None:
    biz, _ = await make_business(client, auth)
    [masto_id] = await _add_accounts(rt, biz["id"], 1)
    accounts = (await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)).json()["items"]
    page_id = next(a["id"] for a in accounts if a["network"] == "page")

    assert_problem(await client.delete(f"/api/v1/businesses/{biz['id']}/accounts/{page_id}", headers=auth), 409)
    r = await client.delete(f"/api/v1/businesses/{biz['id']}/accounts/{masto_id}", headers=auth)
    assert r.status_code == 204, r.text
    async with rt.db.read() as s:
        row = await s.get(NetworkAccount, masto_id)
    assert row is not None
    assert row.status == "disabled"
    assert row.credentials == ""
    # A new post does not go to a disabled account.
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": "Soupe du jour"})
    assert [d["network"] for d in r.json()["deliveries"]] == ["page"]
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    disable = next(a for a in audit if a["action"] == "account.disable")
    assert disable["actor"] == f"key:{await key_id(rt, operator_key)}"
    assert disable["target"] == f"account:{masto_id}"


async def test_accounts_list_paginates(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> None:
    biz, _ = await make_business(client, auth)
    await _add_accounts(rt, biz["id"], 4)
    items = await assert_paginates(client, f"/api/v1/businesses/{biz['id']}/accounts", auth)
    assert len(items) == 5
