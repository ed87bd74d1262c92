"""Linking Facebook, Instagram, Google Business Profile and X accounts through OAuth 2.0.

The flow, for one business and one network:

1. The operator asks for a start link (``start_link``): ``/connect/{network}?business=<id>&token=<t>`` where the
   token is ``<expiry>.<HMAC of business, network and expiry>`` (``Vault.sign``). It can be sent to the owner by
   SMS or email; it is good for ``connect_link_hours`` (72 h by default).
2. ``begin``: the link is checked, a random ``state`` is made (only its SHA-256 is stored, bound to the business
   and the network, single use, 15 minutes), with a PKCE S256 verifier for X and Google; the browser goes to the
   network's consent page.
3. ``finish`` (the callback): the state is consumed (a replay or an expired state is refused), the code is
   exchanged for tokens (with the PKCE verifier), and the account to post as is looked up: the Facebook Pages
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
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts import service as account_service
from app.audit import service as audit
from app.kit.textclean import ascii_digits
from app.kit.time import utcnow
from app.models import AccountStatus, Business, NetworkAccount
from app.models.oauth import OAuthState
from app.networks.facebook import GRAPH_URL, GRAPH_VERSION
from app.networks.oauth import token_fields
from app.runtime import Runtime
from app.schemas_base import DB_INT_MAX

STATE_TTL = timedelta(minutes=15)
DEFAULT_LINK_HOURS = 72
NETWORKS = ("facebook", "instagram", "google", "x")
LABELS = {"facebook": "Facebook", "instagram": "Instagram", "google": "Google", "x": "X"}

GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
GOOGLE_ACCOUNTS = "https://mybusinessaccountmanagement.googleapis.com/v1/accounts"
GOOGLE_LOCATIONS = "https://mybusinessbusinessinformation.googleapis.com/v1"
X_AUTHORIZE = "https://x.com/i/oauth2/authorize"
X_TOKEN = "https://api.x.com/2/oauth2/token"
X_API = "https://api.x.com"


class ConnectError(Exception):
    """The flow cannot go on; ``reason`` is shown to the person in the browser. ``status`` is the HTTP status."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Provider:
    network: str
    client_id_setting: str
    client_secret_setting: str
    scopes: tuple[str, ...]
    scope_separator: str
    pkce: bool
    extra: Mapping[str, str] = field(default_factory=dict)


