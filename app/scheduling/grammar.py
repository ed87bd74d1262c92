"""When an owner wants a post out: ``demain 11h``, ``vendredi 17h30``, ``24/12 10h``, ``à 11h``, ``tomorrow
11am``, ``Fri 5:30pm``, ``chaque lundi 11h``, read at the start of a message.

Two pure steps, no clock and no database:

- :func:`read_when` (used by the command parser, which has no clock) reads the words into a :class:`Spec`
  and returns the rest of the message, exactly as typed.
- :func:`resolve` puts a :class:`Spec` on the calendar, given the business's local time and language.

:func:`parse_when` is both at once. docs/commands.md has the owner's version of these rules; the table in
tests/scheduling/test_grammar.py is their exhaustive list.

The rules:

1. **A schedule needs an explicit time.** ``Demain on ferme`` or ``Vendredi 5 à 7`` read as text: a day alone, or
   a number without ``h``, ``:``, ``am``/``pm`` or ``heures``, is never a time. ``midi``/``noon`` and
   ``minuit``/``midnight`` are times.
2. The day comes first or after the time: ``demain 11h``, ``11h demain``, ``demain à 11h``, ``tomorrow at
   11am``. A time alone must be introduced by ``à``/``a``/``at``/``@`` (``à 11h Menu``): today if that time is
   still ahead, else tomorrow (``rolled``, said back in the receipt).
3. Days: ``aujourd'hui``/``today``, ``demain``/``tomorrow``, ``après-demain``; weekday names and their
   abbreviations in both languages (``ce``/``this``/``next``/``prochain`` change nothing: it is the next such
   day whose time is still ahead, today included); dates ``24/12``, ``24/12/2026``, ``24 déc``, ``1er mai``,
   ``Dec 12``, ``December 12th``, ``12 Dec`` (a date whose day is over this year is next year's).
4. Ambiguity is resolved by the business's language and said back: ``04/05`` is 4 May in French and April 5
   in English (a number over 12 settles it either way: ``12/24`` and ``24/12`` are both 24 December); an
   English time without am/pm from 1 to 7 o'clock (``Fri 5:30``) is in the afternoon, 8 to 11 in the morning.
   French times are on the 24-hour clock.
5. Weekly: ``chaque lundi 11h``, ``tous les lundis à 11h``, ``every Monday 11am`` (a weekday and a time, no
   date).
6. A moment already gone (``aujourd'hui 9h`` at 10h, ``24/12/2025``) resolves with ``problem="past"``; one more
   than :data:`MAX_AHEAD_DAYS` ahead with ``problem="too_far"``.
7. After the expression, the whitespace and one separator (``:``, ``-``, ``,``, ``.``) followed by a space are
   dropped; the rest is the post, as typed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, TypeAlias

Lang: TypeAlias = Literal["fr", "en"]
Problem: TypeAlias = Literal["past", "too_far"]

MAX_AHEAD_DAYS = 366
"""Farthest a post may be scheduled: a year and a day (``24/12`` in January is next December)."""


@dataclass(frozen=True, slots=True)
class Spec:
    """What the words say, before any calendar. Exactly one of ``relative``, ``weekday``, ``numeric`` and
    ``month`` is set, or none (a time alone)."""

    at: time
    relative: int | None = None  # 0 today, 1 tomorrow, 2 the day after
    weekday: int | None = None  # 0 Monday .. 6 Sunday
    numeric: tuple[int, int] | None = None  # 04/05 as typed: day/month or month/day, the language decides
    month: int | None = None  # with ``day``: 24 déc, Dec 12
    day: int | None = None
    year: int | None = None
    weekly: bool = False
    ampm: bool = False  # am/pm was written: the time is not ambiguous


@dataclass(frozen=True, slots=True)
class When:
    """A spec on the calendar. ``local`` is a wall time in the business's zone (naive): the first occurrence for a
    weekly post. ``rolled``: a time alone already gone today, so tomorrow. ``problem``: not schedulable."""

    local: datetime
    weekly: bool = False
    rolled: bool = False
    problem: Problem | None = None


# --- words --------------------------------------------------------------------------------------------------

_WEEKDAYS: dict[str, int] = {}
for _i, _names in enumerate(
    (
        "lundi lun monday mon",
        "mardi mar tuesday tue tues",
        "mercredi mer wednesday wed",
        "jeudi jeu thursday thu thur thurs",
        "vendredi ven friday fri",
        "samedi sam saturday sat",
        "dimanche dim sunday sun",
    )
):
    for _n in _names.split():
        _WEEKDAYS[_n] = _i

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    (
        "janvier janv jan january",
        "fevrier fevr fev february feb",
        "mars march mar",
        "avril avr april apr",
        "mai may",
        "juin june jun",
        "juillet juil july jul",
        "aout august aug",
        "septembre sept sep september",
        "octobre oct october",
        "novembre nov november",
        "decembre dec december",
    ),
    start=1,
):
    for _n in _names.split():
        _MONTHS[_n] = _i


def _alternation(words: dict[str, int], plural: bool = False) -> str:
    longest_first = sorted(words, key=len, reverse=True)
    return "(?:" + "|".join(longest_first) + ")" + ("s?" if plural else "") + r"\.?"


_WD = _alternation(_WEEKDAYS)
_WD_PLURAL = _alternation(_WEEKDAYS, plural=True)
_MO = _alternation(_MONTHS)
_END = r"(?![\w'])"  # a whole word: ``11h`` but not ``11hamburgers``, ``lun`` but not ``lune``

_AT = r"(?:(?:a|at|@|vers)\s+)"  # ``à`` is folded to ``a``
_TIME = re.compile(
    r"(?:(?P<named>midi|noon|minuit|midnight)"
    r"|(?P<h1>\d{1,2})\s?(?:h|heures?)(?:\s?(?P<m1>\d{2}))?"
    r"|(?P<h2>\d{1,2}):(?P<m2>\d{2})(?:\s?(?P<ap2>am|pm|a\.m\.|p\.m\.))?"
    r"|(?P<h3>\d{1,2})\s?(?P<ap3>am|pm|a\.m\.|p\.m\.))" + r"(?![\w'])"
)
_RELATIVE = re.compile(
    r"(?:(?P<d2>apres[- ]?demain|day after tomorrow)"
    r"|(?P<d1>demain|tomorrow|tmrw|tmr)"
    r"|(?P<d0>aujourd'?hui|auj|today|ce soir|tonight|ce matin|this morning|this evening))" + _END
)
_WEEKDAY = re.compile(r"(?:(?:ce|cette|this|next|le|on)\s+)?(?P<wd>" + _WD + r")(?:\s+prochain)?" + r"(?![\w'])")
_WEEKLY = re.compile(r"(?:chaque|every|tous\s+les|each)\s+(?P<wd>" + _WD_PLURAL + r")(?![\w'])")
_DATE = re.compile(
    r"(?:(?:le|on|the)\s+)?(?:" + _WD + r",?\s+)?(?:"
    r"(?P<n1>\d{1,2})/(?P<n2>\d{1,2})(?:/(?P<ny>\d{4}|\d{2}))?"
    r"|(?P<d1>\d{1,2})(?:er|re|e|st|nd|rd|th)?\s+(?P<m1>" + _MO + r")(?:\s+(?P<y1>\d{4}))?"
    r"|(?P<m2>" + _MO + r")\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y2>\d{4}))?"
    r")" + r"(?![\w'/])"
)
_GAP = re.compile(r"[\s,]*(?:(?:a|at|@|vers)\s+)?")  # between a day and a time: ``demain à 11h``
_SEPARATORS = ":-–—.,;"


def _fold(text: str) -> str:
    """Lower case without accents, one character for one (so positions in the fold are positions in ``text``)."""
    out = []
    for c in text:
        if c in "’‘ʼ`´":
            out.append("'")
            continue
        base = unicodedata.normalize("NFKD", c)[:1].lower()
        out.append(base if len(base) == 1 else c)
    return "".join(out)


def _rest(text: str, pos: int) -> str:
    rest = text[pos:].strip()
    if rest and rest[0] in _SEPARATORS and (len(rest) == 1 or rest[1].isspace()):
        rest = rest[1:].strip()
    return rest


def _hour(match: re.Match[str]) -> tuple[time, bool] | None:
    named = match["named"]
    if named:
        return (time(12) if named in ("midi", "noon") else time(0)), True
    if match["h1"] is not None:
        h, m, ap = int(match["h1"]), int(match["m1"] or 0), None
    elif match["h2"] is not None:
        h, m, ap = int(match["h2"]), int(match["m2"]), match["ap2"]
    else:
        h, m, ap = int(match["h3"]), 0, match["ap3"]
    if m > 59:
        return None
    if ap:
        if not 1 <= h <= 12:
            return None
        return time(h % 12 + (12 if ap.startswith("p") else 0), m), True
    if h > 23:
        return None
    return time(h, m), match["h1"] is not None  # ``11h`` is the 24-hour clock in any language


def _read_time(folded: str, pos: int) -> tuple[time, bool, int] | None:
    match = _TIME.match(folded, pos)
    if match is None:
        return None
    got = _hour(match)
    return None if got is None else (got[0], got[1], match.end())


def _read_day(folded: str, pos: int) -> tuple[dict[str, object], int] | None:
    """A day expression at ``pos``: the Spec fields it sets and where it ends."""
    if m := _WEEKLY.match(folded, pos):
        return {"weekly": True, "weekday": _WEEKDAYS[m["wd"].rstrip(".").removesuffix("s")]}, m.end()
    if m := _DATE.match(folded, pos):
        if m["n1"]:
            year = int(m["ny"]) if m["ny"] else None
            if year is not None and year < 100:
                year += 2000
            return {"numeric": (int(m["n1"]), int(m["n2"])), "year": year}, m.end()
        day, month, year_s = (m["d1"], m["m1"], m["y1"]) if m["d1"] else (m["d2"], m["m2"], m["y2"])
        fields: dict[str, object] = {"day": int(day), "month": _MONTHS[month.rstrip(".")]}
        fields["year"] = int(year_s) if year_s else None
        return fields, m.end()
    if m := _RELATIVE.match(folded, pos):
        return {"relative": 2 if m["d2"] else 1 if m["d1"] else 0}, m.end()
    if m := _WEEKDAY.match(folded, pos):
        return {"weekday": _WEEKDAYS[m["wd"].rstrip(".")]}, m.end()
    return None


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _possible(spec: Spec) -> bool:
    """Whether the day and month can be a date in some year, in at least one order (``31/02``, ``14/14``: no)."""
    pairs = [(spec.day, spec.month)] if spec.numeric is None else [spec.numeric, spec.numeric[::-1]]
    return any(d is None or m is None or (1 <= m <= 12 and 1 <= d <= _DAYS_IN_MONTH[m - 1]) for d, m in pairs)


def read_when(text: str) -> tuple[Spec | None, str]:
    """Read a schedule at the start of ``text`` (rules in the module docstring). Returns ``(None, text)`` when
    there is none (an impossible date such as ``31/02`` is none), else the spec and the rest of the text as typed.
    Pure and total."""
    spec, rest = _read_when(text)
    if spec is None or not _possible(spec):
        return None, text
    return spec, rest


def _read_when(text: str) -> tuple[Spec | None, str]:
    folded = _fold(text)
    start = len(folded) - len(folded.lstrip())
    if folded[start : start + 1] in ('"', "«", "“"):
        return None, text  # a quoted text is the owner's words, never a date
    day = _read_day(folded, start)
    if day is not None:
        fields, pos = day
        gap = _GAP.match(folded, pos)
        assert gap is not None  # the pattern matches the empty string
        got = _read_time(folded, gap.end())
        if got is None:
            return None, text  # ``Demain on ferme``: a day alone is text
        at, ampm, end = got
        return Spec(at=at, ampm=ampm, **fields), _rest(text, end)  # type: ignore[arg-type]
    introduced = re.compile(_AT).match(folded, start)
    got = _read_time(folded, introduced.end() if introduced else start)
    if got is None:
        return None, text
    at, ampm, end = got
    after = _GAP.match(folded, end)
    assert after is not None
    day = _read_day(folded, after.end()) if after.end() > end else None
    if day is not None:  # ``11h demain``, ``à 11h demain``
        fields, end = day
        return Spec(at=at, ampm=ampm, **fields), _rest(text, end)  # type: ignore[arg-type]
    if introduced is None:
        return None, text  # ``11h30 on ouvre``: a bare time is the owner's text, ``à 11h30`` is a schedule
    return Spec(at=at, ampm=ampm), _rest(text, end)


# --- the calendar -------------------------------------------------------------------------------------------


def _on(d: date, at: time) -> datetime:
    return datetime.combine(d, at)


def _next_weekday(now: datetime, weekday: int, at: time) -> datetime:
    ahead = (weekday - now.weekday()) % 7
    candidate = _on(now.date() + timedelta(days=ahead), at)
    return candidate if candidate > now else candidate + timedelta(days=7)


def _day_month(spec: Spec, lang: Lang) -> tuple[int, int] | None:
    if spec.numeric is None:
        assert spec.day is not None
        assert spec.month is not None
        return spec.day, spec.month
    a, b = spec.numeric
    order = [(b, a), (a, b)] if lang == "en" else [(a, b), (b, a)]  # (day, month)
    for d, m in order:
        if 1 <= m <= 12 and 1 <= d <= 31:
            return d, m
    return None


def resolve(spec: Spec, now_local: datetime, lang: Lang) -> When | None:
    """Put ``spec`` on the calendar, from the business's local wall time ``now_local`` (its zone is ignored) and
    language. ``None`` when the words name no real day (``31/02``, ``14/14``)."""
    now = now_local.replace(tzinfo=None)  # a time is ahead when it is later than now: 11:00 at 11:00:00 is gone
    at = spec.at
    if lang == "en" and not spec.ampm and 1 <= at.hour <= 7:
        at = at.replace(hour=at.hour + 12)  # ``Fri 5:30``: a bistro posts at 5:30 pm, and the receipt says so
    if spec.weekly or spec.weekday is not None:
        assert spec.weekday is not None
        return When(_next_weekday(now, spec.weekday, at), weekly=spec.weekly)
    if spec.relative is not None:
        named = _on(now.date() + timedelta(days=spec.relative), at)
        return When(named, problem="past" if named <= now else None)
    if spec.numeric is None and spec.month is None:  # a time alone
        today = _on(now.date(), at)
        if today <= now:
            return When(today + timedelta(days=1), rolled=True)
        return When(today)
    dm = _day_month(spec, lang)
    if dm is None:
        return None
    day, month = dm
    local: datetime | None = None
    # Without a year: this year's, unless that day is over (today's date with a time gone is a mistake: "past").
    for year in [spec.year] if spec.year is not None else [now.year, now.year + 1]:
        try:
            local = _on(date(year, month, day), at)
        except ValueError:
            continue  # 29/02 outside a leap year
        if spec.year is not None or local.date() >= now.date():
            break
    if local is None:
        return None
    if local <= now:
        return When(local, problem="past")
    if local - now > timedelta(days=MAX_AHEAD_DAYS):
        return When(local, problem="too_far")
    return When(local)


def parse_when(text: str, now_local: datetime, lang: Lang) -> tuple[When | None, str]:
    """:func:`read_when` then :func:`resolve`: the schedule at the start of ``text`` and the rest of it."""
    spec, rest = read_when(text)
    if spec is None:
        return None, text
    when = resolve(spec, now_local, lang)
    if when is None:
        return None, text
    return when, rest
