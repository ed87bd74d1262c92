"""Posts through the API: 202 with deliveries, newest first, removal everywhere, pagination, audit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.models import Job
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.api.support import assert_paginates, assert_problem, key_id
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL
from tests.helpers import drain


async def new_business(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/businesses", headers=auth, json={"name": "Fromagerie Côté", "slug": "cote", "language": "fr"}
    )
    assert r.status_code == 201, r.text
    biz: dict[str, Any] = r.json()
    return biz


@BOTH_BACKENDS
async def test_create_post_is_202_and_on_the_page_at_once(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, runner: Runner[Runtime], operator_key: str
) -> None:
    biz = await new_business(client, auth)
    base = f"/api/v1/businesses/{biz['id']}/posts"
    r = await client.post(base, headers=auth, json={"text": "  Raclette ce soir à 18 h  ", "media_urls": []})
    assert r.status_code == 202, r.text
    post = r.json()
    assert isinstance(post["id"], int)
    assert post["number"] == 1
    assert post["text"] == "Raclette ce soir à 18 h"
    # The page is Ardoise's own: written in the post's transaction, no job (a network account would be pending).
    assert post["status"] == "published"
    assert post["url"] == f"{PUBLIC_URL}/b/cote/p/1"
    [d] = post["deliveries"]
    assert {k: d[k] for k in ("network", "status", "url", "error")} == {
        "network": "page",
        "status": "published",
        "url": f"{PUBLIC_URL}/b/cote/p/1",
        "error": None,
    }
    async with rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Job))).scalar_one() == 0

    await drain(runner)
    r = await client.get(f"{base}/{post['id']}", headers=auth)
    assert r.status_code == 200
    assert r.json() == post

    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    create = next(a for a in audit if a["action"] == "post.create")
    assert create["actor"] == f"key:{await key_id(rt, operator_key)}"
    assert create["business_id"] == biz["id"]


async def test_numbers_are_sequential_per_business_and_list_is_newest_first(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    biz = await new_business(client, auth)
    other = (await client.post("/api/v1/businesses", headers=auth, json={"name": "Autre", "slug": "autre"})).json()
    for i in range(3):
        r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": f"Post {i + 1}"})
        assert r.json()["number"] == i + 1
    r = await client.post(f"/api/v1/businesses/{other['id']}/posts", headers=auth, json={"text": "Ailleurs"})
    assert r.json()["number"] == 1

    items = (await client.get(f"/api/v1/businesses/{biz['id']}/posts", headers=auth)).json()["items"]
    assert [p["number"] for p in items] == [3, 2, 1]
    assert [p["text"] for p in items] == ["Post 3", "Post 2", "Post 1"]
    for p in items:
        assert {"number", "text", "status", "created_at", "deliveries"} <= set(p)
        for d in p["deliveries"]:
            assert {"network", "status", "url", "error"} <= set(d)
    assert items[0]["created_at"] >= items[-1]["created_at"]
    # The owner says "#2": ?number= finds it (ids and numbers differ once there are two businesses).
    [two] = (await client.get(f"/api/v1/businesses/{biz['id']}/posts?number=2", headers=auth)).json()["items"]
    assert (two["number"], two["text"]) == (2, "Post 2")
    assert (await client.get(f"/api/v1/businesses/{other['id']}/posts?number=2", headers=auth)).json()["items"] == []
    assert (await client.get(f"/api/v1/businesses/{biz['id']}/posts?number=0", headers=auth)).status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"text": "", "media_urls": []}, "text", id="empty"),
        pytest.param({"text": "   "}, "text", id="blank"),
        pytest.param({"text": "x" * 5001}, "text", id="too-long"),
        pytest.param({"text": "ok", "media_urls": ["pas une url"]}, "media_urls", id="bad-media-url"),
        pytest.param({"text": "ok", "media_urls": ["https://e.test/a.jpg"] * 11}, "media_urls", id="too-many-media"),
    ],
)
async def test_invalid_post_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    biz = await new_business(client, auth)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json=body)
    problem = assert_problem(r, 422)
    assert field in problem["detail"] or "text or at least one image" in problem["detail"]
    assert (await client.get(f"/api/v1/businesses/{biz['id']}/posts", headers=auth)).json()["items"] == []


@BOTH_BACKENDS
async def test_delete_removes_the_post_from_the_page_and_every_delivery(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, runner: Runner[Runtime], operator_key: str
) -> None:
    biz = await new_business(client, auth)
    base = f"/api/v1/businesses/{biz['id']}/posts"
    keep = (await client.post(base, headers=auth, json={"text": "Brie de Meaux à l’affiche"})).json()
    gone = (await client.post(base, headers=auth, json={"text": "Tomme erronée, désolé"})).json()
    await drain(runner)
    page = (await client.get("/b/cote")).text
    assert "Tomme erronée" in page
    assert "Brie de Meaux" in page

    r = await client.delete(f"{base}/{gone['id']}", headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("deleting", "deleted")
    await drain(runner)

    page = (await client.get("/b/cote")).text
    assert "Tomme erronée" not in page
    assert "Brie de Meaux" in page
    assert "Tomme erronée" not in (await client.get("/b/cote/feed.atom")).text
    removed = await client.get(f"/b/cote/p/{gone['number']}")  # a small HTML page: 410 Gone, not a 404
    assert (removed.status_code, removed.headers["content-type"]) == (410, "text/html; charset=utf-8")

    after = (await client.get(f"{base}/{gone['id']}", headers=auth)).json()
    assert after["status"] == "deleted"
    assert [d["status"] for d in after["deliveries"]] == ["deleted"]
    still = (await client.get(f"{base}/{keep['id']}", headers=auth)).json()
    assert still["status"] == "published"

    assert_problem(await client.delete(f"{base}/{gone['id']}", headers=auth), 409)
    assert_problem(await client.delete(f"{base}/999999", headers=auth), 404)
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    delete = next(a for a in audit if a["action"] == "post.delete")
    assert delete["actor"] == f"key:{await key_id(rt, operator_key)}"
    assert delete["target"] == f"post:{gone['number']}"


async def test_delete_before_the_worker_ran_never_shows_the_post(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz = await new_business(client, auth)
    base = f"/api/v1/businesses/{biz['id']}/posts"
    post = (await client.post(base, headers=auth, json={"text": "Oups, pas ce texte"})).json()
    assert (await client.delete(f"{base}/{post['id']}", headers=auth)).status_code == 202
    # Deliver and remove may run in the same batch; the remove job then retries a few seconds later.
    await drain(runner, include_future=True)
    assert "Oups" not in (await client.get("/b/cote")).text
    after = (await client.get(f"{base}/{post['id']}", headers=auth)).json()
    assert after["status"] == "deleted"
    assert {d["status"] for d in after["deliveries"]} <= {"deleted", "skipped", "failed"}


@BOTH_BACKENDS
async def test_post_list_paginates(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz = await new_business(client, auth)
    for i in range(5):
        r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": f"Post {i}"})
        assert r.status_code == 202
    items = await assert_paginates(client, f"/api/v1/businesses/{biz['id']}/posts", auth)
    assert [p["number"] for p in items] == [5, 4, 3, 2, 1]
