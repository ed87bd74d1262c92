"""An SMS Ardoise holds back (the member opted out, or the loop guard) is never sent, costs nothing, and stays
visible to the operator as ``suppressed`` with its reason."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from app.messages import service as sms_service
from app.models import Job, Member
from app.runtime import Runtime
from tests.helpers import make_business


async def test_an_sms_to_an_opted_out_member_is_recorded_as_suppressed_and_never_queued(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    biz, _ = await make_business(client, auth)
    async with rt.db.write() as s:
        member = (await s.execute(select(Member).where(col(Member.business_id) == biz["id"]))).scalar_one()
        member.opted_out = True
        s.add(member)
        jobs_before = (await s.execute(select(func.count()).select_from(Job))).scalar_one()
        sent = await sms_service.queue_sms(
            s,
            rt.settings,
            to=member.phone or "",
            text="Mastodon deconnecte: votre conseiller est avise.",
            kind="account_broken",
            business_id=biz["id"],
            member=member,
        )
        assert sent is None
    async with rt.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Job))).scalar_one() == jobs_before
    url = f"/api/v1/businesses/{biz['id']}/messages?direction=out"
    assert (await client.get(url, headers=auth)).json()["items"] == []  # not listed by default
    [held] = (await client.get(url + "&suppressed=true", headers=auth)).json()["items"]
    assert (held["status"], held["note"], held["kind"]) == ("suppressed", "opted_out", "account_broken")
    assert held["body"] == "Mastodon deconnecte: votre conseiller est avise."
