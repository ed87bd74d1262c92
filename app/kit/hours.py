"""Opening hours in the schema.org ``openingHours`` form (``"Mo-Fr 11:00-21:00"``), read, shown and exported.

One rule is ``DAYS TIMES``: ``DAYS`` is a comma list of days or day ranges (``Mo``, ``Mo-Fr``, ``Mo,We,Fr``,
``Fr-Mo`` wraps over the weekend), ``TIMES`` a comma list of ``HH:MM-HH:MM`` spans (a closing time earlier than
the opening one runs past midnight: ``Fr 17:00-02:00``; ``24:00`` closes at midnight). That is the subset of
https://schema.org/openingHours a business needs; anything else is refused with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from app.kit.when_fmt import fmt_time

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
SCHEMA_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NAMES = {
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_RULE = re.compile(r"^(?P<days>[A-Za-z,\-]+)\s+(?P<times>[0-9:,\-\s]+)$")
_SPAN = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
MAX_RULES = 14


class BadHours(ValueError):
    """A rule that is not in the accepted schema.org form; the message says why, for the API's 422."""


@dataclass(frozen=True, slots=True)
class Rule:
    days: tuple[tuple[int, int], ...]  # (first, last) day indexes, 0 = Monday; a single day has first == last
    spans: tuple[tuple[int, int], ...]  # (opens, closes) in minutes since midnight; closes may be 1440

    def weekdays(self) -> list[int]:
        out: list[int] = []
        for first, last in self.days:
            d = first
            while True:
                if d not in out:
                    out.append(d)
                if d == last:
                    break
                d = (d + 1) % 7
        return out


def _day(token: str, rule: str) -> int:
    if token not in DAYS:
        raise BadHours(f"{rule!r}: unknown day {token!r} (use Mo Tu We Th Fr Sa Su)")
    return DAYS.index(token)


def parse_rule(text: str) -> Rule:
    """One ``"Mo-Fr 11:00-21:00"`` rule, or :class:`BadHours` saying what is wrong with it."""
    rule = " ".join(text.split())
    m = _RULE.match(rule)
    if m is None:
        raise BadHours(f"{text!r}: write days then hours, e.g. 'Mo-Fr 11:00-21:00'")
    days: list[tuple[int, int]] = []
    for part in m["days"].split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(ends):
            raise BadHours(f"{rule!r}: bad day range {part!r}")
        days.append((_day(ends[0], rule), _day(ends[-1], rule)))
    spans: list[tuple[int, int]] = []
    for part in m["times"].replace(" ", "").split(","):
        s = _SPAN.match(part)
        if s is None:
            raise BadHours(f"{rule!r}: bad time span {part!r} (use HH:MM-HH:MM)")
        opens, closes = int(s[1]) * 60 + int(s[2]), int(s[3]) * 60 + int(s[4])
        if opens >= 1440 or closes > 1440 or opens == closes:
            raise BadHours(f"{rule!r}: bad time span {part!r}")
        spans.append((opens, closes))
    return Rule(tuple(days), tuple(spans))


def normalize(rules: list[str]) -> list[str]:
    """Validate a list of rules and return them with spacing tidied; :class:`BadHours` on the first bad one."""
    if len(rules) > MAX_RULES:
        raise BadHours(f"at most {MAX_RULES} opening-hours rules")
    out = []
    for r in rules:
        parse_rule(r)
        out.append(" ".join(r.split()))
    return out


def _clock(minutes: int, lang: str) -> str:
    h, m = divmod(minutes % 1440, 60)
    return fmt_time(time(h, m), "fr" if lang == "fr" else "en")


def display(rule: str, lang: str) -> str:
    """``"Mo-Fr 11:00-21:00"`` as an owner's customers read it: ``lun.–ven. 11 h–21 h`` / ``Mon–Fri 11 am–9 pm``."""
    r = parse_rule(rule)
    names = _DAY_NAMES.get(lang, _DAY_NAMES["en"])
    days = ", ".join(names[a] if a == b else f"{names[a]}–{names[b]}" for a, b in r.days)
    spans = ", ".join(f"{_clock(a, lang)}–{_clock(b, lang)}" for a, b in r.spans)
    return f"{days} {spans}"


def specification(rules: list[str]) -> list[dict[str, object]]:
    """schema.org ``openingHoursSpecification`` objects for JSON-LD (one per rule and time span)."""
    out: list[dict[str, object]] = []
    for text in rules:
        r = parse_rule(text)
        for opens, closes in r.spans:
            out.append(
                {
                    "@type": "OpeningHoursSpecification",
                    "dayOfWeek": [SCHEMA_DAYS[d] for d in r.weekdays()],
                    "opens": f"{opens // 60:02d}:{opens % 60:02d}",
                    "closes": f"{closes // 60 % 24:02d}:{closes % 60:02d}",
                }
            )
    return out
