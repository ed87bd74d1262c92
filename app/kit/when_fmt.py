"""Times and dates as an owner writes them: ``12 h 30`` and ``10 déc.`` in French, ``12:30 pm`` and ``Dec 10`` in
English (``noon``, ``midnight`` for the round hours that have a name). The SMS to owners, the opening hours and
the post times on the public page all use these.

Full French is returned (``août``, ``févr.``): the SMS path transliterates what GSM-7 lacks (``aout``), email
keeps it. Pure and domain-free: no I/O, no app imports; any language other than ``en`` gets French.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Final

__all__ = ["fmt_date", "fmt_moment", "fmt_time", "fmt_times"]

_FR_MONTHS: Final = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
_EN_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_time(value: time, lang: str) -> str:
    """``8 h``, ``12 h 30``, ``0 h 05`` (fr); ``8 am``, ``12:30 pm``, ``noon``, ``midnight`` (en)."""
    if lang != "en":
        return f"{value.hour} h" + (f" {value.minute:02d}" if value.minute else "")
    if value.minute == 0 and value.hour in (0, 12):
        return "midnight" if value.hour == 0 else "noon"
    hour = value.hour % 12 or 12
    suffix = "am" if value.hour < 12 else "pm"
    return f"{hour}:{value.minute:02d} {suffix}" if value.minute else f"{hour} {suffix}"


def fmt_times(values: Iterable[time], lang: str) -> str:
    """Several times, in order, comma-separated: ``8 h, 12 h, 17 h 30`` or ``8 am, noon, 5:30 pm``."""
    return ", ".join(fmt_time(v, lang) for v in sorted(values))


def fmt_date(value: date, lang: str) -> str:
    """``10 déc.``, ``1er mai`` (fr); ``Dec 10``, ``May 1`` (en). No year: owners are told of near dates."""
    if lang == "en":
        return f"{_EN_MONTHS[value.month - 1]} {value.day}"
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {_FR_MONTHS[value.month - 1]}"


def fmt_moment(value: datetime, lang: str, *, with_year: bool = False) -> str:
    """A local date and time: ``3 déc., 14 h 05``, ``1er mai 2025, 9 h`` (fr); ``Dec 3, 2:05 pm``,
    ``May 1, 2025, 9 am`` (en). The year only when asked (a moment of another year)."""
    day = fmt_date(value.date(), lang)
    if with_year:
        day += f", {value.year}" if lang == "en" else f" {value.year}"
    return f"{day}, {fmt_time(value.time(), lang)}"
