"""Linking an X account through OAuth 2.0 with PKCE (a confidential client adds HTTP Basic)."""

from __future__ import annotations

import base64

import httpx

from app.networks.linking import Candidate, Grant, Linking, bearer, request
from app.networks.oauth import token_fields
from app.networks.x.api import API_URL, TOKEN_URL

AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"


async def _candidates(http: httpx.AsyncClient, grant: Grant) -> list[Candidate]:
    """The code for tokens (HTTP Basic for a confidential client), then the user they belong to."""
    code, redirect, client_id, client_secret, verifier = (
        grant.code,
        grant.redirect,
        grant.client_id,
        grant.client_secret,
        grant.verifier,
    )
    headers = {"Accept": "application/json"}
    if client_secret:  # confidential client: HTTP Basic with the client id and secret
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    body = await request(
        http,
        "POST",
        TOKEN_URL,
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
    me = await request(
        http, "GET", f"{API_URL}/2/users/me", what="x account lookup", headers=bearer(tokens["access_token"])
    )
    data = me.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        return []
    username = str(data.get("username") or "")
    handle = f"@{username}" if username else str(data["id"])
    return [Candidate(str(data["id"]), handle, handle, {**tokens, "user_id": str(data["id"]), "username": username})]


LINKING = Linking(
    scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access", "like.write"),
    scope_separator=" ",
    pkce=True,
    authorize=AUTHORIZE_URL,
    client_settings=("x_client_id", "x_client_secret"),
    candidates=_candidates,
    nothing_found="X did not return the account / X n'a pas renvoyé le compte",
    secret_required=False,  # X also takes public clients (PKCE, no secret)
    keeps_client=True,
)
