"""Mentions by SMS, end to end: a signed Twilio webhook, the job runner, a fake network that collects and
answers, and what the owner gets back. Every command gets exactly one SMS, GSM-7, one segment (a digest: at
most two).

The helpers at the top (``FakeNet``, ``World``, ``make_world``...) are shared with the other mention tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.accounts import service as account_service
from app.catalogue import t
from app.kit.errors import PermanentError
from app.kit.sms_text import is_gsm7, segment_info
from app.kit.time import utcnow
from app.models import DigestSettings, MentionCursor, MentionRow, Post
from app.networks.base import AccountInfo, Mention, NetworkCredentials, PublishResult, ReplyTarget
from app.networks.base import Post as NetPost
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import Runner
from tests.helpers import drain, make_business, send_sms

NUMBER = "+15817000001"
OWNER = "+14185550120"

# --- shared helpers ---------------------------------------------------------------------------------------------


class FakeNetNoLike:
    """A network in memory: ``say`` adds an item that ``fetch_mentions`` returns once (cursor: an index);
    ``publish`` records posts and replies. No ``like_item``: see :class:`FakeNet`."""

    name: ClassVar[str] = "bluesky"
    label: ClassVar[str] = "Bsky"
    max_chars: ClassVar[int] = 300

    def __init__(self) -> None:
        self.items: list[Mention] = []
        self.published: list[NetPost] = []
        self.fetches = 0

    def say(
        self,
        text: str,
        *,
        author: str = "cliente1.bsky.social",
        kind: str = "mention",
        rating: int | None = None,
        to_us: bool = False,
    ) -> Mention:
        n = len(self.items) + 1
        item = Mention(
            remote_id=f"{self.name}:item:{n}",
            kind=kind,
            author=author,
            text=text,
            target=ReplyTarget(remote_id=f"{self.name}:item:{n}", extra={"cid": f"cid{n}"}),
            url=f"https://{self.name}.example/item/{n}",
            created_at=utcnow(),
            rating=rating,
            is_reply_to_us=to_us,
        )
        self.items.append(item)
        return item

    def measure(self, text: str) -> int:
        return len(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        return AccountInfo(handle=creds.get("handle") or "fournil")

    async def publish(self, post: NetPost, creds: NetworkCredentials) -> PublishResult:
        self.published.append(post)
        return PublishResult(remote_id=f"{self.name}:post:{len(self.published)}")

    async def find_existing(self, post: NetPost, creds: NetworkCredentials) -> PublishResult | None:
        for i, p in enumerate(self.published, start=1):
            if p.idempotency_key == post.idempotency_key:
                return PublishResult(remote_id=f"{self.name}:post:{i}")
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        return None

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        return []

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        self.fetches += 1
        start = int(cursor or 0)
        return list(self.items[start:]), str(len(self.items))


class FakeNet(FakeNetNoLike):
    """:class:`FakeNetNoLike` that can like; ``like_error`` makes the next likes fail."""

    def __init__(self) -> None:
        super().__init__()
        self.likes: list[ReplyTarget] = []
        self.like_error: Exception | None = None

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        if self.like_error is not None:
            raise self.like_error
        self.likes.append(target)


class FakeMastodon(FakeNet):
    name: ClassVar[str] = "mastodon"
    label: ClassVar[str] = "Masto"


class FakeGoogle(FakeNetNoLike):
    name: ClassVar[str] = "google"
    label: ClassVar[str] = "Google"


@dataclass
class World:
    """One business with one member texting from ``phone``, and its linked fake accounts."""

    client: httpx.AsyncClient
    auth: dict[str, str]
    runner: Runner[Runtime]
    rt: Runtime
    biz: dict[str, Any]
    member: dict[str, Any]
    nets: dict[str, FakeNetNoLike]
    accounts: dict[str, int]
    seen: set[int] = field(default_factory=set)

    @property
    def biz_id(self) -> int:
        return int(self.biz["id"])

    @property
    def member_id(self) -> int:
        return int(self.member["id"])

    @property
    def net(self) -> FakeNet:
        net = self.nets["bluesky"]
        assert isinstance(net, FakeNet)
        return net

    async def poll(self, network: str = "bluesky") -> None:
        """One ``mentions.poll`` of the account, as the 5-minute schedule enqueues it, run now."""
        async with self.rt.db.write() as s:
            await queue.enqueue(s, "mentions.poll", {"account_id": self.accounts[network]}, max_attempts=3)
        await drain(self.runner)

    async def say(self, body: str) -> list[dict[str, Any]]:
        """Text ``body`` to the business; run the jobs; the SMS that came back (oldest first)."""
        r = await send_sms(self.client, self.member["phone"], self.biz["sms_numbers"][0], body)
        assert r.status_code == 200, r.text
        await drain(self.runner)
        return await self.new_sms()

    async def new_sms(self) -> list[dict[str, Any]]:
        """SMS sent to anyone of the business since the last call (emails are left out), oldest first."""
        r = await self.client.get(
            f"/api/v1/businesses/{self.biz_id}/messages",
            params={"direction": "out", "limit": 200},
            headers=self.auth,
        )
        assert r.status_code == 200, r.text
        out = [m for m in r.json()["items"] if m["id"] not in self.seen and m["channel"] == "sms"]
        out.sort(key=lambda m: int(m["id"]))
        self.seen.update(m["id"] for m in out)
        return out

    async def settings(self) -> dict[str, Any]:
        r = await self.client.get(
            f"/api/v1/businesses/{self.biz_id}/members/{self.member_id}/digest", headers=self.auth
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def put_settings(self, **changes: Any) -> httpx.Response:
        return await self.client.put(
            f"/api/v1/businesses/{self.biz_id}/members/{self.member_id}/digest", headers=self.auth, json=changes
        )

    async def mentions(self) -> list[MentionRow]:
        async with self.rt.db.read() as s:
            rows = await s.execute(
                select(MentionRow).where(col(MentionRow.business_id) == self.biz_id).order_by(col(MentionRow.id))
            )
            return list(rows.scalars())


MakeWorld = Callable[..., Awaitable[World]]


async def build_world(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    *,
    lang: str = "fr",
    timezone: str = "America/Toronto",
    nets: Sequence[FakeNetNoLike] | None = None,
    slug: str = "bistro",
    number: str = NUMBER,
    phone: str = OWNER,
) -> World:
    """A business, its member and its accounts (the fakes replace the runtime's real adapters)."""
    biz, member = await make_business(client, auth, slug=slug, number=number, phone=phone, lang=lang, timezone=timezone)
    fakes = list(nets) if nets is not None else [FakeNet()]
    accounts: dict[str, int] = {}
    for net in fakes:
        rt.networks[net.name] = net
        # Linked with the service: a fake has nothing to verify (the Bluesky and Mastodon tests link real
        # accounts through POST /accounts).
        async with rt.db.write() as s:
            acct = await account_service.link(
                s,
                business_id=int(biz["id"]),
                network=net.name,
                handle=f"fournil-{net.name}",
                credentials={"handle": f"fournil-{net.name}"},
                settings={},
                vault=rt.vault,
                actor="test",
            )
            assert acct.id is not None
            accounts[net.name] = acct.id
    world = World(client, auth, runner, rt, biz, member, {n.name: n for n in fakes}, accounts)
    await drain(runner)
    await world.new_sms()  # nothing of the setup counts
    return world


@pytest.fixture
def make_world(client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime) -> MakeWorld:
    """``await make_world(lang=..., timezone=..., nets=[FakeNet(), FakeGoogle()])``."""

    async def make(**kw: Any) -> World:
        return await build_world(client, auth, runner, rt, **kw)

    return make


def check_sms(msg: dict[str, Any], *, max_segments: int = 1) -> str:
    """The SMS is GSM-7 and billed as at most ``max_segments`` segments (checked again from its text)."""
    body: str = msg["body"]
    assert msg["encoding"] == "GSM-7", msg
    assert is_gsm7(body), body
    assert 1 <= int(msg["segments"]) <= max_segments, msg
    assert segment_info(body).segments == msg["segments"], msg
    return body


def one_sms(msgs: list[dict[str, Any]], *, max_segments: int = 1) -> str:
    assert len(msgs) == 1, [m["body"] for m in msgs]
    return check_sms(msgs[0], max_segments=max_segments)


async def cursors(world: World) -> list[MentionCursor]:
    async with world.rt.db.read() as s:
        return list((await s.execute(select(MentionCursor))).scalars())


async def posts_of(world: World) -> list[Post]:
    async with world.rt.db.read() as s:
        rows = await s.execute(select(Post).where(col(Post.business_id) == world.biz_id).order_by(col(Post.id)))
        return list(rows.scalars())


# --- M, M2, ? ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "command"), [("fr", "M"), ("fr", "MENTIONS"), ("en", "?"), ("en", "m")])
async def test_nothing_to_show_says_so(make_world: MakeWorld, lang: str, command: str) -> None:
    world = await make_world(lang=lang)
    assert one_sms(await world.say(command)) == t("no_mentions", lang)


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_m_sends_the_digest_now_in_gsm7_within_two_segments(make_world: MakeWorld, lang: str) -> None:
    world = await make_world(lang=lang)
    world.net.say("Je suis censé d’aller à l’Ardoise, c’est comment? 🤔", author="cliente1.bsky.social")
    world.net.say("Superbe soirée hier soir 🎉, merci à toute l’équipe!", author="luc.bsky.social")
    world.net.say("@fournil vous ouvrez dimanche?", author="marie.bsky.social")
    await world.poll()

    body = one_sms(await world.say("M"), max_segments=2)

    lines = body.split("\n")
    assert lines[0] == "3 mentions:"
    # Newest question first; the handle it starts with only addresses the business: no septet spent on it.
    assert lines[1] == "#3 Bsky marie: Vous ouvrez dimanche?"
    # é and à are GSM-7; curly apostrophes become straight ones and emoji go, so the SMS stays GSM-7.
    assert lines[2] == "#1 Bsky cliente1: Je suis censé d'aller à l'Ardoise, c'est comment?"
    assert lines[3].startswith("#2 Bsky luc: Superbe soirée hier soir")
    assert lines[-1] == ("Répondre: R 3 texte" if lang == "fr" else "Reply: R 3 text")
    assert all(m.digested_at is not None for m in await world.mentions())


async def test_m_polls_first_so_a_mention_just_made_is_shown(make_world: MakeWorld) -> None:
    """No scheduled poll ran since the fan wrote: M collects it before composing (not "no new mentions")."""
    world = await make_world(nets=[FakeNet(), FakeMastodon()])
    world.net.say("Vous ouvrez dimanche?", author="marie.bsky.social")
    world.nets["mastodon"].say("Bravo pour le menu!", author="@luc@masto.example")

    body = one_sms(await world.say("M"), max_segments=2)

    # Both accounts were polled at once, so which one numbered its item first is not fixed.
    lines = sorted(line.split(" ", 1)[1] for line in body.split("\n")[1:3])
    assert lines == ["Bsky marie: Vous ouvrez dimanche?", "Masto luc: Bravo pour le menu!"]
    assert (world.net.fetches, world.nets["mastodon"].fetches) == (1, 1)
    assert one_sms(await world.say("M"), max_segments=2) == body  # polling again stores nothing twice


class HangingNet(FakeNet):
    """A network that never answers the mention poll (until the poll is given up)."""

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        self.fetches += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_m_answers_with_what_arrived_when_a_network_hangs(make_world: MakeWorld) -> None:
    hanging = HangingNet()
    world = await make_world(nets=[FakeMastodon(), hanging])
    world.nets["mastodon"].say("Bravo pour le menu!", author="@luc@masto.example")
    world.rt.settings.mention_command_poll_seconds = 0.5  # bounded (8 s by default): the answer does not wait

    body = one_sms(await world.say("M"), max_segments=2)

    assert body.split("\n")[1] == "#1 Masto luc: Bravo pour le menu!"
    assert hanging.fetches == 1
    (cursor,) = [c for c in await cursors(world) if c.account_id == world.accounts["mastodon"]]
    assert cursor.cursor == "1"


async def test_m_again_shows_the_same_items_and_m2_the_next_page(make_world: MakeWorld) -> None:
    world = await make_world()
    for i in range(1, 16):
        world.net.say(f"Message numero {i} pour le bistro, avec un peu de texte pour remplir la ligne.")
    await world.poll()

    first = one_sms(await world.say("M"), max_segments=2)
    more = re.search(r"^\+(\d+): M2$", first, re.MULTILINE)
    assert more, first
    shown_1 = set(re.findall(r"^#(\d+) ", first, re.MULTILINE))
    assert len(shown_1) + int(more.group(1)) == 15

    second = one_sms(await world.say("M2"), max_segments=2)
    assert second.startswith("15 mentions p2:")
    shown_2 = set(re.findall(r"^#(\d+) ", second, re.MULTILINE))
    assert shown_2
    assert not shown_1 & shown_2

    assert one_sms(await world.say("M"), max_segments=2) == first  # M shows everything not yet answered
    assert one_sms(await world.say("M 9")) == t("no_mentions", "fr")  # past the last page


# --- R n ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "command", "receipt"),
    [
        ("fr", "R 1 Merci, à bientôt!", "Réponse à #1 sur Bluesky: OK"),
        ("fr", "REPONDRE 1 Merci, à bientôt!", "Réponse à #1 sur Bluesky: OK"),
        ("en", "REPLY 1 Merci, à bientôt!", "Reply to #1 on Bluesky: OK"),
        ("en", "r1 Merci, à bientôt!", "Reply to #1 on Bluesky: OK"),
    ],
)
async def test_reply_goes_to_that_network_as_a_reply_and_one_receipt(
    make_world: MakeWorld, lang: str, command: str, receipt: str
) -> None:
    other = FakeMastodon()
    world = await make_world(lang=lang, nets=[FakeNet(), other])
    asked = world.net.say("Vous ouvrez dimanche?")
    await world.poll()

    assert one_sms(await world.say(command)) == receipt

    assert len(world.net.published) == 1  # only the account the mention came from
    assert not other.published
    reply = world.net.published[0]
    assert reply.text == "Merci, à bientôt!"  # the owner's words as typed, accents kept
    assert reply.reply_to == asked.target
    (post,) = await posts_of(world)
    assert post.source == "reply"
    assert post.reply_to_mention_id is not None
    assert post.number < 0  # an answer takes no post number: the owner's next post is still #1
    (m,) = await world.mentions()
    assert m.answered_at is not None
    assert one_sms(await world.say("PUBLIER Soupe du jour")).startswith(("Publié #1:", "Posted #1:"))


