from __future__ import annotations

import httpx

from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS
from tests.helpers import drain, make_business, send_sms


@BOTH_BACKENDS
async def test_sms_publish_reaches_page_and_sends_one_receipt(
    client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime]
) -> None:
    biz, member = await make_business(client, auth)
    r = await send_sms(client, member["phone"], biz["sms_numbers"][0], "PUBLIER Menu du jour : jarret d’agneau")
    assert r.status_code == 200
    await drain(runner)
    page = await client.get("/b/bistro")
    assert "jarret d’agneau" in page.text
    out = (
        await client.get(f"/api/v1/businesses/{biz['id']}/messages", params={"direction": "out"}, headers=auth)
    ).json()
    assert [m["body"] for m in out["items"]] == ["Publié #1: Page OK"]
    assert out["items"][0]["encoding"] == "GSM-7"
