"""A network in trouble for a while: Mastodon answers 500, then 429 with Retry-After, then hangs past the
client's timeout, then recovers. The delivery ends published exactly once (one status per Idempotency-Key),
the Retry-After is honoured (no attempt before it), and the receipt logic holds: one receipt per post (sent at
the deadline saying "pending" while the network is down), no follow-up when the delivery then succeeds, and
exactly one follow-up when it finally fails.

The worker runs in this process on SQLite, with the engine settings of the other resilience tests, and an HTTP
client timeout of 1.5 s instead of 20 s so that "hanging past the timeout" takes seconds, not minutes (the code
path, httpx.TimeoutException → RetryableError, is the same).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.main import create_app, make_runner
from app.models import Delivery, OutboundMessage, Post
from app.networks.registry import build_networks
from app.runtime import build_runtime, network_options
from tests.helpers import twilio_form
from tests.resilience.cluster import (
    PUBLIC_URL,
    TWILIO_TOKEN,
    flow_pending,
    in_process_settings,
    new_sid,
    seed_shops,
    wait_for,
)
from tests.resilience.mastodon_stub import FaultyMastodon, running_stub

pytestmark = [pytest.mark.resilience, pytest.mark.slow]

RECOVERS = "Reprise apres panne"
NEVER = "Panne durable"
RETRY_AFTER = 3  # longer than the backoff cap (2 s): only an honoured Retry-After waits that long


async def test_network_500_429_and_hang_then_recovery(tmp_path: Path, sqlite_template: Path) -> None:
    from twilio.request_validator import RequestValidator

    db = tmp_path / "ardoise.db"
    shutil.copy(sqlite_template, db)
    settings = in_process_settings(f"sqlite:///{db}", tmp_path, worker_concurrency=4)
    rt = build_runtime(settings)
    await rt.http.aclose()
    rt.http = httpx.AsyncClient(timeout=httpx.Timeout(1.5, connect=1.0))
    rt.networks = build_networks(rt.http, network_options(settings), egress=rt.egress.client)
    stub = FaultyMastodon(hang_seconds=4.0)
    stub.plans = {
        RECOVERS: ["500", "500", f"429:{RETRY_AFTER}", "hang", "hang"],  # then it works
        NEVER: ["500"] * 8,  # every attempt the deliver job has
    }
    runner = make_runner(rt)
    app = create_app(settings, runtime=rt)
    app.state.runtime = rt
    task: asyncio.Task[None] | None = None
    try:
        with running_stub(stub):
            (shop,) = await seed_shops(rt, stub, 1, "faults")
            task = asyncio.create_task(runner.run())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
                for text in (RECOVERS, NEVER):
                    form = twilio_form(shop.owner, shop.number, f"PUBLIER {text}", new_sid())
                    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio/sms", form)
                    r = await client.post("/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": sig})
                    assert r.status_code == 200, r.text
            t0 = time.monotonic()

            async def settled() -> bool:
                return await flow_pending(rt) == 0 and len(stub.attempts_for(NEVER)) >= 8

            await wait_for(settled, "both deliveries to finish", 120)
            elapsed = time.monotonic() - t0
    finally:
        await runner.drain(5)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        async with rt.db.read() as s:
            posts = {p.text: p for p in (await s.execute(select(Post))).scalars()}
            ds = {
                d.post_id: d
                for d in (await s.execute(select(Delivery).where(col(Delivery.network) == "mastodon"))).scalars()
            }
            sms = list((await s.execute(select(OutboundMessage).order_by(col(OutboundMessage.id)))).scalars())
    finally:
        await rt.close()
    ok, bad = posts[RECOVERS], posts[NEVER]
    assert ok.id is not None
    assert bad.id is not None

    # Recovered: published once, after 6 attempts, with one key; the network holds one status.
    recovered = stub.attempts_for(RECOVERS)
    assert [a.outcome for a in recovered] == ["500", "500", f"429:{RETRY_AFTER}", "hang", "hang", "ok"]
    assert len({a.key for a in recovered}) == 1, "the retries changed the Idempotency-Key"
    assert stub.texts[RECOVERS] == 1
    assert stub.duplicates() == {}
    assert (ds[ok.id].status, ok.status) == ("published", "published")
    assert ds[ok.id].remote_id == stub.by_key[recovered[0].key]["id"]

    # Retry-After honoured: the attempt after the 429 came no sooner.
    waited = recovered[3].at - recovered[2].at
    assert waited >= RETRY_AFTER - 0.05, f"retried {waited:.2f}s after a 429 with Retry-After: {RETRY_AFTER}"
    # The hang lasted past the client's timeout; the next attempt did not wait for the network to answer.
    assert recovered[4].at - recovered[3].at < stub.hang_seconds + 3

    # Never recovered: failed after the 8 attempts, no status on the network, the post is partial (page OK).
    assert [a.outcome for a in stub.attempts_for(NEVER)] == ["500"] * 8
    assert stub.texts[NEVER] == 0
    assert (ds[bad.id].status, bad.status) == ("failed", "partial")

    # One receipt each, at the deadline, saying "pending" for Mastodon; one follow-up, for the failure only.
    by_kind: dict[str, list[str]] = {}
    for m in sms:
        by_kind.setdefault(m.kind, []).append(m.body)
    assert len(by_kind.get("receipt", [])) == 2, by_kind
    assert all("Masto" in body for body in by_kind["receipt"]), by_kind["receipt"]
    assert len(by_kind.get("followup", [])) == 1, by_kind
    assert f"#{bad.number}" in by_kind["followup"][0], by_kind["followup"]
    print(f"\nfaults survived in {elapsed:.0f}s; SMS sent: {by_kind}")  # noqa: T201
