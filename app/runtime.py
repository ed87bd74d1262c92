"""Everything a request handler or a job needs, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.channels.base import SmsProvider
from app.channels.console import ConsoleSmsProvider
from app.channels.twilio.provider import TwilioProvider
from app.config import Settings
from app.db import Database
from app.kit.crypto import Vault
from app.kit.egress import Egress
from app.networks.base import Network
from app.networks.registry import build_networks
from app.worker import queue


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault
    http: httpx.AsyncClient
    sms: SmsProvider
    networks: MutableMapping[str, Network] = field(default_factory=dict)
    # The guard for every URL a tenant, an owner or a webhook supplies (``http`` is for operator endpoints)
    egress: Egress = field(default_factory=Egress)
    twilio: TwilioProvider | None = None
    email_sender: Any = None  # app.email.sender.EmailSender; None: chosen from the settings on first use
    dkim_dnsfunc: Callable[..., bytes | None] | None = None  # DNS for DKIM checks (tests inject test keys)
    ocr: Any = None  # app.ocr.runner.Reader: the OCR process, started on first use (app.ocr.flow.reader)

    def network(self, name: str) -> Network:
        try:
            return self.networks[name]
        except KeyError:
            raise KeyError(f"unknown network {name!r}") from None

    async def close(self) -> None:
        if self.ocr is not None:
            await self.ocr.close()
        if self.twilio is not None:
            await self.twilio.aclose()
        await self.http.aclose()
        await self.egress.aclose()
        await self.db.dispose()


def build_runtime(settings: Settings, *, db: Database | None = None, sms: SmsProvider | None = None) -> Runtime:
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(20.0, connect=5.0),
        headers={"User-Agent": "Ardoise/0.1 (+https://github.com/ardoise)"},
        follow_redirects=False,
    )
    twilio: TwilioProvider | None = None
    if settings.sms_uses_twilio:
        twilio = TwilioProvider(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            base_url=settings.twilio_api_base_url,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            http=http,
        )
    provider: SmsProvider = sms or twilio or ConsoleSmsProvider()
    egress = Egress(allow_private=settings.allow_private_networks, timeout=settings.egress_timeout_seconds)
    db = db or Database(settings.database_url)
    queue.install(db)  # a commit that enqueues work wakes this process's worker at once
    return Runtime(
        settings=settings,
        db=db,
        vault=Vault(settings.secret_keys()),
        http=http,
        sms=provider,
        networks=build_networks(http, network_options(settings), egress=egress.client),
        twilio=twilio,
        egress=egress,
    )


def network_options(settings: Settings) -> dict[str, dict[str, Any]]:
    """What the adapters take from the settings (the registry imports no settings): the OAuth clients."""
    return {
        "google": {
            "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret.get_secret_value(),
        },
        "x": {"client_id": settings.x_client_id, "client_secret": settings.x_client_secret.get_secret_value()},
    }
