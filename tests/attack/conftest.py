"""The attack tests honour the same Hypothesis profiles as tests/fuzz (``short`` by default, ``long``)."""

from __future__ import annotations

import tests.fuzz.profiles  # noqa: F401
