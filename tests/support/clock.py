"""The one clock of the app (``app.kit.time.set_clock``) as a test drives it.

The ``clock`` fixture (tests/conftest.py) installs one for a test and removes it after. It follows the real time
unless the module freezes it by overriding the ``clock_start`` fixture::

    @pytest.fixture
    def clock_start() -> datetime:
        return datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Frozen at ``start``, or the real time when ``start`` is None; either way moved by :meth:`advance`,
    :meth:`set` or by assigning :attr:`now`. Jobs, pending confirmations and PIN windows follow it."""

    def __init__(self, start: datetime | None = None) -> None:
        assert start is None or start.tzinfo is not None, "the clock reads aware UTC times"
        self._start = start
        self._offset = timedelta()

    def __call__(self) -> datetime:
        base = datetime.now(UTC) if self._start is None else self._start
        return base + self._offset

    @property
    def now(self) -> datetime:
        return self()

    @now.setter
    def now(self, when: datetime) -> None:
        self.set(when)

    def set(self, when: datetime) -> None:
        """From now on the clock reads ``when`` (and a clock that follows the real time runs on from there)."""
        assert when.tzinfo is not None, "the clock reads aware UTC times"
        when = when.astimezone(UTC)
        if self._start is None:
            self._offset = when - datetime.now(UTC)
        else:
            self._start, self._offset = when, timedelta()

    def advance(self, **delta: float) -> datetime:
        """Move the clock by ``timedelta(**delta)``; the new time."""
        self._offset += timedelta(**delta)
        return self()
