"""Daylight-saving changes and clock jumps: a scheduled post goes out once, at the right instant.

America/Toronto in 2027: on 14 March the clocks jump from 2:00 EST to 3:00 EDT (2:30 does not exist: the post goes
out at 3:00, the first valid minute); on 7 November they fall back from 2:00 EDT to 1:00 EST (1:30 happens twice: the
post goes out at the first). The real jobs run on the frozen clock (app.kit.time), stepped 5 minutes at a time through
the night, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.catalogue import t
from app.models import Job
from app.runtime import Runtime
from app.scheduling.service import to_utc
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS
from tests.helpers import make_business
from tests.scheduling.test_commands import Phone
from tests.support.chat import NUMBER, OWNER, one_sms, posts
from tests.support.clock import Clock

TORONTO = ZoneInfo("America/Toronto")


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        pytest.param("America/Toronto", datetime(2027, 3, 14, 2, 30), utc(2027, 3, 14, 7, 0), id="gap-is-3h00-edt"),
        pytest.param("America/Toronto", datetime(2027, 3, 14, 2, 0), utc(2027, 3, 14, 7, 0), id="gap-start"),
        pytest.param("America/Toronto", datetime(2027, 3, 14, 2, 59), utc(2027, 3, 14, 7, 0), id="gap-end"),
        pytest.param("America/Toronto", datetime(2027, 3, 14, 3, 0), utc(2027, 3, 14, 7, 0), id="after-gap"),
        pytest.param("America/Toronto", datetime(2027, 3, 14, 1, 59), utc(2027, 3, 14, 6, 59), id="before-gap"),
        pytest.param("America/Toronto", datetime(2027, 11, 7, 1, 30), utc(2027, 11, 7, 5, 30), id="twice-first"),
        pytest.param("America/Toronto", datetime(2027, 11, 7, 2, 30), utc(2027, 11, 7, 7, 30), id="after-fall"),
        pytest.param("America/Toronto", datetime(2027, 1, 5, 11, 0), utc(2027, 1, 5, 16, 0), id="winter"),
        pytest.param("Europe/Paris", datetime(2027, 3, 28, 2, 15), utc(2027, 3, 28, 1, 0), id="paris-gap"),
        pytest.param("Europe/Paris", datetime(2027, 10, 31, 2, 15), utc(2027, 10, 31, 0, 15), id="paris-twice"),
        pytest.param("Australia/Lord_Howe", datetime(2027, 10, 3, 2, 15), utc(2027, 10, 2, 15, 30), id="half-hour-gap"),
    ],
)
def test_wall_time_to_utc(zone: str, wall: datetime, expected: datetime) -> None:
    assert to_utc(wall, ZoneInfo(zone)) == expected


@pytest.fixture
def clock_start() -> datetime:
    return datetime(2027, 3, 13, 17, 0, tzinfo=UTC)  # Saturday 13 March 2027, 12:00 EST


async def _night(chat: Phone, clock: Clock, until: datetime) -> dict[datetime, list[str]]:
    """Step the clock 5 minutes at a time (every time here is on a multiple of 5) until ``until``, running the due
    jobs at each step: what SMS went out, and when."""
    sent: dict[datetime, list[str]] = {}
    while clock.now < until:
        clock.set(clock.now + timedelta(minutes=5))
        got = [m["body"] for m in await chat.new_after_jobs()]
        if got:
            sent[clock.now] = sorted(got)  # two posts due at once: their receipts in any order
    return sent


async def _publish_jobs(rt: Runtime) -> list[tuple[str, str]]:
    async with rt.db.read() as s:
        jobs = (
            await s.execute(select(Job).where(col(Job.kind) == "scheduling.publish").order_by(col(Job.id)))
        ).scalars()
        return [(j.dedup_key or "", j.state) for j in jobs]


@pytest.fixture
async def chat(client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], clock: Clock) -> Phone:
    b, _ = await make_business(client, auth, number=NUMBER, phone=OWNER)
    return Phone(client, auth, runner, [b["id"]])


@BOTH_BACKENDS
async def test_spring_forward_a_time_in_the_gap_goes_out_once_at_the_first_valid_minute(
    rt: Runtime, chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert one_sms(await chat.say("PUBLIER demain 2h30 Brunch")) == "Programmé #1 pour demain, dim. 14 mars 3 h"
    assert one_sms(await chat.say("CHAQUE dimanche 2h30 Brunch du dimanche")) == (
        "Programmé #2 chaque dimanche à 2 h 30, 1re fois demain, dim. 14 mars 3 h"
    )
    assert one_sms(await chat.say("PROG")) == (
        "Programmé:\nP1 demain, dim. 14 mars 3 h Brunch\nP2 chaque dimanche à 2 h 30 Brunch du dimanche"
    )
    clock.set(utc(2027, 3, 14, 6, 30))  # 1:30 EST
    sent = await _night(chat, clock, utc(2027, 3, 14, 9, 0))  # to 5:00 EDT
    assert sent == {utc(2027, 3, 14, 7, 0): [t("receipt", "fr", number=n, parts="Page OK") for n in (1, 2)]}
    # The next Sunday, 2:30 exists again: the weekly post is back at 2:30 EDT.
    clock.set(utc(2027, 3, 21, 5, 0))
    sent = await _night(chat, clock, utc(2027, 3, 21, 8, 0))
    assert sent == {utc(2027, 3, 21, 6, 30): [t("receipt", "fr", number=3, parts="Page OK")]}
    assert [k for k, state in await _publish_jobs(rt) if state == "done"] == [
        f"scheduled:{i}:{stamp}" for i, stamp in [(1, "20270314T0700Z"), (2, "20270314T0700Z"), (3, "20270321T0630Z")]
    ]
    b = (await client.get("/api/v1/businesses", headers=auth)).json()["items"][0]
    assert [p["status"] for p in await posts(client, auth, b["id"])] == [
        "scheduled",
        "published",
        "published",
        "published",
    ]


@BOTH_BACKENDS
async def test_fall_back_a_time_that_happens_twice_goes_out_once_at_the_first(
    rt: Runtime, chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    clock.set(utc(2027, 11, 6, 16, 0))  # Saturday 6 November, 12:00 EDT
    assert one_sms(await chat.say("PUBLIER demain 1h30 Nuit blanche")) == "Programmé #1 pour demain, dim. 7 nov. 1 h 30"
    one_sms(await chat.say("CHAQUE dimanche 1h30 Veille"))
    clock.set(utc(2027, 11, 7, 4, 0))  # 0:00 EDT
    sent = await _night(chat, clock, utc(2027, 11, 7, 9, 0))  # through both 1:30s, to 4:00 EST
    assert sent == {utc(2027, 11, 7, 5, 30): [t("receipt", "fr", number=n, parts="Page OK") for n in (1, 2)]}
    clock.set(utc(2027, 11, 14, 4, 0))
    sent = await _night(chat, clock, utc(2027, 11, 14, 8, 0))
    assert sent == {utc(2027, 11, 14, 6, 30): [t("receipt", "fr", number=3, parts="Page OK")]}  # 1:30 EST
    assert [state for _, state in await _publish_jobs(rt)] == ["done", "done", "done", "queued"]


@BOTH_BACKENDS
async def test_clock_jumps_forward_over_the_time_and_back_publish_once(
    rt: Runtime, chat: Phone, clock: Clock, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert one_sms(await chat.say("PUBLIER à 15h Goûter")) == "Programmé #1 pour aujourd'hui, sam. 13 mars 15 h"
    clock.set(utc(2027, 3, 13, 23, 0))  # the clock jumps 6 hours, over 15:00
    assert [m["body"] for m in await chat.new_after_jobs()] == [t("receipt", "fr", number=1, parts="Page OK")]
    clock.now = utc(2027, 3, 13, 19, 59)  # and back (an NTP correction), just before 15:00 again
    assert await _night(chat, clock, utc(2027, 3, 13, 21, 0)) == {}
    assert await _publish_jobs(rt) == [("scheduled:1:20270313T2000Z", "done")]
    b = (await client.get("/api/v1/businesses", headers=auth)).json()["items"][0]
    [post] = await posts(client, auth, b["id"])
    assert post["status"] == "published"
    assert [d["network"] for d in post["deliveries"]] == ["page"]
