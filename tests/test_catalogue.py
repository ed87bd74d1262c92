"""Every message to an owner, in both languages, with worst-case values: GSM-7 and within its segment budget.

Receipts for up to four networks must fit one GSM-7 segment: the average over every combination is 1.0.
"""

from __future__ import annotations

import functools
import itertools
import string
from collections.abc import Iterable

import pytest

from app.catalogue import MESSAGES, NETWORK_LABELS, SEGMENTS, t
from app.kit.sms_text import fits, is_gsm7, segment_info, to_gsm7
from app.models import Delivery, DeliveryStatus
from app.posts.service import receipt_parts

LANGS = ("fr", "en")
BIG_NUMBER = 9999  # four-digit post numbers: a busy business after a few years


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


@functools.cache
def delivery(network: str, status: str) -> Delivery:
    # Cached: a SQLModel row is slow to build and the receipt table needs tens of thousands of them.
    return Delivery(post_id=1, account_id=1, network=network, status=status, idempotency_key="k")


def deliveries(networks: Iterable[str], statuses: Iterable[str]) -> list[Delivery]:
    return [delivery(n, s) for n, s in zip(networks, statuses, strict=True)]


RECEIPT_STATUSES = [
    DeliveryStatus.published.value,
    DeliveryStatus.failed.value,
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
        "hours": "08h30, 11h45, 16h15, 20h45",
        "date": "31/12" if lang == "fr" else "12/31",
        # app/scheduling/words.py: the longest day and time said back, the longest weekly rule, two PROG lines
        "when": _longest_when(lang),
        "first": _longest_when(lang),
        "weekday": "mercredi" if lang == "fr" else "Wednesday",
        "time": "12:30 pm" if lang == "en" else "23 h 30",
        "items": "\n".join(f"P{BIG_NUMBER - i} {_longest_when(lang)} Menu du jour: soupe a l..." for i in range(2)),
        "status": longest(t(k, lang) for k in ("st_ok", "st_pending", "st_failed", "st_skipped", "st_deleted")),
        "invalid_reason": longest(bad_reasons),
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
    text = render(key, lang)
    assert is_gsm7(MESSAGES[key][lang]), f"{key}/{lang}: not GSM-7: {MESSAGES[key][lang]!r}"
    assert is_gsm7(text), f"{key}/{lang}: not GSM-7: {[c for c in text if not is_gsm7(c)]}"
    assert to_gsm7(text) == text  # sending it changes nothing
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
    table = receipts(lang)
    assert len(table) > 10_000
    assert all(is_gsm7(r) for r in table)
    average = sum(segment_info(r).segments for r in table) / len(table)
    worst = longest(table)
    assert average == 1.0, f"average {average}; longest ({segment_info(worst).units} septets): {worst!r}"


def test_worst_receipt_example() -> None:
    ds = deliveries(["page", "bluesky", "mastodon"], ["published", "published", "pending"])
    assert t("receipt", "fr", number=12, parts=receipt_parts(ds, "fr")) == (
        "Publie #12: Page OK, Bluesky OK, Mastodon en attente"
    )
