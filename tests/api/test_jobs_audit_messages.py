"""The operator's views of the machinery: jobs (dead ones above all), the audit log and the SMS history."""

from __future__ import annotations

import httpx
import pytest

from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import Runner
from tests.api.support import assert_paginates, assert_problem, bearer, key_id
from tests.conftest import BOTH_BACKENDS, make_key
from tests.helpers import drain, make_business, send_sms


async def enqueue_orphans(rt: Runtime, n: int, business_id: int | None = None) -> list[int]:
    """Jobs of a kind no task handles: the runner buries them (dead) on their first run."""
    ids: list[int] = []
    async with rt.db.write() as s:
        for i in range(n):
            job_id = await queue.enqueue(s, "tests.no_such_task", {"i": i}, max_attempts=3, business_id=business_id)
            assert job_id is not None
            ids.append(job_id)
    return ids


@BOTH_BACKENDS
async def test_dead_jobs_are_listed(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, runner: Runner[Runtime]
) -> None:
    [job_id] = await enqueue_orphans(rt, 1)
    queued = (await client.get("/api/v1/jobs", headers=auth, params={"state": "queued"})).json()["items"]
    assert [j["id"] for j in queued] == [job_id]
    assert (await client.get("/api/v1/jobs", headers=auth, params={"state": "dead"})).json()["items"] == []

    await drain(runner, include_future=True)
    r = await client.get("/api/v1/jobs", headers=auth, params={"state": "dead"})
    assert r.status_code == 200, r.text
    [dead] = r.json()["items"]
    assert dead["id"] == job_id
    assert dead["kind"] == "tests.no_such_task"
    assert dead["state"] == "dead"
    assert dead["attempts"] >= 1
    assert "tests.no_such_task" in dead["last_error"]
    assert dead["finished_at"] is not None
    assert (await client.get("/api/v1/jobs", headers=auth, params={"state": "queued"})).json()["items"] == []


@BOTH_BACKENDS
async def test_dead_job_retry_runs_it_again_once(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, runner: Runner[Runtime]
) -> None:
    [job_id] = await enqueue_orphans(rt, 1)
    assert_problem(await client.post(f"/api/v1/jobs/{job_id}/retry", headers=auth), 409)  # queued: not dead
    await drain(runner, include_future=True)

    r = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["attempts"], r.json()["finished_at"]) == ("queued", 0, None)
    assert_problem(await client.post(f"/api/v1/jobs/{job_id}/retry", headers=auth), 409)  # a second press
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    assert [(e["action"], e["target"]) for e in audit if e["action"] == "job.retry"] == [("job.retry", f"job:{job_id}")]

    await drain(runner, include_future=True)  # no task for this kind: dead again, after a fresh set of attempts
    [dead] = (await client.get("/api/v1/jobs", headers=auth, params={"state": "dead"})).json()["items"]
    assert (dead["id"], dead["attempts"]) == (job_id, 1)
    assert_problem(await client.post("/api/v1/jobs/999999/retry", headers=auth), 404)


async def test_jobs_state_filter_is_validated(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = assert_problem(await client.get("/api/v1/jobs", headers=auth, params={"state": "zombie"}), 422)
    assert "state" in body["detail"]


@BOTH_BACKENDS
async def test_jobs_list_paginates(client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime) -> None:
    ids = await enqueue_orphans(rt, 5)
    items = await assert_paginates(client, "/api/v1/jobs", auth, params={"state": "queued"})
    assert [j["id"] for j in items] == ids[::-1]


@BOTH_BACKENDS
async def test_audit_paginates_and_names_the_key(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime, operator_key: str
) -> None:
    biz, _ = await make_business(client, auth)
    key = await make_key(rt, biz["id"], name="owner laptop")
    for i in range(3):
        r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=bearer(key), json={"text": f"#{i}"})
        assert r.status_code == 202
    items = await assert_paginates(client, "/api/v1/audit", auth)
    assert [(a["action"], a["actor"]) for a in reversed(items)] == [
        ("business.create", f"key:{await key_id(rt, operator_key)}"),
        ("member.create", f"key:{await key_id(rt, operator_key)}"),
        ("post.create", f"key:{await key_id(rt, key)}"),
        ("post.create", f"key:{await key_id(rt, key)}"),
        ("post.create", f"key:{await key_id(rt, key)}"),
    ]
    assert {a["business_id"] for a in items} == {biz["id"]}
    assert all(a["at"] for a in items)


async def test_reads_are_not_audited(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth)
    before = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    for path in ("", "/members", "/posts", "/accounts", "/messages"):
        assert (await client.get(f"/api/v1/businesses/{biz['id']}{path}", headers=auth)).status_code == 200
    assert (await client.get("/api/v1/audit", headers=auth)).json()["items"] == before


@BOTH_BACKENDS
async def test_messages_in_and_out(client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]) -> None:
    biz, member = await make_business(client, auth)
    number = biz["sms_numbers"][0]
    for text in ("AIDE", "ETAT", "LANGUE FR"):
        assert (await send_sms(client, member["phone"], number, text)).status_code == 200
    await drain(runner)
    base = f"/api/v1/businesses/{biz['id']}/messages"

    inbound = await assert_paginates(client, base, auth, params={"direction": "in"})
    assert [m["body"] for m in inbound] == ["LANGUE FR", "ETAT", "AIDE"]  # newest first
    for m in inbound:
        assert (m["direction"], m["channel"], m["peer"]) == ("in", "sms", member["phone"])
        assert m["created_at"]
        assert "status" in m

    outbound = await assert_paginates(client, base, auth, params={"direction": "out"})
    assert len(outbound) == 3
    for m in outbound:
        assert (m["direction"], m["channel"], m["peer"]) == ("out", "sms", member["phone"])
        assert m["encoding"] == "GSM-7"
        assert m["segments"] == 1
        assert m["body"]
        assert m["status"]
        assert m["created_at"]
    # One reply each; the worker handles the three commands concurrently, so their order is not fixed.
    assert sorted(m["body"].split(":")[0] for m in outbound) == ["Ardoise", "Langue", "État"]

    default = (await client.get(base, headers=auth)).json()["items"]
    assert [m["id"] for m in default] == [m["id"] for m in inbound]


@pytest.mark.parametrize("direction", ["both", "IN", ""])
async def test_messages_direction_is_validated(client: httpx.AsyncClient, auth: dict[str, str], direction: str) -> None:
    biz, _ = await make_business(client, auth)
    r = await client.get(f"/api/v1/businesses/{biz['id']}/messages", headers=auth, params={"direction": direction})
    assert "direction" in assert_problem(r, 422)["detail"]
