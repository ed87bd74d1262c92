"""The built-in SMTP server on loopback, driven by aiosmtplib: store-then-250, dedup on Message-ID, the job in
the same transaction, RCPT refusals, STARTTLS, rate limit."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable
from pathlib import Path

import aiosmtplib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.email.parse import raw_bytes
from app.email.security import make_token
from app.email.smtp import RateLimiter, start_smtp, stop_smtp
from app.kit.time import utcnow
from app.models import InboundMessage, Job
from app.runtime import Runtime, build_runtime
from tests.email.conftest import DOMAIN, Seeded, free_port

DATA = Path(__file__).parent.parent / "data" / "emails"


def simple(mid: str = "<m1@bistro.example>", to: str = f"bistro@{DOMAIN}") -> bytes:
    return (
        f"From: Michelle <michelle@bistro.example>\r\nTo: {to}\r\nSubject: ETAT\r\nMessage-ID: {mid}\r\n\r\nETAT\r\n"
    ).encode()


async def rows(rt: Runtime) -> tuple[list[InboundMessage], list[Job]]:
    async with rt.db.read() as s:
        ins = list((await s.execute(select(InboundMessage).order_by(col(InboundMessage.id)))).scalars())
        jobs = list((await s.execute(select(Job).where(col(Job.kind) == "email.handle_inbound"))).scalars())
    return ins, jobs


async def test_accepted_mail_is_stored_once_with_its_job(ert: Runtime, smtp: int, seeded: Seeded) -> None:
    await aiosmtplib.send(
        simple(), hostname="127.0.0.1", port=smtp, sender="michelle@bistro.example", recipients=[f"bistro@{DOMAIN}"]
    )
    await aiosmtplib.send(
        simple(), hostname="127.0.0.1", port=smtp, sender="michelle@bistro.example", recipients=[f"bistro@{DOMAIN}"]
    )  # a redelivery
    ins, jobs = await rows(ert)
    assert len(ins) == 1
    assert ins[0].channel == "email"
    assert ins[0].provider_id == "<m1@bistro.example>"
    assert ins[0].raw["mail_from"] == "michelle@bistro.example"
    assert ins[0].to == f"bistro@{DOMAIN}"
    assert [j.payload for j in jobs] == [{"inbound_id": ins[0].id}]


async def test_foreign_domain_is_refused_at_rcpt(ert: Runtime, smtp: int, seeded: Seeded) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as exc:
        await aiosmtplib.send(
            simple(to="victim@not-ardoise.example"),
            hostname="127.0.0.1",
            port=smtp,
            sender="x@y.example",
            recipients=["victim@not-ardoise.example"],
        )
    assert exc.value.recipients[0].code == 550


@pytest.mark.parametrize(
    ("local", "accepted"),
    [
        ("bistro", True),
        ("postmaster", True),
        ("bounces", True),
        ("nobody", False),
        ("reply+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", False),
    ],
)
async def test_only_our_addresses_are_accepted(
    ert: Runtime, smtp: int, seeded: Seeded, local: str, accepted: bool
) -> None:
    rcpt = f"{local}@{DOMAIN}"
    if accepted:
        await aiosmtplib.send(simple(to=rcpt), hostname="127.0.0.1", port=smtp, sender="a@b.example", recipients=[rcpt])
    else:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await aiosmtplib.send(
                simple(to=rcpt), hostname="127.0.0.1", port=smtp, sender="a@b.example", recipients=[rcpt]
            )


async def test_signed_reply_address_is_accepted(ert: Runtime, smtp: int, seeded: Seeded) -> None:
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow())
    rcpt = f"reply+{tok}@{DOMAIN}"
    await aiosmtplib.send(simple(to=rcpt), hostname="127.0.0.1", port=smtp, sender="a@b.example", recipients=[rcpt])
    ins, _ = await rows(ert)
    assert ins[0].to == rcpt


async def test_8bit_latin1_mail_is_kept_byte_for_byte(ert: Runtime, smtp: int, seeded: Seeded) -> None:
    raw = (DATA / "latin1_8bit_no_charset.eml").read_bytes().replace(b"\n", b"\r\n")
    await aiosmtplib.send(
        raw, hostname="127.0.0.1", port=smtp, sender="gerard@bistro.example", recipients=[f"bistro@{DOMAIN}"]
    )
    ins, _ = await rows(ert)
    assert ins[0].raw["encoding"] == "base64"
    assert raw_bytes(ins[0]).rstrip(b"\r\n") == raw.rstrip(b"\r\n")


def test_rate_limiter_counts_per_peer() -> None:
    lim = RateLimiter(3, window=60)
    assert [lim.allow("1.2.3.4") for _ in range(4)] == [True, True, True, False]
    assert lim.allow("5.6.7.8")


async def test_peer_over_the_rate_gets_a_temporary_refusal(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(db_url, mail_domain=DOMAIN, smtp_port=free_port(), smtp_rate_per_minute=2)
    rt = build_runtime(settings)
    server = await start_smtp(rt)
    try:
        for i in range(2):
            await aiosmtplib.send(
                simple(f"<r{i}@x>", to=f"postmaster@{DOMAIN}"),
                hostname="127.0.0.1",
                port=settings.smtp_port,
                sender="a@b.example",
                recipients=[f"postmaster@{DOMAIN}"],
            )
        with pytest.raises(aiosmtplib.SMTPResponseException) as exc:
            await aiosmtplib.send(
                simple("<r3@x>", to=f"postmaster@{DOMAIN}"),
                hostname="127.0.0.1",
                port=settings.smtp_port,
                sender="a@b.example",
                recipients=[f"postmaster@{DOMAIN}"],
            )
        assert exc.value.code == 450
    finally:
        await stop_smtp(server)
        await rt.close()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return c, k


async def test_starttls_is_offered_with_a_certificate(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    settings = make_settings(
        db_url, mail_domain=DOMAIN, smtp_port=free_port(), smtp_tls_cert=str(cert), smtp_tls_key=str(key)
    )
    rt = build_runtime(settings)
    server = await start_smtp(rt)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=settings.smtp_port, start_tls=False, tls_context=ctx)
        await client.connect()
        await client.ehlo()
        assert client.supports_extension("starttls")
        await client.starttls()
        await client.sendmail("a@b.example", [f"postmaster@{DOMAIN}"], simple("<tls@x>", to=f"postmaster@{DOMAIN}"))
        await client.quit()
        ins, _ = await rows(rt)
        assert ins[0].raw["tls"] == "yes"
    finally:
        await stop_smtp(server)
        await rt.close()
