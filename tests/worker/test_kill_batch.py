"""A worker process SIGKILLed in the middle of a batch: some jobs of its claim are done, some are running under
its lease, some not started. A new worker re-claims the rest once the leases expire, and every job has run
exactly once: its effect and its completion commit in one transaction (``JobInfo.complete_in``), so nothing is
lost and nothing doubled. Both backends (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from app.models import Job
from app.runtime import Runtime
from app.worker import queue
from tests.conftest import BOTH_BACKENDS
from tests.support.worker import start_worker, stop, tail

N = 200


async def _effects(rt: Runtime) -> list[tuple[int, int]]:
    async with rt.db.read() as s:
        rows = await s.execute(text("SELECT job_id, pid FROM batch_effect ORDER BY job_id"))
        return [(int(r[0]), int(r[1])) for r in rows]


async def _states(rt: Runtime) -> dict[str, int]:
    async with rt.db.read() as s:
        rows = await s.execute(select(col(Job.state), func.count()).group_by(col(Job.state)))
        return {str(st): int(n) for st, n in rows}


@pytest.mark.slow
@BOTH_BACKENDS
async def test_worker_killed_mid_batch_runs_every_job_exactly_once(rt: Runtime, tmp_path: Path) -> None:
    async with rt.db.write() as s:
        await s.execute(text("DROP TABLE IF EXISTS batch_effect"))
        await s.execute(text("CREATE TABLE batch_effect (job_id INTEGER NOT NULL, pid INTEGER NOT NULL)"))
        ids = [await queue.enqueue(s, "t.effect", {"n": i}) for i in range(N)]
    assert None not in ids
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "tests.worker.batch_worker"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start_worker(rt, tmp_path, log, command))
        deadline = time.monotonic() + 60
        while len(await _effects(rt)) < 10:
            assert time.monotonic() < deadline, "the worker ran nothing; log:\n" + tail(log)
            assert procs[0].poll() is None, tail(log)
            await asyncio.sleep(0.02)
        procs[0].send_signal(signal.SIGKILL)
        assert procs[0].wait(10) == -signal.SIGKILL

        before = await _effects(rt)
        states = await _states(rt)
        # In the middle of a batch: some jobs done, some claimed and left running under the dead worker's lease.
        assert 0 < len(before) < N
        assert states.get("done", 0) == len(before), (states, len(before))
        assert states.get("running", 0) > 0, states

        procs.append(start_worker(rt, tmp_path, log, command))
        deadline = time.monotonic() + 120
        while (await _states(rt)).get("done", 0) < N:
            assert time.monotonic() < deadline, f"{await _states(rt)}; log:\n{tail(log)}"
            assert procs[1].poll() is None, tail(log)
            await asyncio.sleep(0.1)
    finally:
        for p in procs:
            stop(p)

    after = await _effects(rt)
    assert sorted(j for j, _ in after) == sorted(i for i in ids if i is not None)  # each job once, none lost
    assert {p for _, p in after} == {procs[0].pid, procs[1].pid}
    assert await _states(rt) == {"done": N}
    async with rt.db.read() as s:
        retried = (await s.execute(select(func.count()).where(col(Job.attempts) >= 2))).scalar_one()
    # The jobs the kill left running ran once more, as a later attempt; on a loaded machine a lease of 3 s can
    # also expire under the second worker, whose stale run then rolls back (LeaseLost): effects stay single.
    assert retried >= states["running"]
