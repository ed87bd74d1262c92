"""The date grammar (app/scheduling/grammar.py), one row per expression: what the owner types after PUBLIER /
POST / CHAQUE, the business's language, and the wall time it means, with the rest of the message.

Unless a row says otherwise, "now" is Wednesday 9 December 2026, 10:00 in the business's zone.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from app.scheduling.grammar import MAX_AHEAD_DAYS, When, parse_when, read_when

NOW = datetime(2026, 12, 9, 10, 0)  # a Wednesday
LATE = datetime(2026, 12, 9, 12, 0)  # the same day at noon
NEW_YEAR = datetime(2026, 12, 31, 23, 30)


def at(stamp: str, **flags: object) -> When:
    return When(datetime.strptime(stamp, "%Y-%m-%d %H:%M"), **flags)  # type: ignore[arg-type]


# (text, language, now, expected When or None (not a schedule: the text is the post), rest of the text)
TABLE: list[tuple[str, str, datetime, When | None, str]] = [
    # --- relative days, French
    ("demain 11h Menu du jour : soupe", "fr", NOW, at("2026-12-10 11:00"), "Menu du jour : soupe"),
    ("Demain 11h Menu", "fr", NOW, at("2026-12-10 11:00"), "Menu"),
    ("DEMAIN 11H MENU", "fr", NOW, at("2026-12-10 11:00"), "MENU"),
    ("demain à 11h Menu", "fr", NOW, at("2026-12-10 11:00"), "Menu"),
    ("demain a 11h30 Menu", "fr", NOW, at("2026-12-10 11:30"), "Menu"),
    ("demain 11 h 30 Menu", "fr", NOW, at("2026-12-10 11:30"), "Menu"),
    ("demain 11 h Menu", "fr", NOW, at("2026-12-10 11:00"), "Menu"),
    ("demain 11:30 Menu", "fr", NOW, at("2026-12-10 11:30"), "Menu"),
    ("demain 11h00: Menu", "fr", NOW, at("2026-12-10 11:00"), "Menu"),
    ("demain 9h - Brunch", "fr", NOW, at("2026-12-10 09:00"), "Brunch"),
    ("demain midi Soupe", "fr", NOW, at("2026-12-10 12:00"), "Soupe"),
    ("demain à midi Soupe", "fr", NOW, at("2026-12-10 12:00"), "Soupe"),
    ("demain minuit Fermeture", "fr", NOW, at("2026-12-10 00:00"), "Fermeture"),
    ("demain 17 heures Apéro", "fr", NOW, at("2026-12-10 17:00"), "Apéro"),
    ("après-demain 10h Brunch", "fr", NOW, at("2026-12-11 10:00"), "Brunch"),
    ("apres demain 10h Brunch", "fr", NOW, at("2026-12-11 10:00"), "Brunch"),
    ("aujourd'hui 15h Café offert", "fr", NOW, at("2026-12-09 15:00"), "Café offert"),
    ("aujourd’hui 15h Café offert", "fr", NOW, at("2026-12-09 15:00"), "Café offert"),
    ("auj 15h Café", "fr", NOW, at("2026-12-09 15:00"), "Café"),
    ("ce soir 18h Jazz", "fr", NOW, at("2026-12-09 18:00"), "Jazz"),
    ("11h demain Menu", "fr", NOW, at("2026-12-10 11:00"), "Menu"),
    ("à 11h demain Menu", "fr", NOW, at("2026-12-10 11:00"), "Menu"),
    ("demain 11h", "fr", NOW, at("2026-12-10 11:00"), ""),
    ("demain 11h\nMenu\nSoupe", "fr", NOW, at("2026-12-10 11:00"), "Menu\nSoupe"),
    # --- weekdays, French
    ("vendredi 17h30 Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("Vendredi 17h30 Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("ven. 17h30 Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("ven 17h30 Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("ce vendredi 17h30 Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("vendredi prochain 17h30 Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("lundi 11h Menu", "fr", NOW, at("2026-12-14 11:00"), "Menu"),
    ("mardi à 8h Croissants", "fr", NOW, at("2026-12-15 08:00"), "Croissants"),
    ("mercredi 15h Today later", "fr", NOW, at("2026-12-09 15:00"), "Today later"),  # today, still ahead
    ("mercredi 9h Next week", "fr", NOW, at("2026-12-16 09:00"), "Next week"),  # today's 9h is gone
    ("jeudi midi Tartare", "fr", NOW, at("2026-12-10 12:00"), "Tartare"),
    ("samedi 10 h Brunch", "fr", NOW, at("2026-12-12 10:00"), "Brunch"),
    ("dimanche 9h30 Brunch", "fr", NOW, at("2026-12-13 09:30"), "Brunch"),
    ("dim. 9h30 Brunch", "fr", NOW, at("2026-12-13 09:30"), "Brunch"),
    ("17h30 vendredi Happy hour", "fr", NOW, at("2026-12-11 17:30"), "Happy hour"),
    # --- dates, French
    ("24/12 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("24/12/2026 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("24/12/26 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("le 24/12 à 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("24 décembre 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("24 déc 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("24 déc. 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("le 24 décembre à 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("jeudi 24 décembre 10h Joyeux Noël", "fr", NOW, at("2026-12-24 10:00"), "Joyeux Noël"),
    ("ven. 12 déc. 17h30 Jazz", "fr", NOW, at("2026-12-12 17:30"), "Jazz"),
    ("1er janvier 11h Bonne année", "fr", NOW, at("2027-01-01 11:00"), "Bonne année"),  # next year's
    ("1/1 11h Bonne année", "fr", NOW, at("2027-01-01 11:00"), "Bonne année"),
    ("04/05 11h Fête", "fr", NOW, at("2027-05-04 11:00"), "Fête"),  # day/month in French
    ("12/24 10h Noël", "fr", NOW, at("2026-12-24 10:00"), "Noël"),  # 24 cannot be a month
    ("5 mai 2027 11h Fête", "fr", NOW, at("2027-05-05 11:00"), "Fête"),
    ("3 mars 11h Cabane à sucre", "fr", NOW, at("2027-03-03 11:00"), "Cabane à sucre"),
    ("15 août 11h Fête", "fr", NOW, at("2027-08-15 11:00"), "Fête"),
    ("9/12 9h Trop tard", "fr", NOW, at("2026-12-09 09:00", problem="past"), "Trop tard"),
    ("8/12 11h L'an prochain", "fr", NOW, at("2027-12-08 11:00"), "L'an prochain"),
    ("9/12/2026 9h Trop tard", "fr", NOW, at("2026-12-09 09:00", problem="past"), "Trop tard"),
    ("24/12/2025 10h Noël", "fr", NOW, at("2025-12-24 10:00", problem="past"), "Noël"),
    ("24/12/2028 10h Noël", "fr", NOW, at("2028-12-24 10:00", problem="too_far"), "Noël"),
    # --- a time alone: today, or tomorrow once it has passed (said back)
    ("à 11h Menu du jour", "fr", NOW, at("2026-12-09 11:00"), "Menu du jour"),
    ("à 11h Menu du jour", "fr", LATE, at("2026-12-10 11:00", rolled=True), "Menu du jour"),
    ("a 11h Menu", "fr", NOW, at("2026-12-09 11:00"), "Menu"),
    ("à midi Soupe", "fr", NOW, at("2026-12-09 12:00"), "Soupe"),
    ("à midi Soupe", "fr", LATE, at("2026-12-10 12:00", rolled=True), "Soupe"),  # noon at noon is gone
    ("à 10h Menu", "fr", NOW, at("2026-12-10 10:00", rolled=True), "Menu"),
    ("@ 14h30 Menu", "fr", NOW, at("2026-12-09 14:30"), "Menu"),
    ("à 23h30 Dernier service", "fr", NEW_YEAR, at("2027-01-01 23:30", rolled=True), "Dernier service"),
    # --- past times
    ("aujourd'hui 9h Trop tard", "fr", NOW, at("2026-12-09 09:00", problem="past"), "Trop tard"),
    ("aujourd'hui 10h Trop tard", "fr", NOW, at("2026-12-09 10:00", problem="past"), "Trop tard"),
    ("today 9am Too late", "en", NOW, at("2026-12-09 09:00", problem="past"), "Too late"),
    # --- English
    ("tomorrow 11am Today's special", "en", NOW, at("2026-12-10 11:00"), "Today's special"),
    ("Tomorrow 11 am Special", "en", NOW, at("2026-12-10 11:00"), "Special"),
    ("tomorrow at 11am Special", "en", NOW, at("2026-12-10 11:00"), "Special"),
    ("tomorrow 11:30am Special", "en", NOW, at("2026-12-10 11:30"), "Special"),
    ("tomorrow 11:30 a.m. Special", "en", NOW, at("2026-12-10 11:30"), "Special"),
    ("tomorrow noon Special", "en", NOW, at("2026-12-10 12:00"), "Special"),
    ("tomorrow at noon Special", "en", NOW, at("2026-12-10 12:00"), "Special"),
    ("tomorrow 12am Midnight snack", "en", NOW, at("2026-12-10 00:00"), "Midnight snack"),
    ("tomorrow 12pm Lunch", "en", NOW, at("2026-12-10 12:00"), "Lunch"),
    ("tmrw 9am Coffee", "en", NOW, at("2026-12-10 09:00"), "Coffee"),
    ("today 3pm Coffee", "en", NOW, at("2026-12-09 15:00"), "Coffee"),
    ("tonight 7pm Jazz", "en", NOW, at("2026-12-09 19:00"), "Jazz"),
    ("day after tomorrow 10am Brunch", "en", NOW, at("2026-12-11 10:00"), "Brunch"),
    ("Fri 5:30pm Happy hour", "en", NOW, at("2026-12-11 17:30"), "Happy hour"),
    ("Fri 5:30 Happy hour", "en", NOW, at("2026-12-11 17:30"), "Happy hour"),  # afternoon in English
    ("Fri 5:30 Happy hour", "fr", NOW, at("2026-12-11 05:30"), "Happy hour"),  # 24-hour clock in French
    ("Fri 9:30 Brunch", "en", NOW, at("2026-12-11 09:30"), "Brunch"),  # 8 to 11: the morning
    ("Friday 5pm Happy hour", "en", NOW, at("2026-12-11 17:00"), "Happy hour"),
    ("this Friday at 5pm Happy hour", "en", NOW, at("2026-12-11 17:00"), "Happy hour"),
    ("next Friday 5pm Happy hour", "en", NOW, at("2026-12-11 17:00"), "Happy hour"),
    ("on Friday at 5 pm Happy hour", "en", NOW, at("2026-12-11 17:00"), "Happy hour"),
    ("Mon 11am Soup", "en", NOW, at("2026-12-14 11:00"), "Soup"),
    ("Sun 10am Brunch", "en", NOW, at("2026-12-13 10:00"), "Brunch"),
    ("Thurs 6pm Trivia", "en", NOW, at("2026-12-10 18:00"), "Trivia"),
    ("Dec 12 10am Market", "en", NOW, at("2026-12-12 10:00"), "Market"),
    ("December 24 10am Xmas", "en", NOW, at("2026-12-24 10:00"), "Xmas"),
    ("Dec 24th at 10am Xmas", "en", NOW, at("2026-12-24 10:00"), "Xmas"),
    ("December 24, 2026, 10am Xmas", "en", NOW, at("2026-12-24 10:00"), "Xmas"),
    ("12 Dec 10am Market", "en", NOW, at("2026-12-12 10:00"), "Market"),
    ("Fri Dec 11 5pm Jazz", "en", NOW, at("2026-12-11 17:00"), "Jazz"),
    ("04/05 11am Party", "en", NOW, at("2027-04-05 11:00"), "Party"),  # month/day in English
    ("12/24 10am Xmas", "en", NOW, at("2026-12-24 10:00"), "Xmas"),
    ("24/12 10am Xmas", "en", NOW, at("2026-12-24 10:00"), "Xmas"),  # 24 cannot be a month
    ("at 11am Lunch", "en", NOW, at("2026-12-09 11:00"), "Lunch"),
    ("at 11am Lunch", "en", LATE, at("2026-12-10 11:00", rolled=True), "Lunch"),
    ("at noon Lunch", "en", NOW, at("2026-12-09 12:00"), "Lunch"),
    ("11am tomorrow Lunch", "en", NOW, at("2026-12-10 11:00"), "Lunch"),
    ("tomorrow 17:30 Dinner", "en", NOW, at("2026-12-10 17:30"), "Dinner"),
    ("tomorrow 5h Early", "en", NOW, at("2026-12-10 05:00"), "Early"),  # 5h is the 24-hour clock
    # --- weekly
    ("chaque lundi 11h Menu de la semaine", "fr", NOW, at("2026-12-14 11:00", weekly=True), "Menu de la semaine"),
    ("CHAQUE LUNDI 11H Menu", "fr", NOW, at("2026-12-14 11:00", weekly=True), "Menu"),
    ("chaque mercredi 15h Tricot", "fr", NOW, at("2026-12-09 15:00", weekly=True), "Tricot"),
    ("chaque mercredi 9h Tricot", "fr", NOW, at("2026-12-16 09:00", weekly=True), "Tricot"),
    ("tous les lundis à 11h Menu", "fr", NOW, at("2026-12-14 11:00", weekly=True), "Menu"),
    ("chaque vendredi midi Poisson", "fr", NOW, at("2026-12-11 12:00", weekly=True), "Poisson"),
    ("every Monday 11am Soup", "en", NOW, at("2026-12-14 11:00", weekly=True), "Soup"),
    ("every Tues at 6pm Tacos", "en", NOW, at("2026-12-15 18:00", weekly=True), "Tacos"),
    ("every friday 5:30pm Happy hour", "en", NOW, at("2026-12-11 17:30", weekly=True), "Happy hour"),
    # --- not a schedule: the whole text is the post
    ("Demain on ferme", "fr", NOW, None, "Demain on ferme"),
    ("demain: fermé pour inventaire", "fr", NOW, None, "demain: fermé pour inventaire"),
    ("Vendredi 5 à 7 au bar", "fr", NOW, None, "Vendredi 5 à 7 au bar"),
    ("Lundi soupe aux pois", "fr", NOW, None, "Lundi soupe aux pois"),
    ("11h30 on ouvre la terrasse", "fr", NOW, None, "11h30 on ouvre la terrasse"),  # a bare time is text
    ("Menu du jour: soupe", "fr", NOW, None, "Menu du jour: soupe"),
    ("demain 2 pour 1 sur les pizzas", "fr", NOW, None, "demain 2 pour 1 sur les pizzas"),
    ("demain 11hamburgers", "fr", NOW, None, "demain 11hamburgers"),
    ("demain 25h Menu", "fr", NOW, None, "demain 25h Menu"),
    ("demain 11h75 Menu", "fr", NOW, None, "demain 11h75 Menu"),
    ("31/02 11h Menu", "fr", NOW, None, "31/02 11h Menu"),
    ("14/14 11h Menu", "fr", NOW, None, "14/14 11h Menu"),
    ("1/2 prix sur les desserts", "fr", NOW, None, "1/2 prix sur les desserts"),
    ("Lune de miel 11h", "fr", NOW, None, "Lune de miel 11h"),
    ('"Demain 11h: portes ouvertes"', "fr", NOW, None, '"Demain 11h: portes ouvertes"'),
    ("Tomorrow we are closed", "en", NOW, None, "Tomorrow we are closed"),
    ("Friday night jazz", "en", NOW, None, "Friday night jazz"),
    ("tomorrow 13pm Lunch", "en", NOW, None, "tomorrow 13pm Lunch"),
    ("every day is a good day", "en", NOW, None, "every day is a good day"),
    ("chaque jour une soupe", "fr", NOW, None, "chaque jour une soupe"),
    ("", "fr", NOW, None, ""),
]


@pytest.mark.parametrize(("text", "lang", "now", "expected", "rest"), TABLE, ids=[f"{r[1]}:{r[0]!r}" for r in TABLE])
def test_parse_when(text: str, lang: str, now: datetime, expected: When | None, rest: str) -> None:
    assert parse_when(text, now, lang) == (expected, rest)  # type: ignore[arg-type]


def test_the_table_is_large_and_bilingual() -> None:
    assert len(TABLE) >= 80
    assert sum(1 for r in TABLE if r[1] == "en") >= 30
    assert len({r[0] for r in TABLE}) >= 80


def test_read_when_needs_no_clock() -> None:
    spec, rest = read_when("demain 11h Menu")
    assert spec is not None
    assert (spec.relative, spec.at.hour, rest) == (1, 11, "Menu")
    assert read_when("Demain on ferme") == (None, "Demain on ferme")


def test_a_whole_year_ahead_is_the_limit() -> None:
    assert MAX_AHEAD_DAYS == 366
    when, _ = parse_when("8/12 11h x", datetime(2026, 12, 9, 10, 0), "fr")
    assert when is not None
    assert when.problem is None  # 8 Dec 2027 11:00 is less than 366 days ahead