async def test_reply_on_mastodon_starts_with_the_authors_handle(make_world: MakeWorld) -> None:
    masto = FakeMastodon()
    world = await make_world(nets=[masto])
    masto.say("@fournil c'est ouvert ce soir?", author="@cliente@masto.example")
    await world.poll("mastodon")

    assert one_sms(await world.say("R 1 Oui, jusqu'à 22h!")) == "Réponse à #1 sur Mastodon: OK"

    assert masto.published[0].text == "@cliente@masto.example Oui, jusqu'à 22h!"


@pytest.mark.parametrize(
    ("lang", "command", "key"),
    [("fr", "R 99 Merci!", "mention_unknown"), ("en", "REPLY 99 Thanks!", "mention_unknown")],
)
async def test_reply_to_an_unknown_number_says_so(make_world: MakeWorld, lang: str, command: str, key: str) -> None:
    world = await make_world(lang=lang)
    world.net.say("Bonjour!")
    await world.poll()

    body = one_sms(await world.say(command))

    assert body == t(key, lang, number=99)
    assert "99" in body
    assert not world.net.published
    assert not await posts_of(world)


async def test_reply_to_a_mention_older_than_seven_days_is_unknown(make_world: MakeWorld) -> None:
    world = await make_world()
    world.net.say("Bonjour!")
    await world.poll()
    async with world.rt.db.write() as s:
        for m in (await s.execute(select(MentionRow))).scalars():
            m.created_at = utcnow() - timedelta(days=8)
            s.add(m)

    assert one_sms(await world.say("R 1 Merci")) == t("mention_unknown", "fr", number=1)


