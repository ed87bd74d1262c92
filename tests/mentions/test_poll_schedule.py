"""Mention polling per network: each account polled once per slot of its network's interval
(``ARDOISE_MENTION_POLL_MINUTES`` over the defaults), spread over the slot, whatever the number of scheduler runs;
the scheduler's own period follows the shortest interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from app.config import DEFAULT_POLL_MINUTES, Settings, parse_poll_minutes
from app.mentions import tasks as mention_tasks
from app.models import Job
from app.runtime import Runtime
from app.tasks import periodics
from app.worker.runner import JobInfo, Runner
from tests.mentions.test_flow import FakeGoogle, FakeMastodon, FakeNet, World, build_world
from tests.support.clock import Clock

START = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # where the clock fixture starts


@pytest.fixture
def clock_start() -> datetime:
    return START


async def schedule(world: World) -> None:
    await mention_tasks.schedule_polls(world.rt, JobInfo(0, "mentions.schedule_polls", {}, 1, 3))


async def polls(world: World) -> dict[str, list[tuple[str, datetime]]]:
    """Per network: (dedup key, run_at) of every poll job enqueued so far."""
    names = {v: k for k, v in world.accounts.items()}
    async with world.rt.db.read() as s:
        jobs = (await s.execute(select(Job).where(col(Job.kind) == "mentions.poll").order_by(col(Job.id)))).scalars()
        out: dict[str, list[tuple[str, datetime]]] = {}
        for j in jobs:
            out.setdefault(names[int(str(j.payload["account_id"]))], []).append((str(j.dedup_key), j.run_at))
        return out


@pytest.fixture
async def world(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> World:
    return await build_world(client, auth, runner, rt, nets=[FakeNet(), FakeMastodon(), FakeGoogle()])


async def test_each_network_is_polled_at_its_own_interval(world: World, clock: Clock) -> None:
    for minute in range(0, 31, 5):  # the scheduler runs every 5 minutes (twice, as two workers would)
        clock.now = START + timedelta(minutes=minute)
        await schedule(world)
        await schedule(world)
    got = await polls(world)
    assert len(got["bluesky"]) == 7  # 12:00, 12:05, ... 12:30: every 5 minutes
    assert len(got["mastodon"]) == 7
    assert len(got["google"]) == 3  # 12:00, 12:15, 12:30: every 15 minutes
    for name, every in (("bluesky", 5), ("google", 15)):
        for key, run_at in got[name]:
            slot = datetime.fromisoformat(key.split(":", 2)[2])  # poll:<account>:<slot start>
            assert slot.minute % every == 0
            assert slot <= run_at.replace(tzinfo=UTC) < slot + timedelta(minutes=every)  # spread in its slot


async def test_the_operator_sets_the_intervals(world: World, clock: Clock) -> None:
    world.rt.settings = world.rt.settings.model_copy(update={"mention_poll_minutes": "google=5, bluesky=60"})
    for minute in range(0, 31, 5):
        clock.now = START + timedelta(minutes=minute)
        await schedule(world)
    got = await polls(world)
    assert len(got["google"]) == 7
    assert len(got["bluesky"]) == 1
    assert len(got["mastodon"]) == 7  # not named: its default


def test_the_scheduler_runs_at_the_shortest_interval() -> None:
    def period(raw: str) -> timedelta:
        (p,) = [p for p in periodics(Settings(mention_poll_minutes=raw)) if p.kind == "mentions.schedule_polls"]
        return p.every

    assert period("") == timedelta(minutes=min(DEFAULT_POLL_MINUTES.values()))
    assert period("bluesky=2") == timedelta(minutes=2)
    assert period("bluesky=30,mastodon=30,facebook=30,instagram=30") == timedelta(minutes=15)


@pytest.mark.parametrize("raw", ["x", "x=", "x=abc", "x=0", "x=1441", "=5", "x=-3"])
def test_bad_intervals_are_refused_at_start(raw: str) -> None:
    with pytest.raises(ValidationError, match="ARDOISE_MENTION_POLL_MINUTES"):
        Settings(mention_poll_minutes=raw)


def test_intervals_parse() -> None:
    assert parse_poll_minutes(" X=30 , google=60,") == {"x": 30, "google": 60}
