"""/metrics: labels by route template (random paths cannot grow it), counters where they belong, process metrics,
database gauges over bounded sets; request log lines; pure JSON logs from ``ardoise serve`` in JSON mode."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import GAUGES
from app.models import AccountStatus, Business, Job, JobState, NetworkAccount
from app.runtime import Runtime
from tests.conftest import BOTH_BACKENDS, make_key
from tests.helpers import drain, make_business, send_sms
from tests.ops.test_backup import serving


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_random_paths_do_not_grow_metrics(client: httpx.AsyncClient) -> None:
    # The registry is the process's: other tests of the session add their routes to it, so measure the growth.
    await client.post(f"/webhooks/{uuid.uuid4().hex}", content=b"x")
    before = (await client.get("/metrics")).text
    for _ in range(300):
        await client.post(f"/webhooks/{uuid.uuid4().hex}", content=b"x")
    body = (await client.get("/metrics")).text
    assert len(body.encode()) - len(before.encode()) < 2_000, len(body) - len(before)
    assert value(body, "ardoise_http_requests_total", method="POST", route="unmatched", status="404") >= 300
    assert "process_cpu_seconds_total" in body  # process metrics
    assert "process_resident_memory_bytes" in body


@BOTH_BACKENDS
async def test_sms_segments_are_a_counter(client: httpx.AsyncClient, rt: Runtime) -> None:
    from app.main import make_runner

    key = await make_key(rt)
    auth = {"Authorization": f"Bearer {key}"}
    await make_business(client, auth, slug="compteur", number="+15817000031", phone="+14185550131")
    before = (await client.get("/metrics")).text
    assert (await send_sms(client, "+14185550131", "+15817000031", "AIDE")).status_code == 200
    await drain(make_runner(rt))
    after = (await client.get("/metrics")).text
    sent = sum(v for (n, _), v in samples(after).items() if n == "ardoise_sms_segments_sent_total")
    sent_before = sum(v for (n, _), v in samples(before).items() if n == "ardoise_sms_segments_sent_total")
    assert sent >= sent_before + 1
    assert "# TYPE ardoise_sms_segments_sent_total counter" in after
    assert value(after, "ardoise_http_requests_total", method="POST", route="/webhooks/twilio/sms", status="200") >= 1


@BOTH_BACKENDS
async def test_gauges_dead_jobs_and_broken_accounts(client: httpx.AsyncClient, rt: Runtime) -> None:
    async with rt.db.write() as s:
        biz = Business(name="B", slug="jauge")
        s.add(biz)
        await s.flush()
        assert biz.id is not None
        s.add(NetworkAccount(business_id=biz.id, network="mastodon", status=AccountStatus.broken.value))
        s.add(Job(kind="posts.deliver", state=JobState.dead.value))
        s.add(Job(kind="posts.deliver", state=JobState.done.value))
    GAUGES.at = 0.0  # the gauges are cached for GAUGE_TTL seconds: read them now
    body = (await client.get("/metrics")).text
    assert value(body, "ardoise_jobs", state="dead", kind="posts.deliver") == 1
    assert ("ardoise_jobs", (("kind", "posts.deliver"), ("state", "done"))) not in samples(body)  # unbounded: not read
    assert value(body, "ardoise_accounts_broken") == 1
    assert value(body, "ardoise_accounts", network="mastodon", status="broken") == 1
    assert value(body, "ardoise_queue_oldest_due_seconds") == 0


def test_serve_logs_are_json_with_request_lines(tmp_path: Path, sqlite_template: Path) -> None:
    import shutil

    db = tmp_path / "log.db"
    shutil.copy(sqlite_template, db)
    with serving(f"sqlite:///{db}", tmp_path) as base:
        r = httpx.get(base + "/b/absent", headers={"X-Request-ID": "trace-me-42"})
        assert r.status_code == 404
        assert r.headers["x-request-id"] == "trace-me-42"
    log = next(tmp_path.glob("serve-*.log")).read_text()
    events = []
    for line in log.splitlines():
        if line.strip():
            events.append(json.loads(line))  # every line is one JSON object, uvicorn's included
    uvicorn_lines = [e for e in events if str(e.get("logger", "")).startswith("uvicorn")]
    assert uvicorn_lines, log[:2000]
    requests = [e for e in events if e.get("event") == "http.request" and e.get("request_id") == "trace-me-42"]
    assert len(requests) == 1, log[-3000:]
    line = requests[0]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/b/{slug}", 404)
    assert isinstance(line["duration_ms"], float)
    assert not any(v is None for e in events for v in e.values())  # no skipped=None noise
