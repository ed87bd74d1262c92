"""The storefront in headless Chromium at a phone width and a desktop width, on a real server.

The screenshots land in the test's temporary folder; with ``UPDATE_DOCS_IMG=1`` they are also written to
docs/img/ (the ones the README shows): ``UPDATE_DOCS_IMG=1 .venv/bin/pytest tests/pages/test_screenshots.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.kit.test_variants import photo
from tests.pages.test_page import business, post
from tests.pages.test_storefront import PROFILE, logo_png, photo_post, strict
from tests.support.chromium import HEADLESS, chromium
from tests.support.live import live_settings, seeding, serving

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
POSTS = [
    "Menu du midi : potage aux courges, jarret d’agneau braisé, tarte au sucre. 19 $",
    "Ce soir, soirée jazz avec le trio Lamontagne dès 19 h 30. Réservez au 418 555 0161 !",
    "Nouveau : brunch le samedi, de 10 h à 14 h. Œufs bénédictine, crêpes au sirop d’érable, café à volonté.",
    "Fermé le lundi 8 décembre pour inventaire. Merci de votre compréhension.",
    "La carte des vins d’hiver est en ligne : https://bistro.example/vins",
]


@pytest.fixture(scope="module")
async def storefront(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> AsyncIterator[str]:
    """A real server with a profiled business (with its logo), 20 posts and three photos."""
    settings = live_settings(tmp_path_factory.mktemp("shots"), sqlite_template)
    async with seeding(settings) as (c, auth, rt):
        biz = await business(c, auth, slug="demo", name="Bistro L’Ardoise")
        r = await c.patch(f"/api/v1/businesses/{biz['id']}", headers=auth, json=PROFILE)
        assert r.status_code == 200, r.text
        r = await c.put(
            f"/api/v1/businesses/{biz['id']}/logo", headers={**auth, "Content-Type": "image/png"}, content=logo_png()
        )
        assert r.status_code == 200, r.text
        for n in range(20):
            if n in (15, 18):
                await photo_post(rt, "demo", "Plat du jour : tartare de saumon, frites maison.", photo(1600, 1200))
            else:
                await post(c, auth, biz, POSTS[n % len(POSTS)])
        await photo_post(rt, "demo", "La terrasse est ouverte ! Venez profiter du soleil.", photo(2000, 1500))
    async with serving(settings) as url:
        yield url


def screenshot(exe: str, url: str, out: Path, width: int, height: int, profile: Path) -> None:
    done = subprocess.run(
        [
            exe,
            *HEADLESS,
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, "HOME": str(profile)},
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(("name", "width", "height"), [("page-phone", 390, 1800), ("page-desktop", 1280, 1100)])
async def test_storefront_in_chromium(storefront: str, tmp_path: Path, name: str, width: int, height: int) -> None:
    exe = chromium()
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.get(f"{storefront}/b/demo")
        assert r.status_code == 200
        strict(r.text)
    out = tmp_path / f"{name}.png"
    await asyncio.to_thread(screenshot, exe, f"{storefront}/b/demo", out, width, height, tmp_path / "profile")
    with Image.open(out) as img:
        assert img.size == (width, height)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None
        assert len(colours) > 200  # text, photos and the header were drawn, not a blank page
        dark_header = img.convert("RGB").getpixel((5, 5))
        assert dark_header == (0x2B, 0x21, 0x18)  # the header band is drawn in the page's ink colour
    if os.environ.get("UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, DOCS_IMG / f"{name}.png")
