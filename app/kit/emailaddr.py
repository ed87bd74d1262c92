"""Email addresses: syntax checked with ``email-validator``; ``.test``/``.example`` domains are allowed
(tests, demos) and deliverability is not looked up (no DNS at validation time)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_email(raw: str) -> str:
    try:
        info = validate_email(raw.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"'{raw}' is not an email address: {exc}") from None
    return str(info.normalized)
