"""Times and dates in the owner's conventions: French ``12 h 30``/``10 déc.``, English ``noon``/``Dec 10``."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from app.kit.when_fmt import fmt_date, fmt_moment, fmt_time, fmt_times


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


@pytest.mark.parametrize(
    ("value", "with_year", "fr", "en"),
    [
        pytest.param(datetime(2026, 12, 3, 14, 5), False, "3 déc., 14 h 05", "Dec 3, 2:05 pm", id="minutes"),
        pytest.param(datetime(2026, 12, 3, 12, 0), False, "3 déc., 12 h", "Dec 3, noon", id="noon"),
        pytest.param(datetime(2025, 5, 1, 9, 0), True, "1er mai 2025, 9 h", "May 1, 2025, 9 am", id="other-year"),
    ],
)
def test_fmt_moment(value: datetime, with_year: bool, fr: str, en: str) -> None:
    """The time of a post on the public page, in the business's conventions."""
    assert (fmt_moment(value, "fr", with_year=with_year), fmt_moment(value, "en", with_year=with_year)) == (fr, en)
