"""Bluesky failures: an SDK or transport error mapped to Retryable / Permanent / Auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from atproto_client import exceptions as atp_exc

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import utcnow

# Errors that mean "these credentials no longer work", whatever the status code.
_AUTH_ERRORS = frozenset(
    {
        "AuthenticationRequired",
        "ExpiredToken",
        "InvalidToken",
        "AccountTakedown",
        "AccountDeactivated",
        "AuthFactorTokenRequired",
        "AuthMissing",
    }
)
# Token errors a stored session can hit; the cure is a fresh login with the app password.
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"})

# --- errors -----------------------------------------------------------------------------------------


def _xrpc_error(exc: Any) -> tuple[int | None, str, str, Mapping[str, str]]:
    response = getattr(exc, "response", None)
    if response is None:
        return None, "", "", {}
    content = response.content
    error = getattr(content, "error", "") or ""
    message = getattr(content, "message", "") or ""
    return int(response.status_code), str(error), str(message), dict(response.headers or {})


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
    reset = headers.get("ratelimit-reset")  # epoch seconds
    if reset:
        try:
            return max(float(reset) - utcnow().timestamp(), 0.0)
        except ValueError:
            pass
    return None


def classify(exc: BaseException) -> AdapterError:
    """Map an SDK/transport failure to Retryable/Permanent/Auth."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, atp_exc.LoginRequiredError):
        return AuthError("bluesky: not logged in")
    if isinstance(exc, atp_exc.RequestErrorBase):
        status, error, message, headers = _xrpc_error(exc)
        detail = f"bluesky {status} {error}: {message}".strip()
        if status is None:  # transport failure or timeout, no response
            cause = exc.__cause__ or exc
            return RetryableError(f"bluesky unreachable: {type(cause).__name__}: {cause}")
        if status == 429:
            return RetryableError(detail, retry_after=_retry_after(headers), code="rate_limited")
        if status in (401, 403) or error in _AUTH_ERRORS:
            return AuthError(detail)
        if status >= 500:
            return RetryableError(detail, retry_after=_retry_after(headers))
        if status == 413:
            return PermanentError(detail, code="too_large")
        if "grapheme" in message or "too long" in message.lower():
            return PermanentError(detail, code="too_long")
        return PermanentError(detail, code=error or f"http_{status}")
    if isinstance(exc, httpx.TransportError | OSError):
        return RetryableError(f"bluesky unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, atp_exc.AtProtocolError):  # e.g. a response that does not parse: a proxy page
        return RetryableError(f"bluesky: {type(exc).__name__}: {exc}")
    raise exc


def is_session_error(exc: BaseException) -> bool:
    status, error, _, _ = _xrpc_error(exc)
    return status in (400, 401) and error in _SESSION_ERRORS


def is_not_found(exc: BaseException) -> bool:
    status, error, message, _ = _xrpc_error(exc)
    return status == 400 and (error == "RecordNotFound" or "could not locate record" in message.lower())
