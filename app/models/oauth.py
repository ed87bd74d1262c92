"""OAuth linking in progress: one row per authorization started (and per "choose your Page" step)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import created_at_field, dt_field


class OAuthState(SQLModel, table=True):
    """A pending OAuth authorization, bound to one business and one network.

    Only a SHA-256 of the ``state`` sent to the network is stored, so a database read does not let anyone finish
    someone else's flow. ``code_verifier`` (PKCE) and ``pending`` (the Pages/locations offered when the owner must
    choose, with their tokens) are Vault-encrypted. A row is used once (``used_at``) and expires 15 minutes after
    it was made.
    """

    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(default="authorize", max_length=16)  # "authorize" (sent to the network) or "choose"
    business_id: int = Field(foreign_key="business.id", index=True, ondelete="CASCADE")
    network: str = Field(max_length=32)
    code_verifier: str = Field(default="")  # Vault-encrypted {"v": verifier}; empty without PKCE
    redirect: str = Field(default="", max_length=500)  # the redirect_uri given to the network
    pending: str = Field(default="")  # Vault-encrypted choices offered on the "choose" page
    expires_at: datetime = dt_field(nullable=False)
    used_at: datetime | None = dt_field()
    created_at: datetime = created_at_field()
