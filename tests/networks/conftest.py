"""Fixtures of the network adapters' contract tests (the tables and their runner are in harness.py).

``api`` is the respx router of a test module: every request must be mocked (``assert_all_mocked``), relative routes
resolve against the module's ``API_BASE`` (absent: routes name full URLs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The client an adapter is built with (the app shares one the same way)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[respx.MockRouter]:
    base = getattr(request.module, "API_BASE", None)
    with respx.mock(base_url=base, assert_all_called=False, assert_all_mocked=True) as router:
        yield router