@pytest.mark.parametrize(("lang", "command"), [("fr", "R 1"), ("en", "REPLY")])
async def test_reply_without_text_or_number_explains(make_world: MakeWorld, lang: str, command: str) -> None:
    world = await make_world(lang=lang)
    world.net.say("Bonjour!")
    await world.poll()

    one_sms(await world.say(command))

    assert not world.net.published
    assert not await posts_of(world)


# --- J n ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "command", "expected"),
    [
        ("fr", "J 1", "J'aime envoyé à #1 sur Bluesky."),
        ("fr", "J1", "J'aime envoyé à #1 sur Bluesky."),
        ("en", "LIKE 1", "Liked #1 on Bluesky."),
    ],
)
async def test_like_likes_it_and_one_sms_confirms(
    make_world: MakeWorld, lang: str, command: str, expected: str
) -> None:
    world = await make_world(lang=lang)
    item = world.net.say("Superbe soirée!")
    await world.poll()

    assert one_sms(await world.say(command)) == expected

    assert world.net.likes == [item.target]
    (m,) = await world.mentions()
    assert m.liked_at is not None
    # Liking again: one more SMS, no second like on the network.
    assert one_sms(await world.say(command)) == expected
    assert world.net.likes == [item.target]


async def test_like_refused_by_the_network_explains_in_one_sms(make_world: MakeWorld) -> None:
    world = await make_world(lang="en")
    world.net.say("Great night!")
    await world.poll()
    world.net.like_error = PermanentError("post deleted")

    body = one_sms(await world.say("LIKE 1"))

    assert body == t("like_failed", "en", network="Bluesky", reason="post deleted")
    assert not world.net.likes


