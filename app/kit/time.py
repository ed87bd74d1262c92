"""The single clock. Everything that needs "now" calls :func:`utcnow`; tests freeze or move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    if _source is not None:
        return _source()
    return datetime.now(UTC)


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); ``None`` restores the real one."""
    global _source
    _source = source
