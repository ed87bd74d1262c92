"""Issue #11 finding 4: channels never mix trust levels. A spoofed (unauthenticated) mail from the owner's address
once planted its text in the owner's next SMS post: the SMS free text joined the mail's waiting action, the SMS
prompt did not show the text, and ``OUI`` published both."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.email.reply import MARKER
from app.email.security import make_token
from app.kit.time import utcnow
from app.main import create_app
from app.models import BusinessNumber, Channel, InboundMessage, OutboundMessage, PendingAction, Post
from app.runtime import Runtime
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS, PUBLIC_URL
from tests.email.conftest import DOMAIN, Seeded, Sink
from tests.email.test_email_service import compose, deliver, jpeg, text_of, token_of
from tests.helpers import drain, send_sms

PHONE = "+14185550120"  # the seeded member's phone
NUMBER = "+15817000001"


async def _last_sms(rt: Runtime) -> str:
    async with rt.db.read() as s:
        rows = (
            await s.execute(
                select(OutboundMessage)
                .where(col(OutboundMessage.channel) == Channel.sms.value)
                .order_by(col(OutboundMessage.id).desc())
            )
        ).scalars()
        return next(iter(rows)).body


@pytest.mark.usefixtures("sink")
@BOTH_BACKENDS
async def test_a_spoofed_mail_never_joins_or_confirms_an_sms_action(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    async with ert.db.write() as s:
        s.add(BusinessNumber(business_id=seeded.biz_id, number=NUMBER))
    app = create_app(ert.settings, runtime=ert)
    app.state.runtime = ert
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
        await deliver(smtp, compose("Tout est gratuit ce soir, code PROMO100"))  # unsigned: could be anyone
        await drain(erunner)
        assert len(sink.messages()) == 1  # the owner is asked by mail, at their registered address
        assert (await send_sms(client, PHONE, NUMBER, "Pizza ce soir")).status_code == 200
        await drain(erunner)
        # the prompt quotes the text OUI will publish, and only the SMS text
        assert await _last_sms(ert) == 'Publier "Pizza ce soir"? Répondez OUI (30 min).'
        assert (await send_sms(client, PHONE, NUMBER, "OUI")).status_code == 200
        await drain(erunner, include_future=True)
        async with ert.db.read() as s:
            assert [p.text for p in (await s.execute(select(Post))).scalars()] == ["Pizza ce soir"]
        # a second SMS OUI does not run the mail's waiting text either
        assert (await send_sms(client, PHONE, NUMBER, "OUI")).status_code == 200
        await drain(erunner, include_future=True)
        assert await _last_sms(ert) == "Rien à confirmer."
        async with ert.db.read() as s:
            assert len(list((await s.execute(select(Post))).scalars())) == 1
            [waiting] = (await s.execute(select(PendingAction))).scalars()
        assert waiting.payload["trust"] == "email-unverified"  # kept for a signed reply to the mail


def _nested(depth: int) -> bytes:
    head = b"From: Michelle <michelle@bistro.example>\r\nTo: bistro@ardoise.test\r\nSubject: x\r\n"
    parts = [b"MIME-Version: 1.0\r\n"]
    for i in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
    parts.append(b"Content-Type: text/plain\r\n\r\nPUBLIER profond\r\n")
    return head + b"".join(parts)


@pytest.mark.usefixtures("sink")
async def test_deeply_nested_mime_is_ignored_with_a_reason(
    ert: Runtime, smtp: int, seeded: Seeded, erunner: Runner[Runtime]
) -> None:
    """3,000 nested multiparts raised RecursionError and the message stayed ``received`` forever."""
    for depth in (3000, 60):
        await deliver(smtp, _nested(depth))
    await drain(erunner)
    async with ert.db.read() as s:
        rows = list((await s.execute(select(InboundMessage).order_by(col(InboundMessage.id)))).scalars())
    assert [r.status for r in rows] == ["ignored", "ignored"]
    assert all(r.note.startswith("not answered: MIME") for r in rows), [r.note for r in rows]


@pytest.mark.usefixtures("sink")
async def test_a_reply_token_works_only_from_the_members_own_address(
    ert: Runtime, smtp: int, seeded: Seeded, erunner: Runner[Runtime]
) -> None:
    tok = make_token(ert.settings.secret_keys(), member_id=seeded.member_id, purpose="reply", now=utcnow())
    to = f"reply+{tok}@{DOMAIN}"
    thief = "thief@elsewhere.example"  # a forwarded or leaked reply address, used from another mailbox
    await deliver(smtp, compose("PUBLIER Tout gratuit", to=to, sender=thief), to=to, mail_from=thief)
    await drain(erunner)
    async with ert.db.read() as s:
        [row] = list((await s.execute(select(InboundMessage))).scalars())
        assert list((await s.execute(select(Post))).scalars()) == []
    assert (row.status, row.note) == ("ignored", "not a member: no reply")


def _media_files(rt: Runtime) -> list[str]:
    root = rt.settings.media_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.usefixtures("sink")
async def test_an_unverified_mails_photo_is_decoded_only_after_the_member_confirms(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    """Anyone can send a mail under a member's address: its photo is not decoded (no image decoder runs on it,
    nothing is stored under /media) until the member answers OUI from their own mailbox."""
    photo = ("menu.jpg", "image/jpeg", jpeg(1200, 900))
    await deliver(smtp, compose("PUBLIER Brunch dimanche", attachments=[photo]))  # no DKIM: could be forged
    await drain(erunner)
    [ask] = sink.messages()
    assert "> [1 photo]" in text_of(ask)  # the member sees what OUI would publish
    assert _media_files(ert) == []
    async with ert.db.read() as s:
        [waiting] = (await s.execute(select(PendingAction))).scalars()
    assert (waiting.payload["media"], waiting.payload["photos_held"]) == ([], 1)
    reply = compose(
        f"OUI\n\n{ask['Date']}, Bistro <{ask['Reply-To']}> a écrit :\n> {MARKER}\n> Publier?",
        subject="Re: " + str(ask["Subject"]),
        to=str(ask["Reply-To"]),
    )
    await deliver(smtp, reply, to=token_of(ask).join(["reply+", f"@{DOMAIN}"]))
    await drain(erunner)
    async with ert.db.read() as s:
        [post] = (await s.execute(select(Post))).scalars()
    assert post.text == "Brunch dimanche"
    assert [m["content_type"] for m in post.media] == ["image/jpeg"]
    assert len(_media_files(ert)) == 1


@pytest.mark.usefixtures("sink")
async def test_a_mail_carrying_the_pin_is_not_kept(
    ert: Runtime, smtp: int, seeded: Seeded, sink: Sink, erunner: Runner[Runtime]
) -> None:
    await deliver(smtp, compose("PIN 4821"))
    await drain(erunner)
    async with ert.db.read() as s:
        [row] = (await s.execute(select(InboundMessage))).scalars()
    assert "4821" not in row.body
    assert "4821" not in str(row.raw)
    assert row.raw.get("removed") == "pin"
