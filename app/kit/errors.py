"""Failure classes shared by every adapter (SMS, email, social networks).

Adapters classify their own failures where they happen; the job runner only asks
``isinstance(err, RetryableError)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AdapterError(Exception):
    """Base class: a call to an outside service failed."""

    def __init__(self, reason: str, *, code: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class RetryableError(AdapterError):
    """Try again later: timeout, 5xx, 429. ``retry_after`` (seconds) is honoured when given."""

    def __init__(self, reason: str, *, retry_after: float | None = None, code: str = "retryable") -> None:
        super().__init__(reason, code=code)
        self.retry_after = retry_after


class PermanentError(AdapterError):
    """Never retry: bad input, refused content, missing permission."""


class AuthError(PermanentError):
    """The stored credentials no longer work (expired or revoked token, wrong password).

    The account is marked broken and the owner and operator are told once.
    """

    def __init__(self, reason: str, *, code: str = "auth") -> None:
        super().__init__(reason, code=code)


@asynccontextmanager
async def within(seconds: float, what: str) -> AsyncIterator[None]:
    """Bound a whole remote operation (every request, retry and upload in it): past ``seconds`` it is cancelled
    and becomes a :class:`RetryableError`, so a service that answers byte by byte cannot hold a worker slot."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise RetryableError(f"{what} did not answer within {seconds:g} s", code="timeout") from None
