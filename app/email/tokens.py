"""Signed reply addresses ``reply+<token>@<mail_domain>`` (standard library only, so the SMTP listener
can check them at RCPT time without the DKIM stack).

The token is lower-case base32 of the member id (4 bytes), the purpose (1), the expiry hour (4) and a
truncated HMAC-SHA256 (10 bytes, 80 bits): 31 characters, 37 with ``reply+`` (RFC 5321 allows 64). It is
signed with a key derived from the first ``ARDOISE_SECRET_KEY`` and checked against every configured key,
so rotating the secret keeps the tokens already sent valid until they expire. Lower case because some
servers and clients lower-case local parts; reading is case-insensitive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PURPOSES = {"reply": "r", "digest": "d", "confirm": "c", "receipt": "p"}
_PURPOSE_NAMES = {v: k for k, v in PURPOSES.items()}
MAC_BYTES = 10
DEFAULT_TOKEN_DAYS = 14

# --- signed reply tokens ---------------------------------------------------------------------------


def _keys(secrets: Sequence[str]) -> list[bytes]:
    if not secrets:
        raise ValueError("at least one secret key is needed")
    return [hashlib.sha256(b"ardoise-email-reply:" + s.encode()).digest() for s in secrets]


@dataclass(frozen=True, slots=True)
class Token:
    member_id: int
    purpose: str  # "reply" | "digest" | "confirm" | "receipt"
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def make_token(
    secrets: Sequence[str], *, member_id: int, purpose: str, now: datetime, days: int = DEFAULT_TOKEN_DAYS
) -> str:
    """A token for ``reply+<token>@``, bound to the member and the purpose, valid ``days`` days."""
    hours = int((now + timedelta(days=days)).timestamp() // 3600)
    body = struct.pack(">IcI", member_id, PURPOSES[purpose].encode(), hours)
    mac = hmac.new(_keys(secrets)[0], body, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.b32encode(body + mac).decode().rstrip("=").lower()


def read_token(secrets: Sequence[str], token: str) -> Token | None:
    """The token's content if its signature holds under any configured key (expiry is the caller's check)."""
    text = token.strip().upper()
    if not re.fullmatch(r"[A-Z2-7]{20,40}", text):
        return None
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 9 + MAC_BYTES:
        return None
    body, mac = raw[:9], raw[9:]
    if not any(
        hmac.compare_digest(hmac.new(k, body, hashlib.sha256).digest()[:MAC_BYTES], mac) for k in _keys(secrets)
    ):
        return None
    member_id, purpose_code, hours = struct.unpack(">IcI", body)
    purpose = _PURPOSE_NAMES.get(purpose_code.decode("latin-1"))
    if purpose is None:
        return None
    return Token(member_id, purpose, datetime.fromtimestamp(hours * 3600, UTC))


def reply_address(secrets: Sequence[str], mail_domain: str, *, member_id: int, purpose: str, now: datetime) -> str:
    return f"reply+{make_token(secrets, member_id=member_id, purpose=purpose, now=now)}@{mail_domain}"
