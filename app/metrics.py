"""``GET /metrics`` in the Prometheus text format.

Counts that matter across processes (queue depth and age, deliveries, messages) are read from the database
at scrape time, so every API replica reports the same truth; the webhook latency histogram is per process.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlmodel import col

from app.deps import RuntimeDep
from app.kit.time import utcnow
from app.models import Delivery, InboundMessage, Job, JobState, OutboundMessage

router = APIRouter(tags=["health"])
REGISTRY = CollectorRegistry()

WEBHOOK_SECONDS = Histogram(
    "ardoise_webhook_seconds",
    "Time to acknowledge a webhook",
    ["route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
)
JOBS = Gauge("ardoise_jobs", "Jobs by state and kind", ["state", "kind"], registry=REGISTRY)
QUEUE_AGE = Gauge("ardoise_queue_oldest_due_seconds", "Age of the oldest due queued job", registry=REGISTRY)
DELIVERIES = Gauge("ardoise_deliveries", "Deliveries by network and status", ["network", "status"], registry=REGISTRY)
INBOUND = Gauge(
    "ardoise_inbound_messages", "Inbound messages by channel and status", ["channel", "status"], registry=REGISTRY
)
OUTBOUND = Gauge(
    "ardoise_outbound_messages",
    "Outbound messages by channel, kind and status",
    ["channel", "kind", "status"],
    registry=REGISTRY,
)
SEGMENTS = Gauge("ardoise_outbound_sms_segments", "SMS segments sent, by kind", ["kind"], registry=REGISTRY)


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: RuntimeDep) -> Response:
    async with rt.db.read() as s:
        for g in (JOBS, DELIVERIES, INBOUND, OUTBOUND, SEGMENTS):
            g.clear()
        for state, kind, n in await s.execute(
            select(col(Job.state), col(Job.kind), func.count()).group_by(col(Job.state), col(Job.kind))
        ):
            JOBS.labels(state=state, kind=kind).set(n)
        oldest = (
            await s.execute(
                select(func.min(col(Job.run_at))).where(
                    col(Job.state) == JobState.queued.value, col(Job.run_at) <= utcnow()
                )
            )
        ).scalar_one_or_none()
        QUEUE_AGE.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
        for network, status, n in await s.execute(
            select(col(Delivery.network), col(Delivery.status), func.count()).group_by(
                col(Delivery.network), col(Delivery.status)
            )
        ):
            DELIVERIES.labels(network=network, status=status).set(n)
        for channel, status, n in await s.execute(
            select(col(InboundMessage.channel), col(InboundMessage.status), func.count()).group_by(
                col(InboundMessage.channel), col(InboundMessage.status)
            )
        ):
            INBOUND.labels(channel=channel, status=status).set(n)
        for channel, kind, status, n, segs in await s.execute(
            select(
                col(OutboundMessage.channel),
                col(OutboundMessage.kind),
                col(OutboundMessage.status),
                func.count(),
                func.sum(col(OutboundMessage.segments)),
            ).group_by(col(OutboundMessage.channel), col(OutboundMessage.kind), col(OutboundMessage.status))
        ):
            OUTBOUND.labels(channel=channel, kind=kind, status=status).set(n)
            if channel == "sms":
                SEGMENTS.labels(kind=kind).inc(segs or 0)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
