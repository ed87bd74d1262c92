"""A tiny Mastodon instance on loopback for the resilience tests: tests/worker/mastodon_stub.py extended with
programmable faults.

What it adds to the worker stub:

- ``plans``: faults for the next ``POST /api/v1/statuses`` attempts of the posts whose text contains a marker:
  ``"500"``, ``"429:<seconds>"`` (429 with ``Retry-After``), ``"hang"`` (no answer for ``hang_seconds``, past
  the client's timeout, then a 503 nobody reads: nothing is created), ``"block"`` (wait for ``release``, then
  go on normally: the network *does* create the status even if its client died waiting);
- ``latency``: a random pause (0..latency s) before each creation, so that a SIGKILL often lands mid-call;
- counts of what the network holds: ``created_per_key`` (creations per ``Idempotency-Key``; Mastodon gives the
  same status back for a key it has seen) and ``texts`` (statuses per text), and ``attempts`` with their times.

The endpoints, the HTTP server and the status records are the worker stub's (``serving``).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.worker.mastodon_stub import ACCOUNT_ID, TOKEN, MastodonStub, Reply, serving

__all__ = ["ACCOUNT_ID", "TOKEN", "Attempt", "FaultyMastodon", "running_stub"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ``POST /api/v1/statuses`` as the network saw it."""

    at: float  # time.monotonic() when it arrived
    key: str
    text: str
    outcome: str  # created | replay | 500 | 429:N | hang | blocked


@dataclass
class FaultyMastodon(MastodonStub):
    latency: float = 0.0
    hang_seconds: float = 4.0
    plans: dict[str, list[str]] = field(default_factory=dict)
    # What happened, beyond the base stub's record
    created_per_key: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    attempts: list[Attempt] = field(default_factory=list)

    def attempts_for(self, marker: str) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if marker in a.text]

    def duplicates(self) -> dict[str, int]:
        """Keys or texts the network holds more than once (must stay empty)."""
        with self.lock:
            out = {f"key {k}": n for k, n in self.created_per_key.items() if n > 1}
            out.update({f"text {t!r}": n for t, n in self.texts.items() if n > 1})
        return out

    def _next_fault(self, text: str) -> str | None:
        for marker, plan in self.plans.items():
            if marker in text and plan:
                return plan.pop(0)
        return None

    def _create(self, text: str, visibility: str, key: str) -> dict[str, Any]:
        status = self._status(text, visibility)
        self.texts[text] += 1
        if key:
            self.by_key[key] = status
            self.created_per_key[key] += 1
        return status

    def post_status(self, form: dict[str, list[str]], key: str) -> Reply:
        text = form.get("status", [""])[0]
        visibility = form.get("visibility", ["public"])[0]
        with self.lock:
            fault = self._next_fault(text)
            self.attempts.append(Attempt(time.monotonic(), key, text, fault or "ok"))
            if key and key in self.by_key and fault is None:
                return 200, self.by_key[key], {}
        if fault == "500":
            return 500, {"error": "Internal Server Error"}, {}
        if fault is not None and fault.startswith("429"):
            wait = fault.partition(":")[2] or "1"
            return 429, {"error": "Too many requests"}, {"Retry-After": wait}
        if fault == "hang":
            self.closing.wait(self.hang_seconds)
            return 503, {"error": "upstream timed out"}, {}
        if fault == "block":
            self.arrived.set()
            if not self.release.wait(120):
                return 500, {"error": "the test never released the request"}, {}
        elif self.latency:
            time.sleep(random.uniform(0, self.latency))
        with self.lock:
            if key and key in self.by_key:
                return 200, self.by_key[key], {}
            return 200, self._create(text, visibility, key), {}


@contextmanager
def running_stub(stub: FaultyMastodon | None = None) -> Iterator[FaultyMastodon]:
    """Serve ``stub`` (a fault-free one by default) on 127.0.0.1 for the duration of the block."""
    with serving(stub or FaultyMastodon()) as served:
        yield served
