"""The registry: one entry per network, and every reference in it resolves to what the entry says."""

from __future__ import annotations

import httpx
import pytest

from app.networks import registry
from app.networks.linking import Linking


@pytest.mark.parametrize("entry", registry.ENTRIES, ids=lambda e: e.name)
async def test_entry_builds_its_adapter_with_the_same_name_and_limit(entry: registry.Entry) -> None:
    async with httpx.AsyncClient() as http:
        net = registry.build(entry.name, http, egress=http, options={"x": {"client_id": "c"}})
    assert net.name == entry.name
    assert net.max_chars == entry.max_chars


@pytest.mark.parametrize("entry", registry.ENTRIES, ids=lambda e: e.name)
def test_linking_and_webhook_references_resolve(entry: registry.Entry) -> None:
    link = registry.linking(entry.name)
    assert (link is not None) == (entry.linking is not None)
    if link is not None:
        assert isinstance(link, Linking)
        assert link.scopes
    assert (registry.webhook_parser(entry.name) is not None) == (entry.webhook is not None)
    if entry.webhook:
        assert entry.remote_key, "a webhook names the account by a credential key"


def test_labels_come_from_the_registry_and_unknown_networks_keep_their_name() -> None:
    assert [registry.label(e.name) for e in registry.ENTRIES] == [e.label for e in registry.ENTRIES]
    assert registry.short_label("mastodon") == "Masto"
    assert registry.label("threads") == registry.short_label("threads") == "Threads"


async def test_tenant_hosted_networks_need_the_egress_guard() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="egress"):
            registry.build("mastodon", http)
