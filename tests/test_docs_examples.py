"""Docs that match the words sent: every example SMS in docs/commands.md and docs/mentions.md is a message Ardoise
can produce.

Two markers say what is an example SMS (docs/commands.md says so too):

* in a fenced code block, a line starting with ``< `` is a line of an SMS Ardoise sends (consecutive ``< `` lines
  are one SMS; ``> `` lines are what the owner sends);
* in a table, every ``code`` span of a column headed ``Answer`` or ``You get`` is one whole SMS.

An SMS matches when some catalogue template (app/catalogue.py) turned into a regular expression matches it whole,
as written (full French) or as the SMS path composes it (``to_gsm7``); a digest matches the digest's layout
(header, ``#n`` lines, ``+n: Mn``, the reply hint of app/mentions/digest.py).
"""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path

import pytest

from app.catalogue import MESSAGES
from app.kit.sms_text import to_gsm7
from app.kit.when_fmt import _EN_MONTHS, _FR_MONTHS  # the formats' own month names
from app.mentions.digest import _TEXTS  # the digest's own words: no second copy here
from app.networks.registry import NETWORKS

NETWORK_LABELS = {name: entry.label for name, entry in NETWORKS.items()}  # the registry's labels
SHORT_LABELS = {name: entry.short_label for name, entry in NETWORKS.items()}  # the digest's, from the registry

DOCS = Path(__file__).resolve().parent.parent / "docs"
FILES = ("commands.md", "mentions.md")
ANSWER_HEADERS = ("answer", "you get")


def _alternation(words: set[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


@cache
def _placeholder_patterns() -> dict[str, str]:
    labels = _alternation(set(NETWORK_LABELS.values()))
    statuses = {text for key, entry in MESSAGES.items() if key.startswith(("st_", "why_")) for text in entry.values()}
    statuses |= {to_gsm7(s) for s in statuses}
    status = _alternation(statuses)
    part = f"{labels} {status}"
    hour = r"(?:\d{1,2} h(?: \d{2})?|\d{1,2}(?::\d{2})? [ap]m|noon|midnight)"
    months = {m for m in (*_FR_MONTHS, *_EN_MONTHS)} | {to_gsm7(m) for m in _FR_MONTHS}
    date = rf"(?:(?:1er|\d{{1,2}}) {_alternation(months)}|{_alternation(set(_EN_MONTHS))} \d{{1,2}})"
    return {
        "time": hour,
        "hours": f"{hour}(?:, {hour})*",
        "date": date,
        "number": r"-?\d+",
        "network": labels,
        "status": status,
        "parts": f"{part}(?:, {part})*",
        "length": r"\d+",
        "count": r"\d+",
    }


@cache
def _templates() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for key, entry in MESSAGES.items():
        for template in {entry["fr"], entry["en"], to_gsm7(entry["fr"]), to_gsm7(entry["en"])}:
            pattern = ""
            for literal, field, _, _ in string.Formatter().parse(template):
                pattern += re.escape(literal)
                if field is not None:
                    pattern += "(?:" + _placeholder_patterns().get(field, ".+?") + ")"
            out.append((key, re.compile(pattern)))
    return out


def _digest_pattern() -> re.Pattern[str]:
    labels = _alternation(set(SHORT_LABELS.values()))
    hints = "|".join(re.escape(h).replace(r"\{number\}", r"\d+") for h in _TEXTS["reply_hint"].values())
    return re.compile(
        rf"\d+ mentions?(?: p\d+)?:\n(?:#\d+ {labels}(?: [^:\n]+)?(?:: [^\n]+)?\n)+(?:\+\d+: M\d+\n)?(?:{hints})"
    )


def matches(sms: str) -> bool:
    if _digest_pattern().fullmatch(sms):
        return True
    return any(pattern.fullmatch(sms) for _, pattern in _templates())


def examples(text: str) -> list[str]:
    """The example SMS of one markdown file (see the module docstring for the markers)."""
    found: list[str] = []
    in_code = False
    current: list[str] = []
    columns: list[int] = []
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            if current:
                found.append("\n".join(current))
                current = []
            continue
        if in_code:
            if line.startswith("< "):
                current.append(line[2:])
            elif current:
                found.append("\n".join(current))
                current = []
            continue
        if not line.startswith("|"):
            columns = []
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not columns:
            columns = [i for i, c in enumerate(cells) if c.lower().startswith(ANSWER_HEADERS)] or [-1]
            continue
        for i in columns:
            if 0 <= i < len(cells):
                found += [m.replace("\\|", "|") for m in re.findall(r"`([^`]+)`", cells[i])]
    return found


def test_the_markers_are_found() -> None:
    """The extraction itself: a code block, a table; and the docs have enough examples to mean something."""
    doc = (
        "```\n> M\n< 1 mention:\n< #1 Bsky a: ok\n< Répondre: R 1 texte\n```\n\n"
        "| x | Answer |\n|---|---|\n| a | `b` |\n"
    )
    assert examples(doc) == ["1 mention:\n#1 Bsky a: ok\nRépondre: R 1 texte", "b"]
    assert all(len(examples((DOCS / name).read_text())) >= 10 for name in FILES)


def test_a_wrong_example_does_not_match() -> None:
    assert matches("Publié #12: Page OK, Bluesky OK")
    assert not matches("Publie #12: Page OK, Bluesky ECHEC")
    assert not matches("Repondu a #4 (Bluesky).")


@pytest.mark.parametrize("name", FILES)
def test_every_example_sms_in_the_docs_is_a_catalogue_message(name: str) -> None:
    bad = [sms for sms in examples((DOCS / name).read_text()) if not matches(sms)]
    assert bad == [], f"{name}: examples no catalogue message produces: {bad}"
