"""Explicit registry of networks: a new network is one module, one line here and one test file."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.config import Settings
from app.networks.base import Network
from app.networks.bluesky import Bluesky
from app.networks.facebook import Facebook
from app.networks.google import Google
from app.networks.instagram import Instagram
from app.networks.mastodon import Mastodon
from app.networks.page import PageNetwork
from app.networks.x import X

NetworkFactory = Callable[[httpx.AsyncClient, Settings], Network]


NETWORKS: dict[str, NetworkFactory] = {
    "page": lambda _http, _s: PageNetwork(),
    "bluesky": lambda http, _s: Bluesky(http),
    "mastodon": lambda http, _s: Mastodon(http),
    "facebook": lambda http, _s: Facebook(http),
    "instagram": lambda http, _s: Instagram(http),
    "google": lambda http, s: Google(
        http, client_id=s.google_client_id, client_secret=s.google_client_secret.get_secret_value()
    ),
    "x": lambda http, s: X(http, client_id=s.x_client_id, client_secret=s.x_client_secret.get_secret_value()),
}


def build_networks(http: httpx.AsyncClient, settings: Settings) -> dict[str, Network]:
    return {name: factory(http, settings) for name, factory in NETWORKS.items()}
