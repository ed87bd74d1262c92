"""Retention: delete what is past its keep-by date, a batch per transaction.

What is kept how long (settings, docs/operations.md):

- SMS and emails in and out, and Twilio status events: ``ARDOISE_RETENTION_MESSAGES_DAYS`` (90);
- finished (done) jobs: ``ARDOISE_RETENTION_JOBS_DAYS`` (7); dead jobs, which wait for the operator, as long
  as messages;
- the audit log: ``ARDOISE_RETENTION_AUDIT_DAYS`` (365);
- confirmations nobody gave (pending actions): one day after they expired.

Businesses, members, posts, deliveries, accounts and mentions are never pruned. Each batch is its own short
transaction, so on SQLite the service's writers wait at most one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlmodel import col

from app.config import Settings
from app.db import Database
from app.kit.time import utcnow
from app.models import AuditEvent, InboundMessage, Job, JobState, OutboundMessage, PendingAction, StatusEvent

BATCH = 2000


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    model: Any
    where: Callable[[datetime], ColumnElement[bool]]
    days: int


def rules(settings: Settings) -> list[Rule]:
    msg, jobs, audit = settings.retention_messages_days, settings.retention_jobs_days, settings.retention_audit_days
    return [
        Rule("inbound messages", InboundMessage, lambda cut: col(InboundMessage.created_at) < cut, msg),
        Rule("outbound messages", OutboundMessage, lambda cut: col(OutboundMessage.created_at) < cut, msg),
        Rule("status events", StatusEvent, lambda cut: col(StatusEvent.created_at) < cut, msg),
        Rule(
            "done jobs",
            Job,
            lambda cut: (col(Job.state) == JobState.done.value) & (col(Job.finished_at) < cut),
            jobs,
        ),
        Rule(
            "dead jobs",
            Job,
            lambda cut: (col(Job.state) == JobState.dead.value) & (col(Job.finished_at) < cut),
            msg,
        ),
        Rule("audit events", AuditEvent, lambda cut: col(AuditEvent.at) < cut, audit),
        Rule("expired confirmations", PendingAction, lambda cut: col(PendingAction.expires_at) < cut, 1),
    ]


async def prune(
    db: Database,
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete (or, with ``dry_run``, count) every row past its retention. Returns the count per rule."""
    now = utcnow()
    counts: dict[str, int] = {}
    for rule in rules(settings):
        where = rule.where(now - timedelta(days=rule.days))
        total = 0
        if dry_run:
            async with db.read() as s:
                total = int((await s.execute(select(func.count()).select_from(rule.model).where(where))).scalar_one())
        else:
            while True:
                async with db.write(durable=False) as s:
                    ids = list((await s.execute(select(rule.model.id).where(where).limit(BATCH))).scalars())
                    if ids:
                        await s.execute(delete(rule.model).where(rule.model.id.in_(ids)))
                total += len(ids)
                if progress is not None and ids:
                    progress(rule.name, total)
                if len(ids) < BATCH:
                    break
        counts[rule.name] = total
    return counts
