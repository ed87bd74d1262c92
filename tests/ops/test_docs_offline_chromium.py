"""/docs and /redoc render in headless Chromium cut off from every host but loopback (issue #15): the operations
list is drawn from the OpenAPI document by the self-hosted Swagger UI and ReDoc scripts, and no request leaves
127.0.0.1. Under ``CI=true`` a missing Chromium fails the test (tests/support/chromium.py:chromium)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.chromium import Tab, chromium, open_tab
from tests.support.live import live_settings, serving

# No name resolves except loopback, and anything that would still try goes to a closed local port (discard, 9):
# the browser has no outbound route, as on a bistro's machine without internet.
NETWORK_CUT = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)
# URLs a page makes without the network (inline images, the page's own blobs).
LOCAL_SCHEMES = {"data", "blob", "about"}


@pytest.fixture(scope="module")
async def live_docs(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> AsyncIterator[str]:
    """A real uvicorn server (development settings: /docs and /redoc on) on a free loopback port."""
    async with serving(live_settings(tmp_path_factory.mktemp("docs"), sqlite_template)) as url:
        yield url


async def wait_for(tab: Tab, expression: str, within: float = 45) -> int:
    """Until the number ``expression`` evaluates to is positive (the scripts draw after the load event)."""
    deadline = time.monotonic() + within
    while (found := int(await tab.js(expression) or 0)) <= 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing rendered for {expression}: {(await tab.text())[:500]!r}")
        await asyncio.sleep(0.25)
    return found


def requested(tab: Tab, since: int = 0) -> list[str]:
    """Every URL the pages asked for after event ``since``, but those the page's own Content-Security-Policy
    stopped inside the browser (ReDoc's credit logo on cdn.redoc.ly: app/openapi.py), which never reach a socket."""
    events = tab.events[since:]
    stopped = {
        e["params"]["requestId"]
        for e in events
        if e.get("method") == "Network.loadingFailed" and e["params"].get("blockedReason") == "csp"
    }
    return [
        str(e["params"]["request"]["url"])
        for e in events
        if e.get("method") == "Network.requestWillBeSent" and e["params"]["requestId"] not in stopped
    ]


def off_loopback(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme not in LOCAL_SCHEMES and urlsplit(u).hostname != "127.0.0.1"]


async def test_docs_render_with_the_network_cut(live_docs: str, tmp_path: Path) -> None:
    exe = chromium()
    async with httpx.AsyncClient(timeout=10) as c:  # the real server answers before Chromium is asked
        paths = (await c.get(f"{live_docs}/openapi.json")).json()["paths"]
    operations = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    ids = {op["operationId"] for ops in paths.values() for op in ops.values()}
    assert len(operations) > 10
    async with open_tab(exe, tmp_path / "profile", NETWORK_CUT) as tab:
        await tab.goto(f"{live_docs}/docs")
        # Swagger UI drew every operation, from /openapi.json, with its own (local) script.
        await wait_for(tab, "document.querySelectorAll('#swagger-ui .opblock').length")
        drawn = await tab.js(
            "[...document.querySelectorAll('#swagger-ui .opblock-summary')].map(e =>"
            " [e.querySelector('.opblock-summary-method').innerText,"
            " e.querySelector('.opblock-summary-path').dataset.path])"
        )
        assert {(m.upper(), p) for m, p in drawn} == operations

        await tab.goto(f"{live_docs}/redoc")
        # ReDoc drew a section per operation (its id ends with the operationId), and its side menu.
        await wait_for(tab, "document.querySelectorAll('[data-section-id*=\"operation/\"]').length")
        sections = await tab.js(
            "[...document.querySelectorAll('[data-section-id*=\"operation/\"]')].map(e => e.dataset.sectionId)"
        )
        assert {s.rsplit("operation/", 1)[1] for s in sections} == ids
        assert await wait_for(tab, "document.querySelectorAll('[role=\"menuitem\"]').length")

        urls = requested(tab)
        assert any(urlsplit(u).path.startswith("/docs-assets/") for u in urls), urls
        assert f"{live_docs}/openapi.json" in urls
        assert off_loopback(urls) == [], off_loopback(urls)

        # The cut is real: a host outside loopback cannot be reached from this browser.
        mark = len(tab.events)
        result = await tab.call("Page.navigate", url="https://example.com/")
        assert result.get("errorText"), result
        assert off_loopback(requested(tab, mark)) == ["https://example.com/"]
