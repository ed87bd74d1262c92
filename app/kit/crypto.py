"""Encryption of stored credentials and hashing of API keys.

Credentials are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) through ``MultiFernet``: the first
secret encrypts, every secret decrypts, so rotating ``ARDOISE_SECRET_KEY`` is "prepend the new key,
re-encrypt, drop the old one" (docs/security.md).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet


def _fernet_key(secret: str) -> bytes:
    # Fernet wants 32 url-safe base64 bytes; derive them so operators can use any long random string.
    return base64.urlsafe_b64encode(hashlib.sha256(b"ardoise-credentials:" + secret.encode()).digest())


class Vault:
    def __init__(self, secrets_: Sequence[str]) -> None:
        if not secrets_:
            raise ValueError("at least one secret key is needed")
        self._secrets = list(secrets_)
        self._hmac_key = hashlib.sha256(b"ardoise-hmac:" + secrets_[0].encode()).digest()
        self._hmac_keys = [hashlib.sha256(b"ardoise-hmac:" + s.encode()).digest() for s in secrets_]

    @functools.cached_property
    def _fernet(self) -> MultiFernet:
        # cryptography (its Rust core and OpenSSL, about 7 MB) loads with the first credential encrypted or
        # decrypted, not at start: a server whose businesses have linked no account never needs it.
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(_fernet_key(s)) for s in self._secrets])

    def encrypt(self, data: Mapping[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(dict(data), sort_keys=True).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        if not token:
            return {}
        from cryptography.fernet import InvalidToken

        try:
            raw = self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise ValueError("stored credentials cannot be decrypted with the configured keys") from exc
        value = json.loads(raw)
        return {str(k): str(v) for k, v in value.items()}

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored value with the first (newest) key."""
        return self._fernet.rotate(token.encode()).decode()

    def sign(self, message: str) -> str:
        return hmac.new(self._hmac_key, message.encode(), hashlib.sha256).hexdigest()

    def verify(self, message: str, signature: str) -> bool:
        return any(
            same_text(signature, hmac.new(k, message.encode(), hashlib.sha256).hexdigest()) for k in self._hmac_keys
        )


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of two texts (signatures, tokens) as UTF-8 bytes: ``hmac.compare_digest`` raises
    TypeError on a ``str`` with a non-ASCII character, which a forged header may well hold."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def new_api_key() -> str:
    """A new API key: a recognisable prefix and 32 random bytes."""
    return "ard_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are long random strings, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()
