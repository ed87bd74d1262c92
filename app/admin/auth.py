"""The console's sign-in: an API key exchanged for a session cookie, and the CSRF token of every form.

- The session cookie holds ``{purpose, key id, expiry, csrf}`` encrypted and authenticated with the Vault
  (Fernet under ``ARDOISE_SECRET_KEY``): it cannot be read or forged without the key, and rotating the secret
  keeps sessions valid as long as the old key stays in the list. It is ``HttpOnly`` (no script reads it),
  ``SameSite=Strict`` (no other site's page sends it), ``Path=/admin`` and ``Secure`` when the public URL is
  https. It expires after ``ARDOISE_ADMIN_SESSION_MINUTES``, checked on the server, not only by the browser.
- Every request looks the key up again: a revoked key's session stops working at its next click.
- Forms carry a synchronizer token: a random value kept inside the encrypted session and compared in constant
  time with the form's hidden ``csrf`` field. The sign-in form has no session yet: its token is a double-submit
  pair (a random value in a short-lived cookie and in the form), which stops another site signing the
  operator's browser in with the attacker's key.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import col, select

from app.deps import Principal, RuntimeDep
from app.kit.time import utcnow
from app.models import ApiKey, Business
from app.runtime import Runtime

COOKIE = "ardoise_admin"
LOGIN_COOKIE = "ardoise_admin_login"
PATH = "/admin"
PURPOSE = "admin-session"
LOGIN_MINUTES = 30


@dataclass(frozen=True, slots=True)
class Operator:
    """The signed-in key: what it may see (``principal``), its name and business for the header, the CSRF token."""

    principal: Principal
    key_name: str
    business_name: str | None
    csrf: str


class SignInRequired(Exception):
    """No valid session: the console answers with a redirect to its sign-in form."""


class CsrfRefused(Exception):
    """A form without the session's CSRF token: refused with 403, nothing done."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def seal(rt: Runtime, *, key_id: int, csrf: str) -> tuple[str, int]:
    """The session cookie's value for ``key_id`` and its lifetime in seconds."""
    seconds = rt.settings.admin_session_minutes * 60
    expires = int((utcnow() + timedelta(seconds=seconds)).timestamp())
    token = rt.vault.encrypt({"purpose": PURPOSE, "key": str(key_id), "exp": str(expires), "csrf": csrf})
    return token, seconds


def unseal(rt: Runtime, token: str) -> tuple[int, str] | None:
    """``(key id, csrf)`` from a session cookie that is ours, intact and not expired; otherwise None."""
    if not token or len(token) > 1000:
        return None
    try:
        data = rt.vault.decrypt(token)
    except (ValueError, json.JSONDecodeError):
        return None
    if data.get("purpose") != PURPOSE or not data.get("key", "").isdigit() or not data.get("exp", "").isdigit():
        return None
    if int(data["exp"]) <= utcnow().timestamp() or not data.get("csrf"):
        return None
    return int(data["key"]), data["csrf"]


def _secure(rt: Runtime) -> bool:
    return rt.settings.public_url.startswith("https://")


def set_session(response: Response, rt: Runtime, *, key_id: int) -> None:
    token, seconds = seal(rt, key_id=key_id, csrf=new_token())
    response.set_cookie(COOKIE, token, max_age=seconds, path=PATH, httponly=True, samesite="strict", secure=_secure(rt))
    response.delete_cookie(LOGIN_COOKIE, path=PATH, httponly=True, samesite="strict", secure=_secure(rt))


def end_session(response: Response, rt: Runtime) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict", secure=_secure(rt))


def set_login_token(response: Response, rt: Runtime, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_MINUTES * 60,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(rt),
    )


def login_token_ok(request: Request, given: str) -> bool:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


async def key_for(rt: Runtime, *, key_id: int | None = None, key_hash: str | None = None) -> ApiKey | None:
    """A key that is not revoked, by id or by hash."""
    q = select(ApiKey).where(col(ApiKey.revoked_at).is_(None))
    q = q.where(col(ApiKey.id) == key_id) if key_id is not None else q.where(col(ApiKey.key_hash) == key_hash)
    async with rt.db.read() as session:
        return (await session.execute(q)).scalars().first()


async def current(request: Request, rt: RuntimeDep) -> Operator | None:
    """The signed-in operator, or None (no cookie, a cookie not ours, expired, or its key revoked)."""
    sealed = unseal(rt, request.cookies.get(COOKIE, ""))
    if sealed is None:
        return None
    key_id, csrf = sealed
    key = await key_for(rt, key_id=key_id)
    if key is None or key.id is None:
        return None
    business_name = None
    if key.business_id is not None:
        async with rt.db.read() as session:
            biz = await session.get(Business, key.business_id)
        if biz is None or biz.deleted_at is not None:
            return None
        business_name = biz.name
    return Operator(
        principal=Principal(key_id=key.id, business_id=key.business_id),
        key_name=key.name,
        business_name=business_name,
        csrf=csrf,
    )


async def require(op: Annotated[Operator | None, Depends(current)]) -> Operator:
    if op is None:
        raise SignInRequired
    return op


async def require_form(
    op: Annotated[Operator, Depends(require)], csrf: Annotated[str, Form(max_length=128)] = ""
) -> Operator:
    """A signed-in operator posting a form with the session's CSRF token."""
    if not hmac.compare_digest(op.csrf.encode(), csrf.encode()):
        raise CsrfRefused
    return op


OperatorDep = Annotated[Operator, Depends(require)]
FormOperatorDep = Annotated[Operator, Depends(require_form)]
