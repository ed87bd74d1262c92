"""Hypothesis profiles shared by the fuzz tests (tests/fuzz) and schemathesis (tests/attack).

``short`` (the default, what ``make test`` runs) keeps the whole fuzz suite well under a minute on a 2-core
machine; ``long`` is what ``make fuzz`` selects with ``--hypothesis-profile=long``. Tests here never load a
profile globally (other suites keep Hypothesis's own defaults): they take their settings from
:func:`fuzz_settings`, which follows ``long`` when that profile is the one loaded, ``short`` otherwise.

:func:`bounded` is the hang detector: each call must return within a generous wall-clock bound. It is not a
benchmark; it catches catastrophic regex backtracking and quadratic loops on hostile input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hypothesis import HealthCheck, settings

P = ParamSpec("P")
R = TypeVar("R")

SHORT = "short"
LONG = "long"
PER_INPUT_SECONDS = 1.0
"""Wall-clock bound per call: generous (a shared 2-core CI box), far below what a real hang takes."""

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    SHORT,
    max_examples=150,
    deadline=None,  # our own bound (bounded) measures what matters, without Hypothesis's flaky deadline
    derandomize=True,  # the same examples on every run: `make test` is reproducible
    database=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)
settings.register_profile(
    LONG,
    max_examples=20_000,
    deadline=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)


def profile_name() -> str:
    """``long`` when ``--hypothesis-profile=long`` is in force, ``short`` otherwise."""
    return LONG if settings.get_current_profile_name() == LONG else SHORT


def fuzz_settings(*, scale: float = 1.0) -> settings:
    """Settings for one property: the active profile, with ``max_examples`` scaled for costly properties."""
    base = settings.get_profile(profile_name())
    return settings(base, max_examples=max(10, int(base.max_examples * scale)))


def bounded(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn`` and fail when it takes longer than :data:`PER_INPUT_SECONDS` (a hang, not a slowdown)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    assert elapsed < PER_INPUT_SECONDS, f"{getattr(fn, '__name__', fn)} took {elapsed:.2f} s on one input"
    return result
