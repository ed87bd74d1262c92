"""Admin API authentication: bearer keys, stored hashed, operator vs business scope, and the CLI that makes them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from app.kit.crypto import hash_api_key
from app.kit.time import utcnow
from app.models import ApiKey, Business
from app.runtime import Runtime
from tests.api.support import assert_problem, bearer, key_id
from tests.conftest import make_key
from tests.helpers import make_business

PROTECTED = [
    ("GET", "/api/v1/businesses"),
    ("POST", "/api/v1/businesses"),
    ("GET", "/api/v1/businesses/1"),
    ("GET", "/api/v1/businesses/1/posts"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/audit"),
]


def assert_401(r: httpx.Response) -> None:
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-without-key"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
        pytest.param({"Authorization": "ard_abcdefghijklmnopqrstuvwxyz"}, id="no-scheme"),
        pytest.param({"Authorization": "Token ard_abcdefghijklmnopqrstuvwxyz"}, id="wrong-scheme"),
        pytest.param({"Authorization": "Bearer ard_this-key-was-never-issued-0000000000"}, id="unknown-key"),
    ],
)
async def test_missing_malformed_or_unknown_key_is_401(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    r = await client.request(method, path, headers=headers, json={} if method == "POST" else None)
    assert_401(r)


async def test_revoked_key_is_401(client: httpx.AsyncClient, rt: Runtime) -> None:
    key = await make_key(rt, name="soon revoked")
    assert (await client.get("/api/v1/businesses", headers=bearer(key))).status_code == 200
    async with rt.db.write() as s:
        await s.execute(update(ApiKey).where(col(ApiKey.key_hash) == hash_api_key(key)).values(revoked_at=utcnow()))
    r = await client.get("/api/v1/businesses", headers=bearer(key))
    assert_401(r)
    assert "revoked" in r.json()["detail"]


async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, operator_key: str) -> None:
    r = await client.get("/api/v1/businesses", headers={"Authorization": f"bearer {operator_key}"})
    assert r.status_code == 200, r.text


async def test_health_and_page_need_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/b/nobody")).status_code == 404  # not 401


async def test_keys_are_stored_hashed(client: httpx.AsyncClient, rt: Runtime, operator_key: str) -> None:
    scoped = await make_key(rt, name="scoped")
    async with rt.db.read() as s:
        rows = list((await s.execute(select(ApiKey))).scalars())
    assert len(rows) == 2
    stored = {r.key_hash for r in rows}
    assert stored == {hash_api_key(operator_key), hash_api_key(scoped)}
    for row in rows:
        values = " ".join(str(v) for v in row.model_dump().values())
        for key in (operator_key, scoped):
            assert key not in values
            assert key[10:] not in values  # the prefix may be kept for display, never the rest


def run_cli(db_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``ardoise`` console script, on the given database only (no .env, no inherited ARDOISE_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env["ARDOISE_DATABASE_URL"] = db_url
    exe = Path(sys.executable).parent / "ardoise"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from app.cli import main; main()"]
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_cli_apikey_create_prints_the_key_alone_on_the_last_line(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path, auth: dict[str, str]
) -> None:
    biz, _ = await make_business(client, auth, slug="alpha")
    other, _ = await make_business(client, auth, slug="beta", number="+15817000002", phone="+14185550121")
    url = rt.settings.database_url
    db_file = Path(url.removeprefix("sqlite:///"))

    done = await asyncio.to_thread(run_cli, url, tmp_path, "apikey", "create", "--name", "ops laptop")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.rstrip("\n").split("\n")
    operator = lines[-1]
    assert operator.startswith("ard_")
    assert operator == operator.strip()
    assert " " not in operator
    assert len(operator) >= 40
    assert done.stdout.count(operator) == 1  # shown once

    done = await asyncio.to_thread(
        run_cli, url, tmp_path, "apikey", "create", "--name", "alpha site", "--business", "alpha"
    )
    assert done.returncode == 0, done.stderr
    scoped = done.stdout.rstrip("\n").split("\n")[-1]
    assert scoped.startswith("ard_")
    assert scoped != operator

    # The operator key sees every business, the scoped key only its own.
    seen = (await client.get("/api/v1/businesses", headers=bearer(operator))).json()["items"]
    assert {b["slug"] for b in seen} == {"alpha", "beta"}
    seen = (await client.get("/api/v1/businesses", headers=bearer(scoped))).json()["items"]
    assert [b["id"] for b in seen] == [biz["id"]]
    assert (await client.get(f"/api/v1/businesses/{other['id']}", headers=bearer(scoped))).status_code == 404

    async with rt.db.read() as s:
        rows = {r.name: r for r in (await s.execute(select(ApiKey))).scalars()}
    assert rows["alpha site"].business_id == biz["id"]
    assert rows["ops laptop"].business_id is None
    assert rows["alpha site"].key_hash == hash_api_key(scoped)

    # Hashed at rest: the plaintext keys are nowhere in the database file.
    raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    for key in (operator, scoped):
        assert key.encode() not in raw
        assert key[10:].encode() not in raw

    audit = (await client.get("/api/v1/audit", headers=bearer(operator))).json()["items"]
    assert [(a["actor"], a["action"], a["business_id"]) for a in audit if a["action"] == "apikey.create"] == [
        ("cli", "apikey.create", biz["id"]),
        ("cli", "apikey.create", None),
    ]


async def test_cli_apikey_create_for_unknown_business_fails_and_makes_no_key(rt: Runtime, tmp_path: Path) -> None:
    url = rt.settings.database_url
    done = await asyncio.to_thread(run_cli, url, tmp_path, "apikey", "create", "--name", "x", "--business", "nope")
    assert done.returncode != 0
    assert "nope" in done.stderr + done.stdout
    async with rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(ApiKey))).scalar_one() == 0


async def test_operator_and_business_keys_on_business_list(
    client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str]
) -> None:
    a, _ = await make_business(client, auth, slug="alpha")
    b, _ = await make_business(client, auth, slug="beta", number="+15817000002", phone="+14185550121")
    key_a = await make_key(rt, a["id"], name="alpha")

    everything = (await client.get("/api/v1/businesses", headers=auth)).json()["items"]
    assert [x["id"] for x in everything] == [b["id"], a["id"]]
    mine = (await client.get("/api/v1/businesses", headers=bearer(key_a))).json()
    assert [x["id"] for x in mine["items"]] == [a["id"]]
    assert mine["next_cursor"] is None
    assert (await client.get(f"/api/v1/businesses/{a['id']}", headers=bearer(key_a))).status_code == 200

    # A business key may not create or delete businesses.
    r = await client.post(
        "/api/v1/businesses", headers=bearer(key_a), json={"name": "Intrus", "slug": "intrus", "timezone": "UTC"}
    )
    assert_problem(r, 403)
    assert_problem(await client.delete(f"/api/v1/businesses/{a['id']}", headers=bearer(key_a)), 403)
    async with rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Business))).scalar_one() == 2
    assert (await client.get(f"/api/v1/businesses/{a['id']}", headers=auth)).status_code == 200

    # The key is recorded as the actor of the writes it makes.
    r = await client.patch(f"/api/v1/businesses/{a['id']}", headers=bearer(key_a), json={"name": "Alpha 2"})
    assert r.status_code == 200, r.text
    events = (await client.get("/api/v1/audit", headers=bearer(key_a))).json()["items"]
    assert events[0]["action"] == "business.update"
    assert events[0]["actor"] == f"key:{await key_id(rt, key_a)}"
