"""Days and times said back to the owner (GSM-7, short): ``ven. 12 déc. 17 h 30``, ``Fri Dec 12 5:30 pm``."""

from __future__ import annotations

from datetime import datetime, time

from app.catalogue import t

WEEKDAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
WEEKDAYS_SHORT = {
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
# GSM-7 has é but not û: "aout", as TEAM rules for the catalogue say.
MONTHS_SHORT = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "aout", "sept.", "oct.", "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def _lang(lang: str) -> str:
    return lang if lang in WEEKDAYS else "fr"


def clock(at: time, lang: str) -> str:
    """``17 h 30``, ``11 h`` / ``5:30 pm``, ``11 am``."""
    if _lang(lang) == "fr":
        return f"{at.hour} h {at.minute:02d}" if at.minute else f"{at.hour} h"
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    return f"{hour}:{at.minute:02d} {suffix}" if at.minute else f"{hour} {suffix}"


def day(local: datetime, lang: str, *, year: bool = False) -> str:
    """``ven. 12 déc.``, ``lun. 1er janv. 2027`` / ``Fri Dec 12``, ``Mon Jan 1 2027``."""
    lang = _lang(lang)
    wd, month = WEEKDAYS_SHORT[lang][local.weekday()], MONTHS_SHORT[lang][local.month - 1]
    suffix = f" {local.year}" if year else ""
    if lang == "fr":
        return f"{wd} {'1er' if local.day == 1 else local.day} {month}{suffix}"
    return f"{wd} {month} {local.day}{suffix}"


def moment(local: datetime, now_local: datetime, lang: str) -> str:
    """When a post goes out, from the owner's today: ``demain, jeu. 10 déc. 11 h``, ``ven. 12 déc. 17 h 30``; the
    year only when it is not this one's."""
    local, now_local = local.replace(tzinfo=None), now_local.replace(tzinfo=None)
    ahead = (local.date() - now_local.date()).days
    said = f"{day(local, lang, year=local.year != now_local.year)} {clock(local.time(), lang)}"
    if ahead in (0, 1):
        return f"{t('day_today' if ahead == 0 else 'day_tomorrow', lang)}, {said}"
    return said


def weekly(local: datetime, lang: str) -> str:
    """``chaque lundi à 11 h`` / ``every Monday at 11 am``."""
    return t("every_weekday", lang, weekday=WEEKDAYS[_lang(lang)][local.weekday()], time=clock(local.time(), lang))
