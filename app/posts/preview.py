"""What each network would receive for a text: the same functions the adapters publish with."""

from __future__ import annotations

from collections.abc import Callable

from app.kit.errors import PermanentError
from app.networks.base import Network, NetworkCredentials, Post
from app.networks.bluesky import text as bluesky
from app.networks.facebook.adapter import Facebook
from app.networks.google import adapter as google
from app.networks.instagram import adapter as instagram
from app.networks.mastodon.adapter import Mastodon
from app.networks.x import text as x

Fitter = Callable[[Network, Post, NetworkCredentials], str]

FITTERS: dict[str, Fitter] = {
    "page": lambda _n, post, _c: post.text,
    "bluesky": lambda _n, post, _c: bluesky.fit_text(post.text, post.link),
    "mastodon": lambda n, post, c: n.fit(post, c) if isinstance(n, Mastodon) else post.text,
    "facebook": lambda n, post, _c: n.fit(post) if isinstance(n, Facebook) else post.text,
    "instagram": lambda _n, post, _c: instagram.fit_caption(post),
    "google": lambda _n, post, _c: google.fit_summary(post),
    "x": lambda _n, post, _c: x.fit_text(post),
}


def preview(network: Network, post: Post, creds: NetworkCredentials) -> tuple[str, str | None]:
    """(text as sent, problem) for one network; ``problem`` explains when the network would refuse it."""
    fit = FITTERS.get(network.name)
    try:
        text = fit(network, post, creds) if fit else post.text
    except PermanentError as exc:
        return "", exc.reason
    if network.name == "instagram" and not post.media:
        return text, "instagram needs a photo: this post would be skipped there"
    return text, None
