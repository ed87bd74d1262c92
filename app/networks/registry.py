"""Explicit registry of networks: a new network is one module, one line here and one test file."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.networks.base import Network
from app.networks.bluesky import Bluesky
from app.networks.mastodon import Mastodon
from app.networks.page import PageNetwork

NetworkFactory = Callable[[httpx.AsyncClient], Network]


def _page(_http: httpx.AsyncClient) -> Network:
    return PageNetwork()


NETWORKS: dict[str, NetworkFactory] = {
    "page": _page,
    "bluesky": Bluesky,
    "mastodon": Mastodon,
}


def build_networks(http: httpx.AsyncClient) -> dict[str, Network]:
    return {name: factory(http) for name, factory in NETWORKS.items()}
