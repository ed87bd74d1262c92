"""Resized variants of stored photos: small enough for a phone, made once, named by content, right way up."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from app.kit import media, variants


def photo(width: int = 3000, height: int = 2000, *, orientation: int | None = None) -> bytes:
    """A camera-like JPEG: smooth gradients, shapes and fine grain (pure noise would be unrealistically big)."""
    y, x = np.mgrid[0 : height // 8, 0 : width // 8].astype(np.float32) * 8
    r = 120 + 80 * np.sin(x / 90) * np.cos(y / 70)
    g = 90 + 60 * np.sin((x + y) / 150)
    b = 60 + 40 * np.cos(x / 200)
    small = Image.fromarray(np.clip(np.dstack([r, g, b]), 0, 255).astype(np.uint8), "RGB")
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    img = Image.blend(img, grain, 0.12)
    draw = ImageDraw.Draw(img)
    for i in range(40):
        draw.ellipse((i * 70, i * 45, i * 70 + 300, i * 45 + 200), outline=(240, 230 - i * 3, 200), width=6)
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def test_a_big_photo_gets_small_variants_once(tmp_path: Path) -> None:
    raw = photo()
    assert len(raw) > 1_000_000  # like an MMS photo served as sent
    name = media.store(tmp_path, raw, "image/jpeg")
    pic = variants.picture(tmp_path, name)
    assert pic is not None
    assert [(v.width, v.height) for v in pic.variants] == [(400, 267), (800, 533)]
    stem = name.split(".")[0]
    assert [v.name for v in pic.variants] == [
        f"{stem}-400-{variants.VERSION}.jpg",
        f"{stem}-800-{variants.VERSION}.jpg",
    ]
    sizes = [(tmp_path / v.name).stat().st_size for v in pic.variants]
    assert sizes[0] < 50_000
    assert sizes[1] < 100_000  # a phone at 2x–3x loads this one
    for v in pic.variants:
        with Image.open(tmp_path / v.name) as img:
            assert img.size == (v.width, v.height)
            assert img.format == "JPEG"
    # Made once: a second page view (even in a new process, without the in-memory cache) writes nothing.
    mtimes = [(tmp_path / v.name).stat().st_mtime_ns for v in pic.variants]
    variants._cache.clear()
    assert variants.picture(tmp_path, name) == pic
    assert [(tmp_path / v.name).stat().st_mtime_ns for v in pic.variants] == mtimes


def test_a_sideways_phone_photo_is_turned_upright(tmp_path: Path) -> None:
    name = media.store(tmp_path, photo(1200, 900, orientation=6), "image/jpeg")  # 6: rotate 90° clockwise
    pic = variants.picture(tmp_path, name)
    assert pic is not None
    assert (pic.largest.width, pic.largest.height) == (800, 1067)
    with Image.open(tmp_path / pic.largest.name) as img:
        assert img.size == (800, 1067)


def test_small_and_transparent_images(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (120, 60), (200, 30, 30, 0)).save(out, "PNG")
    name = media.store(tmp_path, out.getvalue(), "image/png")
    pic = variants.picture(tmp_path, name)
    assert pic is not None
    assert [(v.width, v.height) for v in pic.variants] == [(120, 60)]  # never enlarged
    with Image.open(tmp_path / pic.src.name) as img:
        pixel = img.getpixel((5, 5))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= 2 for a, b in zip(pixel, (255, 250, 243), strict=True))  # paper colour ±JPEG


def test_missing_or_not_an_image(tmp_path: Path) -> None:
    assert variants.picture(tmp_path, "nope.jpg") is None
    name = media.store(tmp_path, b"not an image at all", "image/jpeg")
    assert variants.picture(tmp_path, name) is None
    assert variants.picture(tmp_path, "../etc/passwd") is None
