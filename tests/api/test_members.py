"""Members: phones normalised to E.164, validation that says why, CRUD, pagination, audit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.api.support import assert_paginates, assert_problem, bearer, key_id
from tests.conftest import BOTH_BACKENDS, make_key


async def new_business(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    r = await client.post("/api/v1/businesses", headers=auth, json={"name": "Boulangerie Élise", "slug": "elise"})
    assert r.status_code == 201, r.text
    biz: dict[str, Any] = r.json()
    return biz


OWNER: dict[str, Any] = {
    "name": "Élise Tremblay",
    "phone": "418 555-0142",
    "email": "Elise@Example.COM",
    "language": "fr",
    "role": "owner",
}


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        pytest.param("418 555-0142", "+14185550142", id="local-with-dash"),
        pytest.param("(418) 555-0142", "+14185550142", id="parentheses"),
        pytest.param("4185550142", "+14185550142", id="digits"),
        pytest.param("1-418-555-0142", "+14185550142", id="with-country-code"),
        pytest.param("+1 418 555 0142", "+14185550142", id="international"),
        pytest.param("+33 6 12 34 56 78", "+33612345678", id="france-mobile"),
    ],
)
async def test_phone_is_normalised_to_e164(
    client: httpx.AsyncClient, auth: dict[str, str], raw: str, e164: str
) -> None:
    biz = await new_business(client, auth)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/members", headers=auth, json={**OWNER, "phone": raw})
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == e164


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        pytest.param("12", "wrong number of digits", id="too-short"),
        pytest.param("418 555 01422222", "", id="too-long"),
        pytest.param("bonjour", "not a phone number", id="letters"),
        pytest.param("+1 000 555 0142", "", id="invalid-area-code"),
        pytest.param("x" * 33, "32", id="over-max-length"),
    ],
)
async def test_invalid_phone_is_422_saying_why(
    client: httpx.AsyncClient, auth: dict[str, str], raw: str, why: str
) -> None:
    biz = await new_business(client, auth)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/members", headers=auth, json={**OWNER, "phone": raw})
    body = assert_problem(r, 422)
    assert body["detail"].startswith("phone:"), body["detail"]
    assert why in body["detail"]
    assert body["errors"][0]["field"] == "phone"
    listed = (await client.get(f"/api/v1/businesses/{biz['id']}/members", headers=auth)).json()["items"]
    assert listed == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("language", "de", id="language"),
        pytest.param("role", "admin", id="role"),
        pytest.param("name", "", id="empty-name"),
        pytest.param("email", "pas-une-adresse", id="email"),
        pytest.param("pin", "12", id="pin-too-short"),
    ],
)
async def test_invalid_member_fields_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], field: str, value: str
) -> None:
    biz = await new_business(client, auth)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/members", headers=auth, json={**OWNER, field: value})
    assert field in assert_problem(r, 422)["detail"]


@BOTH_BACKENDS
async def test_member_crud_and_audit(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> None:
    biz = await new_business(client, auth)
    base = f"/api/v1/businesses/{biz['id']}/members"
    # A business key manages its own members; the audit names that key.
    key = await make_key(rt, biz["id"], name="elise")
    actor = f"key:{await key_id(rt, key)}"

    r = await client.post(base, headers=bearer(key), json=OWNER)
    assert r.status_code == 201, r.text
    m = r.json()
    assert isinstance(m["id"], int)
    assert (m["name"], m["phone"], m["language"], m["role"]) == ("Élise Tremblay", "+14185550142", "fr", "owner")
    assert m["email"].lower() == "elise@example.com"
    assert m["business_id"] == biz["id"]
    assert m["opted_out"] is False

    assert (await client.get(f"{base}/{m['id']}", headers=auth)).json() == m

    r = await client.patch(
        f"{base}/{m['id']}",
        headers=bearer(key),
        json={"name": "Élise T.", "language": "en", "role": "staff", "phone": "418-555-0199", "opted_out": True},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert (patched["name"], patched["language"], patched["role"], patched["phone"], patched["opted_out"]) == (
        "Élise T.",
        "en",
        "staff",
        "+14185550199",
        True,
    )
    assert (await client.get(f"{base}/{m['id']}", headers=auth)).json() == patched

    r = await client.delete(f"{base}/{m['id']}", headers=bearer(key))
    assert r.status_code == 204
    assert_problem(await client.get(f"{base}/{m['id']}", headers=auth), 404)
    assert_problem(await client.delete(f"{base}/{m['id']}", headers=auth), 404)

    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    events = [(a["action"], a["actor"], a["target"]) for a in reversed(audit) if a["action"].startswith("member.")]
    target = f"member:{m['id']}"
    assert events == [
        ("member.create", actor, target),
        ("member.update", actor, target),
        ("member.delete", actor, target),
    ]


async def test_patch_with_invalid_phone_is_422_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    biz = await new_business(client, auth)
    m = (await client.post(f"/api/v1/businesses/{biz['id']}/members", headers=auth, json=OWNER)).json()
    r = await client.patch(f"/api/v1/businesses/{biz['id']}/members/{m['id']}", headers=auth, json={"phone": "123"})
    assert "phone" in assert_problem(r, 422)["detail"]
    assert (await client.get(f"/api/v1/businesses/{biz['id']}/members/{m['id']}", headers=auth)).json() == m


async def test_same_phone_twice_in_a_business_is_409(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz = await new_business(client, auth)
    base = f"/api/v1/businesses/{biz['id']}/members"
    assert (await client.post(base, headers=auth, json=OWNER)).status_code == 201
    r = await client.post(base, headers=auth, json={**OWNER, "phone": "+14185550142", "name": "Autre"})
    assert "+14185550142" in assert_problem(r, 409)["detail"]
    # The same person may belong to another business.
    other = (await client.post("/api/v1/businesses", headers=auth, json={"name": "Autre", "slug": "autre"})).json()
    assert (await client.post(f"/api/v1/businesses/{other['id']}/members", headers=auth, json=OWNER)).status_code == 201


async def test_pin_is_never_returned(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz = await new_business(client, auth)
    r = await client.post(f"/api/v1/businesses/{biz['id']}/members", headers=auth, json={**OWNER, "pin": "4821"})
    assert r.status_code == 201, r.text
    assert r.json()["has_pin"] is True
    assert "4821" not in r.text


@BOTH_BACKENDS
async def test_member_list_paginates(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz = await new_business(client, auth)
    ids = []
    for i in range(5):
        r = await client.post(
            f"/api/v1/businesses/{biz['id']}/members",
            headers=auth,
            json={"name": f"Membre {i}", "phone": f"418 555 01{i:02d}"},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    items = await assert_paginates(client, f"/api/v1/businesses/{biz['id']}/members", auth)
    assert [m["id"] for m in items] == ids[::-1]
