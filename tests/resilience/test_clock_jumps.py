"""The clock jumps forward 3 h across a digest slot, and across the 2026-11-01 daylight-saving change in
America/Toronto (02:00 EDT → 01:00 EST, so 01:30 happens twice): each slot fires exactly once, a slot jumped
over fires once when the scheduler runs again, and the doubled 01:30 is one slot.

Compact on purpose (tests/mentions/ has the detailed digest tests): the real scheduler tick (a 5-minute
``mentions.schedule_digests`` job per slot), the real jobs, on SQLite, driven by ``app.kit.time.set_clock``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import DigestSettings, Job, Member, MentionRow, NetworkAccount, OutboundMessage
from app.runtime import Runtime
from app.tasks import periodics
from app.worker.runner import Runner
from app.worker.schedule import tick
from tests.resilience.cluster import seed_shops
from tests.resilience.mastodon_stub import FaultyMastodon
from tests.support.clock import Clock

pytestmark = [pytest.mark.resilience, pytest.mark.slow]

TZ = ZoneInfo("America/Toronto")


@pytest.fixture
def clock_start() -> datetime:
    return datetime(2026, 10, 31, 9, 0, tzinfo=UTC)  # 05:00 EDT


def local(y: int, mo: int, d: int, h: int, mi: int, *, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ, fold=fold)


async def test_digest_slots_fire_once_across_clock_jumps_and_dst(
    rt: Runtime, runner: Runner[Runtime], clock: Clock
) -> None:
    (shop,) = await seed_shops(rt, FaultyMastodon(base_url="http://127.0.0.1:9"), 1, "clock")  # never called
    async with rt.db.write() as s:
        member = (await s.execute(select(Member).where(col(Member.business_id) == shop.business_id))).scalar_one()
        account = (
            await s.execute(select(NetworkAccount).where(col(NetworkAccount.network) == "mastodon"))
        ).scalar_one()
        assert member.id is not None
        assert account.id is not None
        account_id = account.id
        s.add(DigestSettings(member_id=member.id, hours=["01:30", "08:00"], quiet_start="00:00", quiet_end="00:00"))
    digest_periodic = [p for p in periodics(rt.settings) if p.kind == "mentions.schedule_digests"]
    assert digest_periodic

    step = timedelta(minutes=20)
    jumps = {
        datetime(2026, 10, 31, 10, 40, tzinfo=UTC),  # 06:40 EDT → 09:40 EDT, over the 08:00 slot
        datetime(2026, 11, 1, 4, 40, tzinfo=UTC),  # 00:40 EDT → 02:40 EST, over both 01:30 and the DST change
    }
    end = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 09:00 EST, past the first 08:00 slot in EST
    fired_at: dict[str, datetime] = {}
    n = 0
    while clock.now <= end:
        n += 1
        async with rt.db.write() as s:  # something new to digest before every tick
            s.add(
                MentionRow(
                    business_id=shop.business_id,
                    account_id=account_id,
                    network="mastodon",
                    number=n,
                    remote_id=f"m{n}",
                    kind="mention",
                    author="@client",
                    text=f"Bravo pour le menu {n}",
                )
            )
        await tick(rt.db, digest_periodic)
        await runner.run_until_idle()
        async with rt.db.read() as s:
            for key in (
                await s.execute(select(col(Job.dedup_key)).where(col(Job.kind) == "mentions.send_digest"))
            ).scalars():
                fired_at.setdefault(str(key), clock.now)
        clock.now += timedelta(hours=3) if clock.now in jumps else step

    # slot (local) -> the tick that fires it
    expected = {
        local(2026, 10, 31, 1, 30): local(2026, 10, 31, 5, 0),  # started < 12 h before the first tick
        local(2026, 10, 31, 8, 0): local(2026, 10, 31, 9, 40),  # jumped over: fires on landing, once
        local(2026, 11, 1, 1, 30): local(2026, 11, 1, 2, 40),  # the first 01:30 (EDT) only; lands 02:40 EST
        local(2026, 11, 1, 8, 0): local(2026, 11, 1, 8, 0),  # 08:00 EST, not 08:00 EDT (07:00 EST)
    }
    want = {f"digest:{member.id}:{slot.isoformat(timespec='minutes')}": at for slot, at in expected.items()}
    assert set(fired_at) == set(want), f"slots fired: {sorted(fired_at)}"
    for key, at in want.items():
        assert fired_at[key] == at.astimezone(UTC), f"{key} fired at {fired_at[key]}, expected {at}"

    async with rt.db.read() as s:
        jobs = list((await s.execute(select(Job).where(col(Job.kind) == "mentions.send_digest"))).scalars())
        digests = list(
            (await s.execute(select(OutboundMessage).where(col(OutboundMessage.kind) == "digest"))).scalars()
        )
    assert [j.state for j in jobs] == ["done"] * 4
    assert len(digests) == 4, [d.body for d in digests]  # one SMS per slot, none twice
