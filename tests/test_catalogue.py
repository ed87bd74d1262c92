"""Every message to an owner, in both languages, with worst-case values: as the SMS path composes it, GSM-7 and
within its segment budget, and no French SMS drops an accent that GSM-7 carries.

Receipts for up to four networks must fit one GSM-7 segment: the average over every combination is 1.0.
"""

from __future__ import annotations

import functools
import itertools
import string
from collections.abc import Iterable
from datetime import date, time

import pytest

from app.catalogue import MESSAGES, SEGMENTS, t
from app.kit.sms_text import fits, is_gsm7, segment_info, to_gsm7
from app.kit.when_fmt import fmt_date, fmt_time, fmt_times
from app.messages.service import compose_sms
from app.models import Delivery, DeliveryStatus
from app.networks.registry import NETWORKS
from app.ocr.flow import fit_reading
from app.posts.service import failure_error, receipt_parts

NETWORK_LABELS = {name: entry.label for name, entry in NETWORKS.items()}  # the registry's labels

LANGS = ("fr", "en")
BIG_NUMBER = 9999  # four-digit post numbers: a busy business after a few years


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


# A failed delivery is written "failed:<why>": its receipt names the reason (tests give each one a last_error).
FAILURES = {
    "refused": failure_error("mastodon refused it: 422 Validation failed", "http_422"),
    "unreachable": failure_error("gave up after 8 attempts: timed out", "gave_up"),
    "disconnected": failure_error("401 invalid token", "auth", disconnected=True),
}


@functools.cache
def delivery(network: str, status: str) -> Delivery:
    # Cached: a SQLModel row is slow to build and the receipt table needs tens of thousands of them.
    status, _, why = status.partition(":")
    return Delivery(
        post_id=1, account_id=1, network=network, status=status, idempotency_key="k", last_error=FAILURES.get(why)
    )


def deliveries(networks: Iterable[str], statuses: Iterable[str]) -> list[Delivery]:
    return [delivery(n, s) for n, s in zip(networks, statuses, strict=True)]


RECEIPT_STATUSES = [
    DeliveryStatus.published.value,
    "failed:refused",  # "refusé par le réseau", the longest reason
    "failed:disconnected",
    DeliveryStatus.skipped.value,
    DeliveryStatus.pending.value,
]
REMOVAL_STATUSES = [DeliveryStatus.deleted.value, DeliveryStatus.delete_failed.value, DeliveryStatus.deleting.value]


def longest(texts: Iterable[str]) -> str:
    return max(texts, key=lambda s: (segment_info(s).units, s))


def worst_parts(lang: str, *, removal: bool) -> str:
    """The longest receipt body for four networks: the four longest labels, each with the longest status."""
    statuses = REMOVAL_STATUSES if removal else RECEIPT_STATUSES
    return longest(
        receipt_parts(deliveries(nets, [status] * 4), lang, removal=removal)
        for nets in itertools.combinations(NETWORK_LABELS, 4)
        for status in statuses
    )


def _longest_when(lang: str) -> str:
    from datetime import datetime

    from app.scheduling import words

    now = datetime(2026, 12, 30, 10, 0)
    moments = [words.moment(datetime(2027, 9, 29, 23, 30), now, lang), words.moment(now.replace(hour=23), now, lang)]
    return longest([*moments, words.weekly(datetime(2026, 12, 30, 12, 30), lang)])


