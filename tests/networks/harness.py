"""The shared harness of the network adapters' contract tests, after nyaruka/courier's handler tests: each network
keeps one table of ``Answer`` rows (what its API answers to one request, with bodies from its documentation) and
what the adapter must make of each, and :func:`check_answer` runs any row against any adapter the same way.

The respx router and the HTTP client every adapter test uses are the fixtures of tests/networks/conftest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from _pytest.mark.structures import ParameterSet

from app.kit.errors import AdapterError, RetryableError

ANY_WAIT = object()
"""``Answer.retry_after`` when the row does not check the wait."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One row: the API answers ``status`` with ``body`` (JSON; None: a plain-text error page) and ``headers``; the
    adapter must raise ``error`` with ``code`` ("": any code) and, for a retryable error, ask to wait ``retry_after``
    (unless it is ``ANY_WAIT``). ``reason_has``: a piece of the API's message the error must carry (what the
    operator reads in the log)."""

    label: str
    status: int
    body: Any
    error: type[AdapterError]
    code: str
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | object | None = None
    reason_has: str = ""


def rows(table: Sequence[Answer]) -> list[ParameterSet]:
    """A table as pytest parameters, one test id per row label."""
    return [pytest.param(row, id=row.label) for row in table]


def response(row: Answer) -> httpx.Response:
    if row.body is None:
        return httpx.Response(row.status, text="Unavailable", headers=dict(row.headers))
    return httpx.Response(row.status, json=row.body, headers=dict(row.headers))


async def check_answer(route: respx.Route, row: Answer, call: Callable[[], Awaitable[Any]]) -> AdapterError:
    """Answer ``route`` with ``row`` and check what ``call`` (the adapter operation behind it) raises."""
    route.mock(return_value=response(row))
    with pytest.raises(AdapterError) as err:
        await call()
    assert type(err.value) is row.error, err.value
    if row.code:  # "": any code
        assert err.value.code == row.code
    if row.reason_has:
        assert row.reason_has in err.value.reason
    if isinstance(err.value, RetryableError) and row.retry_after is not ANY_WAIT:
        assert err.value.retry_after == row.retry_after
    return err.value
