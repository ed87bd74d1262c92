"""Linking Facebook, Instagram, Google Business Profile and X accounts through OAuth 2.0.

The flow, for one business and one network:

1. The operator asks for a start link (``start_link``): ``/connect/{network}?business=<id>&token=<t>`` where the
   token is ``<expiry>.<HMAC of business, network and expiry>`` (``Vault.sign``). It can be sent to the owner by
   SMS or email; it is good for ``connect_link_hours`` (72 h by default).
2. ``begin``: the link is checked, a random ``state`` is made (only its SHA-256 is stored, bound to the business
   and the network, single use, 15 minutes), with a PKCE S256 verifier for X and Google; the browser goes to the
   network's consent page.
3. ``finish`` (the callback): the state is consumed (a replay or an expired state is refused), the code is
   exchanged for tokens (with the PKCE verifier) by the network's own ``linking.py`` (app/networks/<name>/, pure
   I/O, named by the registry), and the account to post as is looked up: the Facebook Pages
   (``/me/accounts``), the Instagram professional accounts attached to them, the Google locations, the X user.
   One candidate: it is linked at once. Several: the owner picks one on a small page (``choose``), whose choices
   and tokens wait encrypted in a second single-use row.
4. The account is stored through ``app.accounts.service.link`` with encrypted credentials; linking again the
   same account (same handle) replaces its credentials and makes it active again.

Network calls are made outside database transactions (SQLite has one writer).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts import service as account_service
from app.audit import service as audit
from app.kit.textclean import ascii_digits
from app.kit.time import utcnow
from app.models import AccountStatus, Business, NetworkAccount
from app.models.oauth import OAuthState
from app.networks import registry
from app.networks.facebook.graph import GRAPH_VERSION
from app.networks.linking import Candidate, Grant, LinkError, Linking
from app.runtime import Runtime
from app.schemas_base import DB_INT_MAX

STATE_TTL = timedelta(minutes=15)
NETWORKS = registry.linked_by_oauth()  # facebook, instagram, google, x: each network's linking.py
LABELS = {name: registry.label(name) for name in NETWORKS}


ConnectError = LinkError  # the flow's failure, shown in the browser (app/networks/linking.py)
PROVIDERS: dict[str, Linking] = {name: link for name in NETWORKS if (link := registry.linking(name)) is not None}


@dataclass(frozen=True, slots=True)
class Linked:
    network: str
    handle: str
    account_id: int
    language: str


@dataclass(frozen=True, slots=True)
class Choice:
    network: str
    choice: str  # the token of the "choose" row
    options: Sequence[tuple[str, str]]  # (key, label)
    language: str


# --- start links ----------------------------------------------------------------------------------------


def _oauth_client(rt: Runtime, network: str) -> tuple[str, str]:
    """The server's OAuth client id and secret for ``network`` ("" when not configured)."""
    s = rt.settings
    if network in ("facebook", "instagram"):  # one Meta app for both
        return s.facebook_app_id, s.facebook_app_secret.get_secret_value()
    if network == "google":
        return s.google_client_id, s.google_client_secret.get_secret_value()
    return s.x_client_id, s.x_client_secret.get_secret_value()


def _link_message(business_id: int, network: str, expires: int) -> str:
    return f"connect:{business_id}:{network}:{expires}"


def start_link(rt: Runtime, *, business: Business, network: str) -> tuple[str, int]:
    """The URL the owner opens to link ``network``, and its expiry (epoch seconds)."""
    assert business.id is not None
    hours = rt.settings.connect_link_hours
    expires = int((utcnow() + timedelta(hours=hours)).timestamp())
    token = f"{expires}.{rt.vault.sign(_link_message(business.id, network, expires))}"
    query = urlencode({"business": business.slug, "token": token})
    return f"{rt.settings.public_url}/connect/{network}?{query}", expires


def check_link(rt: Runtime, *, business: Business, network: str, token: str) -> None:
    """Refuse a start link that was not made for this business and network, or that expired."""
    assert business.id is not None
    expires_raw, _, signature = token.partition(".")
    if not ascii_digits(expires_raw) or len(expires_raw) > 12 or not signature:
        raise ConnectError("this link is not valid / ce lien n'est pas valide", status=403)
    if not rt.vault.verify(_link_message(business.id, network, int(expires_raw)), signature):
        raise ConnectError("this link is not valid / ce lien n'est pas valide", status=403)
    if int(expires_raw) < utcnow().timestamp():
        raise ConnectError("this link has expired: ask for a new one / ce lien a expiré : demandez-en un autre")


