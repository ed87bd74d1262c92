"""The console's flows in headless Chromium on a real server: sign in, find the broken account, retry a dead job.

Screenshots go to ``$ARDOISE_SCREENSHOT_DIR`` when it is set (``docs/img`` is made that way, see
docs/operations.md), else to the test's temp folder. Under ``CI=true`` a missing Chromium fails the test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.config import Settings
from app.kit.time import utcnow
from app.main import create_app, make_runner
from app.models import InboundMessage, Job, NetworkAccount, OutboundMessage, Post
from app.runtime import build_runtime
from app.worker import queue
from tests.conftest import PUBLIC_URL, make_key
from tests.helpers import drain, make_business, send_sms
from tests.support.chromium import chromium, open_tab
from tests.support.live import live_settings, serving

PAGE_LIMIT = 30_000
AGES = [timedelta(minutes=12), timedelta(hours=3), timedelta(days=2), timedelta(days=9)]


@dataclass
class Live:
    url: str
    key: str
    broken_business: int
    dead_job: int


async def seed(settings: Settings) -> tuple[str, int, int]:
    """Four businesses with posts, an SMS exchange through the webhook, a broken Mastodon account, dead jobs."""
    rt = build_runtime(settings)
    try:
        app = create_app(settings, runtime=rt)
        app.state.runtime = rt
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
            key = await make_key(rt, name="operator")
            auth = {"Authorization": f"Bearer {key}"}
            names = ["Boulangerie Saint-Roch", "Café du Port", "Chez Marguerite", "Bistro Le Clocher"]
            ids = []
            for i, name in enumerate(names):
                biz, member = await make_business(
                    c, auth, slug=f"b{i}", number=f"+1581700010{i}", phone=f"+1418555010{i}", name=name
                )
                ids.append(biz["id"])
                text = ["Pain au levain tout chaud", "Soupe à l’oignon ce midi", "Fermé lundi", "Tartare 18 $"][i]
                await send_sms(c, member["phone"], f"+1581700010{i}", f"PUBLIER {text}")
            await drain(make_runner(rt), include_future=True)
            cafe = ids[1]
            async with rt.db.write() as s:
                s.add(
                    NetworkAccount(
                        business_id=cafe,
                        network="mastodon",
                        handle="@cafeduport@piaille.fr",
                        status="broken",
                        status_reason="401: The access token was revoked",
                    )
                )
                s.add(NetworkAccount(business_id=cafe, network="bluesky", handle="cafeduport.bsky.social"))
                dead = await queue.enqueue(
                    s, "messages.send_sms", {"message_id": 1}, business_id=cafe, lane="sms", max_attempts=8
                )
                webhook = await queue.enqueue(
                    s, "ops.notify_operator", {"event": "account.broken"}, lane="operator-webhook"
                )
                await s.flush()
                now = utcnow()
                for job_id, error, age in (
                    (dead, "twilio 503: Service Unavailable (gave up after 8 attempts)", timedelta(minutes=42)),
                    (webhook, "operator webhook: HTTP 502 from https://ops.example.net/ardoise", timedelta(hours=5)),
                ):
                    await s.execute(
                        update(Job)
                        .where(col(Job.id) == job_id)
                        .values(state="dead", attempts=8, last_error=error, finished_at=now - age)
                    )
                # Spread the posts and messages over the last days, as a real week would.
                for biz_id, age in zip(ids, AGES, strict=True):
                    for model in (Post, InboundMessage, OutboundMessage):
                        await s.execute(
                            update(model).where(col(model.business_id) == biz_id).values(created_at=now - age)
                        )
            assert dead is not None
            return key, cafe, dead
    finally:
        await rt.close()


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> AsyncIterator[Live]:
    """A real uvicorn server on a free loopback port (no worker: a retried job stays queued to be seen)."""
    settings = live_settings(tmp_path_factory.mktemp("console"), sqlite_template)
    key, cafe, dead = await seed(settings.model_copy(update={"public_url": PUBLIC_URL}))
    async with serving(settings) as url:
        yield Live(url, key, cafe, dead)


async def test_console_flows_in_headless_chromium(live: Live, tmp_path: Path) -> None:
    exe = chromium()
    shots = Path(os.environ.get("ARDOISE_SCREENSHOT_DIR") or tmp_path / "shots")
    async with open_tab(exe, tmp_path / "profile") as tab:
        # Sign in with the key.
        mark = await tab.goto(f"{live.url}/admin/")
        assert tab.transferred(mark) < PAGE_LIMIT
        assert "API key" in await tab.text()
        await tab.type_into("#key", live.key)
        await tab.screenshot(shots / "console-sign-in.png")
        mark = await tab.click("document.querySelector('form[action=\"/admin/login\"] button')")
        home = await tab.text()
        assert "Sign out" in home
        assert await tab.js("document.cookie") == ""  # HttpOnly: no script can read the session
        assert 0 < tab.transferred(mark) < PAGE_LIMIT

        # Find the broken account: the home page says which business needs attention.
        assert "Needs attention" in home
        assert "mastodon @cafeduport@piaille.fr broken" in home
        await tab.screenshot(shots / "console-businesses.png")
        mark = await tab.click("document.querySelector('.attn a[href^=\"/admin/b/\"]')")
        assert await tab.js("location.pathname") == f"/admin/b/{live.broken_business}"
        page = await tab.text()
        assert "401: The access token was revoked" in page
        assert 0 < tab.transferred(mark) < PAGE_LIMIT
        await tab.screenshot(shots / "console-business.png")

        # Retry a dead job.
        mark = await tab.click("[...document.querySelectorAll('header a')].find(a => a.textContent === 'Dead jobs')")
        jobs = await tab.text()
        assert f"#{live.dead_job} messages.send_sms" in jobs
        assert "twilio 503" in jobs
        assert 0 < tab.transferred(mark) < PAGE_LIMIT
        await tab.screenshot(shots / "console-dead-jobs.png")
        await tab.click(f"document.querySelector('form[action=\"/admin/jobs/{live.dead_job}/retry\"] button')")
        after = await tab.text()
        assert "The job is queued again, due now." in after
        assert f"#{live.dead_job} " not in after
        await tab.screenshot(shots / "console-dead-job-retried.png")

    async with httpx.AsyncClient(base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}) as api:
        queued = (await api.get("/api/v1/jobs", params={"state": "queued"})).json()["items"]
        assert [(j["id"], j["attempts"]) for j in queued if j["id"] == live.dead_job] == [(live.dead_job, 0)]
        audit = (await api.get("/api/v1/audit")).json()["items"]
        assert any(e["action"] == "job.retry" and e["target"] == f"job:{live.dead_job}" for e in audit)