async def test_like_where_the_network_has_no_likes_explains(make_world: MakeWorld) -> None:
    google = FakeGoogle()
    world = await make_world(nets=[google])
    google.say("Service lent.", kind="review", rating=2, author="Client Google")
    await world.poll("google")

    assert one_sms(await world.say("J 1")) == t("like_unsupported", "fr", network="Google")


@pytest.mark.parametrize(("lang", "command"), [("fr", "J 42"), ("en", "LIKE 42")])
async def test_like_of_an_unknown_number_says_so(make_world: MakeWorld, lang: str, command: str) -> None:
    world = await make_world(lang=lang)
    assert one_sms(await world.say(command)) == t("mention_unknown", lang, number=42)


# --- HEURES, PAUSE, REPRISE, ALERTES -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "command", "hours", "reply"),
    [
        ("fr", "HEURES 8h 17h", ["08:00", "17:00"], "Résumés à 8 h, 17 h."),
        ("fr", "heures 9h30 et 18h", ["09:30", "18:00"], "Résumés à 9 h 30, 18 h."),
        ("en", "HOURS 8am 5pm", ["08:00", "17:00"], "Digests at 8 am, 5 pm."),
        ("en", "HOURS noon", ["12:00"], "Digests at noon."),
    ],
)
async def test_hours_change_the_digest_slots(
    make_world: MakeWorld, lang: str, command: str, hours: list[str], reply: str
) -> None:
    world = await make_world(lang=lang)
    assert (await world.settings())["hours"] == ["08:00", "17:00"]

    assert one_sms(await world.say(command)) == reply

    assert (await world.settings())["hours"] == hours


