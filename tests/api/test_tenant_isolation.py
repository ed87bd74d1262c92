"""A business key can never read or change another business: one row per ``/api/v1`` route.

``test_every_api_route_has_an_isolation_case`` fails when a route is added without a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.config import Settings
from app.main import create_app
from app.models import NetworkAccount
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import Runner
from tests.api.support import assert_problem, bearer
from tests.conftest import BOTH_BACKENDS, make_key
from tests.helpers import drain, make_business, send_sms

Route = tuple[str, str]

# Writes and reads on one business's objects: a key of business A on business B's ids → 404 (or 403).
DENIED: dict[Route, dict[str, Any] | None] = {
    ("GET", "/api/v1/businesses/{business_id}"): None,
    ("PATCH", "/api/v1/businesses/{business_id}"): {"name": "Pirate"},
    ("DELETE", "/api/v1/businesses/{business_id}"): None,
    ("GET", "/api/v1/businesses/{business_id}/members"): None,
    ("POST", "/api/v1/businesses/{business_id}/members"): {"name": "Intrus", "phone": "+14185550177"},
    ("GET", "/api/v1/businesses/{business_id}/members/{member_id}"): None,
    ("PATCH", "/api/v1/businesses/{business_id}/members/{member_id}"): {"name": "Pirate", "opted_out": True},
    ("DELETE", "/api/v1/businesses/{business_id}/members/{member_id}"): None,
    ("GET", "/api/v1/businesses/{business_id}/accounts"): None,
    ("POST", "/api/v1/businesses/{business_id}/accounts"): {"network": "mastodon", "credentials": {}},
    ("POST", "/api/v1/businesses/{business_id}/accounts/{account_id}/test"): None,
    ("DELETE", "/api/v1/businesses/{business_id}/accounts/{account_id}"): None,
    ("GET", "/api/v1/businesses/{business_id}/posts"): None,
    ("POST", "/api/v1/businesses/{business_id}/posts"): {"text": "Pirate", "media_urls": []},
    ("GET", "/api/v1/businesses/{business_id}/posts/{post_id}"): None,
    ("DELETE", "/api/v1/businesses/{business_id}/posts/{post_id}"): None,
    ("GET", "/api/v1/businesses/{business_id}/messages"): None,
}
# Collections across businesses: a business key sees only its own rows.
FILTERED: set[Route] = {
    ("GET", "/api/v1/businesses"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/audit"),
}
# Operator-only: a business key is refused outright.
OPERATOR_ONLY: dict[Route, dict[str, Any]] = {
    ("POST", "/api/v1/businesses"): {"name": "Intrus", "slug": "intrus", "timezone": "UTC", "language": "fr"},
}
# Routes with an object id next to the business id: B's object under A's own path must be a 404.
NESTED = [route for route in DENIED if route[1].count("{") == 2]


def _walk(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        included = getattr(r, "original_router", None)  # FastAPI >= 0.16x includes routers lazily
        if included is not None:
            found.extend(_walk(list(included.routes)))
    return found


def api_routes(settings: Settings) -> set[Route]:
    """Every ``/api/v1`` route and method: from the route table and from the OpenAPI document."""
    app = create_app(settings)
    routes = {(m, r.path) for r in _walk(list(app.routes)) for m in r.methods if r.path.startswith("/api/v1")}
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            routes |= {(m.upper(), path) for m in ops}
    return routes


def test_every_api_route_has_an_isolation_case(make_settings: Callable[..., Settings], tmp_path: Any) -> None:
    routes = api_routes(make_settings(f"sqlite:///{tmp_path}/unused.db"))
    covered = set(DENIED) | FILTERED | set(OPERATOR_ONLY)
    assert routes - covered == set(), "routes without a tenant-isolation case"
    assert covered - routes == set(), "isolation cases for routes that no longer exist"


@dataclass
class Tenant:
    id: int
    key: str
    member_id: int
    post_id: int
    account_id: int

    def fill(self, path: str, business_id: int | None = None) -> str:
        return path.format(
            business_id=self.id if business_id is None else business_id,
            member_id=self.member_id,
            post_id=self.post_id,
            account_id=self.account_id,
        )


@dataclass
class Tenants:
    a: Tenant
    b: Tenant


async def _tenant(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, slug: str, number: str, phone: str
) -> Tenant:
    biz, member = await make_business(client, auth, slug=slug, number=number, phone=phone)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": f"Menu {slug}"})
    assert r.status_code == 202, r.text
    post = r.json()
    r = await send_sms(client, phone, number, "AIDE")
    assert r.status_code == 200, r.text
    async with rt.db.write() as s:
        await queue.enqueue(s, "tests.no_such_task", {}, business_id=biz["id"], max_attempts=1)
    return Tenant(
        id=biz["id"],
        key=await make_key(rt, biz["id"], name=slug),
        member_id=member["id"],
        post_id=post["id"],
        account_id=post["deliveries"][0]["account_id"],
    )


@pytest.fixture
async def tenants(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, runner: Runner[Runtime]
) -> Tenants:
    a = await _tenant(client, auth, rt, "alpha", "+15817000001", "+14185550120")
    b = await _tenant(client, auth, rt, "beta", "+15817000002", "+14185550121")
    await drain(runner)
    return Tenants(a, b)


async def snapshot(client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str], t: Tenant) -> dict[str, Any]:
    """What the operator sees of one business, and the row count of every table."""
    views: dict[str, Any] = {}
    for path in (
        "/api/v1/businesses/{business_id}",
        "/api/v1/businesses/{business_id}/members",
        "/api/v1/businesses/{business_id}/members/{member_id}",
        "/api/v1/businesses/{business_id}/accounts",
        "/api/v1/businesses/{business_id}/posts",
        "/api/v1/businesses/{business_id}/posts/{post_id}",
        "/api/v1/businesses/{business_id}/messages?direction=in",
        "/api/v1/businesses/{business_id}/messages?direction=out",
    ):
        r = await client.get(t.fill(path), headers=auth)
        assert r.status_code == 200, r.text
        views[path] = r.json()
    async with rt.db.read() as s:
        for table in SQLModel.metadata.sorted_tables:
            views[f"rows:{table.name}"] = (await s.execute(select(func.count()).select_from(table))).scalar_one()
        acct = await s.get(NetworkAccount, t.account_id)
        assert acct is not None
        views["account"] = (acct.status, acct.last_checked_at, acct.credentials)
    return views


@BOTH_BACKENDS
@pytest.mark.parametrize("route", list(DENIED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_business_key_cannot_touch_another_business(
    client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str], tenants: Tenants, route: Route
) -> None:
    a, b = tenants.a, tenants.b
    before = await snapshot(client, rt, auth, b)
    method, path = route
    r = await client.request(method, b.fill(path), headers=bearer(a.key), json=DENIED[route])
    assert r.status_code in (403, 404), f"{method} {path}: {r.status_code} {r.text}"
    assert_problem(r, r.status_code)
    assert await snapshot(client, rt, auth, b) == before
    # The same call with B's own key works (or fails for a reason of its own), so the 404 above is isolation.
    r = await client.request(method, b.fill(path), headers=bearer(b.key), json=DENIED[route])
    assert r.status_code != 404 or route[0] == "DELETE", r.text


@BOTH_BACKENDS
@pytest.mark.parametrize("route", NESTED, ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("who", ["business-key", "operator-key"])
async def test_other_tenants_ids_under_own_business_are_404(
    client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str], tenants: Tenants, route: Route, who: str
) -> None:
    a, b = tenants.a, tenants.b
    before = await snapshot(client, rt, auth, b)
    method, path = route
    headers = bearer(a.key) if who == "business-key" else auth
    r = await client.request(method, b.fill(path, business_id=a.id), headers=headers, json=DENIED[route])
    assert_problem(r, 404)
    assert await snapshot(client, rt, auth, b) == before


@BOTH_BACKENDS
async def test_business_key_cannot_create_businesses(
    client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str], tenants: Tenants
) -> None:
    before = await snapshot(client, rt, auth, tenants.b)
    for (method, path), body in OPERATOR_ONLY.items():
        r = await client.request(method, path, headers=bearer(tenants.a.key), json=body)
        assert_problem(r, 403)
    assert await snapshot(client, rt, auth, tenants.b) == before


@BOTH_BACKENDS
@pytest.mark.parametrize("params", [{}, {"state": "done"}, {"state": "dead"}], ids=["all", "done", "dead"])
async def test_jobs_list_shows_only_own_business(
    client: httpx.AsyncClient, auth: dict[str, str], tenants: Tenants, params: dict[str, str]
) -> None:
    a, b = tenants.a, tenants.b
    mine = (await client.get("/api/v1/jobs", headers=bearer(a.key), params=params)).json()["items"]
    assert mine, "business A has jobs in this state"
    assert {j["business_id"] for j in mine} == {a.id}
    everything = (await client.get("/api/v1/jobs", headers=auth, params=params)).json()["items"]
    assert b.id in {j["business_id"] for j in everything}


@BOTH_BACKENDS
async def test_audit_list_shows_only_own_business(
    client: httpx.AsyncClient, auth: dict[str, str], tenants: Tenants
) -> None:
    a, b = tenants.a, tenants.b
    mine = (await client.get("/api/v1/audit", headers=bearer(a.key), params={"limit": 200})).json()["items"]
    assert {e["action"] for e in mine} >= {"business.create", "member.create", "post.create"}
    assert {e["business_id"] for e in mine} == {a.id}
    everything = (await client.get("/api/v1/audit", headers=auth, params={"limit": 200})).json()["items"]
    assert b.id in {e["business_id"] for e in everything}


@BOTH_BACKENDS
async def test_business_list_shows_only_own_business(
    client: httpx.AsyncClient, auth: dict[str, str], tenants: Tenants
) -> None:
    a, b = tenants.a, tenants.b
    mine = (await client.get("/api/v1/businesses", headers=bearer(a.key))).json()
    assert [x["id"] for x in mine["items"]] == [a.id]
    # A cursor pointing past B does not reveal it either.
    r = await client.get("/api/v1/businesses", headers=bearer(a.key), params={"limit": 1})
    cursor = r.json()["next_cursor"]
    if cursor is not None:
        rest = (await client.get("/api/v1/businesses", headers=bearer(a.key), params={"cursor": cursor})).json()
        assert rest["items"] == []
    everything = (await client.get("/api/v1/businesses", headers=auth)).json()["items"]
    assert {x["id"] for x in everything} == {a.id, b.id}
