"""Explicit registry of networks: a new network is one module, one line here and one test file.

Adapters are imported and built on first use: the atproto SDK alone weighs about 50 MB and a second of
start-up, which a business without Bluesky should not pay.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import httpx

from app.config import Settings
from app.networks.base import Network

# name → (module, class, extra constructor arguments taken from the settings)
NETWORKS: dict[str, tuple[str, str, Callable[[Settings], dict[str, Any]]]] = {
    "page": ("app.networks.page", "PageNetwork", lambda _s: {}),
    "bluesky": ("app.networks.bluesky", "Bluesky", lambda _s: {}),
    "mastodon": ("app.networks.mastodon", "Mastodon", lambda _s: {}),
    "facebook": ("app.networks.facebook", "Facebook", lambda _s: {}),
    "instagram": ("app.networks.instagram", "Instagram", lambda _s: {}),
    "google": (
        "app.networks.google",
        "Google",
        lambda s: {"client_id": s.google_client_id, "client_secret": s.google_client_secret.get_secret_value()},
    ),
    "x": (
        "app.networks.x",
        "X",
        lambda s: {"client_id": s.x_client_id, "client_secret": s.x_client_secret.get_secret_value()},
    ),
}


TENANT_HOSTED = frozenset({"mastodon", "bluesky"})
"""Networks whose server a tenant names (``instance_url``, ``pds_url``): every call goes through the egress
guard (app/kit/egress.py), at linking and after. The others call fixed, public API hosts."""


def build(
    name: str, http: httpx.AsyncClient, settings: Settings, *, egress: httpx.AsyncClient | None = None
) -> Network:
    module, cls, extra = NETWORKS[name]
    factory = getattr(importlib.import_module(module), cls)
    if name == "page":
        adapter: Network = factory()
    elif name in TENANT_HOSTED:
        if egress is None:
            raise ValueError(f"{name} calls tenant-supplied hosts: it needs the egress guard's client")
        adapter = factory(egress, **extra(settings))
    else:
        adapter = factory(http, **extra(settings))
    return adapter


class LazyNetworks(MutableMapping[str, Network]):
    """The registry's adapters, each built the first time it is asked for."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings, egress: httpx.AsyncClient | None) -> None:
        self._http = http
        self._egress = egress
        self._settings = settings
        self._built: dict[str, Network] = {}

    def __getitem__(self, name: str) -> Network:
        if name not in NETWORKS:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = build(name, self._http, self._settings, egress=self._egress)
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
    http: httpx.AsyncClient, settings: Settings, *, egress: httpx.AsyncClient | None = None
) -> LazyNetworks:
    """The registry's adapters; ``egress`` is the guarded client for the networks in TENANT_HOSTED."""
    return LazyNetworks(http, settings, egress)
