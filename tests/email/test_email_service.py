"""End to end over real SMTP on loopback: mail into the built-in server (aiosmtplib), the jobs run, Ardoise's
answers land in an aiosmtpd sink standing in for the relay."""

from __future__ import annotations

import base64
import io
import re
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import pytest
from PIL import Image
from sqlalchemy import select
from sqlmodel import col

from app.accounts import service as account_service
from app.email.reply import MARKER
from app.email.security import make_token, read_token
from app.kit.time import utcnow
from app.models import InboundMessage, Member, MentionRow, NetworkAccount, OutboundMessage, PendingAction, Post
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.email.conftest import DOMAIN, MEMBER_EMAIL, Seeded, Sink
from tests.email.dkimkeys import sign
from tests.helpers import drain
from tests.mentions.test_flow import FakeNet

BIZ = f"bistro@{DOMAIN}"


def jpeg(w: int = 3000, h: int = 2000) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 120, 40)).save(out, "JPEG", quality=70)
    return out.getvalue()


def compose(
    body: str,
    *,
    subject: str = "Menu",
    sender: str = MEMBER_EMAIL,
    to: str = BIZ,
    attachments: list[tuple[str, str, bytes]] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Michelle <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Thu, 26 Nov 2026 10:00:00 -0500"
    msg["Message-ID"] = make_msgid(domain="bistro.example")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    for name, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def deliver(port: int, raw: bytes, *, to: str = BIZ, mail_from: str = MEMBER_EMAIL) -> None:
    """One SMTP transaction; ``mail_from=""`` sends the null reverse-path ``MAIL FROM:<>`` of a bounce."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    async with client:
        await client.mail(mail_from)
        await client.rcpt(to)
        await client.data(raw)


async def inbound(rt: Runtime) -> list[InboundMessage]:
    async with rt.db.read() as s:
        return list((await s.execute(select(InboundMessage).order_by(col(InboundMessage.id)))).scalars())


async def posts(rt: Runtime) -> list[Post]:
    async with rt.db.read() as s:
        return list((await s.execute(select(Post).order_by(col(Post.id)))).scalars())


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def token_of(msg: EmailMessage) -> str:
    return str(msg["Reply-To"]).split("<")[-1].rstrip(">").split("@")[0].removeprefix("reply+")


async def test_signed_publish_creates_an_email_post_and_a_threaded_receipt(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    raw = sign(compose("Soupe du jour : poireaux.\n\n-- \nMichelle\n418 555-0120", subject="PUBLIER"))
    await deliver(smtp, raw)
    await drain(erunner)
    [p] = await posts(ert)
    assert (p.text, p.source) == ("Soupe du jour : poireaux.", "email")
    [row] = await inbound(ert)
    assert row.status == "processed"
    assert "publish: #1" in row.note
    # The page is written with the post, so nothing is left to wait for: the receipt went in the same drain.
    [receipt] = sink.messages()
    assert receipt["To"] == MEMBER_EMAIL
    assert receipt["Auto-Submitted"] == "auto-generated"
    assert receipt["Precedence"] == "bulk"
    assert receipt["X-Auto-Response-Suppress"] == "All"
    assert receipt["In-Reply-To"] == row.provider_id
    assert text_of(receipt).startswith(MARKER)
    assert "#1 enregistré" in text_of(receipt)
    tok = read_token(ert.settings.secret_keys(), token_of(receipt))
    assert tok is not None
    assert (tok.member_id, tok.purpose) == (seeded.member_id, "receipt")
    assert sink.received[0][0] == f"bounces@{DOMAIN}"


async def test_unverified_sender_is_asked_by_signed_mail_and_oui_publishes(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    await deliver(smtp, compose("PUBLIER Brunch dimanche 10 h"))  # From is right, but no DKIM: could be forged
    await drain(erunner)
    assert await posts(ert) == []
    [ask] = sink.messages()
    assert ask["To"] == MEMBER_EMAIL
    assert "> PUBLIER Brunch dimanche 10 h" in text_of(ask)
    tok = read_token(ert.settings.secret_keys(), token_of(ask))
    assert tok is not None
    assert tok.purpose == "confirm"
    reply = compose(
        f"OUI\n\n{ask['Date']}, Bistro <{ask['Reply-To']}> a écrit :\n> {MARKER}\n> Publier?",
        subject="Re: " + str(ask["Subject"]),
        to=str(ask["Reply-To"]),
    )
    await deliver(smtp, reply, to=token_of(ask).join(["reply+", f"@{DOMAIN}"]))
    await drain(erunner)
    [p] = await posts(ert)
    assert (p.text, p.source) == ("Brunch dimanche 10 h", "email")


async def test_stranger_gets_nothing(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    await deliver(
        smtp, sign(compose("PUBLIER Pub gratuite", sender="spam@bistro.example")), mail_from="spam@bistro.example"
    )
    await drain(erunner)
    [row] = await inbound(ert)
    assert (row.status, row.note) == ("ignored", "not a member: no reply")
    assert sink.received == []
    assert await posts(ert) == []


async def test_over_the_hourly_limit_one_mail_says_when_to_try_again(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As by SMS: the first command over the limit is answered once with when to try again, then silence."""
    monkeypatch.setattr(ert.settings, "sms_commands_per_hour", 2)
    for n in range(4):
        await deliver(smtp, sign(compose(f"ANNULER {n + 1}", subject="Question")))
        await drain(erunner)
    rows = await inbound(ert)
    assert [r.status for r in rows] == ["processed", "processed", "ignored", "ignored"]
    answers = [text_of(m).removeprefix(MARKER).strip().splitlines()[0] for m in sink.messages()]
    assert answers[:2] == ["Publication #1 introuvable.", "Publication #2 introuvable."]
    assert len(answers) == 3
    assert re.fullmatch(r"Trop de messages\. Réessayez à \d{1,2} h( \d{2})?\.", answers[2]), answers[2]


async def test_auto_reply_and_bounce_are_never_answered(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow())
    oof = compose(
        "Je suis absente. PUBLIER rien",
        subject="Réponse automatique : Publié #1",
        headers={"Auto-Submitted": "auto-replied"},
    )
    await deliver(smtp, oof, to=f"reply+{tok}@{DOMAIN}")
    dsn = compose("Delivery failed", subject="Undelivered Mail Returned to Sender", sender="mailer-daemon@mx.example")
    await deliver(smtp, dsn, to=f"bounces@{DOMAIN}", mail_from="")
    await drain(erunner)
    rows = await inbound(ert)
    assert [r.status for r in rows] == ["ignored", "ignored"]
    assert rows[0].note == "not answered: auto-submitted: auto-replied"
    assert rows[1].note == "not answered: null return path"
    assert sink.received == []


async def test_photo_without_command_asks_then_publishes_a_resized_jpeg(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    await deliver(smtp, sign(compose("", subject="", attachments=[("IMG_0001.JPG", "image/jpeg", jpeg())])))
    await drain(erunner)
    [ask] = sink.messages()
    assert "Publier cette photo?" in text_of(ask)
    await deliver(smtp, compose("Oui", to=str(ask["Reply-To"])), to=str(ask["Reply-To"]))
    await drain(erunner)
    [p] = await posts(ert)
    assert p.source == "email"
    [m] = p.media
    assert m["content_type"] == "image/jpeg"
    with Image.open(ert.settings.media_dir / m["path"]) as im:
        assert max(im.size) == 2048


async def test_other_attachments_are_refused_with_a_clear_answer(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    pdf = base64.b64decode("JVBERi0xLjQKJcfsj6IK")
    raw = sign(compose("PUBLIER Menu", attachments=[("menu.pdf", "application/pdf", pdf)]))
    await deliver(smtp, raw)
    await drain(erunner)
    assert await posts(ert) == []
    [answer] = sink.messages()
    assert "menu.pdf: seules les photos JPEG, PNG ou HEIC" in text_of(answer)
    assert answer["Auto-Submitted"] == "auto-replied"


async def test_m_by_email_polls_the_accounts_first(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    """As by SMS: ``M`` right after a fan's mention shows it, not "no new mentions" until the next scheduled poll."""
    net = FakeNet()
    ert.networks[net.name] = net
    async with ert.db.write() as s:
        await account_service.link(
            s,
            business_id=seeded.biz_id,
            network=net.name,
            handle="bistro-bsky",
            credentials={"handle": "bistro-bsky"},
            settings={},
            vault=ert.vault,
            actor="test",
        )
    await drain(erunner)
    net.say("Vous ouvrez dimanche?", author="marie.bsky.social")
    await deliver(smtp, sign(compose("M", subject="Mentions")))
    await drain(erunner)
    [answer] = sink.messages()
    assert "#1 Bsky marie: Vous ouvrez dimanche?" in text_of(answer)
    assert net.fetches == 1


async def test_digest_answer_lines_answer_their_mentions(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    async with ert.db.write() as s:
        page = NetworkAccount(business_id=seeded.biz_id, network="page", handle="bistro")
        s.add(page)
        await s.flush()
        assert page.id is not None
        s.add(
            MentionRow(
                business_id=seeded.biz_id,
                account_id=page.id,
                network="page",
                number=4,
                remote_id="m-4",
                kind="mention",
                author="@julie",
                text="C'est ouvert dimanche?",
                target={"remote_id": "m-4"},
            )
        )
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="digest", now=utcnow())
    to = f"reply+{tok}@{DOMAIN}"
    await deliver(smtp, compose(f"4: merci!\nR 7 À bientôt\n\n> {MARKER}\n> #4 Bluesky - @julie", to=to), to=to)
    await drain(erunner, include_future=True)
    async with ert.db.read() as s:
        replies = (await s.execute(select(Post).where(col(Post.reply_to_mention_id).isnot(None)))).scalars().all()
    assert [r.text for r in replies] == ["merci!"]
    texts = sorted(text_of(m) for m in sink.messages())
    assert len(texts) == 2  # one answer per line: the receipt of #4, "not found" for #7
    assert any("Mention #7 introuvable" in x for x in texts)
    assert any("Réponse à #4" in x for x in texts)


async def test_quoted_command_is_never_run_and_quoted_only_is_answered(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow())
    to = f"reply+{tok}@{DOMAIN}"
    await deliver(
        smtp, compose(f"Le jeu. 26 nov. 2026 à 10:02, Bistro <{to}> a écrit :\n> PUBLIER piège", to=to), to=to
    )
    await drain(erunner)
    assert await posts(ert) == []
    [answer] = sink.messages()
    assert "aucun texte nouveau" in text_of(answer)


async def test_inline_answers_ask_for_confirmation(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow())
    to = f"reply+{tok}@{DOMAIN}"
    body = "> Publier ce texte?\nPUBLIER Fermé lundi\n> Autre chose?\nNon merci\n"
    await deliver(smtp, compose(body, to=to), to=to)
    await drain(erunner)
    assert await posts(ert) == []
    [answer] = sink.messages()
    assert "pas sûrs d'avoir compris" in text_of(answer)
    async with ert.db.read() as s:
        [pending] = list((await s.execute(select(PendingAction))).scalars())
    assert pending.needs == "confirm"


async def test_expired_token_falls_back_to_sender_checks(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    from datetime import timedelta

    old = make_token(
        ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow() - timedelta(days=20)
    )
    to = f"reply+{old}@{DOMAIN}"
    await deliver(smtp, compose("PUBLIER Vieux lien", to=to), to=to)  # unsigned: must not publish
    await drain(erunner)
    assert await posts(ert) == []
    [ask] = sink.messages()
    assert "sans pouvoir vérifier" in text_of(ask)


async def test_relay_refusal_marks_the_mail_failed(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    async with ert.db.write() as s:
        member = await s.get(Member, seeded.member_id)
        assert member is not None
        member.email = "refuse-me@bistro.example"
        s.add(member)
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow())
    to = f"reply+{tok}@{DOMAIN}"
    own = "refuse-me@bistro.example"  # a reply token works only from the member's own address
    await deliver(smtp, compose("ETAT", to=to, sender=own), to=to, mail_from=own)
    await drain(erunner)
    async with ert.db.read() as s:
        [out] = list((await s.execute(select(OutboundMessage))).scalars())
    assert (out.channel, out.status, out.error_code) == ("email", "failed", "recipient_refused")
