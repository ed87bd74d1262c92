"""Phone numbers, normalised to E.164 with the ``phonenumbers`` library."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize_e164(raw: str, region: str = "CA") -> str:
    """``"418 555-0100"`` → ``"+14185550100"``; raises InvalidPhone with a reason a person can act on."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("the phone number is empty")
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"'{raw}' is not a phone number ({exc})") from exc
    if not phonenumbers.is_possible_number(num):
        raise InvalidPhone(f"'{raw}' has the wrong number of digits")
    if not phonenumbers.is_valid_number(num):
        raise InvalidPhone(f"'{raw}' is not a valid number (unknown area code or range)")
    return str(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))


def optional_e164(v: str | None) -> str | None:
    """A schema field's phone: empty is None, anything else E.164 or a ``ValueError`` pydantic reports as a 422."""
    if v in (None, ""):
        return None
    try:
        return normalize_e164(str(v))
    except InvalidPhone as exc:
        raise ValueError(str(exc)) from None
