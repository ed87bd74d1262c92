"""``within``: a whole remote operation has a deadline; past it the operation is cancelled and retried later."""

from __future__ import annotations

import asyncio

import pytest

from app.kit.errors import RetryableError, within


async def test_an_operation_past_its_deadline_is_cancelled_and_retryable() -> None:
    cancelled = False

    async def trickle() -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled = True
            raise

    with pytest.raises(RetryableError) as err:
        async with within(0.05, "Masto"):
            await trickle()
    assert cancelled
    assert err.value.code == "timeout"
    assert err.value.reason == "Masto did not answer within 0.05 s"


async def test_an_operation_in_time_and_its_own_errors_pass_through() -> None:
    async with within(5, "Bsky"):
        await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        async with within(5, "Bsky"):
            raise ValueError("boom")
