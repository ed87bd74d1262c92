"""Twilio through the twilio library (async HTTP client); base URL configurable for a local stand-in.

Webhook signatures are checked with the library's own ``RequestValidator`` (see ``verify_signature``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from app.channels.base import InboundMedia, InboundSms, OutboundSms, SendResult, StatusUpdate
from app.channels.twilio.codes import classify
from app.kit.egress import Egress, origin_of
from app.kit.errors import PermanentError, RetryableError


def verify_signature(tokens: Sequence[str], url: str, form: Mapping[str, Any], signature: str | None) -> bool:
    """True when ``signature`` is Twilio's signature of ``url`` + ``form`` under one of ``tokens``.

    ``url`` must be the public URL Twilio called (``ARDOISE_PUBLIC_URL`` + path + query), never what the
    app sees behind a proxy. Several tokens allow auth-token rotation.
    """
    if not signature:
        return False
    return any(RequestValidator(t).validate(url, form, signature) for t in tokens)


def parse_inbound(form: Mapping[str, str]) -> InboundSms:
    """Twilio's inbound SMS/MMS form → InboundSms. Raises ValueError on a form without MessageSid/From/To."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
    sender, to = form.get("From", ""), form.get("To", "")
    if not sid or not sender or not to:
        raise ValueError("MessageSid, From and To are required")
    try:
        n = min(int(form.get("NumMedia", "0") or 0), 20)
    except ValueError:
        n = 0
    media = [
        InboundMedia(url=form[f"MediaUrl{i}"], content_type=form.get(f"MediaContentType{i}", ""))
        for i in range(n)
        if form.get(f"MediaUrl{i}")
    ]
    return InboundSms(provider_id=sid, sender=sender, to=to, body=form.get("Body", ""), media=media, raw=dict(form))


def parse_status(form: Mapping[str, str]) -> StatusUpdate | None:
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid or not status:
        return None
    return StatusUpdate(provider_id=sid, status=status.lower(), error_code=form.get("ErrorCode") or None)


class TwilioProvider:
    name: ClassVar[str] = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = "https://api.twilio.com",
        messaging_service_sid: str = "",
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._token = auth_token
        self.base_url = base_url.rstrip("/")
        self.messaging_service_sid = messaging_service_sid
        self._http = http
        self._client: Any = None

    def _rest(self) -> Any:
        # The async HTTP client needs a running loop, so the library client is made on first use.
        if self._client is None:
            from twilio.http.async_http_client import AsyncTwilioHttpClient
            from twilio.rest import Client

            self._client = Client(self.account_sid, self._token, http_client=AsyncTwilioHttpClient(timeout=15))
            self._client.api.base_url = self.base_url
        return self._client

    async def aclose(self) -> None:
        """Close the library's aiohttp session (made on first send), so shutdown leaves no open connection."""
        client, self._client = self._client, None
        if client is not None:
            await client.http_client.close()

    async def send(self, msg: OutboundSms) -> SendResult:
        kwargs: dict[str, Any] = {"to": msg.to, "body": msg.text}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = msg.sender
        if msg.status_callback_url:
            kwargs["status_callback"] = msg.status_callback_url
        try:
            created = await self._rest().messages.create_async(**kwargs)
        except TwilioRestException as exc:
            retryable, reason = classify(exc.code, exc.status)
            if retryable:
                raise RetryableError(f"twilio {exc.status} {reason}", code=reason) from None
            raise PermanentError(f"twilio {exc.status} {reason}", code=reason) from None
        except Exception as exc:  # aiohttp connection errors, timeouts
            raise RetryableError(f"twilio unreachable: {type(exc).__name__}") from None
        return SendResult(provider_id=str(created.sid), status=str(created.status or "queued"))

    async def list_inbound(self, to: str, since_iso: str) -> list[InboundSms]:
        """Messages received on ``to`` since ``since_iso`` (for the reconciliation job)."""
        if self._http is None:
            raise RuntimeError("an httpx client is needed to list messages")
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        params = {"To": to, "DateSent>": since_iso[:10], "PageSize": "100"}
        out: list[InboundSms] = []
        next_url: str | None = url
        pages = 0
        while next_url and pages < 10:
            try:
                r = await self._http.get(
                    next_url, params=params if pages == 0 else None, auth=(self.account_sid, self._token), timeout=20
                )
            except httpx.HTTPError as exc:
                raise RetryableError(f"twilio unreachable: {type(exc).__name__}") from None
            if r.status_code >= 400:
                retryable, reason = classify(None, r.status_code)
                raise (RetryableError if retryable else PermanentError)(f"twilio list {r.status_code} {reason}")
            data = r.json()
            for m in data.get("messages", []):
                if m.get("direction") != "inbound":
                    continue
                out.append(
                    InboundSms(
                        provider_id=m["sid"],
                        sender=m.get("from", ""),
                        to=m.get("to", ""),
                        body=m.get("body", ""),
                        raw={"MessageSid": m["sid"], "source": "reconcile"},
                    )
                )
            nxt = data.get("next_page_uri")
            next_url = f"{self.base_url}{nxt}" if nxt else None
            pages += 1
        return out

    def credentials_for(self, url: str) -> tuple[str, str] | None:
        """The Basic credentials for ``url`` when it is on the configured API base URL itself, compared by exact
        scheme, host and port (never by substring: ``http://attacker/api.twilio.com/`` gets nothing)."""
        try:
            same = origin_of(url) == origin_of(self.base_url)
        except (httpx.InvalidURL, TypeError, ValueError):
            return None
        return (self.account_sid, self._token) if same else None

    async def fetch_media(self, url: str, max_bytes: int, *, egress: Egress) -> tuple[bytes, str]:
        """Download an MMS attachment (or any media URL), refusing more than ``max_bytes``, through the egress
        guard. The credentials go only to the configured API base URL (an operator endpoint, trusted as
        configured); its redirect to the media CDN is followed through the guard WITHOUT them."""
        if self._http is None:
            raise RuntimeError("an httpx client is needed to fetch media")
        got = await egress.fetch(
            url,
            max_bytes=max_bytes,
            credentials={origin_of(self.base_url): (self.account_sid, self._token)},
            trusted_client=self._http,
        )
        return got.data, got.content_type

    def redact(self) -> Sequence[str]:
        return (self._token,) if self._token else ()
