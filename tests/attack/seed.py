"""Seed a migrated SQLite file with an operator key and two businesses (member, post, page account each),
so that schemathesis and the attack tests reach real objects, not only 404s."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import Settings
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import PUBLIC_URL, make_key
from tests.helpers import make_business


@dataclass(frozen=True, slots=True)
class Tenant:
    business_id: int
    slug: str
    member_id: int
    post_id: int
    post_number: int
    account_id: int


@dataclass(frozen=True, slots=True)
class Seed:
    key: str
    main: Tenant  # read-only operations use its ids
    victim: Tenant  # writes (PATCH, PUT, DELETE, POST) use its ids, so `main` stays intact for the others


async def _tenant(client: httpx.AsyncClient, auth: dict[str, str], slug: str, n: int) -> Tenant:
    biz, member = await make_business(client, auth, slug=slug, number=f"+1581700000{n}", phone=f"+1418555012{n}")
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": f"Menu {slug}"})
    assert r.status_code == 202, r.text
    post = r.json()
    r = await client.get(f"/api/v1/businesses/{biz['id']}/accounts", headers=auth)
    assert r.status_code == 200, r.text
    account = r.json()["items"][0]
    return Tenant(biz["id"], biz["slug"], member["id"], post["id"], post["number"], account["id"])


async def _seed(settings: Settings) -> Seed:
    rt = build_runtime(settings)
    try:
        key = await make_key(rt)
        app = create_app(settings, runtime=rt)
        app.state.runtime = rt
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            main = await _tenant(client, auth, "bistro", 1)
            victim = await _tenant(client, auth, "victime", 2)
    finally:
        await rt.close()
    return Seed(key, main, victim)


def seeded_sqlite(template: Path, path: Path, settings: Settings) -> Seed:
    """Copy the migrated template to ``path`` and seed it (on an event loop of its own: callers are sync)."""
    shutil.copy(template, path)
    return asyncio.run(_seed(settings))
