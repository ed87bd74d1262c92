"""``GET /metrics`` in the Prometheus text format.

Two kinds of numbers, each where it belongs:

- **counters and histograms of this process** (requests, SMS segments sent, SMS failures, deliveries), counted
  where the thing happens. Prometheus sums them over processes and survives restarts with ``rate()``. A
  scale-out worker has no HTTP port of its own: ``ARDOISE_WORKER_METRICS_PORT`` gives it one.
- **gauges read from the database** (queue depth and age, dead jobs, broken accounts), the same truth in every
  replica. They are read at most every ``GAUGE_TTL`` seconds whatever the scrape rate, and only over bounded
  sets: jobs not done (done jobs are the unbounded part, and pruned), the oldest due job through the
  ``(state, run_at)`` index, accounts (a few per business). No query scans messages or deliveries.

HTTP metrics are labelled with the route template (``/api/v1/businesses/{business_id}``), never the raw path,
and every unknown path shares the label ``unmatched``: random paths cannot grow the output.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select
from sqlmodel import col

from app.db import Database
from app.deps import RuntimeDep
from app.kit.time import utcnow
from app.models import AccountStatus, Job, JobState, NetworkAccount

router = APIRouter(tags=["health"])
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU, memory, open files, start time of this process
PlatformCollector(registry=REGISTRY)  # Python version

UNMATCHED = "unmatched"
GAUGE_TTL = 15.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)

HTTP_REQUESTS = Counter(
    "ardoise_http_requests",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "ardoise_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_SECONDS = Histogram(
    "ardoise_webhook_seconds",
    "Time to acknowledge a webhook, by route template",
    ["route"],
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
SMS_SENT = Counter("ardoise_sms_sent", "SMS handed to the provider, by kind", ["kind"], registry=REGISTRY)
SMS_SEGMENTS = Counter(
    "ardoise_sms_segments_sent",
    "SMS segments handed to the provider (what Twilio bills), by kind",
    ["kind"],
    registry=REGISTRY,
)
SMS_FAILURES = Counter(
    "ardoise_sms_failures",
    "SMS the provider refused or that ran out of attempts, by error code",
    ["code"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "ardoise_deliveries",
    "Post deliveries finished, by network and outcome (published, skipped, failed, auth_failed, gave_up)",
    ["network", "outcome"],
    registry=REGISTRY,
)
JOBS = Gauge(
    "ardoise_jobs", "Jobs not done, by state (queued, running, dead) and kind", ["state", "kind"], registry=REGISTRY
)
QUEUE_AGE = Gauge("ardoise_queue_oldest_due_seconds", "Age of the oldest due queued job", registry=REGISTRY)
ACCOUNTS = Gauge(
    "ardoise_accounts", "Linked network accounts by network and status", ["network", "status"], registry=REGISTRY
)
BROKEN_ACCOUNTS = Gauge("ardoise_accounts_broken", "Linked accounts marked broken (to relink)", registry=REGISTRY)
GAUGES_AGE = Gauge("ardoise_metrics_gauges_age_seconds", "Age of the database gauges in this scrape", registry=REGISTRY)


class _Gauges:
    """The database gauges, refreshed at most every ``GAUGE_TTL`` seconds (one refresh at a time)."""

    def __init__(self) -> None:
        self.at = 0.0
        self.lock = asyncio.Lock()

    async def refresh(self, db: Database) -> None:
        async with self.lock:
            if time.monotonic() - self.at < GAUGE_TTL and self.at:
                GAUGES_AGE.set(time.monotonic() - self.at)
                return
            async with db.read() as s:
                jobs = (
                    await s.execute(
                        select(col(Job.state), col(Job.kind), func.count())
                        .where(col(Job.state) != JobState.done.value)
                        .group_by(col(Job.state), col(Job.kind))
                    )
                ).all()
                oldest = (
                    await s.execute(
                        select(func.min(col(Job.run_at))).where(
                            col(Job.state) == JobState.queued.value, col(Job.run_at) <= utcnow()
                        )
                    )
                ).scalar_one_or_none()
                accounts = (
                    await s.execute(
                        select(col(NetworkAccount.network), col(NetworkAccount.status), func.count()).group_by(
                            col(NetworkAccount.network), col(NetworkAccount.status)
                        )
                    )
                ).all()
            JOBS.clear()
            for js in (JobState.queued, JobState.running, JobState.dead):  # zeros too: alerts need the series
                JOBS.labels(state=js.value, kind="").set(0)
            for state, kind, n in jobs:
                JOBS.labels(state=state, kind=kind).set(n)
            QUEUE_AGE.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
            ACCOUNTS.clear()
            for network, status, n in accounts:
                ACCOUNTS.labels(network=network, status=status).set(n)
            BROKEN_ACCOUNTS.set(sum(n for _, status, n in accounts if status == AccountStatus.broken.value))
            self.at = time.monotonic()
            GAUGES_AGE.set(0.0)


GAUGES = _Gauges()


def record_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one HTTP request under its route template (``unmatched`` when no route took it)."""
    template = route or UNMATCHED
    HTTP_REQUESTS.labels(method=method, route=template, status=str(status)).inc()
    HTTP_SECONDS.labels(method=method, route=template).observe(seconds)
    if template.startswith("/webhooks/"):
        WEBHOOK_SECONDS.labels(route=template).observe(seconds)


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: RuntimeDep) -> Response:
    await GAUGES.refresh(rt.db)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
