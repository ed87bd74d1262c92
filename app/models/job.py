"""The job table: the outbox and work queue in one, written in the same transaction as the domain write."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field, json_field


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"


class Job(SQLModel, table=True):
    __table_args__ = (Index("ix_job_due", "state", "run_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    payload: dict[str, object] = json_field()
    state: str = Field(default=JobState.queued.value, max_length=16)
    # Unique per time slot or per fact ("digest:12:2026-11-26T08", "sms:SM123"): a second enqueue is a no-op.
    dedup_key: str | None = Field(default=None, max_length=200, unique=True)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=8)
    run_at: datetime = created_at_field()
    locked_until: datetime | None = dt_field()
    locked_by: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=2000)
    business_id: int | None = Field(default=None, index=True)
    # Jobs that wait on one remote service ("net:bluesky"): a worker runs only so many of a lane at once, so a
    # network that hangs cannot take every slot from the others (app/worker/runner.py). "" = no lane.
    lane: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    created_at: datetime = created_at_field()
    finished_at: datetime | None = dt_field()
