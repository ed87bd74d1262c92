"""Digest slots, quiet hours, the daily cap, pauses and alerts with a frozen clock (``set_clock``), across time
zones and daylight-saving changes; one digest per slot with several schedulers, databases and restarts; the
email digest.

Everything runs as in production: the 5-minute ``mentions.schedule_digests`` enqueues ``mentions.send_digest``
jobs, the runner runs what is due at the frozen time, the console SMS provider and email sender record what
goes out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from app.config import Settings
from app.email.sender import AUTO_GENERATED, ConsoleEmailSender, build_message
from app.kit.time import utcnow
from app.main import make_runner
from app.mentions import tasks as mention_tasks
from app.models import Job, Member, MentionRow, OutboundMessage
from app.runtime import Runtime, build_runtime
from app.worker.runner import JobInfo, Runner
from app.worker.schedule import Periodic, tick
from tests.conftest import BOTH_BACKENDS
from tests.helpers import drain
from tests.mentions.test_flow import FakeGoogle, FakeNet, World, build_world, check_sms, one_sms
from tests.support.clock import Clock

TORONTO = "America/Toronto"
VANCOUVER = "America/Vancouver"
PARIS = "Europe/Paris"
DIGESTS = Periodic("mentions.schedule_digests", timedelta(minutes=5))


def local(tz: str, stamp: str, *, fold: int = 0) -> datetime:
    """``local(TORONTO, "2026-03-08 08:00")``: that wall-clock time in ``tz``, aware."""
    return datetime.fromisoformat(stamp).replace(tzinfo=ZoneInfo(tz), fold=fold)


@pytest.fixture
def clock_start() -> datetime:
    return datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
async def email_sender(rt: Runtime) -> ConsoleEmailSender:
    sender = ConsoleEmailSender()
    rt.email_sender = sender
    return sender


async def make(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    *,
    start: datetime,
    **kw: Any,
) -> World:
    clock.set(start)
    return await build_world(client, auth, runner, rt, **kw)


async def schedule(world: World, rt: Runtime | None = None, runner: Runner[Runtime] | None = None) -> None:
    """What the scheduler does every 5 minutes, plus a direct run of ``schedule_digests`` (as a second worker's
    scheduler would in the same 5 minutes), then every due job."""
    rt = rt or world.rt
    await tick(rt.db, [DIGESTS])
    await mention_tasks.schedule_digests(rt, JobInfo(0, "mentions.schedule_digests", {}, 1, 3))
    await drain(runner or world.runner)


async def at(world: World, clock: Clock, when: datetime) -> list[dict[str, Any]]:
    """Move the clock to ``when``, run the scheduler and the due jobs; the SMS sent meanwhile."""
    clock.set(when)
    await schedule(world)
    return await world.new_sms()


async def walk(
    world: World, clock: Clock, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)
) -> list[tuple[datetime, dict[str, Any]]]:
    """Every ``step`` (real time, not wall-clock) from ``start`` to ``end`` included: (the time it went out, SMS)
    for each SMS sent. The scheduler runs at every step, so a slot that fired is re-checked many times."""
    out: list[tuple[datetime, dict[str, Any]]] = []
    when, end = start.astimezone(UTC), end.astimezone(UTC)
    while when <= end:
        for msg in await at(world, clock, when):
            out.append((clock.now, msg))
        when += step
    return out


async def arrives(world: World, text: str, network: str = "bluesky", **kw: Any) -> None:
    """Someone says ``text`` on the network; the next poll stores it."""
    world.nets[network].say(text, **kw)
    await world.poll(network)


async def digest_jobs(world: World) -> list[Job]:
    async with world.rt.db.read() as s:
        rows = await s.execute(
            select(Job).where(col(Job.kind) == "mentions.send_digest", col(Job.dedup_key).startswith("digest:"))
        )
        return list(rows.scalars())


def numbers(body: str) -> list[int]:
    return [int(line.split(" ", 1)[0][1:]) for line in body.split("\n") if line.startswith("#")]


def wall(msg_at: datetime, tz: str) -> str:
    return msg_at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


# --- default slots, across time zones -----------------------------------------------------------------------------


@pytest.mark.parametrize("tz", [TORONTO, VANCOUVER, PARIS])
async def test_default_slots_fire_once_each_and_nothing_new_sends_nothing(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime, tz: str
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(tz, "2026-06-10 06:00"), timezone=tz)
    await arrives(world, "Vous ouvrez à quelle heure?")  # 06:00: waits for the 08:00 digest
    sent = await walk(world, clock, local(tz, "2026-06-10 07:00"), local(tz, "2026-06-10 12:00"))
    await arrives(world, "Merci pour le brunch!")  # 12:00
    sent += await walk(world, clock, local(tz, "2026-06-10 13:00"), local(tz, "2026-06-10 23:00"))
    await arrives(world, "Réservation pour 4 demain soir?")  # 23:00, quiet hours
    sent += await walk(world, clock, local(tz, "2026-06-11 00:00"), local(tz, "2026-06-11 20:00"))

    assert [(wall(when, tz), numbers(m["body"])) for when, m in sent] == [
        ("06-10 08:00", [1]),
        ("06-10 17:00", [2]),
        ("06-11 08:00", [3]),  # the 17:00 slot of 06-11 had nothing new: nothing sent
    ]
    for _, m in sent:
        check_sms(m, max_segments=2)
        assert m["kind"] == "digest"
    # One job per slot although the scheduler ran three times every 15 minutes.
    keys = sorted(str(j.dedup_key) for j in await digest_jobs(world))
    assert len(keys) == len(set(keys)) == 4
    offset = local(tz, "2026-06-10 08:00").strftime("%z")
    assert keys[0] == f"digest:{world.member_id}:2026-06-10T08:00{offset[:3]}:{offset[3:]}"


async def test_no_mentions_at_all_sends_nothing(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 00:00"))
    assert await walk(world, clock, clock.now, local(TORONTO, "2026-06-11 23:45")) == []
    assert len(await digest_jobs(world)) == 5  # the slots ran (06-09 17:00 too, at 00:00), with nothing to say


# --- daylight saving ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day_before", "dst_day", "day_after", "expected_utc"),
    [
        pytest.param(
            "2026-03-07",
            "2026-03-08",
            "2026-03-09",
            ["03-07 13:00", "03-07 22:00", "03-08 12:00", "03-08 21:00", "03-09 12:00"],
            id="spring-forward",
        ),
        pytest.param(
            "2026-10-31",
            "2026-11-01",
            "2026-11-02",
            ["10-31 12:00", "10-31 21:00", "11-01 13:00", "11-01 22:00", "11-02 13:00"],
            id="fall-back",
        ),
    ],
)
async def test_slots_follow_local_time_across_daylight_saving(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    day_before: str,
    dst_day: str,
    day_after: str,
    expected_utc: list[str],
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, f"{day_before} 05:40"))
    sent: list[tuple[datetime, dict[str, Any]]] = []
    step = timedelta(minutes=20)
    for day, until in ((day_before, "23:40"), (dst_day, "23:40"), (day_after, "09:00")):
        start = "00:00" if day != day_before else "06:00"
        # 20-minute steps through the night, so the changed hour is walked (skipped or twice) as it happens
        sent += await walk(world, clock, local(TORONTO, f"{day} {start}"), local(TORONTO, f"{day} 05:40"), step)
        await arrives(world, f"Message du {day} à 6h")
        sent += await walk(world, clock, local(TORONTO, f"{day} 06:00"), local(TORONTO, f"{day} 11:00"))
        await arrives(world, f"Message du {day} à midi")
        sent += await walk(world, clock, local(TORONTO, f"{day} 12:00"), local(TORONTO, f"{day} {until}"))

    # 08:00 and 17:00 Toronto time every day, whatever the UTC offset that day.
    assert [when.strftime("%m-%d %H:%M") for when, _ in sent] == expected_utc
    assert {wall(when, TORONTO)[-5:] for when, _ in sent} == {"08:00", "17:00"}
    for _, m in sent:
        check_sms(m, max_segments=2)


@pytest.mark.parametrize(
    ("start", "end", "expected_utc"),
    [
        # 02:30 does not exist on 2026-03-08 (02:00 -> 03:00): the slot moves to 03:30 EDT, once.
        pytest.param("2026-03-08 00:00", "2026-03-08 05:00", ["03-08 07:30"], id="missing-hour"),
        # 01:30 happens twice on 2026-11-01: the first one (EDT) fires, the second does not.
        pytest.param("2026-11-01 00:00", "2026-11-01 04:00", ["11-01 05:30"], id="doubled-hour"),
    ],
)
async def test_a_slot_in_the_changed_hour_fires_once(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    start: str,
    end: str,
    expected_utc: list[str],
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, start))
    hour = "02:30" if start.startswith("2026-03") else "01:30"
    r = await world.put_settings(hours=[hour], quiet_start="00:00", quiet_end="00:00")  # no quiet hours
    assert r.status_code == 200, r.text
    await arrives(world, "Ouvert cette nuit?")
    sent: list[tuple[datetime, dict[str, Any]]] = []
    when, stop = clock.now, local(TORONTO, end).astimezone(UTC)
    while when <= stop:  # in UTC steps: the doubled hour is walked twice
        if when.minute == 0:
            await arrives(world, f"Encore un message à {when:%H:%M}Z")
        for msg in await at(world, clock, when):
            sent.append((clock.now, msg))
        when += timedelta(minutes=10)

    assert [when.strftime("%m-%d %H:%M") for when, _ in sent] == expected_utc
    assert len(await digest_jobs(world)) == 1


# --- one digest per slot: several schedulers, databases, restarts, clock jumps ------------------------------------


@BOTH_BACKENDS
async def test_two_databases_schedule_one_job_per_slot(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    settings: Settings,
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    await arrives(world, "Vous avez des places ce soir?")
    other = build_runtime(settings)  # a second worker process: its own Database, same database
    other.networks["bluesky"] = world.net
    try:
        other_runner = make_runner(other)
        clock.set(local(TORONTO, "2026-06-10 08:00"))
        for _ in range(3):
            await schedule(world, other, other_runner)
            await schedule(world)
        jobs = await digest_jobs(world)
        assert len(jobs) == 1
        assert jobs[0].state == "done"
        one_sms(await world.new_sms(), max_segments=2)
    finally:
        await other.close()


async def test_a_restart_does_not_resend_a_slot(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    settings: Settings,
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    await arrives(world, "Vous avez des places ce soir?")
    one_sms(await at(world, clock, local(TORONTO, "2026-06-10 08:00")), max_segments=2)
    await arrives(world, "Et demain midi?")

    # The digest job runs again (its worker died after the commit, the reaper re-queued it): nothing resent.
    async with rt.db.write() as s:
        await s.execute(update(Job).where(col(Job.kind) == "mentions.send_digest").values(state="queued"))
    await drain(runner)
    assert await world.new_sms() == []

    # A new runtime (restart) in the same slot: nothing; the next slot: the new item.
    restarted = build_runtime(settings)
    restarted.networks["bluesky"] = world.net
    try:
        new_runner = make_runner(restarted)
        for hhmm in ("08:00", "08:05", "12:00", "16:55"):
            clock.set(local(TORONTO, f"2026-06-10 {hhmm}"))
            await schedule(world, restarted, new_runner)
            assert await world.new_sms() == [], hhmm
        clock.set(local(TORONTO, "2026-06-10 17:00"))
        await schedule(world, restarted, new_runner)
        assert numbers(one_sms(await world.new_sms(), max_segments=2)) == [2]
    finally:
        await restarted.close()


async def test_a_clock_jump_across_a_slot_fires_it_once(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(PARIS, "2026-06-10 07:00"), timezone=PARIS)
    await arrives(world, "On peut venir avec un chien?")
    assert await at(world, clock, local(PARIS, "2026-06-10 07:55")) == []

    # The machine slept from 07:55 to 11:40: the 08:00 slot fires on waking, once.
    assert numbers(one_sms(await at(world, clock, local(PARIS, "2026-06-10 11:40")), max_segments=2)) == [1]
    await arrives(world, "Et un chat?")
    assert await at(world, clock, local(PARIS, "2026-06-10 11:45")) == []
    assert await at(world, clock, local(PARIS, "2026-06-10 16:59")) == []
    assert numbers(one_sms(await at(world, clock, local(PARIS, "2026-06-10 17:00")), max_segments=2)) == [2]


# --- quiet hours ----------------------------------------------------------------------------------------------------


async def test_a_slot_due_in_quiet_hours_waits_until_8(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(VANCOUVER, "2026-06-10 16:00"), timezone=VANCOUVER)
    await arrives(world, "C'est ouvert le lundi?")
    # Everything was down from 16:00 to 21:30: the 17:00 slot is due but it is now quiet hours.
    sent = await walk(
        world, clock, local(VANCOUVER, "2026-06-10 21:30"), local(VANCOUVER, "2026-06-11 09:00"), timedelta(minutes=30)
    )

    assert [(wall(when, VANCOUVER), numbers(m["body"])) for when, m in sent] == [("06-11 08:00", [1])]


async def test_hours_inside_quiet_hours_are_delivered_at_the_end_of_them(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 12:00"))
    r = await world.put_settings(hours=["22:00"], quiet_start="21:00", quiet_end="08:30")
    assert r.status_code == 200, r.text
    await arrives(world, "Un message du midi")
    sent = await walk(
        world, clock, local(TORONTO, "2026-06-10 21:00"), local(TORONTO, "2026-06-11 10:00"), timedelta(minutes=30)
    )

    assert [wall(when, TORONTO) for when, _ in sent] == ["06-11 08:30"]


async def test_an_alert_in_quiet_hours_waits_until_8_and_is_not_repeated(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 22:30"))
    one_sms(await world.say("ALERTES OUI"))
    await arrives(world, "Vous êtes ouverts demain matin?")  # a question at 22:30
    assert await world.new_sms() == []

    sent = await walk(world, clock, local(TORONTO, "2026-06-10 23:00"), local(TORONTO, "2026-06-11 12:00"))

    assert [(wall(when, TORONTO), m["kind"], numbers(m["body"])) for when, m in sent] == [("06-11 08:00", "alert", [1])]
    check_sms(sent[0][1])


# --- alerts ---------------------------------------------------------------------------------------------------------


async def test_alerts_send_questions_and_low_ratings_at_once(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    google = FakeGoogle()
    world = await make(
        clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 13:00"), nets=[FakeNet(), google]
    )
    one_sms(await world.say("ALERTES OUI"))

    await arrives(world, "Avez-vous une option sans gluten?")
    assert numbers(one_sms(await world.new_sms())) == [1]
    await arrives(world, "Service très lent, plats froids.", "google", kind="review", rating=2, author="Jean G.")
    alert = one_sms(await world.new_sms())
    assert alert.split("\n")[1].startswith("#2 Google 2*: Service très lent")
    await arrives(world, "Excellent!", "google", kind="review", rating=5, author="Ana")
    await arrives(world, "Belle terrasse 😍")
    assert await world.new_sms() == []  # a 5-star review and a compliment wait for the digest

    # The 17:00 digest shows what was not alerted.
    assert numbers(one_sms(await at(world, clock, local(TORONTO, "2026-06-10 17:00")), max_segments=2)) == [4, 3]

    one_sms(await world.say("ALERTES NON"))
    await arrives(world, "Vous livrez?")
    assert await world.new_sms() == []


async def test_alerts_are_off_by_default(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 13:00"))
    await arrives(world, "Avez-vous une terrasse?")
    assert await world.new_sms() == []


# --- daily cap ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "expected"), [(None, [2, 2, 2]), (5, [2, 2, 1])], ids=["default-6", "5"])
async def test_the_daily_cap_counts_segments_of_digests_and_alerts(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    cap: int | None,
    expected: list[int],
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(PARIS, "2026-06-10 07:00"), timezone=PARIS)
    assert (await world.settings())["daily_cap_segments"] == 6
    changes: dict[str, Any] = {"hours": ["08:00", "10:00", "12:00", "14:00"], "alerts": True}
    if cap is not None:
        changes["daily_cap_segments"] = cap
    r = await world.put_settings(**changes)
    assert r.status_code == 200, r.text

    segments: list[int] = []
    for hhmm in ("08:00", "10:00", "12:00", "14:00"):
        clock.set(local(PARIS, f"2026-06-10 {hhmm}") - timedelta(minutes=30))
        for i in range(8):
            await arrives(world, f"Super soirée numéro {i} à {hhmm}, merci pour le service et la musique!")
        sent = await at(world, clock, local(PARIS, f"2026-06-10 {hhmm}"))
        segments += [int(m["segments"]) for m in sent]
        for m in sent:
            check_sms(m, max_segments=2)
    assert segments == expected  # up to the cap, then nothing at 14:00

    # An alert when the cap is reached: not sent (the question stays for the next digest).
    await arrives(world, "Vous êtes ouverts ce soir?")
    assert await world.new_sms() == []
    # Asking is always answered, and an answer does not count against the cap.
    one_sms(await world.say("M"), max_segments=2)

    # The next day starts a new count, at local midnight.
    sent = await at(world, clock, local(PARIS, "2026-06-11 08:00"))
    assert [int(m["segments"]) for m in sent] == [2]
    assert "#33 " not in sent[0]["body"]  # M showed the question already


# --- PAUSE, REPRISE, HEURES -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "pause", "resume"), [("fr", "PAUSE 3j", "REPRISE"), ("en", "PAUSE 3d", "RESUME")])
async def test_pause_stops_digests_and_resume_restarts_them(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    lang: str,
    pause: str,
    resume: str,
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"), lang=lang)
    one_sms(await world.say(pause))
    for stamp in ("2026-06-10 07:30", "2026-06-10 08:00", "2026-06-10 17:00", "2026-06-11 08:00"):
        await arrives(world, f"Message de {stamp}")
        assert await at(world, clock, local(TORONTO, stamp)) == [], stamp

    clock.set(local(TORONTO, "2026-06-11 12:00"))
    one_sms(await world.say(resume))
    sent = await at(world, clock, local(TORONTO, "2026-06-11 17:00"))
    assert numbers(one_sms(sent, max_segments=2))  # everything held back, most important first


async def test_a_pause_ends_by_itself(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    one_sms(await world.say("PAUSE 3j"))  # until 2026-06-13 07:00
    await arrives(world, "Bonjour!")
    for stamp in ("06-10 08:00", "06-10 17:00", "06-11 08:00", "06-11 17:00", "06-12 08:00", "06-12 17:00"):
        assert await at(world, clock, local(TORONTO, f"2026-{stamp}")) == [], stamp
    assert numbers(one_sms(await at(world, clock, local(TORONTO, "2026-06-13 08:00")), max_segments=2)) == [1]


@pytest.mark.parametrize(
    ("lang", "command", "fires", "silent"),
    [
        ("fr", "HEURES 9h 18h", ["09:00", "18:00"], ["08:00", "17:00"]),
        ("fr", "HEURES 8h 17h", ["08:00", "17:00"], ["09:00", "18:00"]),
        ("en", "HOURS 10am 4pm", ["10:00", "16:00"], ["08:00", "17:00"]),
        ("en", "HOURS 8am 5pm", ["08:00", "17:00"], ["10:00", "16:00"]),
    ],
)
async def test_hours_by_sms_move_the_slots(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    lang: str,
    command: str,
    fires: list[str],
    silent: list[str],
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"), lang=lang)
    one_sms(await world.say(command))
    seen: list[str] = []
    for hhmm in sorted(fires + silent):
        clock.set(local(TORONTO, f"2026-06-10 {hhmm}") - timedelta(minutes=5))
        await arrives(world, f"Une question pour {hhmm}?")
        for m in await at(world, clock, local(TORONTO, f"2026-06-10 {hhmm}")):
            check_sms(m, max_segments=2)
            seen.append(hhmm)
    assert seen == fires


# --- email digests ----------------------------------------------------------------------------------------------------


async def test_email_digest_once_per_slot_auto_generated(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    email_sender: ConsoleEmailSender,
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    r = await world.put_settings(channel="email")
    assert r.status_code == 200, r.text
    await arrives(world, "Je suis censé d’aller à l’Ardoise, c’est comment? 🤔", author="cliente1.bsky.social")
    await arrives(world, "Merci pour hier!", author="client2.bsky.social")

    assert await at(world, clock, local(TORONTO, "2026-06-10 08:00")) == []  # no SMS
    assert len(email_sender.sent) == 1
    mail = email_sender.sent[0]
    assert mail.to == world.member["email"]
    assert mail.auto_submitted == AUTO_GENERATED
    msg = build_message(mail)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "2" in mail.subject
    text = msg.get_content()
    assert "#1 Bluesky - cliente1.bsky.social" in text
    assert "Je suis censé d’aller à l’Ardoise, c’est comment? 🤔" in text  # email keeps the text as written
    assert text.index("#1 ") < text.index("#2 ")  # the question first
    assert mail.reply_to.startswith("reply+")

    # Again in the same slot, a re-run job, a later slot with nothing new: no second mail.
    async with rt.db.write() as s:
        await s.execute(update(Job).where(col(Job.kind) == "mentions.send_digest").values(state="queued"))
    await drain(runner)
    await at(world, clock, local(TORONTO, "2026-06-10 08:30"))
    await at(world, clock, local(TORONTO, "2026-06-10 17:00"))
    assert len(email_sender.sent) == 1
    async with rt.db.read() as s:
        rows = (await s.execute(select(OutboundMessage).where(col(OutboundMessage.channel) == "email"))).scalars()
        assert [(m.kind, m.member_id) for m in rows] == [("digest", world.member_id)]


async def test_both_channels_send_one_sms_and_one_email_per_slot(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    email_sender: ConsoleEmailSender,
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"), lang="en")
    assert (await world.put_settings(channel="both")).status_code == 200
    await arrives(world, "Do you take reservations?")

    assert numbers(one_sms(await at(world, clock, local(TORONTO, "2026-06-10 08:00")), max_segments=2)) == [1]
    assert len(email_sender.sent) == 1
    assert "To answer" in email_sender.sent[0].text
    await at(world, clock, local(TORONTO, "2026-06-10 12:00"))
    assert len(email_sender.sent) == 1
    assert await world.new_sms() == []


async def test_a_member_without_a_phone_gets_email_digests(
    clock: Clock,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runner: Runner[Runtime],
    rt: Runtime,
    email_sender: ConsoleEmailSender,
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    assert (await world.put_settings(channel="email")).status_code == 200
    async with rt.db.write() as s:
        member = await s.get(Member, world.member_id)
        assert member is not None
        member.phone = None
        s.add(member)
    await arrives(world, "Bonjour!")

    await at(world, clock, local(TORONTO, "2026-06-10 08:00"))

    assert len(email_sender.sent) == 1
    async with rt.db.read() as s:
        (m,) = (await s.execute(select(MentionRow))).scalars()
        assert m.digested_at == utcnow()


# --- two members: each gets every item once -------------------------------------------------------------------------


async def second_owner(world: World, lang: str) -> str:
    """Another member of the business, through the API; their phone."""
    r = await world.client.post(
        f"/api/v1/businesses/{world.biz_id}/members",
        headers=world.auth,
        json={"name": "Paul", "phone": "+14185550188", "language": lang},
    )
    assert r.status_code == 201, r.text
    phone: str = r.json()["phone"]
    return phone


async def test_each_member_gets_every_item_in_their_own_digest(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    """What one owner saw (by M, an alert or their digest) still reaches the other owner's digest, once."""
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    paul = await second_owner(world, "en")
    await arrives(world, "Belle terrasse!")

    # The first owner looks now: M shows #1 to them only.
    assert numbers(one_sms(await world.say("M"), max_segments=2)) == [1]
    await arrives(world, "Vous ouvrez le lundi?")

    by_phone: dict[str, list[int]] = {}
    for msg in await at(world, clock, local(TORONTO, "2026-06-10 08:00")):
        by_phone.setdefault(msg["peer"], []).extend(numbers(check_sms(msg, max_segments=2)))
    assert by_phone == {world.member["phone"]: [2], paul: [2, 1]}

    await arrives(world, "Merci!")
    by_phone = {}
    for msg in await at(world, clock, local(TORONTO, "2026-06-10 17:00")):
        by_phone.setdefault(msg["peer"], []).extend(numbers(check_sms(msg, max_segments=2)))
    assert by_phone == {world.member["phone"]: [3], paul: [3]}
    async with rt.db.read() as s:
        first = (await s.execute(select(MentionRow).order_by(col(MentionRow.id)))).scalars().first()
        assert first is not None
        assert first.digested_at == local(TORONTO, "2026-06-10 07:00").astimezone(UTC)


