"""The edge of the API: the shared types every route parameter and input model uses, so bad input is a 422
here and never an overflow, a driver error or a 500 deeper down.

- ``DbInt``: ids, numbers and counts the database stores (INTEGER: 1 to 2**31 - 1 on PostgreSQL; SQLite
  would take more, so the same bound keeps both backends alike). Route parameters use ``IdPath``/``IdQuery``
  from ``app.deps``, built on the same bounds; a test walks the OpenAPI document and fails on any integer
  parameter without them.
- ``UtcDateTime``: a moment the database can store once turned to UTC (years 1 to 9999 in UTC, not only in
  the zone it was written in); a time without a zone is read as UTC.
- :class:`Input`: every API input model. Text values (at any depth) with a control character other than
  newline and tab (carriage return included: send ``\n``) are refused with 422, never changed silently;
  fields that cannot be empty in the database cannot be set to null by a PATCH.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, Field, model_validator

from app.kit.textclean import has_control

DB_INT_MAX = 2**31 - 1
"""The largest value an INTEGER column holds on PostgreSQL (ids, post and mention numbers)."""

DbInt = Annotated[int, Field(ge=1, le=DB_INT_MAX)]

_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # a day of margin: no zone is more than 14 h off
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _storable(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range (years 1 to 9999)") from None
    if not _EARLIEST <= utc <= _LATEST:
        raise ValueError("the date is out of range (years 1 to 9999)")
    return utc


UtcDateTime = Annotated[datetime, AfterValidator(_storable)]


def _bad_text(value: Any) -> str | None:
    """Why ``value`` (a string, or strings inside lists and dicts) cannot be stored, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "text cannot contain NUL characters"
        if has_control(value):
            return "text cannot contain control characters (only newline and tab; send \\n, not \\r\\n)"
        return None
    if isinstance(value, dict):
        return next((r for k, v in value.items() if (r := _bad_text(k) or _bad_text(v))), None)
    if isinstance(value, list | tuple):
        return next((r for v in value if (r := _bad_text(v))), None)
    return None


class Input(BaseModel):
    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if (reason := _bad_text(value)) is not None:
                    raise ValueError(f"{key}: {reason}")
                if key in cls.NOT_NULL and value is None:
                    raise ValueError(f"{key} cannot be null")
        return data


__all__ = ["DB_INT_MAX", "DbInt", "Input", "UtcDateTime"]
