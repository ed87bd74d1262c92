"""Bluesky record keys (TIDs made from the post's time and its idempotency key) and ``at://`` URIs."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime

from app.kit.errors import PermanentError

# --- record keys ------------------------------------------------------------------------------------

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_RE = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
# Keys that carry no time get a timestamp in [2023-01-01, +2^45 µs ≈ 1.1 years): always in the past, so
# the key never sorts as a "future" record, and 45 + 10 bits of hash make a collision negligible.
_TID_HASH_EPOCH_US = 1_672_531_200_000_000
_TID_HASH_SPREAD_US = 1 << 45


def encode_tid(micros: int, clock_id: int) -> str:
    """atproto TID: 53-bit microsecond timestamp + 10-bit clock id, base32-sortable, 13 chars."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def record_key_for(idempotency_key: str, at: datetime | None = None) -> str:
    """The record key of the post for ``idempotency_key`` made at ``at``: the same inputs always give the same TID.

    ``app.bsky.feed.post`` records use TID keys (53-bit microseconds since the epoch + 10-bit clock id). The
    timestamp is the post's own time ``at`` (so ``listRecords`` order follows posting time) and the clock id
    comes from a SHA-256 of the idempotency key, so each delivery keeps its key across retries. Without a
    time: a key that already is a TID is used as is; a UUIDv7 keeps its millisecond time; any other key is
    hashed into the timestamp bits too (likes, whose key must come from the liked post's URI alone).
    """
    h = int.from_bytes(hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:8], "big")
    clock_id = h & 0x3FF
    if at is not None:
        return encode_tid(int(at.timestamp()) * 1_000_000 + at.microsecond, clock_id)
    if _TID_RE.fullmatch(idempotency_key):
        return idempotency_key
    rest = h >> 10
    millis = _uuid7_millis(idempotency_key)
    micros = _TID_HASH_EPOCH_US + rest % _TID_HASH_SPREAD_US if millis is None else millis * 1000 + rest % 1000
    return encode_tid(micros, clock_id)


def _uuid7_millis(key: str) -> int | None:
    try:
        u = uuid.UUID(key)
    except ValueError:
        return None
    return u.int >> 80 if u.version == 7 else None


def parse_at_uri(uri: str) -> tuple[str, str, str]:
    """``at://did/collection/rkey`` -> ``(did, collection, rkey)``."""
    parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise PermanentError(f"not an at:// record uri: {uri!r}", code="bad_remote_id")
    return parts[0], parts[1], parts[2]