async def find_business(session: AsyncSession, ref: str) -> Business | None:
    """A business by slug, or by id when ``ref`` is a number."""
    q = select(Business).where(col(Business.deleted_at).is_(None))
    if ascii_digits(ref):
        if not 1 <= int(ref) <= DB_INT_MAX:
            return None
        q = q.where(col(Business.id) == int(ref))
    else:
        q = q.where(col(Business.slug) == ref)
    return (await session.execute(q)).scalar_one_or_none()


# --- the flow ---------------------------------------------------------------------------------------------


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def redirect_uri(rt: Runtime, network: str) -> str:
    return f"{rt.settings.public_url}/connect/{network}/callback"


def configured(rt: Runtime, network: str) -> bool:
    """True when the server has the OAuth client id and secret for this network."""
    client_id, client_secret = _oauth_client(rt, network)
    return bool(client_id) and (bool(client_secret) or not PROVIDERS[network].secret_required)


def _client(rt: Runtime, network: str) -> tuple[str, str]:
    client_id, client_secret = _oauth_client(rt, network)
    if not client_id:
        raise ConnectError(
            f"{LABELS[network]} linking is not configured on this server "
            f"(ARDOISE_{PROVIDERS[network].client_settings[0].upper()} is missing)",
            status=503,
        )
    return client_id, client_secret


async def begin(rt: Runtime, *, business: Business, network: str, token: str) -> str:
    """Check the start link, store a new state (and PKCE verifier), and return the network's authorize URL."""
    provider = PROVIDERS[network]
    check_link(rt, business=business, network=network, token=token)
    client_id, _ = _client(rt, network)
    assert business.id is not None
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if provider.pkce else ""  # 86 chars, within PKCE's 43-128
    redirect = redirect_uri(rt, network)
    async with rt.db.write() as session:
        session.add(
            OAuthState(
                state_hash=_hash(state),
                business_id=business.id,
                network=network,
                code_verifier=rt.vault.encrypt({"v": verifier}) if verifier else "",
                redirect=redirect,
                expires_at=utcnow() + STATE_TTL,
            )
        )
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": provider.scope_separator.join(provider.scopes),
        "state": state,
        **provider.extra,
    }
    if verifier:
        params.update(code_challenge=_challenge(verifier), code_challenge_method="S256")
    base = provider.authorize.format(graph_version=rt.settings.facebook_graph_version or GRAPH_VERSION)
    return f"{base}?{urlencode(params)}"


async def consume(rt: Runtime, *, network: str, state: str, kind: str) -> OAuthState:
    """Mark the state used and return its row; a missing, replayed, expired or foreign state is a ConnectError.

    The UPDATE … WHERE used_at IS NULL makes two concurrent callbacks with the same state race safely: one wins.
    """
    now = utcnow()
    digest = _hash(state)
    async with rt.db.write() as session:
        result = await session.execute(
            update(OAuthState)
            .where(
                col(OAuthState.state_hash) == digest,
                col(OAuthState.network) == network,
                col(OAuthState.kind) == kind,
                col(OAuthState.used_at).is_(None),
                col(OAuthState.expires_at) > now,
            )
            .values(used_at=now)
        )
        row = (
            await session.execute(select(OAuthState).where(col(OAuthState.state_hash) == digest))
        ).scalar_one_or_none()
    if getattr(result, "rowcount", 0) == 1 and row is not None:
        return row
    if row is None or row.network != network or row.kind != kind:
        raise ConnectError("this sign-in is unknown: start again from your link / connexion inconnue : recommencez")
    if row.used_at is not None:
        raise ConnectError("this sign-in was already used: start again from your link / connexion déjà utilisée")
    raise ConnectError("this sign-in expired (15 minutes): start again from your link / connexion expirée")


