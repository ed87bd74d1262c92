"""Times and dates in the owner's conventions: French ``12 h 30``/``10 déc.``, English ``noon``/``Dec 10``."""

from __future__ import annotations

from datetime import date, time

import pytest

from app.kit.when_fmt import fmt_date, fmt_time, fmt_times


@pytest.mark.parametrize(
    ("value", "fr", "en"),
    [
        pytest.param(time(12, 0), "12 h", "noon", id="noon"),
        pytest.param(time(0, 0), "0 h", "midnight", id="midnight"),
        pytest.param(time(12, 30), "12 h 30", "12:30 pm", id="half-past-noon"),
        pytest.param(time(0, 5), "0 h 05", "12:05 am", id="after-midnight"),
        pytest.param(time(8, 0), "8 h", "8 am", id="morning"),
        pytest.param(time(14, 5), "14 h 05", "2:05 pm", id="afternoon"),
        pytest.param(time(23, 59), "23 h 59", "11:59 pm", id="late"),
    ],
)
def test_fmt_time(value: time, fr: str, en: str) -> None:
    assert (fmt_time(value, "fr"), fmt_time(value, "en")) == (fr, en)


@pytest.mark.parametrize(
    ("value", "fr", "en"),
    [
        pytest.param(date(2026, 12, 10), "10 déc.", "Dec 10", id="december"),
        pytest.param(date(2026, 5, 1), "1er mai", "May 1", id="first"),
        pytest.param(date(2026, 8, 15), "15 août", "Aug 15", id="august"),
        pytest.param(date(2026, 2, 3), "3 févr.", "Feb 3", id="february"),
    ],
)
def test_fmt_date(value: date, fr: str, en: str) -> None:
    assert (fmt_date(value, "fr"), fmt_date(value, "en")) == (fr, en)


def test_fmt_times_sorts_and_joins() -> None:
    hours = [time(17, 30), time(8), time(12)]
    assert fmt_times(hours, "fr") == "8 h, 12 h, 17 h 30"
    assert fmt_times(hours, "en") == "8 am, noon, 5:30 pm"


def test_unknown_language_gets_french() -> None:
    assert fmt_time(time(9, 15), "de") == "9 h 15"
