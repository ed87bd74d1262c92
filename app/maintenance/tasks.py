"""Housekeeping jobs."""

from __future__ import annotations

import structlog

from app.maintenance.prune import prune as prune_rows
from app.runtime import Runtime
from app.worker.runner import JobInfo

log = structlog.get_logger("ardoise.maintenance")


async def prune(rt: Runtime, job: JobInfo) -> None:
    """Delete what is past its retention (app/maintenance/prune.py says what is kept how long)."""
    counts = await prune_rows(rt.db, rt.settings)
    deleted = {name.replace(" ", "_"): n for name, n in counts.items() if n}
    if deleted:
        log.info("maintenance.pruned", **deleted)
