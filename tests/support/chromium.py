"""Headless Chromium for the tests that look at pages as a browser does: find the browser (a failure under
``CI=true`` when it is missing, else a skip), its flags, ``--dump-dom``, and a small driver over the DevTools
protocol (websockets, already installed with uvicorn): open a page, type, click at an element's centre like a
mouse, wait for the next page load, take screenshots.

No JavaScript runs in Ardoise's pages; the driver only evaluates expressions to find elements and read the page,
as a person would look at it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import CI

WIDTH, HEIGHT = 1280, 860

HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Chromium in a container with no display, no sandbox and no traffic of its own (updates, sync, QUIC)."""


def chromium() -> str:
    """The Chromium executable; fails the test under ``CI=true`` when there is none, else skips it."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        if CI:
            pytest.fail("chromium is required under CI=true (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def dump_dom(exe: str, url: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """The DOM of ``url`` once Chromium has loaded it (``--dump-dom``)."""
    return subprocess.run(
        [exe, *HEADLESS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
        check=False,
        env={**os.environ, "HOME": str(profile)},
    )


class Tab:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mid = self.next_id
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    async def wait_load(self, since: int, within: float = 30) -> None:
        """Until a page load finishes after event number ``since`` (polls the socket with a deadline)."""
        deadline = time.monotonic() + within
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events[since:]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the page did not load")
            with contextlib.suppress(TimeoutError):
                self.events.append(json.loads(await asyncio.wait_for(self.ws.recv(), min(left, 1.0))))

    def transferred(self, since: int) -> int:
        """Bytes received over the network (headers and body, as sent) by the loads after event ``since``."""
        return sum(
            int(e["params"]["encodedDataLength"])
            for e in self.events[since:]
            if e.get("method") == "Network.loadingFinished"
        )

    async def goto(self, url: str) -> int:
        mark = len(self.events)
        await self.call("Page.navigate", url=url)
        await self.wait_load(mark)
        return mark

    async def js(self, expression: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def text(self) -> str:
        return str(await self.js("document.body.innerText"))

    async def type_into(self, selector: str, text: str) -> None:
        await self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.call("Input.insertText", text=text)

    async def click(self, expression: str) -> int:
        """Click, with the mouse, the centre of the element ``expression`` evaluates to; wait for the next page."""
        box = await self.js(
            f"(() => {{ const e = {expression}; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        mark = len(self.events)
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        await self.wait_load(mark)
        return mark

    async def screenshot(self, path: Path) -> None:
        """The whole page (not only the window), down to the end of its content, as PNG."""
        await self.js("window.scrollTo(0, 0)")
        height = int(await self.js("Math.ceil(document.body.lastElementChild.getBoundingClientRect().bottom) + 16"))
        shot = await self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WIDTH, "height": max(height, 240), "scale": 1},
        )
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _port(profile: Path) -> int | None:
    """The DevTools port Chromium wrote in its profile once it listens (``--remote-debugging-port=0``)."""
    try:
        first = (profile / "DevToolsActivePort").read_text().split()
    except FileNotFoundError:
        return None
    return int(first[0]) if first else None


@contextlib.asynccontextmanager
async def open_tab(exe: str, profile: Path, extra_args: Sequence[str] = ()) -> AsyncIterator[Tab]:
    """Start headless Chromium on a DevTools port of its choosing and attach to its first tab; ``extra_args`` go
    on its command line (e.g. the flags that cut it off from every host but loopback)."""
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        exe,
        *HEADLESS,
        "--hide-scrollbars",
        "--remote-debugging-port=0",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={profile}",
        *extra_args,
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(profile)},
    )
    try:
        deadline = time.monotonic() + 60
        while (port := await asyncio.to_thread(_port, profile)) is None:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not open its DevTools port (exit {proc.returncode})")
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(timeout=10) as c:
            targets = (await c.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            tab = Tab(ws)
            await tab.call("Page.enable")
            await tab.call("Network.enable")
            await tab.call(
                "Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False
            )
            yield tab
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
