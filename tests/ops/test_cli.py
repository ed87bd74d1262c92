"""``ardoise`` black-box: the command run in a subprocess (the venv's console script) against SQLite and
PostgreSQL, its effects read through the API or the database. Errors an operator can fix are one line, no
traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from sqlmodel import col

from app.kit.time import utcnow
from app.models import AuditEvent, InboundMessage, Job, JobState, OutboundMessage, StatusEvent
from app.runtime import Runtime
from tests.conftest import BOTH_BACKENDS

ARDOISE = Path(sys.executable).with_name("ardoise")


def ardoise(
    *args: str, database_url: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    base.update({"ARDOISE_DATABASE_URL": database_url, **(env or {})})
    return subprocess.run([str(ARDOISE), *args], env=base, cwd=cwd, capture_output=True, text=True, timeout=120)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "alembic" not in ln.lower()]
    assert len(lines) == 1, done.stderr
    return lines[0]


@BOTH_BACKENDS
async def test_apikey_list_revoke_rotate(db_url: str, client: httpx.AsyncClient, tmp_path: Path) -> None:
    # In a thread: the app in this event loop keeps running meanwhile (it records a key's use in a task of its
    # own, whose SQLite write would otherwise wait, lock held, for the blocked loop while the CLI waits for it).
    async def run(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(ardoise, *args, database_url=database_url, cwd=cwd)

    made = await run("apikey", "create", "--name", "caisse", database_url=db_url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/businesses", headers=auth)).status_code == 200

    listed = await run("apikey", "list", database_url=db_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "caisse" in listed.stdout
    assert key[:10] in listed.stdout  # the prefix names it
    assert key not in listed.stdout  # never the key

    rotated = await run("apikey", "rotate", "caisse", database_url=db_url, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert new != key
    assert (await client.get("/api/v1/businesses", headers=auth)).status_code == 401  # at once, no restart
    new_auth = {"Authorization": f"Bearer {new}"}
    assert (await client.get("/api/v1/businesses", headers=new_auth)).status_code == 200

    revoked = await run("apikey", "revoke", new[:10], database_url=db_url, cwd=tmp_path)  # by prefix
    assert revoked.returncode == 0, revoked.stderr
    assert (await client.get("/api/v1/businesses", headers=new_auth)).status_code == 401
    assert "caisse" not in (await run("apikey", "list", database_url=db_url, cwd=tmp_path)).stdout
    assert "revoked" in (await run("apikey", "list", "--all", database_url=db_url, cwd=tmp_path)).stdout
    assert "no active API key" in one_line_error(
        await run("apikey", "revoke", "caisse", database_url=db_url, cwd=tmp_path)
    )


@BOTH_BACKENDS
async def test_apikey_create_for_one_business(db_url: str, client: httpx.AsyncClient, tmp_path: Path) -> None:
    assert "no business" in one_line_error(
        ardoise("apikey", "create", "--name", "x", "--business", "absent", database_url=db_url, cwd=tmp_path)
    )


@BOTH_BACKENDS
async def test_jobs_list_and_retry_dead(db_url: str, rt: Runtime, tmp_path: Path) -> None:
    async with rt.db.write() as s:
        dead = Job(kind="posts.deliver", state=JobState.dead.value, attempts=8, last_error="boom: network said no")
        done = Job(kind="posts.receipt", state=JobState.done.value, attempts=1)
        s.add_all([dead, done])
        await s.flush()
        dead_id, done_id = dead.id, done.id
    listed = ardoise("jobs", "list", "--state", "dead", database_url=db_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "posts.deliver" in listed.stdout
    assert "boom: network said no" in listed.stdout
    assert "posts.receipt" not in listed.stdout

    retried = ardoise("jobs", "retry", str(dead_id), str(done_id), database_url=db_url, cwd=tmp_path)
    assert retried.returncode == 1  # one of the two was not dead: said, and left alone
    assert f"re-queued 1 job(s): {dead_id}" in retried.stdout
    assert str(done_id) in retried.stdout
    async with rt.db.read() as s:
        job = await s.get(Job, dead_id)
        assert job is not None
        assert (job.state, job.attempts) == (JobState.queued.value, 0)
        assert (await s.get(Job, done_id)).state == JobState.done.value  # type: ignore[union-attr]
        audit = (await s.execute(select(AuditEvent).where(col(AuditEvent.action) == "jobs.retry"))).scalars().all()
        assert [a.target for a in audit] == [str(dead_id)]
    bad = ardoise("jobs", "list", "--state", "zombie", database_url=db_url, cwd=tmp_path)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


@BOTH_BACKENDS
async def test_prune_deletes_past_retention_only(db_url: str, rt: Runtime, tmp_path: Path) -> None:
    old, recent = utcnow() - timedelta(days=91), utcnow() - timedelta(days=1)
    async with rt.db.write() as s:
        for i, at in enumerate((old, recent)):
            s.add(InboundMessage(channel="sms", provider_id=f"SMprune{i}", peer="+1", to="+2", created_at=at))
            s.add(OutboundMessage(channel="sms", peer="+1", body="x", created_at=at))
            s.add(StatusEvent(provider_id=f"SMout{i}", status="delivered", created_at=at))
            s.add(AuditEvent(actor="cli", action="test", at=at - timedelta(days=300)))
        s.add(Job(kind="k", state=JobState.done.value, finished_at=utcnow() - timedelta(days=8)))
        s.add(Job(kind="k", state=JobState.done.value, finished_at=utcnow() - timedelta(days=6)))
        s.add(Job(kind="k", state=JobState.dead.value, finished_at=utcnow() - timedelta(days=30)))

    dry = ardoise("prune", "--dry-run", database_url=db_url, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would delete: 1 inbound messages, 1 outbound messages, 1 status events, 1 done jobs" in dry.stdout
    done = ardoise("prune", database_url=db_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "deleted: 1 inbound messages" in done.stdout
    async with rt.db.read() as s:
        assert [m.provider_id for m in (await s.execute(select(InboundMessage))).scalars()] == ["SMprune1"]
        assert len((await s.execute(select(OutboundMessage))).scalars().all()) == 1
        assert len((await s.execute(select(StatusEvent))).scalars().all()) == 1
        assert len((await s.execute(select(AuditEvent))).scalars().all()) == 1  # 301 days kept, 391 gone
        jobs = (await s.execute(select(Job))).scalars().all()
        assert sorted(j.state for j in jobs) == ["dead", "done"]  # the 6-day done job and the dead one stay


def test_migrate_says_from_and_to(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = ardoise("migrate", database_url=url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "migrated (empty) → " in first.stdout
    again = ardoise("migrate", database_url=url, cwd=tmp_path)
    assert "already at" in again.stdout


CONFIG_ERRORS = [
    ({"ARDOISE_DATABASE_URL": "mysql://u:p@db/ardoise"}, "'mysql' is not supported"),
    ({"ARDOISE_ENV": "prod"}, "ARDOISE_SECRET_KEY is missing, too short"),
    ({"ARDOISE_ENV": "prod", "ARDOISE_SECRET_KEY": "x" * 31}, "at least 32 characters"),
    ({"ARDOISE_WORKER_CONCURRENCY": "many"}, "ARDOISE_WORKER_CONCURRENCY"),
]


@pytest.mark.parametrize(("env", "says"), CONFIG_ERRORS)
@pytest.mark.parametrize("command", [["migrate"], ["serve"], ["doctor"], ["backup"]])
def test_configuration_errors_are_one_line(env: dict[str, str], says: str, command: list[str], tmp_path: Path) -> None:
    done = ardoise(*command, database_url=f"sqlite:///{tmp_path / 'a.db'}", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert says in one_line_error(done)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://nobody:hunter2@127.0.0.1:1/x", "Connection refused"),
        ("sqlite:////nonexistent-dir/a.db", "unable to open database file"),
    ],
)
def test_unreachable_database_is_one_line(url: str, says: str, tmp_path: Path) -> None:
    line = one_line_error(ardoise("migrate", database_url=url, cwd=tmp_path))
    assert says in line
    assert "hunter2" not in line
    if url.startswith("postgresql"):
        line = one_line_error(ardoise("apikey", "list", database_url=url, cwd=tmp_path))
        assert says in line
    else:
        assert "no database file" in one_line_error(ardoise("apikey", "list", database_url=url, cwd=tmp_path))
    doctor = ardoise("doctor", database_url=url, cwd=tmp_path)
    assert doctor.returncode == 1
    assert "Traceback" not in doctor.stdout + doctor.stderr
    assert "FAIL  database" in doctor.stdout


def test_help_has_no_type_noise(tmp_path: Path) -> None:
    for cmd in (["serve"], ["doctor"], ["apikey", "list"], ["prune"], ["restore"]):
        out = ardoise(*cmd, "--help", database_url="sqlite:///x.db", cwd=tmp_path).stdout
        assert "<bool>" not in out, out
        assert "Traceback" not in out


def test_simulate_sms_reads_replies_through_the_api(tmp_path: Path) -> None:
    from tests.ops.test_backup import serving

    url = f"sqlite:///{tmp_path / 'sim.db'}"
    assert ardoise("migrate", database_url=url, cwd=tmp_path).returncode == 0
    key = ardoise("apikey", "create", "--name", "sim", database_url=url, cwd=tmp_path).stdout.strip().splitlines()[-1]
    photo = tmp_path / "menu.png"
    Image.new("RGB", (64, 48), (163, 64, 42)).save(photo, "PNG")  # a photo the service can read
    # The photo is served on 127.0.0.1: the service fetches it only with private networks allowed (development).
    with serving(url, tmp_path, {"ARDOISE_ALLOW_PRIVATE_NETWORKS": "true"}) as base:
        auth = {"Authorization": f"Bearer {key}"}
        r = httpx.post(
            base + "/api/v1/businesses",
            headers=auth,
            json={"name": "Sim", "slug": "sim", "sms_numbers": ["+15817000077"], "language": "fr"},
        )
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{base}/api/v1/businesses/{r.json()['id']}/members",
            headers=auth,
            json={"name": "Proprio", "phone": "+14185550177", "language": "fr", "role": "owner"},
        )
        assert r.status_code == 201, r.text
        sim = ["simulate", "sms", "--url", base, "--key", key, "--from", "+14185550177", "--to", "+15817000077"]
        # The signature is computed for the service's public URL, which `serving` sets to base.
        env = {"ARDOISE_PUBLIC_URL": base}
        done = ardoise(*sim, "--wait", "60", "AIDE", database_url=url, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "waiting up to 60 s" in done.stdout
        assert any(line.startswith("< ") for line in done.stdout.splitlines()), done.stdout
        # Where this command's settings refuse loopback addresses, it says so before sending anything (the owner
        # would otherwise get "Photo illisible" for a good photo).
        refused = ardoise(*sim, "--media", str(photo), "PUBLIER Menu", database_url=url, cwd=tmp_path, env=env)
        assert "ARDOISE_ALLOW_PRIVATE_NETWORKS=1" in one_line_error(refused)
        env["ARDOISE_ALLOW_PRIVATE_NETWORKS"] = "true"
        done = ardoise(
            *sim, "--wait", "60", "--media", str(photo), "PUBLIER Menu", database_url=url, cwd=tmp_path, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "serving " in done.stdout
        assert "after the photo is fetched" in done.stdout
        assert "photo fetched by the service: GET /" in done.stdout
        assert "< Publié #1: Page OK  [GSM-7, 1 segment]" in done.stdout.splitlines(), done.stdout
        assert '<img src="../media/' in httpx.get(base + "/b/sim").text  # the photo is on the page
        other_host = ["--url", "https://ardoise.example", "--key", key, "--media", str(photo), "AIDE"]
        assert "cannot fetch a file served here" in one_line_error(
            ardoise("simulate", "sms", *other_host, database_url=url, cwd=tmp_path, env=env)
        )

    far = ardoise("simulate", "sms", "--url", "https://ardoise.example", "AIDE", database_url=url, cwd=tmp_path)
    assert "pass --key" in one_line_error(far)
