"""Media files Ardoise keeps (MMS photos, API ``media_urls``, email attachments) so networks that need a public
URL can fetch them.

Every image is re-encoded before it is stored (:func:`reencode`): what Ardoise serves on ``/media/`` and sends to
the networks is a JPEG it wrote itself, never the bytes it was given. That strips EXIF (a phone's GPS position
above all), applies the EXIF orientation, bounds the size to what every network takes (Bluesky: 1,000,000 bytes
per image) and refuses decompression bombs from the header, before any pixel is decoded.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

IMAGE_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
}
MAX_PIXELS = 40_000_000
"""Refused from the header, before decoding: 40 M pixels decode to 120 MB in RGB (a 12,000 x 3,300 panorama
passes; an 8,900 x 8,900 PNG bomb of 300 KB does not)."""
MAX_DECODED_BYTES = 120_000_000
"""What decoding and shrinking may hold at once, also judged from the header (after a JPEG's reduced-scale
draft): the pixels times the bytes each takes (:data:`_BYTES_PER_PIXEL`). 40 M pixels of RGB reach it, 15 M
with transparency, 13 M of a palette. Without it a 150 KB RGBA PNG of 6,300 x 6,300 (under MAX_PIXELS) took
608 MB to re-encode; the worst that passes now peaks near 220 MB (tests/attack/test_pixel_bombs.py)."""
_BYTES_PER_PIXEL = {
    "1": 9,
    "P": 9,
    "PA": 9,
    "L": 1,
    "LA": 4,
    "La": 2,
    "I;16": 2,
    "I;16L": 2,
    "I;16B": 2,
    "RGB": 3,
    "RGBA": 8,
}
"""Bytes a pixel takes while it is decoded and shrunk: Pillow shrinks transparency on a premultiplied copy
(RGBA 4 + 4), and a palette image is converted to RGBA first (1 + 4 + 4). Other modes: 4."""
MAX_SIDE = 2048
MAX_IMAGE_BYTES = 1_000_000
"""Bluesky refuses images over 1,000,000 bytes, the smallest limit of the networks Ardoise posts to."""
_QUALITIES = (85, 75, 65)


class ImageRefused(ValueError):
    """Not an image Ardoise can read, or one over MAX_PIXELS or MAX_DECODED_BYTES."""


@functools.cache
def load_codecs() -> None:
    """Import Pillow and register the HEIC codec with it, once. Pillow and ``pillow_heif`` are imported by the
    functions that decode (here, in ``kit.variants`` and ``businesses.service``), not at start: together they
    are about 6 MB of every idle server that has not seen an image yet (docs/performance.md, "Idle memory")."""
    import PIL.Image  # noqa: F401

    try:  # HEIC (iPhone photos): optional codec; without it HEIC files are reported unreadable
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover
        pass


def reencode(data: bytes, *, max_side: int = MAX_SIDE, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """A JPEG of ``data``: upright (EXIF orientation applied), no metadata (EXIF, GPS, ICC comments dropped),
    at most ``max_side`` pixels on its longest side and at most ``max_bytes`` long. Transparency goes on
    white; an animation keeps its first frame. CPU-bound: call it in a thread.

    Raises ImageRefused for anything unreadable, for more than MAX_PIXELS and for more than MAX_DECODED_BYTES
    (both judged from the header, before a pixel is decoded)."""
    from PIL import Image, ImageOps

    load_codecs()
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageRefused(f"{im.width}x{im.height} is over {MAX_PIXELS:,} pixels")
            im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, a fraction of the memory
            need = _decoded_bytes(im)
            if need > MAX_DECODED_BYTES:
                raise ImageRefused(f"{im.width}x{im.height} {im.mode} needs {need:,} bytes decoded")
            if im.mode in ("1", "P", "PA"):
                img = im.convert("RGBA")  # shrinking a palette image would pick pixels, not average them
            else:
                im.load()
                img = im
            # Shrink before anything else copies the pixels: turning, flattening and converting then work on
            # at most max_side x max_side (fitting in a square box does not depend on the orientation).
            img.thumbnail((max_side, max_side))
            if img is im:
                img = im.copy()  # closing ``im`` frees its pixels
            img = ImageOps.exif_transpose(img) or img
            if img.mode in ("RGBA", "LA", "La", "RGBa"):
                rgba = img.convert("RGBA")
                img = Image.new("RGB", rgba.size, (255, 255, 255))
                img.paste(rgba, mask=rgba.getchannel("A"))
            elif img.mode != "RGB":
                img = img.convert("RGB")
    except ImageRefused:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRefused(f"unreadable image: {type(exc).__name__}") from None
    side = max_side
    while True:
        img.thumbnail((side, side))
        for quality in _QUALITIES:
            out = io.BytesIO()
            img.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
            if out.tell() <= max_bytes:
                return out.getvalue()
        side = max(16, int(max(img.size) * 0.75))


def _decoded_bytes(im: Image.Image) -> int:
    """Bytes the pixels of ``im`` take while :func:`reencode` decodes and shrinks them."""
    return im.width * im.height * _BYTES_PER_PIXEL.get(im.mode, 4)


def store(media_dir: Path, data: bytes, content_type: str) -> str:
    """Write ``data`` under a content-addressed name (a retry stores nothing twice). Returns the file name.
    Images go through :func:`store_image`; this stores bytes as they are."""
    ext = IMAGE_TYPES.get(content_type.split(";")[0].strip().lower(), ".bin")
    name = hashlib.sha256(data).hexdigest()[:32] + ext
    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / name
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return name


def store_image(media_dir: Path, data: bytes) -> str:
    """Re-encode ``data`` (:func:`reencode`) and store the JPEG; the file name. Raises ImageRefused."""
    return store(media_dir, reencode(data), "image/jpeg")


def safe_path(media_dir: Path, name: str) -> Path | None:
    """The file for a public media name, or None for anything that is not one of ours."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 64:
        return None
    path = media_dir / name
    return path if path.is_file() else None


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """JPEG segments after SOI: (marker, payload)."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i : i + 2]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        yield marker, data[i + 4 : i + 2 + length]
        i += 2 + length


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP from its header; ``None`` when unknown.

    Bluesky gets it as ``aspectRatio`` so its app lays the image out without cropping it.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        for marker, payload in _chunks(data):
            if marker[1] in (0xC0, 0xC1, 0xC2) and len(payload) >= 5:
                return int.from_bytes(payload[3:5], "big"), int.from_bytes(payload[1:3], "big")
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if kind == b"VP8 ":
            return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None
