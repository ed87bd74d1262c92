"""Base for API input models: text must not carry NUL (PostgreSQL cannot store it), and fields that cannot be
empty in the database cannot be set to null by a PATCH."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, model_validator


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Input(BaseModel):
    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if _has_nul(value):
                    raise ValueError(f"{key}: text cannot contain NUL characters")
                if key in cls.NOT_NULL and value is None:
                    raise ValueError(f"{key} cannot be null")
        return data
