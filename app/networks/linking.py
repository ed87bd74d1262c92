"""Linking an account through OAuth 2.0: what every network's exchange shares. Pure I/O: the database side (states,
start links, storing the account) is ``app.connect``.

Each network that links this way has a ``LINKING`` in its ``linking.py`` (facebook, instagram, google, x): its
scopes, its consent page, and ``candidates``, which turns the authorization code into the accounts the owner may
link. Bluesky and Mastodon link through the accounts API with an app password or a token instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


class LinkError(Exception):
    """The flow cannot go on; ``reason`` is shown to the person in the browser. ``status`` is the HTTP status."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Candidate:
    """One account the owner may link: an id for the form, a label, the handle and the credentials to store."""

    key: str
    label: str
    handle: str
    credentials: dict[str, str]


@dataclass(frozen=True, slots=True)
class Grant:
    """What the callback brings to the exchange: the code, the redirect it was issued for, the OAuth client, the
    PKCE verifier ("" without PKCE) and the Graph API version (Meta only)."""

    code: str
    redirect: str
    client_id: str
    client_secret: str
    verifier: str = ""
    graph_version: str = ""


Exchange = Callable[[httpx.AsyncClient, Grant], Awaitable[list[Candidate]]]


@dataclass(frozen=True, slots=True)
class Linking:
    """How one network links through OAuth 2.0.

    ``authorize`` is the consent page (``{graph_version}`` is filled in for Meta); ``client_settings`` names the
    settings holding the OAuth client id and secret (for messages to the operator); ``secret_required`` is False
    when the network also takes public clients (X: PKCE without a secret); ``keeps_client`` stores the OAuth client
    with the account's credentials (the adapters refresh with it); ``business_fields`` adds the business's phone
    and language (Google's "Call" button and post language); ``nothing_found`` is shown when the login has no
    account to link."""

    scopes: tuple[str, ...]
    scope_separator: str
    pkce: bool
    authorize: str
    client_settings: tuple[str, str]
    candidates: Exchange
    nothing_found: str
    secret_required: bool = True
    keeps_client: bool = False
    business_fields: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One call of the flow; any failure is a LinkError (502) naming the step, never showing a token."""
    try:
        resp = await http.request(method, url, params=params, data=data, headers=headers)
    except httpx.HTTPError as exc:
        raise LinkError(f"{what}: the network could not be reached ({type(exc).__name__})", status=502) from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not resp.is_success or not isinstance(body, dict):
        detail = ""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                detail = str(error.get("message") or "")
            elif error:
                detail = f"{error}: {body.get('error_description') or ''}".strip(": ")
        raise LinkError(f"{what} failed ({resp.status_code}) {detail}".strip(), status=502)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