@pytest.mark.parametrize(("lang", "command"), [("fr", "HEURES 25h"), ("en", "HOURS 8am 9am 10am 11am noon")])
async def test_bad_hours_explain_and_change_nothing(make_world: MakeWorld, lang: str, command: str) -> None:
    world = await make_world(lang=lang)

    one_sms(await world.say(command))

    assert (await world.settings())["hours"] == ["08:00", "17:00"]


@pytest.mark.parametrize(
    ("lang", "pause", "days", "resume", "resumed"),
    [
        ("fr", "PAUSE 3j", 3, "REPRISE", "Reprise des résumés de mentions."),
        ("en", "PAUSE 3d", 3, "RESUME", "Digests resumed."),
    ],
)
async def test_pause_and_resume(
    make_world: MakeWorld, lang: str, pause: str, days: int, resume: str, resumed: str
) -> None:
    world = await make_world(lang=lang)

    body = one_sms(await world.say(pause))

    paused_until = (await world.settings())["paused_until"]
    assert paused_until is not None
    async with world.rt.db.read() as s:
        st = await s.get(DigestSettings, world.member_id)
        assert st is not None
        assert st.paused_until is not None
        assert abs((st.paused_until - utcnow()) - timedelta(days=days)) < timedelta(minutes=5)
    # The owner's own date conventions: "jusqu'au 6 déc." in French, "until Dec 6" in English.
    date = r"(1er|\d{1,2}) (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.)"
    if lang == "en":
        date = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}"
    assert re.fullmatch(re.escape(t("paused", lang, date="@")).replace("@", date), body), body

    assert one_sms(await world.say(resume)) == resumed
    assert (await world.settings())["paused_until"] is None


