"""The scheduled prune: the worker's periodic ``maintenance.prune`` job applies the same retention as
``ardoise prune`` (tests/ops/test_cli.py covers the rules one by one)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.config import Settings
from app.kit.time import utcnow
from app.main import make_runner
from app.models import InboundMessage
from app.runtime import Runtime
from app.tasks import periodics
from app.worker import queue
from tests.conftest import BOTH_BACKENDS
from tests.helpers import drain


def test_prune_is_scheduled(settings: Settings) -> None:
    (p,) = [p for p in periodics(settings) if p.kind == "maintenance.prune"]
    assert p.every == timedelta(hours=settings.retention_prune_hours)


@BOTH_BACKENDS
async def test_prune_job_deletes_old_messages(rt: Runtime) -> None:
    async with rt.db.write() as s:
        s.add(
            InboundMessage(
                channel="sms", provider_id="SMold", peer="+1", to="+2", created_at=utcnow() - timedelta(days=120)
            )
        )
        s.add(InboundMessage(channel="sms", provider_id="SMnew", peer="+1", to="+2"))
        await queue.enqueue(s, "maintenance.prune", {})
    await drain(make_runner(rt))
    async with rt.db.read() as s:
        assert [m.provider_id for m in (await s.execute(select(InboundMessage))).scalars()] == ["SMnew"]
