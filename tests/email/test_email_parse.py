"""Raw mail → ParsedEmail, on the .eml files in tests/data/emails (multipart, HTML-only, latin-1, CRLF,
forwarded inline and as an attachment, photos, DSN, out-of-office)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.email.parse import html_to_text, parse_email
from app.email.reply import extract

DATA = Path(__file__).parent.parent / "data" / "emails"
DOMAIN = "ardoise.localhost"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_gmail_multipart_takes_the_plain_part_and_finds_the_token() -> None:
    m = parse_email(load("gmail_fr_multipart.eml"), mail_domain=DOMAIN)
    assert m.message_id == "<CAFx=gmail-fr-1@mail.gmail.com>"
    assert m.from_addr == "michelle@bistro.example"
    assert m.from_name == "Michelle Leblé"
    assert m.subject == "Re: Publié #12"
    assert m.reply_token == "token"
    assert m.in_reply_to == "<a1b2c3d4e5f6a7b8c9d0e1f2@ardoise.localhost>"
    assert m.references == ("<a1b2c3d4e5f6a7b8c9d0e1f2@ardoise.localhost>",)
    assert not m.html_only
    assert extract(m.text).text == "Le prix reste à 16,95 $."


def test_html_only_outlook_becomes_text_and_the_header_block_is_cut() -> None:
    m = parse_email(load("outlook_html_only.eml"), mail_domain=DOMAIN)
    assert m.html_only
    assert "\r" not in m.text
    assert m.local_parts == ("bistro",)
    got = extract(m.text)
    assert (got.text, got.confident) == ("ETAT", True)


def test_gmail_html_blockquote_is_rendered_as_quote() -> None:
    html = (
        '<div dir="ltr">OUI</div><div class="gmail_quote"><div class="gmail_attr">On Thu, Nov 26, 2026 at 10:02 AM '
        "Ardoise &lt;r@a.ca&gt; wrote:<br></div><blockquote>Post this?<br>PUBLIER test</blockquote></div>"
    )
    text = html_to_text(html)
    assert "> Post this?" in text
    assert "> PUBLIER test" in text
    assert extract(text).text == "OUI"


def test_latin1_8bit_without_charset_is_decoded() -> None:
    m = parse_email(load("latin1_8bit_no_charset.eml"), mail_domain=DOMAIN)
    assert "Crème brûlée à l'érable" in m.text


def test_latin1_quoted_printable_crlf_and_encoded_subject() -> None:
    m = parse_email(load("latin1_qp.eml"), mail_domain=DOMAIN)
    assert m.subject == "Fermeture fériée"
    assert extract(m.text).text == "Fermé le 25 décembre, réouverture le 27."


def test_forward_as_attachment_keeps_only_the_owner_words() -> None:
    m = parse_email(load("forwarded_as_attachment.eml"), mail_domain=DOMAIN)
    assert m.forwarded
    assert "Meilleur brunch" not in m.text
    assert m.attachments == ()
    assert extract(m.text).text == "On peut publier cet avis?"


def test_forward_inline_never_yields_the_forwarded_command() -> None:
    m = parse_email(load("forwarded_inline_gmail.eml"), mail_domain=DOMAIN)
    got = extract(m.text)
    assert got.text == "Regardez cet avis!"
    assert "ANNULER" not in got.text


def test_attachments_are_listed_with_type_and_bytes() -> None:
    m = parse_email(load("photo_and_pdf.eml"), mail_domain=DOMAIN)
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("tarte.png", "image/png"),
        ("menu.pdf", "application/pdf"),
    ]
    assert m.attachments[0].data.startswith(b"\x89PNG")
    assert m.text.strip() == "Tarte au sucre maison"


def test_dsn_is_a_report_with_empty_return_path() -> None:
    m = parse_email(load("dsn_bounce.eml"), mail_domain=DOMAIN)
    assert m.content_type == "multipart/report"
    assert m.headers["return-path"] == "<>"
    assert "Final-Recipient" not in m.text


def test_envelope_recipient_wins_for_the_token_and_foreign_domains_are_skipped() -> None:
    raw = b"From: a@b.example\r\nTo: someone@elsewhere.example\r\nSubject: x\r\n\r\nhi\r\n"
    m = parse_email(raw, mail_domain=DOMAIN, envelope_recipients=("Reply+AbC234@Ardoise.localhost",))
    assert m.reply_token == "abc234"
    assert m.local_parts == ("reply+abc234",)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage without headers",
        b"Content-Type: text/plain; charset=x-unknown-charset\r\n\r\n\xe9t\xe9",
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nno end",
        b"Subject: =?utf-8?B?broken?=\r\nFrom: \r\n\r\nbody",
    ],
)
def test_never_raises_on_odd_input(raw: bytes) -> None:
    parse_email(raw, mail_domain=DOMAIN)
