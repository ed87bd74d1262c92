"""Throw-away DKIM keys for tests, and a ``dnsfunc`` that serves their public half (no DNS)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import lru_cache

import dkim  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@lru_cache
def keypair() -> tuple[bytes, bytes]:
    """(private PEM, DNS TXT record)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dnsfunc(records: dict[str, bytes] | None = None) -> Callable[..., bytes | None]:
    """TXT lookups answered from ``records`` (default: ``s1._domainkey.bistro.example``)."""
    table = records if records is not None else {"s1._domainkey.bistro.example.": keypair()[1]}

    def lookup(name: bytes | str, timeout: int = 5) -> bytes | None:
        key = name.decode() if isinstance(name, bytes) else name
        return table.get(key if key.endswith(".") else key + ".")

    return lookup


def sign(raw: bytes, domain: str = "bistro.example", selector: str = "s1") -> bytes:
    sig: bytes = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        keypair()[0],
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return sig + raw