def worst_values(lang: str) -> dict[str, str]:
    """Realistic worst cases for every placeholder of the catalogue (already GSM-7, as the senders make them)."""
    names = ["Boulangerie du Vieux-Port", "Cafe-Bistro Le Petit Gourmand", "Epicerie fine Saint-Roch"]
    accounts = ", ".join(
        f"{NETWORK_LABELS[n]} {longest([t('acct_ok', lang), t('acct_broken', lang), t('acct_disabled', lang)])}"
        for n in ("instagram", "facebook", "mastodon", "bluesky")
    )
    posts = ", ".join(f"#{BIG_NUMBER - i}" for i in range(5))  # the STATUS reply lists at most five
    bad_reasons = [text[lang] for key, text in MESSAGES.items() if key.startswith("bad_")]
    return {
        "number": str(BIG_NUMBER),
        "parts": longest([worst_parts(lang, removal=False), worst_parts(lang, removal=True)]),
        "network": longest(NETWORK_LABELS.values()),
        # posts.tasks.reason_key: one of the why_ messages
        "reason": longest(text[lang] for key, text in MESSAGES.items() if key.startswith("why_")),
        "keyword": "UNSUBSCRIBE",
        "choices": ", ".join(f"{i + 1} = {name}" for i, name in enumerate(names)),
        "accounts": accounts,
        "pending": t("status_pending", lang, posts=posts),
        "posts": posts,
        "length": "99999",
        "count": "99",
        # app/email/service.py: at most four file names, cut to 80 characters
        "names": ", ".join(["IMG_20250612_183045.HEIC", "menu-du-jour-semaine.pdf", "tarifs.docx", "x.zip"])[:80],
        "business": names[1],
        # app/commands/service.py: HEURES takes four times at most, written 8h, 12h30...
        "hours": fmt_times([time(8, 30), time(11, 45), time(16, 15), time(20, 45)], lang),
        "time": longest(fmt_time(time(h, 55), lang) for h in range(24)),
        "date": longest(fmt_date(date(2026, m, 30 if m != 2 else 28), lang) for m in range(1, 13)),
        "status": longest(
            t(k, lang) for k in MESSAGES if k.startswith(("st_", "why_")) and k not in ("st_disconnected",)
        ),
        # app/scheduling/words.py: the longest day and time said back, the longest weekly rule, two PROG lines
        "when": _longest_when(lang),
        "first": _longest_when(lang),
        "weekday": "mercredi" if lang == "fr" else "Wednesday",
        "items": "\n".join(f"P{BIG_NUMBER - i} {_longest_when(lang)} Menu du jour: soupe a l..." for i in range(2)),
        "invalid_reason": longest(bad_reasons),
        # app/commands/service.py quote(): 40 characters at most, GSM-7
        "quote": "Jarret d'agneau, risotto aux chanter...",
        "minutes": "999",
        "name": "Marie-Christine Beauchemin-Lefebvre"[:40],
        # app/ocr/flow.py: what was read on a chalkboard, cut to fit the confirm_board SMS
        "read": fit_reading("Soupe à l'oignon\nJarret d'agneau 24,50 $\nCrème brûlée\n" * 6, lang),
    }


def render(key: str, lang: str) -> str:
    values = worst_values(lang)
    if key == "invalid":
        values["reason"] = values["invalid_reason"]
    missing = placeholders(MESSAGES[key][lang]) - set(values)
    assert not missing, f"{key}: give a worst-case value for {missing} in worst_values()"
    return t(key, lang, **values)


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_with_the_same_placeholders(key: str) -> None:
    entry = MESSAGES[key]
    assert set(entry) == set(LANGS), f"{key}: languages {sorted(entry)}"
    assert all(entry[lang].strip() for lang in LANGS)
    assert placeholders(entry["fr"]) == placeholders(entry["en"])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_message_is_gsm7_and_fits_its_segment_budget(key: str, lang: str) -> None:
    text = compose_sms(render(key, lang))  # what the SMS carries
    assert is_gsm7(text), f"{key}/{lang}: not GSM-7: {[c for c in text if not is_gsm7(c)]}"
    budget = SEGMENTS.get(key, 1)
    info = segment_info(text)
    assert fits(text, budget), f"{key}/{lang}: {info.segments} segments ({info.units} septets) > {budget}: {text!r}"


def test_segment_budgets_name_real_messages() -> None:
    assert set(SEGMENTS) <= set(MESSAGES)
    assert all(n >= 1 for n in SEGMENTS.values())


def receipts(lang: str) -> list[str]:
    """Every receipt and removal receipt for 1 to 4 networks, every status of each, post #9999."""
    out: list[str] = []
    for k in range(1, 5):
        for nets in itertools.combinations(NETWORK_LABELS, k):
            for statuses in itertools.product(RECEIPT_STATUSES, repeat=k):
                parts = receipt_parts(deliveries(nets, statuses), lang)
                out.append(t("receipt", lang, number=BIG_NUMBER, parts=parts))
            for statuses in itertools.product(REMOVAL_STATUSES, repeat=k):
                parts = receipt_parts(deliveries(nets, statuses), lang, removal=True)
                out.append(t("undo_receipt", lang, number=BIG_NUMBER, parts=parts))
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_receipts_for_up_to_four_networks_average_one_gsm7_segment(lang: str) -> None:
    table = [compose_sms(r) for r in receipts(lang)]
    assert len(table) > 10_000
    assert all(is_gsm7(r) for r in table)
    average = sum(segment_info(r).segments for r in table) / len(table)
    worst = longest(table)
    assert average == 1.0, f"average {average}; longest ({segment_info(worst).units} septets): {worst!r}"