async def finish(rt: Runtime, *, network: str, code: str, state: str) -> Linked | Choice:
    """The callback: consume the state, exchange the code, find the account(s), link or offer a choice."""
    row = await consume(rt, network=network, state=state, kind="authorize")
    provider = PROVIDERS[network]
    client_id, client_secret = _client(rt, network)
    verifier = rt.vault.decrypt(row.code_verifier).get("v", "") if row.code_verifier else ""
    grant = Grant(code, row.redirect, client_id, client_secret, verifier, rt.settings.facebook_graph_version)
    candidates = await provider.candidates(rt.http, grant)
    async with rt.db.read() as session:
        biz = await session.get(Business, row.business_id)
    if biz is None or biz.deleted_at is not None:
        raise ConnectError("this business no longer exists / ce commerce n'existe plus", status=404)
    if not candidates:
        raise ConnectError(provider.nothing_found)
    if provider.keeps_client:
        extra = {"business_phone": biz.phone or "", "language": biz.language} if provider.business_fields else {}
        # The adapters are built with the HTTP client only (registry), so the OAuth client rides with the account
        # (encrypted) for refreshes; an adapter built with client_id/client_secret prefers its own.
        extra.update({"client_id": client_id, "client_secret": client_secret})
        candidates = [
            Candidate(c.key, c.label, c.handle, {**c.credentials, **{k: v for k, v in extra.items() if v}})
            for c in candidates
        ]
    if len(candidates) == 1:
        return await _link(rt, biz, network, candidates[0])
    choice = secrets.token_urlsafe(32)
    async with rt.db.write() as session:
        session.add(
            OAuthState(
                state_hash=_hash(choice),
                kind="choose",
                business_id=row.business_id,
                network=network,
                pending=rt.vault.encrypt({"candidates": json.dumps([_dump(c) for c in candidates])}),
                expires_at=utcnow() + STATE_TTL,
            )
        )
    return Choice(network, choice, [(c.key, c.label) for c in candidates], biz.language)


async def choose(rt: Runtime, *, network: str, choice: str, key: str) -> Linked:
    """The owner picked ``key`` among the offered Pages/locations: link it."""
    row = await consume(rt, network=network, state=choice, kind="choose")
    raw = rt.vault.decrypt(row.pending).get("candidates", "[]") if row.pending else "[]"
    candidates = [_load(item) for item in json.loads(raw)]
    picked = next((c for c in candidates if c.key == key), None)
    if picked is None:
        raise ConnectError("this choice is not one that was offered / choix invalide")
    async with rt.db.read() as session:
        biz = await session.get(Business, row.business_id)
    if biz is None or biz.deleted_at is not None:
        raise ConnectError("this business no longer exists / ce commerce n'existe plus", status=404)
    return await _link(rt, biz, network, picked)


async def _link(rt: Runtime, biz: Business, network: str, candidate: Candidate) -> Linked:
    """Store the account (or refresh the credentials of the same account linked before)."""
    assert biz.id is not None
    async with rt.db.write() as session:
        existing = (
            await session.execute(
                select(NetworkAccount).where(
                    col(NetworkAccount.business_id) == biz.id,
                    col(NetworkAccount.network) == network,
                    col(NetworkAccount.handle) == candidate.handle,
                    col(NetworkAccount.status) != AccountStatus.disabled.value,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            existing.credentials = rt.vault.encrypt(candidate.credentials)
            existing.status, existing.status_reason = AccountStatus.active.value, ""
            existing.last_checked_at = utcnow()
            session.add(existing)
            await audit.record(
                session,
                actor="owner:oauth",
                action="account.relink",
                business_id=biz.id,
                target=f"account:{existing.id}",
                detail=f"{network} {candidate.handle}",
            )
            acct = existing
        else:
            acct = await account_service.link(
                session,
                business_id=biz.id,
                network=network,
                handle=candidate.handle,
                credentials=candidate.credentials,
                settings={},
                vault=rt.vault,
                actor="owner:oauth",
            )
            acct.last_checked_at = utcnow()
    assert acct.id is not None
    return Linked(network, candidate.handle, acct.id, biz.language)


def _dump(c: Candidate) -> dict[str, Any]:
    return {"key": c.key, "label": c.label, "handle": c.handle, "credentials": c.credentials}


def _load(item: Mapping[str, Any]) -> Candidate:
    return Candidate(str(item["key"]), str(item["label"]), str(item["handle"]), dict(item["credentials"]))
