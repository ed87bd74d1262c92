from __future__ import annotations

import httpx

from app.accounts import service as account_service
from app.networks.bluesky.text import grapheme_len
from app.networks.x.text import weighted_length
from app.runtime import Runtime
from tests.helpers import make_business


async def _link(rt: Runtime, business_id: int, network: str, creds: dict[str, str]) -> None:
    async with rt.db.write() as s:
        await account_service.link(
            s,
            business_id=business_id,
            network=network,
            handle=f"{network}-handle",
            credentials=creds,
            settings={},
            vault=rt.vault,
            actor="test",
        )


async def test_preview_adapts_long_text_per_network_without_posting(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    biz, _ = await make_business(client, auth)
    await _link(rt, biz["id"], "bluesky", {"handle": "b.test", "app_password": "x"})
    await _link(rt, biz["id"], "x", {"access_token": "t"})
    await _link(rt, biz["id"], "mastodon", {"instance_url": "https://m.test", "access_token": "t"})
    text = ("Menu du jour : jarret d’agneau braisé, risotto aux chanterelles, crème brûlée maison. " * 6).strip()
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts/preview", json={"text": text}, headers=auth)
    assert r.status_code == 200, r.text
    by = {i["network"]: i for i in r.json()["items"]}
    assert by["page"]["text"] == text
    assert not by["page"]["adapted"]
    link = f"http://testserver/b/{biz['slug']}/p/1"
    for net, measure, limit in (("bluesky", grapheme_len, 300), ("x", weighted_length, 280)):
        assert by[net]["adapted"]
        assert by[net]["text"].endswith(link)
        assert measure(by[net]["text"]) <= limit
        assert by[net]["length"] <= by[net]["limit"] == limit
    assert len(text) > 500
    assert by["mastodon"]["adapted"]
    assert by["mastodon"]["text"].endswith(link)
    assert by["mastodon"]["length"] <= 500
    posts = (await client.get(f"/api/v1/businesses/{biz['id']}/posts", headers=auth)).json()["items"]
    assert posts == []  # a preview posts nothing


async def test_preview_says_instagram_needs_a_photo(
    client: httpx.AsyncClient, auth: dict[str, str], rt: Runtime
) -> None:
    biz, _ = await make_business(client, auth)
    await _link(rt, biz["id"], "instagram", {"ig_user_id": "1", "access_token": "t"})
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts/preview", json={"text": "Pizza ce soir"}, headers=auth)
    ig = next(i for i in r.json()["items"] if i["network"] == "instagram")
    assert ig["problem"]
    assert "photo" in ig["problem"]
    r = await client.post(
        f"/api/v1/businesses/{biz['id']}/posts/preview", json={"text": "Pizza ce soir", "media_count": 1}, headers=auth
    )
    ig = next(i for i in r.json()["items"] if i["network"] == "instagram")
    assert ig["problem"] is None
