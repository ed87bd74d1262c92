"""Opening hours: the schema.org rules a business gives, shown in its language and exported for JSON-LD."""

from __future__ import annotations

import pytest

from app.kit.hours import BadHours, display, normalize, specification


@pytest.mark.parametrize(
    ("rule", "fr", "en"),
    [
        pytest.param("Mo-Fr 11:00-21:00", "lun.–ven. 11 h–21 h", "Mon–Fri 11 am–9 pm", id="weekdays"),
        pytest.param("Sa 17:00-22:00", "sam. 17 h–22 h", "Sat 5 pm–10 pm", id="one-day"),
        pytest.param("Su 11:30-14:30,17:00-21:30", "dim. 11 h 30–14 h 30, 17 h–21 h 30",
                     "Sun 11:30 am–2:30 pm, 5 pm–9:30 pm", id="two-spans"),
        pytest.param("Mo,We,Fr 12:00-00:00", "lun., mer., ven. 12 h–0 h", "Mon, Wed, Fri noon–midnight", id="list"),
        pytest.param("Fr-Su 17:00-02:00", "ven.–dim. 17 h–2 h", "Fri–Sun 5 pm–2 am", id="past-midnight"),
    ],
)  # fmt: skip
def test_rules_are_shown_in_the_business_language(rule: str, fr: str, en: str) -> None:
    assert display(rule, "fr") == fr
    assert display(rule, "en") == en


@pytest.mark.parametrize(
    "rule",
    ["", "11:00-21:00", "Lu-Ve 11:00-21:00", "Mo-Fr 11h-21h", "Mo-Fr 25:00-26:00", "Mo 10:00-10:00", "Mo- 10:00-12:00",
     "Mo-Fr 11:00-21:00; Sa 10:00-12:00", "Mo-Fr <b>11:00-21:00"],
)  # fmt: skip
def test_bad_rules_are_refused_with_a_reason(rule: str) -> None:
    with pytest.raises(BadHours) as err:
        normalize([rule])
    assert rule.strip()[:5] in str(err.value) or "days then hours" in str(err.value)


def test_spacing_is_tidied_and_the_number_of_rules_is_bounded() -> None:
    assert normalize(["  Mo-Fr   11:00-21:00 "]) == ["Mo-Fr 11:00-21:00"]
    with pytest.raises(BadHours, match="at most"):
        normalize(["Mo 10:00-11:00"] * 15)


def test_json_ld_specification() -> None:
    assert specification(["Mo-We 11:00-14:00,17:00-24:00", "Sa-Mo 10:00-12:00"]) == [
        {"@type": "OpeningHoursSpecification", "dayOfWeek": ["Monday", "Tuesday", "Wednesday"],
         "opens": "11:00", "closes": "14:00"},
        {"@type": "OpeningHoursSpecification", "dayOfWeek": ["Monday", "Tuesday", "Wednesday"],
         "opens": "17:00", "closes": "00:00"},
        {"@type": "OpeningHoursSpecification", "dayOfWeek": ["Saturday", "Sunday", "Monday"],
         "opens": "10:00", "closes": "12:00"},
    ]  # fmt: skip
