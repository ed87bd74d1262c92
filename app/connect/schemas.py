from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ConnectLinkCreate(BaseModel):
    network: Literal["facebook", "instagram", "google", "x"] = Field(description="the network to link through OAuth")


class ConnectLinkRead(BaseModel):
    url: str = Field(description="open it (or send it to the owner) to link the account; it works until expires_at")
    network: str
    expires_at: datetime
