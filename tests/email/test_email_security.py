"""Signed reply tokens, loop/auto-reply detection, and sender authenticity (DKIM with test keys, trusted
Authentication-Results)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.email import security
from app.email.parse import parse_email
from tests.email.dkimkeys import dnsfunc, sign

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
KEYS = ["first-secret-key-0123456789"]
DATA = Path(__file__).parent.parent / "data" / "emails"


def test_token_round_trip_is_lowercase_base32_and_short() -> None:
    tok = security.make_token(KEYS, member_id=42, purpose="digest", now=NOW)
    assert tok == tok.lower()
    assert set(tok) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert len("reply+" + tok) <= 64
    got = security.read_token(KEYS, tok)
    assert got is not None
    assert (got.member_id, got.purpose) == (42, "digest")
    assert got.expires_at - NOW <= timedelta(days=14)
    assert not got.expired(NOW + timedelta(days=13))
    assert got.expired(NOW + timedelta(days=14, hours=1))


def test_token_survives_uppercasing_by_a_mail_server() -> None:
    tok = security.make_token(KEYS, member_id=7, purpose="reply", now=NOW)
    assert security.read_token(KEYS, tok.upper()) is not None


@pytest.mark.parametrize("position", [0, 5, 10, 20, -1])
def test_tampered_token_is_refused(position: int) -> None:
    tok = security.make_token(KEYS, member_id=42, purpose="reply", now=NOW)
    chars = list(tok)
    chars[position] = "a" if chars[position] != "a" else "b"
    assert security.read_token(KEYS, "".join(chars)) is None


def test_token_of_another_key_is_refused_and_rotation_keeps_old_tokens() -> None:
    old = security.make_token(KEYS, member_id=1, purpose="confirm", now=NOW)
    assert security.read_token(["another-secret-key-987654321"], old) is None
    rotated = ["new-secret-key-abcdefghijkl", *KEYS]
    assert security.read_token(rotated, old) is not None
    new = security.make_token(rotated, member_id=1, purpose="confirm", now=NOW)
    assert security.read_token(rotated, new) is not None
    assert security.read_token(KEYS, new) is None


@pytest.mark.parametrize("bad", ["", "abc", "0189", "a" * 60, "!!!!!!!!!!!!!!!!!!!!!!!!"])
def test_garbage_token_is_refused(bad: str) -> None:
    assert security.read_token(KEYS, bad) is None


def mail(headers: str, body: str = "Bonjour") -> bytes:
    base = "From: Michelle <michelle@bistro.example>\r\nTo: bistro@ardoise.localhost\r\nSubject: Menu\r\n"
    return (base + headers + "\r\n" + body + "\r\n").encode()


@pytest.mark.parametrize(
    ("raw", "envelope", "expected"),
    [
        pytest.param(mail(""), "michelle@bistro.example", None, id="person"),
        pytest.param(mail("Auto-Submitted: no\r\n"), "m@b.example", None, id="auto-submitted-no"),
        pytest.param(mail("Auto-Submitted: auto-replied\r\n"), "m@b.example", "auto-submitted", id="auto-replied"),
        pytest.param(mail("Auto-Submitted: auto-generated\r\n"), "m@b.example", "auto-submitted", id="auto-generated"),
        pytest.param(mail("Precedence: bulk\r\n"), "m@b.example", "precedence", id="precedence-bulk"),
        pytest.param(mail("Precedence: junk\r\n"), "m@b.example", "precedence", id="precedence-junk"),
        pytest.param(mail("List-Id: <news.example>\r\n"), "m@b.example", "mailing list", id="list-id"),
        pytest.param(mail("List-Unsubscribe: <mailto:u@x>\r\n"), "m@b.example", "mailing list", id="list-unsub"),
        pytest.param(mail("X-Autoreply: yes\r\n"), "m@b.example", "x-autoreply", id="x-autoreply"),
        pytest.param(mail("X-Auto-Response-Suppress: All\r\n"), "m@b.example", "x-auto-response", id="ms-suppress"),
        pytest.param(mail("X-Loop: ardoise\r\n"), "m@b.example", "x-loop", id="our-x-loop"),
        pytest.param(mail(""), "", "null return path", id="null-envelope"),
        pytest.param(mail(""), "<>", "null return path", id="null-envelope-brackets"),
        pytest.param(mail("Return-Path: <>\r\n"), None, "null return path", id="null-return-path-header"),
        pytest.param(
            mail("").replace(b"Subject: Menu", "Subject: Réponse automatique : absent".encode()),
            "m@b.example",
            "auto-reply subject",
            id="subject-fr",
        ),
        pytest.param(
            mail("").replace(b"Subject: Menu", b"Subject: Out of Office: back Monday"),
            "m@b.example",
            "auto-reply subject",
            id="subject-en",
        ),
        pytest.param(
            mail("").replace(b"michelle@bistro.example", b"MAILER-DAEMON@mx.example"),
            "x@mx.example",
            "robot sender",
            id="mailer-daemon",
        ),
        pytest.param(
            mail("").replace(b"michelle@bistro.example", b"no-reply@shop.example"),
            "x@shop.example",
            "robot sender",
            id="noreply",
        ),
        pytest.param(
            mail("").replace(b"michelle@bistro.example", b"bistro@ardoise.localhost"),
            "x@y.example",
            "from our own domain",
            id="ourselves",
        ),
        pytest.param((DATA / "dsn_bounce.eml").read_bytes(), "", "delivery or read report", id="dsn-file"),
        pytest.param((DATA / "dsn_bounce.eml").read_bytes(), None, "delivery or read report", id="dsn-no-envelope"),
        pytest.param((DATA / "out_of_office_fr.eml").read_bytes(), "m@b.example", "auto-submitted", id="oof-file"),
    ],
)
def test_auto_reason(raw: bytes, envelope: str | None, expected: str | None) -> None:
    reason = security.auto_reason(parse_email(raw), envelope_from=envelope, mail_domain="ardoise.localhost")
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert reason.startswith(expected)


RAW = (
    b"From: Michelle <michelle@bistro.example>\r\nTo: bistro@ardoise.localhost\r\nSubject: PUBLIER\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nMessage-ID: <dkim-1@bistro.example>\r\n\r\n"
    b"Soupe du jour: poireaux.\r\n"
)


def test_dkim_signed_mail_passes_aligned() -> None:
    signed = sign(RAW)
    got = security.verify_dkim(signed, "bistro.example", dnsfunc=dnsfunc())
    assert got.aligned
    assert got.method == "dkim"
    assert got.detail == "bistro.example"


def test_dkim_tampered_body_fails() -> None:
    signed = sign(RAW).replace(b"poireaux", b"brocolis")
    assert not security.verify_dkim(signed, "bistro.example", dnsfunc=dnsfunc()).aligned


def test_dkim_tampered_from_fails() -> None:
    signed = sign(RAW).replace(b"Michelle <", b"Mallory <")
    assert not security.verify_dkim(signed, "bistro.example", dnsfunc=dnsfunc()).aligned


def test_dkim_pass_for_another_domain_is_not_aligned() -> None:
    raw = RAW.replace(b"michelle@bistro.example", b"michelle@gmail.example")
    signed = sign(raw, domain="bistro.example")
    got = security.verify_dkim(signed, "gmail.example", dnsfunc=dnsfunc())
    assert not got.aligned
    assert "not aligned" in got.detail


def test_unsigned_mail_and_missing_key_fail() -> None:
    assert not security.verify_dkim(RAW, "bistro.example", dnsfunc=dnsfunc()).aligned
    assert not security.verify_dkim(sign(RAW), "bistro.example", dnsfunc=dnsfunc({})).aligned


async def test_authenticate_uses_the_trusted_upstream_only() -> None:
    ar = b"Authentication-Results: mx.ardoise.example; spf=pass smtp.mailfrom=bounce@bistro.example\r\n"
    forged = b"Authentication-Results: evil.example; dkim=pass header.d=bistro.example\r\n"
    raw = ar + RAW
    m = parse_email(raw)
    got = await security.authenticate(raw, m, trusted_authserv_ids=["mx.ardoise.example"], check_dkim=False)
    assert (got.aligned, got.method) == (True, "upstream:spf")
    raw2 = forged + RAW
    got2 = await security.authenticate(
        raw2, parse_email(raw2), trusted_authserv_ids=["mx.ardoise.example"], check_dkim=False
    )
    assert not got2.aligned


async def test_authenticate_upstream_fail_then_own_dkim() -> None:
    raw = b"Authentication-Results: mx.ardoise.example; spf=fail smtp.mailfrom=x@evil.example\r\n" + sign(RAW)
    got = await security.authenticate(
        raw, parse_email(raw), trusted_authserv_ids=["mx.ardoise.example"], dnsfunc=dnsfunc()
    )
    assert (got.aligned, got.method) == (True, "dkim")


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        ("bistro.example", "bistro.example", True),
        ("mail.bistro.example", "bistro.example", True),
        ("x@bistro.example", "BISTRO.example", True),
        ("evilbistro.example", "bistro.example", False),
        ("a.example", "b.example", False),
        ("", "bistro.example", False),
    ],
)
def test_alignment(a: str, b: str, ok: bool) -> None:
    assert security.aligned(a, b) is ok
