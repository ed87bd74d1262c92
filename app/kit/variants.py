"""Resized copies of stored images for the public page: a raw MMS photo (often 2–5 MB) is never what a phone loads.

Each stored image ``<hash>.<ext>`` gets JPEG variants ``<hash>-<width>-<VERSION>.jpg`` at :data:`WIDTHS` (never
wider than the original), written once next to it and kept: the name is derived from the original's content
hash and the encoding settings, so a variant never changes under its name and can be cached as immutable.
Changing the settings means changing :data:`VERSION`, which gives new names.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.kit.media import load_codecs

if TYPE_CHECKING:
    from PIL import Image

WIDTHS = (400, 800)  # a 390 px phone at 1x takes 400 (about 30–60 KB), at 2–3x 800 (about 80–110 KB)
QUALITY = 70
VERSION = "q70"
_BACKGROUND = (255, 250, 243)  # the page's paper colour, behind transparent pixels (JPEG has no alpha)
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Picture:
    """An image as the page shows it: its variants, smallest first (``variants[0]`` is the ``src``)."""

    variants: tuple[Variant, ...]

    @property
    def src(self) -> Variant:
        return self.variants[0]

    @property
    def largest(self) -> Variant:
        return self.variants[-1]


_cache: dict[tuple[str, str], Picture] = {}
_lock = threading.Lock()


def _size(img: Image.Image) -> tuple[int, int]:
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except (OSError, ValueError):
        orientation = 1
    return (h, w) if orientation in _ROTATED else (w, h)


def _write(original: Path, target: Path, width: int, height: int) -> None:
    from PIL import Image, ImageOps

    with Image.open(original) as img:
        side = max(width, height)  # either orientation: draft works on the stored (unrotated) pixels
        img.draft("RGB", (side, side))  # JPEG: decode at a reduced scale, much faster on big photos
        out = ImageOps.exif_transpose(img)
        if out.mode in ("RGBA", "LA", "P"):
            rgba = out.convert("RGBA")
            out = Image.new("RGB", rgba.size, _BACKGROUND)
            out.paste(rgba, mask=rgba.getchannel("A"))
        out = out.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        out.save(tmp, "JPEG", quality=QUALITY, optimize=True, progressive=True)
        tmp.replace(target)


def picture(media_dir: Path, name: str) -> Picture | None:
    """The variants of the stored image ``name``, made on first use; None if it is missing or not an image.

    Blocking (Pillow): call it in a thread from async code.
    """
    from PIL import Image, UnidentifiedImageError  # with the first picture, not at start (kit/media.py)

    key = (str(media_dir), name)
    with _lock:
        if key in _cache:
            return _cache[key]
    original = media_dir / name
    if not name or "/" in name or name.startswith(".") or not original.is_file():
        return None
    load_codecs()
    try:
        with Image.open(original) as img:
            w, h = _size(img)
        stem = name.rsplit(".", 1)[0]
        out: list[Variant] = []
        for width in sorted({min(x, w) for x in WIDTHS}):
            height = max(1, round(h * width / w))
            v = Variant(f"{stem}-{width}-{VERSION}.jpg", width, height)
            if not (media_dir / v.name).is_file():
                _write(original, media_dir / v.name, width, height)
            out.append(v)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    pic = Picture(tuple(out))
    with _lock:
        _cache[key] = pic
    return pic
