"""A business key can never read or change another business: one row per ``/api/v1`` route.

``test_every_api_route_has_an_isolation_case`` fails when a route is added without a row here.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlmodel import SQLModel

from app.config import Settings
from app.main import create_app, make_runner
from app.models import MentionRow
from app.runtime import Runtime, build_runtime
from app.worker import queue
from tests.api.support import assert_problem, bearer
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN, make_key, truncate_pg
from tests.helpers import drain, make_business, send_sms

Route = tuple[str, str]

# Writes and reads on one business's objects: a key of business A on business B's ids → 404 (or 403).
DENIED: dict[Route, dict[str, Any] | None] = {
    ("GET", "/api/v1/businesses/{business_id}"): None,
    ("PATCH", "/api/v1/businesses/{business_id}"): {"name": "Pirate"},
    ("DELETE", "/api/v1/businesses/{business_id}"): None,
    ("PUT", "/api/v1/businesses/{business_id}/logo"): None,  # refused before the body (an image) is read
    ("DELETE", "/api/v1/businesses/{business_id}/logo"): None,
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
    ("POST", "/api/v1/businesses/{business_id}/posts/preview"): {"text": "Pirate"},
    ("GET", "/api/v1/businesses/{business_id}/posts/{post_id}"): None,
    ("DELETE", "/api/v1/businesses/{business_id}/posts/{post_id}"): None,
    ("GET", "/api/v1/businesses/{business_id}/messages"): None,
    ("GET", "/api/v1/businesses/{business_id}/mentions"): None,
    ("POST", "/api/v1/businesses/{business_id}/mentions/{mention_id}/reply"): {"text": "Pirate"},
    ("GET", "/api/v1/businesses/{business_id}/members/{member_id}/digest"): None,
    ("PUT", "/api/v1/businesses/{business_id}/members/{member_id}/digest"): {"alerts": True, "channel": "email"},
    ("POST", "/api/v1/businesses/{business_id}/accounts/connect-link"): {"network": "facebook"},
    ("POST", "/api/v1/jobs/{job_id}/retry"): None,
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
    routes = {(m, r.path) for r in _walk(list(app.routes)) for m in r.methods or () if r.path.startswith("/api/v1")}
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            routes |= {(m.upper(), path) for m in ops}
    return routes


def test_every_api_route_has_an_isolation_case(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
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
    mention_id: int
    job_id: int

    def fill(self, path: str, business_id: int | None = None) -> str:
        return path.format(
            business_id=self.id if business_id is None else business_id,
            member_id=self.member_id,
            post_id=self.post_id,
            account_id=self.account_id,
            mention_id=self.mention_id,
            job_id=self.job_id,
        )


@dataclass
class World:
    """Two businesses A and B, each with a member, a published post, an SMS exchange, a dead job and a mention.

    Built once per module and backend: every test here must leave it unchanged (that is what they check).
    """

    client: httpx.AsyncClient
    rt: Runtime
    auth: dict[str, str]
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
    account_id = post["deliveries"][0]["account_id"]
    async with rt.db.write() as s:
        job_id = await queue.enqueue(s, "tests.no_such_task", {}, business_id=biz["id"], max_attempts=1)
        assert job_id is not None
        # and one that runs to "done" (the console sends SMS in place, and the page needs no job)
        await queue.enqueue(s, "posts.receipt", {"post_id": post["id"]}, business_id=biz["id"])
        mention = MentionRow(
            business_id=biz["id"], account_id=account_id, network="page", number=1, remote_id=f"m-{slug}", kind="reply"
        )
        s.add(mention)
        await s.flush()
        assert mention.id is not None
        mention_id = mention.id
    return Tenant(
        id=biz["id"],
        key=await make_key(rt, biz["id"], name=slug),
        member_id=member["id"],
        post_id=post["id"],
        account_id=account_id,
        mention_id=mention_id,
        job_id=job_id,
    )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("isolation")
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        truncate_pg(url)
    else:
        shutil.copy(sqlite_template, tmp / "ardoise.db")
        url = f"sqlite:///{tmp / 'ardoise.db'}"
    settings = Settings(
        _env_file=None,
        database_url=url,
        public_url=PUBLIC_URL,
        media_dir=tmp / "media",
        twilio_auth_token=TWILIO_TOKEN,
        smtp_enabled=False,
        sms_provider="console",
    )
    rt = build_runtime(settings)
    app = create_app(settings, runtime=rt)
    app.state.runtime = rt
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            auth = bearer(await make_key(rt, name="operator"))
            a = await _tenant(client, auth, rt, "alpha", "+15817000001", "+14185550120")
            b = await _tenant(client, auth, rt, "beta", "+15817000002", "+14185550121")
            await drain(make_runner(rt))
            yield World(client, rt, auth, a, b)
    finally:
        await rt.close()


async def snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (API keys aside: a key may record when it was last used)."""
    views: dict[str, list[tuple[Any, ...]]] = {}
    async with rt.db.read() as s:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "apikey":
                continue
            rows = (await s.execute(select(table))).all()
            views[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return views


@pytest.mark.parametrize("route", list(DENIED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_business_key_cannot_touch_another_business(world: World, route: Route) -> None:
    client, a, b = world.client, world.a, world.b
    before = await snapshot(world.rt)
    method, path = route
    r = await client.request(method, b.fill(path), headers=bearer(a.key), json=DENIED[route])
    assert r.status_code in (403, 404), f"{method} {path}: {r.status_code} {r.text}"
    assert_problem(r, r.status_code)
    assert await snapshot(world.rt) == before
    if method == "GET":  # B's own key reads it: the 404 above is isolation, not a missing object
        r = await client.get(b.fill(path), headers=bearer(b.key))
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", NESTED, ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("who", ["business-key", "operator-key"])
async def test_other_tenants_ids_under_own_business_are_404(world: World, route: Route, who: str) -> None:
    client, a, b = world.client, world.a, world.b
    before = await snapshot(world.rt)
    method, path = route
    headers = bearer(a.key) if who == "business-key" else world.auth
    r = await client.request(method, b.fill(path, business_id=a.id), headers=headers, json=DENIED[route])
    assert_problem(r, 404)
    assert await snapshot(world.rt) == before


async def test_business_key_cannot_create_businesses(world: World) -> None:
    before = await snapshot(world.rt)
    for (method, path), body in OPERATOR_ONLY.items():
        r = await world.client.request(method, path, headers=bearer(world.a.key), json=body)
        assert_problem(r, 403)
    assert await snapshot(world.rt) == before


@pytest.mark.parametrize("params", [{}, {"state": "done"}, {"state": "dead"}], ids=["all", "done", "dead"])
async def test_jobs_list_shows_only_own_business(world: World, params: dict[str, str]) -> None:
    client, a, b = world.client, world.a, world.b
    mine = (await client.get("/api/v1/jobs", headers=bearer(a.key), params=params)).json()["items"]
    assert mine, "business A has jobs in this state"
    assert {j["business_id"] for j in mine} == {a.id}
    everything = (await client.get("/api/v1/jobs", headers=world.auth, params=params)).json()["items"]
    assert b.id in {j["business_id"] for j in everything}


async def test_audit_list_shows_only_own_business(world: World) -> None:
    client, a, b = world.client, world.a, world.b
    mine = (await client.get("/api/v1/audit", headers=bearer(a.key), params={"limit": 200})).json()["items"]
    assert {e["action"] for e in mine} >= {"business.create", "member.create", "post.create"}
    assert {e["business_id"] for e in mine} == {a.id}
    everything = (await client.get("/api/v1/audit", headers=world.auth, params={"limit": 200})).json()["items"]
    assert b.id in {e["business_id"] for e in everything}


async def test_business_list_shows_only_own_business(world: World) -> None:
    client, a, b = world.client, world.a, world.b
    mine = (await client.get("/api/v1/businesses", headers=bearer(a.key))).json()
    assert [x["id"] for x in mine["items"]] == [a.id]
    # Following a cursor does not reveal B either.
    r = await client.get("/api/v1/businesses", headers=bearer(a.key), params={"limit": 1})
    cursor = r.json()["next_cursor"]
    if cursor is not None:
        rest = (await client.get("/api/v1/businesses", headers=bearer(a.key), params={"cursor": cursor})).json()
        assert rest["items"] == []
    everything = (await client.get("/api/v1/businesses", headers=world.auth)).json()["items"]
    assert {x["id"] for x in everything} == {a.id, b.id}


async def test_snapshot_sees_a_write(world: World) -> None:
    """The "nothing changed" check above is not vacuous: B's own key changing B shows in the snapshot."""
    before = await snapshot(world.rt)
    r = await world.client.patch(
        world.b.fill("/api/v1/businesses/{business_id}"), headers=bearer(world.b.key), json={"name": "Beta bis"}
    )
    assert r.status_code == 200, r.text
    after = await snapshot(world.rt)
    assert after["business"] != before["business"]
    assert len(after["auditevent"]) == len(before["auditevent"]) + 1
