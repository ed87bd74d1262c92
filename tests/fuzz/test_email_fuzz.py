"""Fuzz: the email reply extractor (app/email/reply.py) and the MIME parser (app/email/parse.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.email.parse import ParsedEmail, html_to_text, parse_email
from app.email.reply import MARKER, Extracted, extract, normalise
from tests.fuzz.profiles import bounded, fuzz_settings
from tests.fuzz.strategies import line_endings, nasty_text

QUOTE_LINES = st.sampled_from(
    [
        "> previous text",
        ">> older text",
        "> > nested",
        ">",
        "Le jeu. 26 nov. 2026 à 10:02, Ardoise <reply+abc@ardoise.localhost> a écrit :",
        "On Thu, Nov 26, 2026 at 10:02 AM Ardoise <x@y.z> wrote:",
        "-----Message d'origine-----",
        "De : Ardoise <a@b.c>",
        "Envoyé : jeudi",
        "Objet : Publié #4",
        "________________________________",
        "-- ",
        "Envoyé de mon iPhone",
        "Cordialement,",
        MARKER,
        "> " + MARKER,
        "##-",
        "-##",
    ]
)
email_lines = st.lists(st.one_of(QUOTE_LINES, nasty_text.map(lambda s: s.replace("\n", " ")[:120])), max_size=60)
PLAIN_WORDS = st.sampled_from(
    ["Menu", "du", "jour", "soupe", "à", "l'oignon", "12,95", "poulet", "ce", "soir", "Ouvert"]
)
plain_line = st.lists(PLAIN_WORDS, min_size=1, max_size=8).map(" ".join)


def _assert_from_input(result: Extracted, text: str) -> None:
    """The extracted text is cut from the message: every line of it occurs in the (normalised) input."""
    source = normalise(text)
    for line in result.text.split("\n"):
        assert line.strip() in source, f"{line!r} is not in the input"
    assert not (result.quoted_only and result.text and result.confident)


@fuzz_settings()
@given(email_lines, line_endings)
def test_extract_never_raises_and_keeps_input_lines(lines: list[str], eol: str) -> None:
    text = eol.join(lines)
    result = bounded(extract, text)
    assert isinstance(result, Extracted)
    assert result.text == result.text.strip()
    _assert_from_input(result, text)
    assert extract(text) == result  # deterministic


@fuzz_settings()
@given(nasty_text)
def test_extract_arbitrary_text(text: str) -> None:
    _assert_from_input(bounded(extract, text), text)


@fuzz_settings(scale=0.3)
@given(st.lists(plain_line, min_size=1, max_size=5), st.lists(QUOTE_LINES | nasty_text, max_size=30), line_endings)
def test_marker_cuts_everything_below(new: list[str], below: list[str], eol: str) -> None:
    text = eol.join([*new, "", MARKER, *below])
    result = bounded(extract, text)
    assert result.marker
    assert result.text == "\n".join(new).strip()
    assert result.confident


@fuzz_settings(scale=0.1)
@given(st.integers(1_000, 20_000), st.sampled_from(["> ", ">> ", "> > ", ""]), line_endings, plain_line)
def test_huge_quoted_blocks_are_bounded(n: int, prefix: str, eol: str, answer: str) -> None:
    quoted = eol.join(f"{prefix}ligne {i} du message d'origine a écrit :" for i in range(n))
    text = f"{answer}{eol}{eol}Le jeu. 26 nov. 2026 à 10:02, A <a@b.c> a écrit :{eol}{quoted}"
    result = bounded(extract, text)
    if prefix:
        assert result.text == answer


# --- MIME ------------------------------------------------------------------------------------------------

HEADERS = st.sampled_from(
    [
        b"From: =?utf-8?q?Sylvie_=C3=A9?= <sylvie@example.com>",
        b"From: <<<@@@>>>",
        b"From: =?bogus?x?zzz?=",
        b"To: bistro@ardoise.localhost, reply+abcdef@ardoise.localhost",
        b"Subject: =?utf-8?b?w6k=?=",
        b"Subject: =?utf-8?b?not base64?=",
        b"Message-ID: <x@y>",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Type: text/plain; charset=x-unknown",
        b"Content-Type: text/html",
        b"Content-Type: multipart/mixed; boundary=XX",
        b'Content-Type: multipart/alternative; boundary="XX"',
        b"Content-Type: message/rfc822",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Disposition: attachment; filename*=utf-8''%E9%ZZ.jpg",
        b"Authentication-Results: mx; dkim=pass header.d=example.com",
        b"Auto-Submitted: auto-replied",
        b"References: <a@b> <c@d>",
    ]
)
BODY_PARTS = st.sampled_from(
    [
        b"--XX\r\nContent-Type: text/plain\r\n\r\nbonjour\r\n",
        b"--XX\r\nContent-Type: text/html\r\n\r\n<p>hi<blockquote>old</blockquote>\r\n",
        b"--XX\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ====\r\n",
        b"--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n--YY\r\n\r\nx\r\n--YY--\r\n",
        b"--XX--\r\n",
        b"=C3=A9=\r\n",
        b"\xff\xfe\x00\x00\xe9\xe8",
        b"<html><body><div>Menu<br>du jour</div><blockquote><p>quoted</p></blockquote></body></html>",
    ]
)
mime = st.builds(
    lambda heads, eol, parts, tail: eol.join(heads) + eol + eol + b"".join(parts) + tail,
    st.lists(HEADERS, max_size=10),
    st.sampled_from([b"\r\n", b"\n"]),
    st.lists(BODY_PARTS, max_size=8),
    st.binary(max_size=300),
)


def _check_parsed(parsed: ParsedEmail) -> None:
    assert isinstance(parsed, ParsedEmail)
    assert "\r" not in parsed.text
    assert parsed.from_addr == parsed.from_addr.lower()
    assert all(r == r.lower() for r in parsed.recipients)
    assert len(parsed.message_id) <= 255


@fuzz_settings()
@given(st.binary(max_size=4000))
def test_parse_email_arbitrary_bytes(raw: bytes) -> None:
    _check_parsed(bounded(parse_email, raw, mail_domain="ardoise.localhost"))


@fuzz_settings()
@given(mime)
def test_parse_email_mime_shaped_bytes(raw: bytes) -> None:
    _check_parsed(bounded(parse_email, raw, mail_domain="ardoise.localhost", envelope_recipients=("A@B.C",)))


@fuzz_settings()
@given(st.text(alphabet=st.sampled_from(list("<>/ab =\"'&;#x0-9blockquote<p>br</script>")), max_size=2000) | nasty_text)
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(bounded(html_to_text, html), str)