def test_worst_receipt_example() -> None:
    ds = deliveries(["page", "bluesky", "mastodon"], ["published", "published", "pending"])
    assert t("receipt", "fr", number=12, parts=receipt_parts(ds, "fr")) == (
        "Publié #12: Page OK, Bluesky OK, Mastodon en attente"
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["published", "failed:disconnected"], "Publié #21: Page OK, Mastodon déconnecté (conseiller avisé)"),
        (["published", "failed:unreachable"], "Publié #21: Page OK, Mastodon réseau indisponible"),
        (
            ["failed:refused", "failed:disconnected"],
            "Publié #21: Page refusé par le réseau, Mastodon déconnecté (conseiller avisé)",
        ),
    ],
)
def test_a_failure_says_why_never_a_bare_failed(statuses: list[str], expected: str) -> None:
    parts = receipt_parts(deliveries(["page", "mastodon"], statuses), "fr")
    assert t("receipt", "fr", number=21, parts=parts) == expected


def test_two_disconnected_accounts_carry_the_note_once() -> None:
    ds = deliveries(["page", "bluesky", "mastodon"], ["published", "failed:disconnected", "failed:disconnected"])
    assert receipt_parts(ds, "en") == "Page OK, Bluesky disconnected, Mastodon disconnected (adviser told)"


# --- French keeps its accents -------------------------------------------------------------------------------------

# Every accented letter that GSM-7 carries (3GPP TS 23.038 basic table, as the gsm0338 codec decodes it, with 0x09
# read as uppercase Ç): an SMS must keep each of them exactly where the catalogue has it.
GSM7_ACCENTED = "éèàùìòÉÇÄÖÑÜäöñüßØøÅåÆæ"
# Letters GSM-7 lacks: the catalogue writes them (email shows them), the SMS path writes them plainly.
NOT_GSM7 = "êâôîûçëïœ’…"


def test_the_accented_letters_are_what_the_codec_says() -> None:
    assert all(is_gsm7(ch) for ch in GSM7_ACCENTED)
    assert not any(is_gsm7(ch) for ch in NOT_GSM7)  # lowercase ç is not 0x09: phones show that as Ç


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_no_french_sms_drops_an_accent_that_gsm7_has(key: str) -> None:
    text = render(key, "fr")
    sms = compose_sms(text)
    # Character by character, what GSM-7 has is kept and only what it lacks is rewritten.
    assert sms == "".join(ch if is_gsm7(ch) else to_gsm7(ch) for ch in text), f"{key}: {sms!r} from {text!r}"
    for ch in GSM7_ACCENTED:
        assert sms.count(ch) == text.count(ch), f"{key}: {ch!r} lost in {sms!r}"


def test_french_is_written_with_its_accents() -> None:
    """The words the issue found stripped (\"Publie #1\" reads as \"publishes\") stay accented."""
    french = " ".join(entry["fr"] for entry in MESSAGES.values())
    stripped = [
        "Publie #",
        "reseau",
        "deconnecte",
        "Repondez",
        "repondez",
        " a #",
        "resume",
        "Resume",
        "Reessayez",
        "deja",
        "numero",
        "ecrivez",
        "Etat",
        "bientot",
        "refusee",
        "retire:",
        "Annule,",
    ]
    assert [w for w in stripped if w in french] == []
    assert {"é", "è", "à", "É", "ê", "ô", "ç"} <= set(french)  # email shows ê ô ç; SMS writes e o c


def test_email_keeps_full_french_and_sms_writes_what_gsm7_lacks() -> None:
    text = t("email_confirm_unsure", "fr")
    assert "sûrs" in text
    assert compose_sms(text).startswith("Nous ne sommes pas surs d'avoir compris votre réponse.")
