"""Pixel bombs through the one image pipeline (app/kit/media.py, ``reencode``): a small file that claims a huge
image is refused from its header, before a pixel is decoded, and what does pass is bounded in memory.

Memory is measured as it matters, in a fresh Python process (``VmHWM``, the peak resident size, before and
after one ``reencode``): Pillow's pixels live outside the Python heap, so tracemalloc would not see them.
Measured on the code before the decoded-bytes cap (issue 11, finding 6): a 154 KB RGBA PNG of 6,300 x 6,300
(under the 40 M pixel cap) raised the peak by 608 MB, a 5 KB palette PNG of the same size by 408 MB, a
116 KB RGB one by 370 MB; each is now refused from its header (about 2 MB) or, for RGB, peaks at about 220 MB.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from app.kit import media

ROOT = Path(__file__).resolve().parents[2]


def png(side: int, colour: int, depth: int = 8) -> bytes:
    """A valid PNG of ``side`` x ``side`` zero pixels (grey 0, RGB 2, palette 3, RGBA 6): a few KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3, 3: 1, 6: 4}[colour]
    z = zlib.compressobj(9)
    row = b"\x00" * (side * channels * depth // 8 + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    head = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, depth, colour, 0, 0, 0))
    palette = chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff") if colour == 3 else b""
    return b"\x89PNG\r\n\x1a\n" + head + palette + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG whose frame header claims ``width`` x ``height``."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from app.kit import media

def peak():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) // 1024

data = sys.stdin.buffer.read()
before = peak()
try:
    media.reencode(data)
    refused = None
except media.ImageRefused as exc:
    refused = str(exc)
print(json.dumps({"refused": refused, "growth_mb": peak() - before}))
"""


def reencode_in_fresh_process(data: bytes) -> tuple[str | None, int]:
    """``reencode(data)`` in a new interpreter: (why it was refused or None, peak resident growth in MB)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT)], input=data, capture_output=True, timeout=120, check=True
    )
    got = json.loads(out.stdout)
    return got["refused"], int(got["growth_mb"])


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("grey PNG 8900x8900, 79 M pixels", lambda: png(8900, 0), "pixels"),
        ("RGBA PNG 6300x6300, under the pixel cap", lambda: png(6300, 6), "bytes decoded"),
        ("palette PNG 6300x6300, under the pixel cap", lambda: png(6300, 3), "bytes decoded"),
        ("RGBA PNG 4000x4000", lambda: png(4000, 6), "bytes decoded"),
        ("JPEG claiming 65000x65000", lambda: jpeg_claiming(65000, 65000), "unreadable"),
        ("JPEG claiming 9000x9000", lambda: jpeg_claiming(9000, 9000), "pixels"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_pixel_bomb_is_refused_from_its_header_before_any_decoding(name: str, data: object, reason: str) -> None:
    assert callable(data)
    bomb: bytes = data()
    assert len(bomb) < 200_000, name
    with pytest.raises(media.ImageRefused, match=reason):
        media.reencode(bomb)
    refused, growth = reencode_in_fresh_process(bomb)
    assert refused is not None
    assert growth < 20, f"{name}: {growth} MB decoded before the refusal"


@pytest.mark.parametrize(
    ("name", "data", "limit_mb"),
    [
        ("RGB PNG 6300x6300 (39.7 M pixels, the largest that passes)", lambda: png(6300, 2), 260),
        ("16-bit grey PNG 6300x6300", lambda: png(6300, 0, 16), 160),
        ("RGBA PNG 3800x3800", lambda: png(3800, 6), 200),
        ("palette PNG 3600x3600", lambda: png(3600, 3), 200),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_what_passes_the_header_is_re_encoded_within_a_bounded_peak(name: str, data: object, limit_mb: int) -> None:
    assert callable(data)
    refused, growth = reencode_in_fresh_process(data())
    assert refused is None, f"{name}: {refused}"
    assert growth < limit_mb, f"{name}: the peak grew by {growth} MB"


def test_shrinking_first_keeps_the_orientation_transparency_and_no_metadata() -> None:
    """``reencode`` now shrinks before it turns and flattens: the result must be the same as before."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned, the picture must be rotated 90° clockwise
    exif[0x8825] = {0x0002: (46.0, 48.0, 0.0)}  # a GPS latitude
    photo = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(photo, "JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(media.reencode(photo.getvalue()))) as im:
        assert im.size == (1365, 2048)  # portrait: turned after shrinking into the 2048 box
        assert not im.getexif()

    clear = Image.new("RGBA", (5000, 1000), (0, 0, 0, 0))
    clear.paste((0, 0, 255, 255), (0, 0, 2500, 1000))
    out = io.BytesIO()
    clear.save(out, "PNG")
    with Image.open(io.BytesIO(media.reencode(out.getvalue()))) as im:
        assert im.mode == "RGB"
        assert im.size == (2048, 410)
        assert min(im.getpixel((1800, 200))) > 240  # type: ignore[arg-type]  # transparency on white
        assert im.getpixel((200, 200))[2] > 200  # type: ignore[index]  # the blue half stays blue

    gif = io.BytesIO()
    Image.new("P", (3000, 300), 1).save(gif, "GIF")
    with Image.open(io.BytesIO(media.reencode(gif.getvalue()))) as im:
        assert (im.format, im.size) == ("JPEG", (2048, 205))
