"""Linking a Facebook Page through Meta's OAuth (Facebook Login): the code becomes a long-lived user token, whose
Page tokens do not expire. Instagram professional accounts are found the same way (instagram/linking.py)."""

from __future__ import annotations

import httpx

from app.networks.facebook.graph import GRAPH_URL, GRAPH_VERSION
from app.networks.linking import Candidate, Grant, Linking, bearer, request

META_AUTHORIZE = "https://www.facebook.com/{graph_version}/dialog/oauth"
META_CLIENT = ("facebook_app_id", "facebook_app_secret")


async def meta_candidates(http: httpx.AsyncClient, grant: Grant, network: str) -> list[Candidate]:
    """The code for a long-lived user token, then the Pages it manages: each Page (``facebook``), or the Instagram
    professional account attached to each (``instagram``)."""
    graph = f"{GRAPH_URL}/{grant.graph_version or GRAPH_VERSION}"
    code, redirect, client_id, client_secret = grant.code, grant.redirect, grant.client_id, grant.client_secret
    short = await request(
        http,
        "GET",
        f"{graph}/oauth/access_token",
        what="facebook code exchange",
        params={"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect, "code": code},
    )
    # A Page token obtained with a long-lived user token does not expire; with a short one it dies in ~1 h.
    long = await request(
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
    pages = await request(
        http,
        "GET",
        f"{graph}/me/accounts",
        what="facebook Pages list",
        params={"fields": "id,name,access_token,instagram_business_account{id,username}", "limit": "100"},
        headers=bearer(user_token),
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


async def _candidates(http: httpx.AsyncClient, grant: Grant) -> list[Candidate]:
    return await meta_candidates(http, grant, "facebook")


LINKING = Linking(
    scopes=(
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        # mentions and comments: read them, answer them, receive their webhooks
        "pages_read_user_content",
        "pages_manage_engagement",
        "pages_manage_metadata",
    ),
    scope_separator=",",
    pkce=False,
    authorize=META_AUTHORIZE,
    client_settings=META_CLIENT,
    candidates=_candidates,
    nothing_found="no Facebook Page found for this login: you must manage a Page / aucune Page Facebook trouvée",
)
