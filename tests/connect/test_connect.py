"""OAuth linking (``/connect/{network}``): start links, state (single use, expiry, bound to the business), PKCE,
code exchange and account storage. The networks' token and lookup endpoints are mocked with respx, with bodies
from their docs."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.connect.router import router as connect_router
from app.kit.time import set_clock, utcnow
from app.main import create_app
from app.models import NetworkAccount
from app.runtime import Runtime, build_runtime
from tests.helpers import make_business

PUBLIC_URL = "http://testserver"


@pytest.fixture
def settings(db_url: str, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        db_url,
        facebook_app_id="fb-app-id",
        facebook_app_secret="fb-app-secret",
        google_client_id="g-client.apps.googleusercontent.com",
        google_client_secret="g-secret",
        x_client_id="x-client-id",
        x_client_secret="x-client-secret",
    )


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    yield runtime
    await runtime.close()


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(rt.settings, runtime=rt)
    if not any(getattr(r, "path", "") == "/connect/{network}" for r in app.routes):
        app.include_router(connect_router)
    app.state.runtime = rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
        yield c


@pytest.fixture
def networks() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


async def start_link(client: httpx.AsyncClient, auth: dict[str, str], biz_id: int, network: str) -> str:
    r = await client.post(f"/api/v1/businesses/{biz_id}/accounts/connect-link", headers=auth, json={"network": network})
    assert r.status_code == 200, r.text
    url = str(r.json()["url"])
    assert url.startswith(f"{PUBLIC_URL}/connect/{network}?")
    return url.removeprefix(PUBLIC_URL)


async def authorize(client: httpx.AsyncClient, path: str) -> dict[str, str]:
    """Follow the start link; return the query the browser is sent to the network with."""
    r = await client.get(path)
    assert r.status_code == 302, r.text
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


# https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token (token answer)
X_TOKENS = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "x-access",
    "scope": "tweet.write users.read tweet.read offline.access media.write",
    "refresh_token": "x-refresh",
}
# https://docs.x.com/x-api/users/user-lookup-me
X_ME = {"data": {"id": "2244994945", "name": "Bistro", "username": "bistro"}}


def mock_x(networks: respx.MockRouter) -> respx.Route:
    token = networks.post("https://api.x.com/2/oauth2/token").respond(200, json=X_TOKENS)
    networks.get("https://api.x.com/2/users/me").respond(200, json=X_ME)
    return token


async def stored_accounts(rt: Runtime, network: str) -> list[tuple[NetworkAccount, dict[str, str]]]:
    async with rt.db.read() as s:
        rows = (await s.execute(select(NetworkAccount).where(col(NetworkAccount.network) == network))).scalars()
        return [(a, rt.vault.decrypt(a.credentials)) for a in rows]


async def test_x_flow_uses_pkce_and_stores_the_account(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, networks: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    query = await authorize(client, await start_link(client, auth, biz["id"], "x"))
    assert query["client_id"] == "x-client-id"
    assert query["redirect_uri"] == f"{PUBLIC_URL}/connect/x/callback"
    assert query["code_challenge_method"] == "S256"
    assert "offline.access" in query["scope"].split()
    token = mock_x(networks)

    r = await client.get("/connect/x/callback", params={"code": "auth-code", "state": query["state"]})
    assert r.status_code == 200, r.text
    assert "@bistro" in r.text

    sent = form(token.calls.last.request)
    verifier = sent["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert challenge == query["code_challenge"]  # the verifier behind the challenge went with the code
    assert sent["code"] == "auth-code"
    assert sent["redirect_uri"] == f"{PUBLIC_URL}/connect/x/callback"
    expected_basic = "Basic " + base64.b64encode(b"x-client-id:x-client-secret").decode()
    assert token.calls.last.request.headers["Authorization"] == expected_basic

    [(acct, creds)] = await stored_accounts(rt, "x")
    assert (acct.business_id, acct.handle, acct.status) == (biz["id"], "@bistro", "active")
    assert creds["access_token"] == "x-access"
    assert creds["refresh_token"] == "x-refresh"
    assert creds["user_id"] == "2244994945"
    assert int(creds["expires_at"]) > utcnow().timestamp()


async def test_a_replayed_state_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, networks: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    query = await authorize(client, await start_link(client, auth, biz["id"], "x"))
    mock_x(networks)
    first = await client.get("/connect/x/callback", params={"code": "c", "state": query["state"]})
    assert first.status_code == 200
    again = await client.get("/connect/x/callback", params={"code": "c", "state": query["state"]})
    assert again.status_code == 400
    assert "already used" in again.text
    assert len(await stored_accounts(rt, "x")) == 1


async def test_an_expired_state_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], networks: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    query = await authorize(client, await start_link(client, auth, biz["id"], "x"))
    token = mock_x(networks)
    later = utcnow() + timedelta(minutes=16)
    set_clock(lambda: later)
    try:
        r = await client.get("/connect/x/callback", params={"code": "c", "state": query["state"]})
    finally:
        set_clock(None)
    assert r.status_code == 400
    assert "expired" in r.text
    assert not token.called


@pytest.mark.parametrize(
    "state",
    [pytest.param("never-issued", id="unknown"), pytest.param("", id="missing")],
)
async def test_an_unknown_state_is_refused(client: httpx.AsyncClient, state: str) -> None:
    r = await client.get("/connect/x/callback", params={"code": "c", "state": state})
    assert r.status_code == 400


async def test_a_link_for_another_business_is_refused(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz_a, _ = await make_business(client, auth, slug="alpha", number="+15817000001", phone="+14185550121")
    await make_business(client, auth, slug="beta", number="+15817000002", phone="+14185550122")
    path = await start_link(client, auth, biz_a["id"], "x")
    forged = path.replace("business=alpha", "business=beta")
    r = await client.get(forged)
    assert r.status_code == 403
    assert "not valid" in r.text
    # and for another network
    r = await client.get(path.replace("/connect/x?", "/connect/google?"))
    assert r.status_code == 403


async def test_an_expired_start_link_is_refused(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    path = await start_link(client, auth, biz["id"], "x")
    later = utcnow() + timedelta(days=4)
    set_clock(lambda: later)
    try:
        r = await client.get(path)
    finally:
        set_clock(None)
    assert r.status_code == 400
    assert "expired" in r.text


async def test_owner_declining_burns_the_state(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    query = await authorize(client, await start_link(client, auth, biz["id"], "x"))
    r = await client.get("/connect/x/callback", params={"error": "access_denied", "state": query["state"]})
    assert r.status_code == 400
    assert "cancelled" in r.text
    r = await client.get("/connect/x/callback", params={"code": "c", "state": query["state"]})
    assert r.status_code == 400


# Meta: https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived and
# https://developers.facebook.com/docs/pages-api/getting-started (GET /me/accounts → data[] {id, name, access_token})
FB_SHORT = {"access_token": "short-user-token", "token_type": "bearer", "expires_in": 5183944}
FB_LONG = {"access_token": "long-user-token", "token_type": "bearer", "expires_in": 5183944}


def fb_pages(*pages: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(pages), "paging": {"cursors": {"before": "MTA", "after": "MTA"}}}


async def test_facebook_with_two_pages_lets_the_owner_choose(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, networks: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    query = await authorize(client, await start_link(client, auth, biz["id"], "facebook"))
    assert "code_challenge" not in query
    assert "pages_manage_posts" in query["scope"].split(",")
    exchange = networks.get(url__regex=r"https://graph\.facebook\.com/v[\d.]+/oauth/access_token").mock(
        side_effect=[httpx.Response(200, json=FB_SHORT), httpx.Response(200, json=FB_LONG)]
    )
    pages = networks.get(url__regex=r"https://graph\.facebook\.com/v[\d.]+/me/accounts").respond(
        200,
        json=fb_pages(
            {"id": "111", "name": "Bistro Ardoise", "access_token": "page-token-111"},
            {"id": "222", "name": "Traiteur Ardoise", "access_token": "page-token-222"},
        ),
    )
    r = await client.get("/connect/facebook/callback", params={"code": "fb-code", "state": query["state"]})
    assert r.status_code == 200
    assert "Traiteur Ardoise" in r.text
    assert "page-token" not in r.text  # tokens wait encrypted server-side, never in the page
    assert exchange.calls[1].request.url.params["fb_exchange_token"] == "short-user-token"
    assert pages.calls.last.request.headers["Authorization"] == "Bearer long-user-token"
    choice = r.text.split('name="choice" value="')[1].split('"')[0]

    r = await client.post("/connect/facebook/choose", data={"choice": choice, "option": "222"})
    assert r.status_code == 200, r.text
    [(acct, creds)] = await stored_accounts(rt, "facebook")
    assert acct.handle == "Traiteur Ardoise"
    assert creds == {"page_id": "222", "page_access_token": "page-token-222", "page_name": "Traiteur Ardoise"}
    again = await client.post("/connect/facebook/choose", data={"choice": choice, "option": "111"})
    assert again.status_code == 400  # the choice is single use too


async def test_relinking_the_same_account_reactivates_it(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, networks: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    mock_x(networks)
    for _ in range(2):
        query = await authorize(client, await start_link(client, auth, biz["id"], "x"))
        r = await client.get("/connect/x/callback", params={"code": "c", "state": query["state"]})
        assert r.status_code == 200
    assert len(await stored_accounts(rt, "x")) == 1


async def test_google_flow_finds_the_location(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, networks: respx.MockRouter
) -> None:
    biz, _ = await make_business(client, auth)
    query = await authorize(client, await start_link(client, auth, biz["id"], "google"))
    assert (query["access_type"], query["prompt"], query["code_challenge_method"]) == ("offline", "consent", "S256")
    # https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code
    token = networks.post("https://oauth2.googleapis.com/token").respond(
        200,
        json={
            "access_token": "ya29.a",
            "expires_in": 3920,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/business.manage",
            "refresh_token": "1//xEoDL4iW3cxlI7yDbSRFYNG01kVKM2C-259HOF2aQbI",
        },
    )
    # https://developers.google.com/my-business/reference/accountmanagement/rest/v1/accounts/list
    networks.get("https://mybusinessaccountmanagement.googleapis.com/v1/accounts").respond(
        200, json={"accounts": [{"name": "accounts/111", "accountName": "Bistro", "type": "PERSONAL"}]}
    )
    # https://developers.google.com/my-business/reference/businessinformation/rest/v1/accounts.locations/list
    networks.get("https://mybusinessbusinessinformation.googleapis.com/v1/accounts/111/locations").respond(
        200, json={"locations": [{"name": "locations/222", "title": "Bistro Ardoise"}]}
    )
    r = await client.get("/connect/google/callback", params={"code": "g-code", "state": query["state"]})
    assert r.status_code == 200, r.text
    sent = form(token.calls.last.request)
    assert sent["grant_type"] == "authorization_code"
    assert hashlib.sha256(sent["code_verifier"].encode()).digest() == base64.urlsafe_b64decode(
        query["code_challenge"] + "=" * (-len(query["code_challenge"]) % 4)
    )
    [(acct, creds)] = await stored_accounts(rt, "google")
    assert acct.handle == "Bistro Ardoise"
    assert (creds["account_id"], creds["location_id"]) == ("111", "222")
    assert creds["language"] == "fr"
    assert "business_phone" not in creds  # this business has no public phone: no "Call" button
    assert creds["refresh_token"].startswith("1//")


async def test_connect_link_needs_an_api_key(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/accounts/connect-link", json={"network": "x"})
    assert r.status_code == 401
