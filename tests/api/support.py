"""Helpers shared by the admin API tests: problem+json checks, cursor walking, API key ids."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from app.kit.crypto import hash_api_key
from app.models import ApiKey
from app.runtime import Runtime

PROBLEM = "application/problem+json"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """``r`` is an RFC 9457 problem with this status; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


async def walk(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    *,
    limit: int = 2,
    params: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list, following ``next_cursor`` until it is None."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        query: dict[str, str | int] = {"limit": limit, **(params or {})}
        if cursor is not None:
            query["cursor"] = cursor
        r = await client.get(url, headers=headers, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{url}: next_cursor never ended")


async def assert_paginates(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], *, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Pages of 2 give exactly the items of one big page, in the same order: no duplicates, no gaps."""
    r = await client.get(url, headers=headers, params={"limit": 200, **(params or {})})
    assert r.status_code == 200, r.text
    everything = r.json()["items"]
    paged = walk(client, url, headers, limit=2, params=params)
    ids = [i["id"] for i in await paged]
    assert len(ids) == len(set(ids)), f"duplicates in {ids}"
    assert ids == [i["id"] for i in everything]
    items: list[dict[str, Any]] = everything
    return items


async def key_id(rt: Runtime, key: str) -> int:
    async with rt.db.read() as s:
        row = (await s.execute(select(ApiKey).where(col(ApiKey.key_hash) == hash_api_key(key)))).scalar_one()
    assert row.id is not None
    return row.id