PROVIDERS: dict[str, Provider] = {
    "facebook": Provider(
        "facebook",
        "facebook_app_id",
        "facebook_app_secret",
        (
            "pages_show_list",
            "pages_manage_posts",
            "pages_read_engagement",
            # mentions and comments: read them, answer them, receive their webhooks
            "pages_read_user_content",
            "pages_manage_engagement",
            "pages_manage_metadata",
        ),
        ",",
        pkce=False,
    ),
    "instagram": Provider(
        "instagram",
        "facebook_app_id",
        "facebook_app_secret",
        (
            "instagram_basic",
            "instagram_content_publish",
            "pages_show_list",
            "pages_read_engagement",
            "business_management",
            "instagram_manage_comments",
            "pages_manage_metadata",
        ),
        ",",
        pkce=False,
    ),
    "google": Provider(
        "google",
        "google_client_id",
        "google_client_secret",
        ("https://www.googleapis.com/auth/business.manage",),
        " ",
        pkce=True,
        # offline + consent: Google only gives a refresh token on the first consent otherwise.
        extra={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
    ),
    "x": Provider(
        "x",
        "x_client_id",
        "x_client_secret",
        ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access", "like.write"),
        " ",
        pkce=True,
    ),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One account the owner may link: an id for the form, a label, the handle and the credentials to store."""

    key: str
    label: str
    handle: str
    credentials: dict[str, str]


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


def _setting(rt: Runtime, name: str) -> str:
    value = getattr(rt.settings, name, "")
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return str(value or "")


def _graph(rt: Runtime) -> str:
    base = _setting(rt, "facebook_graph_url") or GRAPH_URL
    version = _setting(rt, "facebook_graph_version") or GRAPH_VERSION
    return f"{base.rstrip('/')}/{version}"


def _link_message(business_id: int, network: str, expires: int) -> str:
    return f"connect:{business_id}:{network}:{expires}"


def start_link(rt: Runtime, *, business: Business, network: str) -> tuple[str, int]:
    """The URL the owner opens to link ``network``, and its expiry (epoch seconds)."""
    assert business.id is not None
    hours = int(getattr(rt.settings, "connect_link_hours", DEFAULT_LINK_HOURS) or DEFAULT_LINK_HOURS)
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


def configured(rt: Runtime, provider: Provider) -> bool:
    """True when the server has the OAuth client id and secret for this network."""
    secret_needed = provider.network != "x"  # X also takes public clients (PKCE, no secret)
    has_secret = bool(_setting(rt, provider.client_secret_setting))
    return bool(_setting(rt, provider.client_id_setting)) and (has_secret or not secret_needed)


def _client(rt: Runtime, provider: Provider) -> tuple[str, str]:
    client_id = _setting(rt, provider.client_id_setting)
    if not client_id:
        raise ConnectError(
            f"{LABELS[provider.network]} linking is not configured on this server "
            f"(ARDOISE_{provider.client_id_setting.upper()} is missing)",
            status=503,
        )
    return client_id, _setting(rt, provider.client_secret_setting)


async def begin(rt: Runtime, *, business: Business, network: str, token: str) -> str:
    """Check the start link, store a new state (and PKCE verifier), and return the network's authorize URL."""
    provider = PROVIDERS[network]
    check_link(rt, business=business, network=network, token=token)
    client_id, _ = _client(rt, provider)
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
    base = {
        "facebook": f"https://www.facebook.com/{_setting(rt, 'facebook_graph_version') or GRAPH_VERSION}/dialog/oauth",
        "instagram": f"https://www.facebook.com/{_setting(rt, 'facebook_graph_version') or GRAPH_VERSION}/dialog/oauth",
        "google": GOOGLE_AUTHORIZE,
        "x": X_AUTHORIZE,
    }[network]
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
    client_id, client_secret = _client(rt, provider)
    verifier = rt.vault.decrypt(row.code_verifier).get("v", "") if row.code_verifier else ""
    http = rt.http
    if network in ("facebook", "instagram"):
        candidates = await _meta_candidates(http, rt, network, code, row.redirect, client_id, client_secret)
    elif network == "google":
        candidates = await _google_candidates(http, code, row.redirect, client_id, client_secret, verifier)
    else:
        candidates = await _x_candidates(http, code, row.redirect, client_id, client_secret, verifier)
    async with rt.db.read() as session:
        biz = await session.get(Business, row.business_id)
    if biz is None or biz.deleted_at is not None:
        raise ConnectError("this business no longer exists / ce commerce n'existe plus", status=404)
    if not candidates:
        raise ConnectError(_nothing_found(network))
    if network in ("google", "x"):
        extra = {"business_phone": biz.phone or "", "language": biz.language} if network == "google" else {}
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


def _nothing_found(network: str) -> str:
    return {
        "facebook": "no Facebook Page found for this login: you must manage a Page / aucune Page Facebook trouvée",
        "instagram": "no Instagram professional account is attached to your Pages / aucun compte Instagram "
        "professionnel relié à vos Pages",
        "google": "no Google Business Profile location found / aucune fiche d'établissement Google trouvée",
        "x": "X did not return the account / X n'a pas renvoyé le compte",
    }[network]


# --- per-network exchanges -------------------------------------------------------------------------------


async def _request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One call of the flow; any failure is a ConnectError (502) naming the step, never showing a token."""
    try:
        resp = await http.request(method, url, params=params, data=data, headers=headers)
    except httpx.HTTPError as exc:
        raise ConnectError(f"{what}: the network could not be reached ({type(exc).__name__})", status=502) from None
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
        raise ConnectError(f"{what} failed ({resp.status_code}) {detail}".strip(), status=502)
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


async def _meta_candidates(
    http: httpx.AsyncClient,
    rt: Runtime,
    network: str,
    code: str,
    redirect: str,
    client_id: str,
    client_secret: str,
) -> list[Candidate]:
    graph = _graph(rt)
    short = await _request(
        http,
        "GET",
        f"{graph}/oauth/access_token",
        what="facebook code exchange",
        params={"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect, "code": code},
    )
    # A Page token obtained with a long-lived user token does not expire; with a short one it dies in ~1 h.
    long = await _request(
        http,
        "GET",
        f"{graph}/oauth/access_token",
        what="facebook long-lived token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "fb_exchange_token": str(short.get("access_token") or ""),
        },
    )
    user_token = str(long.get("access_token") or "")
    pages = await _request(
        http,
        "GET",
        f"{graph}/me/accounts",
        what="facebook Pages list",
        params={"fields": "id,name,access_token,instagram_business_account{id,username}", "limit": "100"},
        headers=_bearer(user_token),
    )
    out: list[Candidate] = []
    for page in pages.get("data") or []:
        if not isinstance(page, dict) or not page.get("id") or not page.get("access_token"):
            continue
        page_id, name, token = str(page["id"]), str(page.get("name") or page["id"]), str(page["access_token"])
        if network == "facebook":
            out.append(
                Candidate(page_id, name, name, {"page_id": page_id, "page_access_token": token, "page_name": name})
            )
            continue
        ig = page.get("instagram_business_account")
        if isinstance(ig, dict) and ig.get("id"):
            username = str(ig.get("username") or "")
            handle = f"@{username}" if username else str(ig["id"])
            out.append(
                Candidate(
                    str(ig["id"]),
                    f"{handle} ({name})",
                    handle,
                    {"ig_user_id": str(ig["id"]), "access_token": token, "username": username, "page_id": page_id},
                )
            )
    return out


async def _google_candidates(
    http: httpx.AsyncClient, code: str, redirect: str, client_id: str, client_secret: str, verifier: str
) -> list[Candidate]:
    body = await _request(
        http,
        "POST",
        GOOGLE_TOKEN,
        what="google code exchange",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": client_id,
            "client_secret": client_secret,
            "code_verifier": verifier,
        },
    )
    tokens = token_fields(body)
    if "refresh_token" not in tokens:
        raise ConnectError(
            "google did not give a refresh token: remove Ardoise from your Google account's "
            "third-party access and try again",
            status=502,
        )
    headers = _bearer(tokens["access_token"])
    accounts = await _request(http, "GET", GOOGLE_ACCOUNTS, what="google accounts list", headers=headers)
    out: list[Candidate] = []
    for account in accounts.get("accounts") or []:
        name = str(account.get("name") or "") if isinstance(account, dict) else ""
        if not name.startswith("accounts/"):
            continue
        locations = await _request(
            http,
            "GET",
            f"{GOOGLE_LOCATIONS}/{name}/locations",
            what="google locations list",
            params={"readMask": "name,title", "pageSize": "100"},
            headers=headers,
        )
        for location in locations.get("locations") or []:
            loc = str(location.get("name") or "") if isinstance(location, dict) else ""
            if not loc.startswith("locations/"):
                continue
            title = str(location.get("title") or loc)
            creds = {
                **tokens,
                "account_id": name.removeprefix("accounts/"),
                "location_id": loc.removeprefix("locations/"),
                "location_title": title,
            }
            out.append(Candidate(f"{name}/{loc}", title, title, creds))
    return out


async def _x_candidates(
    http: httpx.AsyncClient, code: str, redirect: str, client_id: str, client_secret: str, verifier: str
) -> list[Candidate]:
    headers = {"Accept": "application/json"}
    if client_secret:  # confidential client: HTTP Basic with the client id and secret
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    body = await _request(
        http,
        "POST",
        X_TOKEN,
        what="x code exchange",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": client_id,
            "code_verifier": verifier,
        },
        headers=headers,
    )
    tokens = token_fields(body)
    me = await _request(
        http, "GET", f"{X_API}/2/users/me", what="x account lookup", headers=_bearer(tokens["access_token"])
    )
    data = me.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        return []
    username = str(data.get("username") or "")
    handle = f"@{username}" if username else str(data["id"])
    return [Candidate(str(data["id"]), handle, handle, {**tokens, "user_id": str(data["id"]), "username": username})]
