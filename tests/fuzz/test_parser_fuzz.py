"""Fuzz: the SMS/email command parser never raises, never hangs, is deterministic and keeps published text."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from app.commands import parser as p
from tests.fuzz.profiles import bounded, fuzz_settings
from tests.fuzz.strategies import NASTY, command_like, nasty_text

RESULT_TYPES = (
    p.Publish, p.Undo, p.Status, p.Help, p.Stop, p.Start, p.Language, p.Confirm, p.Pin, p.Reply, p.Like,
    p.Mentions, p.Hours, p.Pause, p.Resume, p.Alerts, p.Suggest, p.Unknown, p.LoneWord, p.Invalid, p.Empty,
    p.TooLong,
)  # fmt: skip
SEPARATORS = ":-–—.,;>"


def expected_text(separator: str, body: str) -> str:
    """What the parser keeps of ``separator + body`` typed after a keyword (rule 3 of app/commands/parser.py):
    a colon glued to the keyword goes with it, then the whitespace around the text and one separator
    (``:``, ``-``...) followed by whitespace."""
    rest = (separator[1:] if separator.startswith(":") else separator) + body
    text = rest.strip()
    if text and text[0] in SEPARATORS and (len(text) == 1 or text[1].isspace()):
        text = text[1:].strip()
    return text


def _texts_in(result: p.ParseResult) -> list[str]:
    """Every free-text field the result carries (those are the owner's words, never invented)."""
    if isinstance(result, p.Suggest):
        return _texts_in(result.command)
    return [v for f in dataclasses.fields(result) if isinstance(v := getattr(result, f.name), str) and f.name == "text"]


@fuzz_settings()
@given(st.one_of(nasty_text, command_like))
def test_parse_never_raises_and_is_deterministic(text: str) -> None:
    first = bounded(p.parse, text)
    assert isinstance(first, RESULT_TYPES)
    assert p.parse(text) == first  # pure: same input, same answer
    for chunk in _texts_in(first):
        assert chunk in text  # text arguments are cut from the message, never rewritten


@fuzz_settings(scale=0.2)
@given(st.text(alphabet=st.sampled_from(list(NASTY)), min_size=1, max_size=60), st.integers(1, 40_000))
def test_huge_messages_are_bounded(unit: str, repeat: int) -> None:
    text = "PUBLIER " + unit * repeat
    result = bounded(p.parse, text)
    if len(text.strip()) > p.MAX_TEXT:
        assert isinstance(result, p.TooLong)


@fuzz_settings()
@given(
    st.sampled_from([("PUBLIER", "fr"), ("POST", "en"), ("PUB", None), ("publish", "en"), ("Publiér", "fr")]),
    st.sampled_from([" ", ": ", " - ", "\n", " \u00a0"]),
    nasty_text,
)
def test_publish_round_trip(keyword: tuple[str, str | None], separator: str, body: str) -> None:
    """``<keyword><sep><text>`` publishes exactly ``text`` (trimmed), whatever the text holds."""
    word, lang = keyword
    text = expected_text(separator, body)
    message = f"{word}{separator}{body}"
    if len(message.strip()) > p.MAX_TEXT:
        return
    assert bounded(p.parse, message) == p.Publish(text, keyword_lang=lang)  # type: ignore[arg-type]


@fuzz_settings()
@given(st.integers(1, 999_999), st.sampled_from([" ", " : ", " - "]), nasty_text.filter(lambda s: s.strip()))
def test_reply_round_trip(number: int, separator: str, body: str) -> None:
    text = expected_text(separator, body)
    if not text:
        return
    result = bounded(p.parse, f"R {number}{separator}{body}")
    assert result == p.Reply(number, text)
