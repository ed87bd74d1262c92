"""Property: whatever an owner (or a stranger) texts, every SMS the command service sends back is GSM-7 and
fits one segment, and a command causes at most one SMS.

Driven end to end: signed webhook → ``commands.handle_inbound`` → reply/receipt jobs → the console provider,
with inputs drawn by Hypothesis. Each example runs on one event loop of its own (Hypothesis drives a sync
function), against one business whose state (pending confirmations, PINs, language, opt-out) carries over
from example to example, as it would for a real owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.kit.sms_text import is_gsm7, segment_info, split_segments
from app.kit.time import set_clock
from app.main import create_app, make_runner
from app.models import OutboundMessage
from app.runtime import Runtime, build_runtime
from app.worker.runner import Runner
from tests.conftest import PUBLIC_URL, make_key
from tests.helpers import drain, make_business, send_sms

NUMBER = "+15817000001"
OWNER_FR = "+14185550120"
OWNER_EN = "+14185550121"
STRANGER = "+14185559999"

KEYWORDS = [
    "PUBLIER", "publier:", "Publiér", "POST", "PUB", "ANNULER", "UNDO", "EFFACER", "DELETE", "ETAT", "État",
    "STATUS", "AIDE", "HELP", "INFO", "ARRET", "ARRÊT", "STOP", "START", "DEBUT", "Début", "LANGUE", "LANGUAGE",
    "OUI", "NON", "YES", "NO", "PIN", "NIP", "R", "J", "M", "MENTIONS", "HEURES", "HOURS", "PAUSE", "REPRISE",
    "ALERTES", "PUBLIR", "POTS", "HEPL", "ANULER", "« STOP »",
]  # fmt: skip
WORDS = ["EN", "FR", "DE", "4821", "0000", "12", "3", "8h", "17h", "midi", "3j", "OUI", "NON", "Menu du jour", "svp"]

_args = st.one_of(
    st.just(""),
    st.sampled_from(WORDS),
    st.integers(min_value=0, max_value=10**8).map(str),
    st.text(max_size=60),
    st.text(alphabet=st.sampled_from("aàâäeéèêëiîïoôöuùûüçœ’«»…€[]{}~^|\\ 😀🍲👍🇨🇦\u00a0"), max_size=40),
)
_command = st.tuples(st.sampled_from(KEYWORDS), st.sampled_from(["", " ", ": ", "! ", "  "]), _args).map("".join)
BODIES = st.one_of(
    st.text(max_size=120),
    _command,
    _command,
    st.sampled_from(["OUI", "NON", "YES", "PIN 4821", "PIN 1111", "LANGUE EN", "LANGUE FR", "ANNULER", "ETAT"]),
    st.integers(min_value=1590, max_value=1700).map(lambda n: "PUBLIER " + "é" * n),
)
PHONES = st.sampled_from([OWNER_FR, OWNER_FR, OWNER_EN, STRANGER])


class Owner:
    """The app, a runner and an operator key on one event loop, for one business with two members."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rt: Runtime
        self.client: httpx.AsyncClient
        self.runner: Runner[Runtime]
        self.last_id = 0
        self.sid = 0

    async def start(self) -> None:
        self.rt = build_runtime(self.settings)
        app = create_app(self.settings, runtime=self.rt)
        app.state.runtime = self.rt
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)
        self.runner = make_runner(self.rt)
        auth = {"Authorization": f"Bearer {await make_key(self.rt)}"}
        biz, _ = await make_business(self.client, auth, number=NUMBER, phone=OWNER_FR)
        r = await self.client.post(
            f"/api/v1/businesses/{biz['id']}/members",
            headers=auth,
            json={"name": "Owner", "phone": OWNER_EN, "email": "en@example.test", "language": "en", "role": "owner",
                  "pin": "4821"},
        )  # fmt: skip
        assert r.status_code == 201, r.text

    async def close(self) -> None:
        if hasattr(self, "client"):
            await self.client.aclose()
        if hasattr(self, "rt"):
            await self.rt.close()

    async def text(self, phone: str, body: str) -> list[OutboundMessage]:
        self.sid += 1
        r = await send_sms(self.client, phone, NUMBER, body, sid=f"SM{self.sid:032d}")
        assert r.status_code == 200, r.text
        await drain(self.runner, include_future=True)
        async with self.rt.db.read() as s:
            rows = list(
                (
                    await s.execute(
                        select(OutboundMessage)
                        .where(col(OutboundMessage.id) > self.last_id)
                        .order_by(col(OutboundMessage.id))
                    )
                ).scalars()
            )
        if rows:
            self.last_id = max(m.id or 0 for m in rows)
        return rows


def test_every_reply_is_gsm7_and_one_segment(db_url: str, make_settings: Callable[..., Settings]) -> None:
    # No rate limit nor loop guard here, so that every reply the service can compose is actually composed.
    settings = make_settings(db_url, sms_commands_per_hour=100_000, sms_loop_guard_count=100_000)
    loop = asyncio.new_event_loop()
    owner = Owner(settings)
    set_clock(None)
    try:
        loop.run_until_complete(owner.start())

        @hsettings(
            max_examples=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(phone=PHONES, body=BODIES)
        def one_command(phone: str, body: str) -> None:
            sent = loop.run_until_complete(owner.text(phone, body))
            assert len(sent) <= 1, [m.body for m in sent]
            for m in sent:
                detail: dict[str, Any] = {"input": body, "reply": m.body, "kind": m.kind}
                assert is_gsm7(m.body), detail
                assert m.encoding == "GSM-7", detail
                assert m.segments == 1, detail
                assert segment_info(m.body).segments == 1, detail
                assert split_segments(m.body) == [m.body], detail
                assert m.body.strip(), detail

        one_command()
    finally:
        loop.run_until_complete(owner.close())
        loop.close()
