"""Linking a Google Business Profile location through Google's OAuth 2.0 (PKCE, offline access)."""

from __future__ import annotations

import httpx

from app.networks.google.adapter import TOKEN_URL
from app.networks.linking import Candidate, Grant, LinkError, Linking, bearer, request
from app.networks.oauth import token_fields

AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
ACCOUNTS_URL = "https://mybusinessaccountmanagement.googleapis.com/v1/accounts"
LOCATIONS_URL = "https://mybusinessbusinessinformation.googleapis.com/v1"


async def _candidates(http: httpx.AsyncClient, grant: Grant) -> list[Candidate]:
    """The code for tokens (a refresh token is required), then every location of every account the login sees."""
    code, redirect, client_id, client_secret, verifier = (
        grant.code,
        grant.redirect,
        grant.client_id,
        grant.client_secret,
        grant.verifier,
    )
    body = await request(
        http,
        "POST",
        TOKEN_URL,
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
        raise LinkError(
            "google did not give a refresh token: remove Ardoise from your Google account's "
            "third-party access and try again",
            status=502,
        )
    headers = bearer(tokens["access_token"])
    accounts = await request(http, "GET", ACCOUNTS_URL, what="google accounts list", headers=headers)
    out: list[Candidate] = []
    for account in accounts.get("accounts") or []:
        name = str(account.get("name") or "") if isinstance(account, dict) else ""
        if not name.startswith("accounts/"):
            continue
        locations = await request(
            http,
            "GET",
            f"{LOCATIONS_URL}/{name}/locations",
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


LINKING = Linking(
    scopes=("https://www.googleapis.com/auth/business.manage",),
    scope_separator=" ",
    pkce=True,
    authorize=AUTHORIZE_URL,
    client_settings=("google_client_id", "google_client_secret"),
    candidates=_candidates,
    nothing_found="no Google Business Profile location found / aucune fiche d'établissement Google trouvée",
    keeps_client=True,
    business_fields=True,
    # offline + consent: Google only gives a refresh token on the first consent otherwise.
    extra={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
)
