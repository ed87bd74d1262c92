import time
from tests.mentions.test_schedule import *  # noqa

async def test_prof(clock, client, auth, runner, rt):
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 06:00"))
    await arrives(world, "x")
    t0 = time.perf_counter()
    for i in range(10):
        clock.set(local(TORONTO, "2026-06-10 09:00") + timedelta(minutes=5*i))
        a = time.perf_counter(); await tick(rt.db, [DIGESTS]); b = time.perf_counter()
        await mention_tasks.schedule_digests(rt, JobInfo(0, "x", {}, 1, 3)); c = time.perf_counter()
        await drain(runner); d = time.perf_counter()
        await world.new_sms(); e = time.perf_counter()
        print(f"tick {b-a:.3f} sched {c-b:.3f} drain {d-c:.3f} api {e-d:.3f}")
