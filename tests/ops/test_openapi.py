"""The API documentation works offline and tells the truth: /docs and /redoc load nothing from another host,
every tag is described, every request body has an example that the API accepts, errors are per route."""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import BaseModel

from app import openapi
from app.accounts.schemas import AccountCreate
from app.businesses.schemas import BusinessCreate, BusinessUpdate
from app.connect.schemas import ConnectLinkCreate
from app.members.schemas import MemberCreate, MemberUpdate
from app.mentions.schemas import DigestSettingsUpdate, MentionReply
from app.posts.schemas import PostCreate, PreviewRequest

MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        AccountCreate,
        BusinessCreate,
        BusinessUpdate,
        ConnectLinkCreate,
        MemberCreate,
        MemberUpdate,
        DigestSettingsUpdate,
        MentionReply,
        PostCreate,
        PreviewRequest,
    )
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_load_nothing_from_another_host(client: httpx.AsyncClient, page: str) -> None:
    r = await client.get(page)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", r.text) + re.findall(r"""url:\s*['"]([^'"]+)""", r.text)
    assert urls
    assert all(not re.match(r"^(https?:)?//", u) for u in urls), urls
    for u in urls:
        if u.startswith(openapi.ASSETS_URL):
            assert (await client.get(u)).status_code == 200, u
    assert "fonts.googleapis" not in r.text
    assert "cdn.jsdelivr" not in r.text


async def test_head_health(client: httpx.AsyncClient) -> None:
    assert (await client.head("/healthz")).status_code == 200
    assert (await client.head("/readyz")).status_code == 200


async def test_document_is_true(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    described = {t["name"] for t in doc["tags"] if t.get("description")}
    used = {t for ops in doc["paths"].values() for op in ops.values() for t in op.get("tags", [])}
    assert used <= described, used - described
    assert not {"401", "409", "502"} & set(doc["paths"]["/healthz"]["get"]["responses"])
    error_sets = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            error_sets.add(tuple(sorted(c for c in op["responses"] if c >= "400")))
            for media in op.get("requestBody", {}).get("content", {}).values():
                if media.get("schema", {}).get("format") == "binary":
                    continue  # a raw file (the logo): there is no inline example of an image
                assert "example" in media, f"{method} {path} has no example"
                name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                MODELS[name].model_validate(media["example"])  # the example is accepted as it is
    assert len(error_sets) > 5  # not the same codes everywhere
    assert doc["paths"]["/api/v1/businesses/{business_id}/accounts"]["post"]["responses"]["502"]
