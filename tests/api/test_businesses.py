"""Businesses: create, read, update, soft delete, validation, pagination, errors, body size."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.api.support import PROBLEM, assert_paginates, assert_problem, key_id
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL

BISTRO: dict[str, Any] = {
    "name": "Bistro L’Ardoise",
    "slug": "bistro-lardoise",
    "timezone": "America/Toronto",
    "language": "fr",
    "sms_numbers": ["(581) 700-0001", "+1 581 700 0002"],
}


@BOTH_BACKENDS
async def test_create_read_update_delete(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, operator_key: str
) -> None:
    r = await client.post("/api/v1/businesses", headers=auth, json=BISTRO)
    assert r.status_code == 201, r.text
    biz = r.json()
    assert isinstance(biz["id"], int)
    assert biz["name"] == "Bistro L’Ardoise"
    assert biz["slug"] == "bistro-lardoise"
    assert biz["timezone"] == "America/Toronto"
    assert biz["language"] == "fr"
    assert biz["sms_numbers"] == ["+15817000001", "+15817000002"]  # normalised to E.164
    assert biz["page_url"] == f"{PUBLIC_URL}/b/bistro-lardoise"
    assert biz["feed_url"] == f"{PUBLIC_URL}/b/bistro-lardoise/feed.atom"

    r = await client.get(f"/api/v1/businesses/{biz['id']}", headers=auth)
    assert r.status_code == 200
    assert r.json() == biz
    assert (await client.get("/b/bistro-lardoise")).status_code == 200

    r = await client.patch(
        f"/api/v1/businesses/{biz['id']}",
        headers=auth,
        json={"name": "Café L’Ardoise", "timezone": "Europe/Paris", "language": "en", "sms_numbers": ["5817000003"]},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert (updated["name"], updated["timezone"], updated["language"]) == ("Café L’Ardoise", "Europe/Paris", "en")
    assert updated["slug"] == "bistro-lardoise"  # not in the PATCH
    stored = (await client.get(f"/api/v1/businesses/{biz['id']}", headers=auth)).json()
    assert stored == {**updated, "sms_numbers": ["+15817000003"]}

    r = await client.delete(f"/api/v1/businesses/{biz['id']}", headers=auth)
    assert r.status_code == 204
    assert_problem(await client.get(f"/api/v1/businesses/{biz['id']}", headers=auth), 404)
    for path in ("/b/bistro-lardoise", "/b/bistro-lardoise/feed.atom"):  # public pages answer in HTML
        gone = await client.get(path)
        assert (gone.status_code, gone.headers["content-type"]) == (404, "text/html; charset=utf-8")
    listed = (await client.get("/api/v1/businesses", headers=auth)).json()["items"]
    assert biz["id"] not in [b["id"] for b in listed]
    assert_problem(await client.delete(f"/api/v1/businesses/{biz['id']}", headers=auth), 404)
    # The slug is free again for a new business.
    r = await client.post("/api/v1/businesses", headers=auth, json=BISTRO)
    assert r.status_code == 201, r.text
    assert r.json()["id"] != biz["id"]

    actor = f"key:{await key_id(rt, operator_key)}"
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    mine = [(a["action"], a["business_id"]) for a in reversed(audit) if a["business_id"] == biz["id"]]
    assert mine == [("business.create", biz["id"]), ("business.update", biz["id"]), ("business.delete", biz["id"])]
    assert {a["actor"] for a in audit} == {actor}


async def test_patch_response_shows_the_new_sms_numbers(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz = (await client.post("/api/v1/businesses", headers=auth, json=BISTRO)).json()
    r = await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json={"sms_numbers": ["5817000003"]})
    assert r.status_code == 200, r.text
    assert r.json()["sms_numbers"] == ["+15817000003"]


async def test_defaults(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.post("/api/v1/businesses", headers=auth, json={"name": "Chez Zoé", "slug": "chez-zoe"})
    assert r.status_code == 201, r.text
    biz = r.json()
    assert (biz["timezone"], biz["language"], biz["sms_numbers"]) == ("America/Toronto", "fr", [])


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        pytest.param("timezone", "Mars/Olympus_Mons", "time zone", id="unknown-timezone"),
        pytest.param("timezone", "", "time zone", id="empty-timezone"),
        pytest.param("slug", "Bistro Central", "lowercase", id="slug-with-capitals-and-space"),
        pytest.param("slug", "-bistro", "lowercase", id="slug-leading-dash"),
        pytest.param("slug", "bistro-", "lowercase", id="slug-trailing-dash"),
        pytest.param("slug", "café", "lowercase", id="slug-with-accent"),
        pytest.param("slug", "b/../admin", "lowercase", id="slug-with-slash"),
        pytest.param("slug", "x" * 65, "64", id="slug-too-long"),
        pytest.param("slug", "", "", id="slug-empty"),
        pytest.param("language", "de", "fr", id="language-unknown"),
        pytest.param("language", "FR", "fr", id="language-uppercase"),
        pytest.param("name", "", "", id="name-empty"),
        pytest.param("sms_numbers", ["12"], "12", id="sms-number-too-short"),
        pytest.param("sms_numbers", ["pas un numéro"], "not a phone number", id="sms-number-text"),
        pytest.param("sms_numbers", "+15817000001", "list", id="sms-numbers-not-a-list"),
    ],
)
async def test_invalid_fields_are_422_saying_why(
    client: httpx.AsyncClient, auth: dict[str, str], field: str, value: object, says: str
) -> None:
    r = await client.post("/api/v1/businesses", headers=auth, json={**BISTRO, field: value})
    body = assert_problem(r, 422)
    assert field in body["detail"]
    assert says.lower() in body["detail"].lower()
    assert any(e["field"].startswith(field) for e in body["errors"])
    assert (await client.get("/api/v1/businesses", headers=auth)).json()["items"] == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        pytest.param({"timezone": "Nowhere/Land"}, "timezone", id="timezone"),
        pytest.param({"language": "es"}, "language", id="language"),
        pytest.param({"sms_numbers": ["000"]}, "sms_numbers", id="sms-number"),
        pytest.param({"name": ""}, "name", id="name"),
    ],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], patch: dict[str, Any], field: str
) -> None:
    biz = (await client.post("/api/v1/businesses", headers=auth, json=BISTRO)).json()
    r = await client.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json=patch)
    assert field in assert_problem(r, 422)["detail"]
    assert (await client.get(f"/api/v1/businesses/{biz['id']}", headers=auth)).json() == biz


@BOTH_BACKENDS
async def test_duplicate_slug_is_409(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert (await client.post("/api/v1/businesses", headers=auth, json=BISTRO)).status_code == 201
    r = await client.post("/api/v1/businesses", headers=auth, json={**BISTRO, "name": "Autre"})
    body = assert_problem(r, 409)
    assert "bistro-lardoise" in body["detail"]
    assert len((await client.get("/api/v1/businesses", headers=auth)).json()["items"]) == 1


async def test_unknown_business_is_404_problem(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = assert_problem(await client.get("/api/v1/businesses/424242", headers=auth), 404)
    assert "424242" in body["detail"]
    assert_problem(await client.patch("/api/v1/businesses/424242", headers=auth, json={"name": "x"}), 404)
    assert_problem(await client.get("/api/v1/businesses/not-a-number", headers=auth), 422)


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert_problem(await client.get("/api/v1/nothing-here", headers=auth), 404)
    assert_problem(await client.put("/api/v1/businesses", headers=auth, json={}), 405)


async def test_malformed_json_is_422_problem(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.post(
        "/api/v1/businesses", headers={**auth, "Content-Type": "application/json"}, content=b'{"name": '
    )
    assert_problem(r, 422)


@BOTH_BACKENDS
async def test_business_list_paginates(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ids = []
    for i in range(5):
        r = await client.post("/api/v1/businesses", headers=auth, json={"name": f"Bistro {i}", "slug": f"bistro-{i}"})
        ids.append(r.json()["id"])
    items = await assert_paginates(client, "/api/v1/businesses", auth)
    assert [b["id"] for b in items] == ids[::-1]  # newest first


async def test_bad_cursor_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = assert_problem(await client.get("/api/v1/businesses", headers=auth, params={"cursor": "%%%"}), 422)
    assert "cursor" in body["detail"]
    assert_problem(await client.get("/api/v1/businesses", headers=auth, params={"limit": 0}), 422)
    assert_problem(await client.get("/api/v1/businesses", headers=auth, params={"limit": 201}), 422)


async def test_body_over_max_body_bytes_is_413(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> None:
    limit = rt.settings.max_body_bytes
    big = {**BISTRO, "name": "x" * (limit + 1)}
    r = await client.post("/api/v1/businesses", headers=auth, json=big)
    body = assert_problem(r, 413)
    assert str(limit) in body["detail"]
    assert (await client.get("/api/v1/businesses", headers=auth)).json()["items"] == []


@pytest.fixture
async def small_limit_client(make_settings: Callable[..., Settings], rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(rt.settings.database_url, max_body_bytes=1024)
    app = create_app(settings, runtime=rt)
    app.state.runtime = rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
        yield c


async def test_max_body_bytes_is_configurable(small_limit_client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await small_limit_client.post("/api/v1/businesses", headers=auth, json={**BISTRO, "name": "é" * 600})
    assert_problem(r, 413)
    r = await small_limit_client.post("/api/v1/businesses", headers=auth, json=BISTRO)
    assert r.status_code == 201, r.text


async def test_chunked_body_over_max_body_bytes_is_413(
    small_limit_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'", "slug": "chunked"}'

    r = await small_limit_client.post(
        "/api/v1/businesses", headers={**auth, "Content-Type": "application/json"}, content=chunks()
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
