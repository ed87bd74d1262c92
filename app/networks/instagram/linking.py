"""Linking an Instagram professional account: Meta's OAuth, as for a Facebook Page (facebook/linking.py); the
accounts offered are the Instagram accounts attached to the Pages the person manages."""

from __future__ import annotations

import httpx

from app.networks.facebook.linking import META_AUTHORIZE, META_CLIENT, meta_candidates
from app.networks.linking import Candidate, Grant, Linking


async def _candidates(http: httpx.AsyncClient, grant: Grant) -> list[Candidate]:
    return await meta_candidates(http, grant, "instagram")


LINKING = Linking(
    scopes=(
        "instagram_basic",
        "instagram_content_publish",
        "pages_show_list",
        "pages_read_engagement",
        "business_management",
        "instagram_manage_comments",
        "pages_manage_metadata",
    ),
    scope_separator=",",
    pkce=False,
    authorize=META_AUTHORIZE,
    client_settings=META_CLIENT,
    candidates=_candidates,
    nothing_found="no Instagram professional account is attached to your Pages / aucun compte Instagram "
    "professionnel relié à vos Pages",
)
