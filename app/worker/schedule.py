"""Periodic jobs as data. Each firing has a dedup key per time slot, so several schedulers (one per worker
process) or a restart never fire a slot twice; a slot missed while everything was down fires once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from app.db import Database
from app.kit.time import utcnow
from app.worker import queue

log = structlog.get_logger("ardoise.scheduler")


@dataclass(frozen=True, slots=True)
class Periodic:
    kind: str
    every: timedelta
    enabled: Callable[[], bool] = lambda: True


def slot_start(now: datetime, every: timedelta) -> datetime:
    step = int(every.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


async def tick(db: Database, periodics: Sequence[Periodic], now: datetime | None = None) -> int:
    """Enqueue the current slot of every periodic job (no-op for slots already enqueued)."""
    now = now or utcnow()
    made = 0
    async with db.write() as session:
        for p in periodics:
            if not p.enabled():
                continue
            start = slot_start(now, p.every)
            key = f"{p.kind}:{start.isoformat(timespec='seconds')}"
            if await queue.enqueue(session, p.kind, {"slot": start.isoformat()}, dedup_key=key, max_attempts=3):
                made += 1
    return made


async def run_scheduler(
    db: Database,
    periodics: Sequence[Periodic],
    stop: asyncio.Event,
    *,
    interval: float = 5.0,
    extra: Callable[[], Awaitable[None]] | None = None,
) -> None:
    while not stop.is_set():
        try:
            await tick(db, periodics)
            if extra is not None:
                await extra()
        except Exception as exc:
            log.error("scheduler.tick_failed", error=str(exc)[:300])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
