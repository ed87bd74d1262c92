"""Registers the ``short`` and ``long`` Hypothesis profiles (``make fuzz`` runs ``--hypothesis-profile=long``)."""

from __future__ import annotations

import tests.fuzz.profiles  # noqa: F401  # registers the profiles before Hypothesis's plugin loads one
