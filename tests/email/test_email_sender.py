"""Outgoing mail: headers, the digest's size, the relay URL, the per-address limit; photos re-encoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from app.email.digest import DigestItem, render_digest
from app.email.parse import Attachment
from app.email.reply import MARKER, extract
from app.email.security import read_token
from app.email.sender import (
    AUTO_GENERATED,
    OutgoingEmail,
    SmtpRelaySender,
    build_message,
    compose_body,
    outgoing_from_job,
    queue_email,
)
from app.email.service import prepare_media, reencode
from app.models import Job, Member, OutboundMessage
from app.runtime import Runtime
from tests.email.conftest import Seeded

LONG = (
    "Meilleur brunch en ville! Les crêpes aux bleuets étaient parfaites et le service très chaleureux, on revient "
    "dimanche avec toute la famille. Merci à Michelle et à toute l'équipe du Bistro pour l'accueil, et bravo pour "
    "le café torréfié sur place, vraiment le meilleur du quartier Saint-Roch!"
)


def digest_bytes(lang: str) -> int:
    items = [
        DigestItem(
            number=100 + i,
            network=["bluesky", "mastodon", "facebook", "instagram", "google"][i % 5],
            author=f"@client{i}.bsky.social",
            text=LONG,
            url=f"https://bsky.app/profile/client{i}.bsky.social/post/3kabcdefghij{i}",
        )
        for i in range(10)
    ]
    subject, text = render_digest(items, business="Bistro chez Michelle", lang=lang)
    msg = build_message(
        OutgoingEmail(
            message_id="<0123456789abcdef01234567@ardoise.example>",
            from_addr="Bistro chez Michelle <bistro@ardoise.example>",
            to="michelle@bistro.example",
            subject=subject,
            text=compose_body(text, lang),
            envelope_from="bounces@ardoise.example",
            reply_to="reply+k3v9s2aaaqbaeaq7s5hdr4maaaaaaaa@ardoise.example",
            auto_submitted=AUTO_GENERATED,
            lang=lang,
        )
    )
    return len(msg.as_bytes())


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_ten_item_digest_is_under_10_kb(lang: str) -> None:
    size = digest_bytes(lang)
    print(f"10-item digest ({lang}): {size} bytes")  # noqa: T201
    assert size < 10 * 1024


def test_headers_of_an_answer() -> None:
    msg = build_message(
        OutgoingEmail(
            message_id="<abc@ardoise.example>",
            from_addr="Bistro <bistro@ardoise.example>",
            to="m@bistro.example",
            subject="Re: Menu",
            text=compose_body("Publier ce texte? Répondez OUI (30 min).", "fr"),
            envelope_from="bounces@ardoise.example",
            reply_to="reply+tok@ardoise.example",
            in_reply_to="<orig@bistro.example>",
            references=("<older@bistro.example>",),
        )
    )
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Precedence"] == "bulk"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Reply-To"] == "reply+tok@ardoise.example"
    assert msg["In-Reply-To"] == "<orig@bistro.example>"
    assert msg["References"] == "<older@bistro.example> <orig@bistro.example>"
    assert msg.get_content_type() == "text/plain"
    body = str(msg.get_content())
    assert body.startswith(MARKER)
    # A reply typed above our text, quoted by any client, extracts to just the reply.
    quoted = "\n".join("> " + line for line in body.splitlines())
    assert extract(f"OUI\n\nLe jeu. 26 nov. 2026 à 10:02, Bistro <b@a.ca> a écrit :\n{quoted}").text == "OUI"


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "starttls", "user"),
    [
        ("smtp://u:p%40ss@relay.example:587", "relay.example", 587, False, None, "u"),
        ("smtp://relay.example", "relay.example", 587, False, None, None),
        ("smtps://u:p@relay.example", "relay.example", 465, True, None, "u"),
        ("smtp://relay.example:25?starttls=required", "relay.example", 25, False, True, None),
        ("smtp://127.0.0.1:2526?starttls=off", "127.0.0.1", 2526, False, False, None),
    ],
)
def test_relay_url(url: str, host: str, port: int, tls: bool, starttls: bool | None, user: str | None) -> None:
    s = SmtpRelaySender(url)
    assert (s.host, s.port, s.use_tls, s.start_tls, s.username) == (host, port, tls, starttls, user)
    if user:
        assert s.password in s.redact()


def test_relay_url_must_be_smtp() -> None:
    with pytest.raises(ValueError, match="smtp://"):
        SmtpRelaySender("http://relay.example")


async def test_queue_email_records_and_limits_per_address(ert: Runtime, seeded: Seeded) -> None:
    async with ert.db.write() as s:
        member = await s.get(Member, seeded.member_id)
        assert member is not None
        sent = [
            await queue_email(
                s,
                ert.settings,
                to=member.email or "",
                subject="x",
                text=f"n{i}",
                kind="reply",
                business_id=seeded.biz_id,
                member=member,
            )
            for i in range(12)
        ]
        assert sum(1 for m in sent if m is not None) == 10  # the loop breaker
        member.opted_out = True
        assert (
            await queue_email(
                s,
                ert.settings,
                to=member.email or "",
                subject="x",
                text="y",
                kind="reply",
                business_id=seeded.biz_id,
                member=member,
                rate_limit=False,
            )
            is None
        )
    async with ert.db.read() as s:
        rows = list((await s.execute(select(OutboundMessage))).scalars())
        jobs = list((await s.execute(select(Job))).scalars())
    assert {r.channel for r in rows} == {"email"}
    assert rows[0].sender == "Bistro chez Michelle <bistro@ardoise.localhost>"
    assert len(jobs) == 10
    # the signed reply address is a credential: never in the payload, made when the mail is sent
    assert "reply_to" not in jobs[0].payload
    assert "reply+" not in repr([j.payload for j in jobs])
    out = outgoing_from_job(rows[0], jobs[0].payload, ert.settings.mail_domain, ert.settings.secret_keys())
    tok = read_token(ert.settings.secret_keys(), out.reply_to.removeprefix("reply+").partition("@")[0])
    assert tok is not None
    assert (tok.member_id, tok.purpose) == (seeded.member_id, "reply")


def _img(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 128) if mode == "RGBA" else (10, 20, 30)).save(out, fmt)
    return out.getvalue()


def test_reencode_png_with_alpha_and_large_jpeg() -> None:
    for data in (_img("PNG", (4000, 1000), "RGBA"), _img("JPEG", (1000, 3000))):
        with Image.open(io.BytesIO(reencode(data))) as im:
            assert im.format == "JPEG"
            assert max(im.size) == 2048


def test_heic_is_accepted() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    out = io.BytesIO()
    try:
        pillow_heif.from_pillow(Image.new("RGB", (640, 480), (1, 2, 3))).save(out, format="HEIF")
    except Exception as exc:  # a pillow-heif build without an encoder
        pytest.skip(f"cannot encode HEIC here: {exc}")
    with Image.open(io.BytesIO(reencode(out.getvalue()))) as im:
        assert (im.format, im.size) == ("JPEG", (640, 480))


def test_prepare_media_sorts_photos_logos_and_refusals(tmp_path: object) -> None:
    from pathlib import Path

    media_dir = Path(str(tmp_path))
    atts = [
        Attachment("a.jpg", "image/jpeg", _img("JPEG", (800, 600))),
        Attachment("logo.png", "image/png", _img("PNG", (20, 20)), inline=True, content_id="<logo>"),
        Attachment("menu.pdf", "application/pdf", b"%PDF-1.4"),
        Attachment("broken.jpg", "image/jpeg", b"not a jpeg"),
        Attachment("IMG.HEIC", "application/octet-stream", b"not heic either"),
    ]
    got = prepare_media(atts, media_dir, "http://t", 10)
    assert len(got.items) == 1
    assert got.refused == ["menu.pdf"]
    assert got.unreadable == ["broken.jpg", "IMG.HEIC"]
    assert (media_dir / got.items[0]["path"]).is_file()
