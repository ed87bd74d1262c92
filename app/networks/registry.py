"""The networks Ardoise posts to, one entry each: a new network is one folder (``app/networks/<name>/``), one entry
here and one table in tests/networks.

An entry carries everything the rest of the app asks about a network: its labels, its limit, its adapter, its
OAuth linking (``linking.py``, networks linked through /connect), its webhook parser (``webhook.py``, networks whose
notifications come through /webhooks) and the credential key the webhook's account id is stored under. Modules are
named, not imported: each is imported on first use (the atproto SDK alone weighs about 50 MB and a second of
start-up, which a business without Bluesky should not pay).

Pure: no settings, no database. What an adapter needs from the settings (an OAuth client) is handed to
:func:`build_networks` by the runtime, as ``options``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

from app.networks.base import Mention, Network
from app.networks.linking import Linking

WebhookParser = Callable[[Any, Mapping[str, str]], Mention | None]
"""A webhook change and the account's decrypted credentials → the mention it carries, or None."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One network. ``label``: receipts, emails and pages ("Bluesky"); ``short_label``: SMS digests, where every
    character is paid on every line ("Bsky"). ``adapter``, ``linking`` and ``webhook`` are ``module:attribute``
    references imported on first use. ``tenant_hosted``: the tenant names the server (``instance_url``,
    ``pds_url``), so every call goes through the egress guard (app/kit/egress.py); the others call fixed, public
    API hosts. ``options``: the adapter's constructor arguments the runtime supplies from the settings.
    ``remote_key``: the credential holding the id a webhook names the account by. ``local``: publishing is a
    row in Ardoise's own database (the built-in page), done in the post's own transaction, with no job."""

    name: str
    label: str
    short_label: str
    adapter: str
    max_chars: int
    tenant_hosted: bool = False
    options: tuple[str, ...] = ()
    linking: str | None = None
    webhook: str | None = None
    remote_key: str = ""
    local: bool = False


ENTRIES = (
    Entry("page", "Page", "Page", "app.networks.page.adapter:PageNetwork", 1600, local=True),
    Entry("bluesky", "Bluesky", "Bsky", "app.networks.bluesky.adapter:Bluesky", 300, tenant_hosted=True),
    Entry("mastodon", "Mastodon", "Masto", "app.networks.mastodon.adapter:Mastodon", 500, tenant_hosted=True),
    Entry(
        "facebook",
        "Facebook",
        "FB",
        "app.networks.facebook.adapter:Facebook",
        63_206,
        linking="app.networks.facebook.linking:LINKING",
        webhook="app.networks.facebook.webhook:mention",
        remote_key="page_id",
    ),
    Entry(
        "instagram",
        "Instagram",
        "IG",
        "app.networks.instagram.adapter:Instagram",
        2_200,
        linking="app.networks.instagram.linking:LINKING",
        webhook="app.networks.instagram.webhook:mention",
        remote_key="ig_user_id",
    ),
    Entry(
        "google",
        "Google",
        "Google",
        "app.networks.google.adapter:Google",
        1_500,
        options=("client_id", "client_secret"),
        linking="app.networks.google.linking:LINKING",
        remote_key="location_id",
    ),
    Entry(
        "x",
        "X",
        "X",
        "app.networks.x.adapter:X",
        280,
        options=("client_id", "client_secret"),
        linking="app.networks.x.linking:LINKING",
    ),
)
NETWORKS: dict[str, Entry] = {entry.name: entry for entry in ENTRIES}


def _load(ref: str) -> Any:
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def label(network: str) -> str:
    """The network's name in receipts, emails and pages; an unknown network's own name, capitalized."""
    entry = NETWORKS.get(network)
    return entry.label if entry else network.capitalize()


def short_label(network: str) -> str:
    """The network's name in SMS digests (``Bsky``, ``Masto``, ``FB``, ``IG``)."""
    entry = NETWORKS.get(network)
    return entry.short_label if entry else network.capitalize()


def is_local(network: str) -> bool:
    """Whether a post reaches ``network`` by a write in Ardoise's own database (the built-in page)."""
    entry = NETWORKS.get(network)
    return entry.local if entry else False


def linked_by_oauth() -> tuple[str, ...]:
    """The networks linked through /connect, in registry order."""
    return tuple(entry.name for entry in ENTRIES if entry.linking)


def linking(network: str) -> Linking | None:
    """How ``network`` links through OAuth 2.0; None for the networks linked through the accounts API."""
    entry = NETWORKS.get(network)
    return cast(Linking, _load(entry.linking)) if entry and entry.linking else None


def webhook_parser(network: str) -> WebhookParser | None:
    entry = NETWORKS.get(network)
    return cast(WebhookParser, _load(entry.webhook)) if entry and entry.webhook else None


def build(
    name: str,
    http: httpx.AsyncClient,
    *,
    egress: httpx.AsyncClient | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Network:
    entry = NETWORKS[name]
    factory = _load(entry.adapter)
    given = (options or {}).get(name, {})
    extra = {key: given[key] for key in entry.options if key in given}
    if name == "page":
        adapter: Network = factory()
    elif entry.tenant_hosted:
        if egress is None:
            raise ValueError(f"{name} calls tenant-supplied hosts: it needs the egress guard's client")
        adapter = factory(egress, **extra)
    else:
        adapter = factory(http, **extra)
    return adapter


class LazyNetworks(MutableMapping[str, Network]):
    """The registry's adapters, each built the first time it is asked for."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        options: Mapping[str, Mapping[str, Any]],
        egress: httpx.AsyncClient | None,
    ) -> None:
        self._http = http
        self._egress = egress
        self._options = options
        self._built: dict[str, Network] = {}

    def __getitem__(self, name: str) -> Network:
        if name not in NETWORKS:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = build(name, self._http, egress=self._egress, options=self._options)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(NETWORKS)

    def __len__(self) -> int:
        return len(NETWORKS)

    def __setitem__(self, name: str, adapter: Network) -> None:
        """Replace an adapter (tests plug in a fake or a local endpoint)."""
        self._built[name] = adapter

    def __delitem__(self, name: str) -> None:
        self._built.pop(name, None)


def build_networks(
    http: httpx.AsyncClient,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    egress: httpx.AsyncClient | None = None,
) -> LazyNetworks:
    """The registry's adapters; ``egress`` is the guarded client for the tenant-hosted networks, ``options`` the
    constructor arguments by network (``{"x": {"client_id": …}}``) the runtime takes from the settings."""
    return LazyNetworks(http, options or {}, egress)
