"""Email fixtures: the built-in SMTP server on a free loopback port, an aiosmtpd sink standing in for the
relay, a business with one member, DKIM test keys served by a fake DNS, and a runner with the email jobs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

import app.models  # noqa: F401  (every table on SQLModel.metadata)
from app.config import Settings
from app.email.sender import SmtpRelaySender
from app.email.smtp import start_smtp, stop_smtp
from app.models import Business, Member
from app.runtime import Runtime, build_runtime
from app.tasks import TASKS
from app.worker.runner import Runner
from tests.email.dkimkeys import dnsfunc

DOMAIN = "ardoise.localhost"
MEMBER_EMAIL = "michelle@bistro.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sink:
    """An SMTP server that keeps what it receives; recipients starting with ``refuse`` get a 550."""

    port: int = 0
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        out = []
        for _f, _t, raw in self.received:
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(s, hostname="sink.test"), "127.0.0.1", 0)
    s.port = int(server.sockets[0].getsockname()[1])
    yield s
    server.close()
    await server.wait_closed()


@pytest.fixture
async def ert(db_url: str, make_settings: Callable[..., Settings], sink: Sink) -> AsyncIterator[Runtime]:
    settings = make_settings(db_url, mail_domain=DOMAIN, smtp_port=free_port(), smtp_host="127.0.0.1")
    rt = build_runtime(settings)
    rt.dkim_dnsfunc = dnsfunc()
    rt.email_sender = SmtpRelaySender(f"smtp://127.0.0.1:{sink.port}?starttls=off")
    yield rt
    await rt.close()


@pytest.fixture
async def smtp(ert: Runtime) -> AsyncIterator[int]:
    server = await start_smtp(ert)
    yield ert.settings.smtp_port
    await stop_smtp(server)


@pytest.fixture
def erunner(ert: Runtime) -> Runner[Runtime]:
    return Runner(ert.db, TASKS, ert, poll_interval=0.05, backoff_base=1.0)


@dataclass
class Seeded:
    biz_id: int
    member_id: int


@pytest.fixture
async def seeded(ert: Runtime) -> Seeded:
    async with ert.db.write() as s:
        biz = Business(name="Bistro chez Michelle", slug="bistro", language="fr")
        s.add(biz)
        await s.flush()
        assert biz.id is not None
        m = Member(business_id=biz.id, name="Michelle", phone="+14185550120", email=MEMBER_EMAIL, language="fr")
        s.add(m)
        await s.flush()
        assert m.id is not None
        return Seeded(biz.id, m.id)