@pytest.mark.parametrize(
    ("lang", "on", "off"),
    [("fr", "ALERTES OUI", "ALERTES NON"), ("en", "ALERTS ON", "ALERTS OFF"), ("en", "ALERTS YES", "ALERTS NO")],
)
async def test_alerts_on_and_off(make_world: MakeWorld, lang: str, on: str, off: str) -> None:
    world = await make_world(lang=lang)

    assert one_sms(await world.say(on)) == t("alerts_on", lang)
    assert (await world.settings())["alerts"] is True
    assert one_sms(await world.say(off)) == t("alerts_off", lang)
    assert (await world.settings())["alerts"] is False


async def test_a_whole_conversation_gets_one_sms_per_command(make_world: MakeWorld) -> None:
    """The issue's story: a traveller asks on Bluesky, the owner reads the digest and answers from the phone."""
    world = await make_world()
    world.net.say("Je suis censé d'aller à l'Ardoise, c'est comment?", author="cliente1.bsky.social")
    world.net.say("Merci pour hier!", author="client2.bsky.social")
    await world.poll()
    await world.poll()  # polling again stores nothing new
    assert [m.number for m in await world.mentions()] == [1, 2]

    digest = one_sms(await world.say("M"), max_segments=2)
    assert "#1 Bsky cliente1: Je suis censé d'aller à l'Ardoise, c'est comment?" in digest
    assert one_sms(await world.say("R 1 Très bien, venez goûter!")) == "Réponse à #1 sur Bluesky: OK"
    assert one_sms(await world.say("J 2")) == "J'aime envoyé à #2 sur Bluesky."
    assert one_sms(await world.say("HEURES 9h 18h")) == "Résumés à 9 h, 18 h."
    assert one_sms(await world.say("ALERTES OUI")) == t("alerts_on", "fr")
    one_sms(await world.say("PAUSE 2j"))
    assert one_sms(await world.say("REPRISE")) == "Reprise des résumés de mentions."
    # The answered question is no longer pending; the liked item still is.
    after = one_sms(await world.say("M"), max_segments=2)
    assert "#1 " not in after
    assert "#2 Bsky client2" in after