async def test_an_alert_to_one_member_leaves_the_item_in_the_others_digest(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 13:00"))
    paul = await second_owner(world, "fr")
    one_sms(await world.say("ALERTES OUI"))

    await arrives(world, "Avez-vous une option sans gluten?")
    alert = one_sms(await world.new_sms())
    assert numbers(alert) == [1]

    digests = await at(world, clock, local(TORONTO, "2026-06-10 17:00"))
    assert [m["peer"] for m in digests] == [paul]
    assert numbers(check_sms(digests[0], max_segments=2)) == [1]


async def test_two_missed_slots_make_one_digest(
    clock: Clock, client: httpx.AsyncClient, auth: dict[str, str], runner: Runner[Runtime], rt: Runtime
) -> None:
    """Down from 07:00 to 17:30: the 08:00 and 17:00 slots were both missed; one digest carries everything."""
    world = await make(clock, client, auth, runner, rt, start=local(TORONTO, "2026-06-10 07:00"))
    await arrives(world, "Belle terrasse!")
    await arrives(world, "Vous ouvrez le lundi?")

    sent = await at(world, clock, local(TORONTO, "2026-06-10 17:30"))

    assert sorted(numbers(one_sms(sent, max_segments=2))) == [1, 2]
    assert [j.dedup_key for j in await digest_jobs(world)] == [
        f"digest:{world.member_id}:{local(TORONTO, '2026-06-10 17:00').isoformat(timespec='minutes')}"
    ]
