"""Synthetic chalkboard menus for the OCR benchmark and the test fixture: deterministic from a seed.

Each :class:`Board` is a French or English *menu du jour* written in chalk on a slate (light text on a dark,
textured board in a wooden frame), then photographed: tilted, in perspective, unevenly lit, blurred and saved
as a phone would (JPEG quality 40-80). ``style`` says how it was lettered: ``block`` (sans-serif capitals and
lower case), ``script`` (handwriting fonts) or ``screen`` (a menu shown on a screen, photographed: moiré,
scan lines, glare). Fonts come from Debian packages (fonts-dejavu-core, fonts-liberation, fonts-urw-base35,
fonts-comic-neue, fonts-humor-sans, fonts-dancingscript, fonts-kaushanscript, fonts-breip, fonts-femkeklaver);
a missing font is skipped, and the fonts used are reported.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS: dict[str, list[str]] = {
    "block": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
        "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf",
        "/usr/share/fonts/opentype/urw-base35/URWGothic-Demi.otf",
        "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf",
        "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    ],
    "script": [
        "/usr/share/fonts/opentype/dancingscript/DancingScript-Bold.otf",
        "/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf",
        "/usr/share/fonts/truetype/breip/Breip.ttf",
        "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    ],
    "screen": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ],
}

DISHES_FR = [
    "Soupe à l'oignon",
    "Jarret d'agneau 24$",
    "Tarte au sucre",
    "Crème brûlée 9$",
    "Pâté chinois 18$",
    "Tourtière du Lac 21,50 $",
    "Poutine au canard 16$",
    "Salade de betteraves",
    "Filet de doré 27$",
    "Bœuf bourguignon 26$",
    "Quiche aux poireaux 14$",
    "Risotto aux chanterelles 23$",
    "Pouding chômeur 8$",
    "Moules et frites 19,50 $",
    "Café et dessert 6$",
    "Potage du jour",
    "Brunch dès 10 h",
    "Table d'hôte 35$",
    "Gâteau aux carottes",
    "Velouté de courge",
]
DISHES_EN = [
    "French onion soup",
    "Braised lamb shank $24",
    "Maple sugar pie",
    "Fish and chips $17",
    "Grilled cheese $11",
    "Chicken pot pie $19",
    "Caesar salad",
    "Beef burger and fries $18",
    "Apple crumble $8",
    "Clam chowder",
    "Roast pork sandwich $15",
    "Lemon tart",
    "Mushroom risotto $22",
    "Happy hour 4 to 6",
    "Coffee and cake $6",
    "Soup of the day",
]
HEADERS = {"fr": ["MENU DU JOUR", "Aujourd'hui", "Table d'hôte"], "en": ["TODAY", "Daily specials", "Lunch menu"]}
CAPS_ONLY = {"Humor-Sans"}  # fonts that draw every letter as a capital: the board says the text in capitals
CHALK = [(240, 240, 232), (250, 236, 160), (250, 200, 210), (190, 225, 250), (215, 245, 205)]


@dataclass(frozen=True, slots=True)
class Board:
    name: str
    style: str  # block | script | screen
    lang: str
    font: str
    lines: tuple[str, ...]
    jpeg: bytes


def available_fonts(style: str) -> list[str]:
    return [f for f in FONTS[style] if Path(f).is_file()]


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """Coefficients for ``Image.transform(PERSPECTIVE)``: maps each output point ``dst[i]`` to input ``src[i]``."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    sol = np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float))
    return [float(c) for c in sol]


def _fit_font(path: str, lines: list[str], width: int, height: int) -> ImageFont.FreeTypeFont:
    size = 120
    while size > 20:
        font = ImageFont.truetype(path, size)
        widest = max(font.getlength(line) for line in lines)
        if widest <= width and size * 1.45 * len(lines) <= height:
            return font
        size -= 4
    return ImageFont.truetype(path, size)


def _slate(rnd: random.Random, w: int, h: int) -> Image.Image:
    base = rnd.choice([(34, 40, 37), (28, 30, 32), (40, 52, 44), (22, 26, 24)])
    arr = np.random.default_rng(rnd.randrange(1 << 30)).normal(0, 6, (h, w, 1)) + np.array(base)
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(rnd.randrange(3, 9)):  # old chalk wiped off: pale smudges
        x, y = rnd.randrange(w), rnd.randrange(h)
        r = rnd.randrange(40, 160)
        g = base[1] + rnd.randrange(8, 22)
        d.ellipse((x - r, y - r // 3, x + r, y + r // 3), fill=(g - 4, g, g - 4))
    return im.filter(ImageFilter.GaussianBlur(6))


def _chalk_text(
    rnd: random.Random, im: Image.Image, lines: list[str], font_path: str, colour: tuple[int, int, int]
) -> None:
    w, h = im.size
    margin = int(w * 0.08)
    font = _fit_font(font_path, lines, w - 2 * margin, h - 2 * margin)
    mask = Image.new("L", im.size, 0)
    d = ImageDraw.Draw(mask)
    step = font.size * 1.4
    top = (h - step * len(lines)) / 2
    for i, line in enumerate(lines):
        x = margin + rnd.uniform(0, max(1.0, w - 2 * margin - font.getlength(line)) * 0.3)
        d.text((x, top + i * step), line, fill=255, font=font)
    noise = np.random.default_rng(rnd.randrange(1 << 30)).uniform(0.45, 1.0, (h, w))
    grain = (np.asarray(mask, dtype=float) * noise).clip(0, 255).astype(np.uint8)
    chalk = Image.fromarray(grain, "L").filter(ImageFilter.GaussianBlur(0.8))
    im.paste(Image.new("RGB", im.size, colour), (0, 0), chalk)


def _photograph(rnd: random.Random, board: Image.Image, tilt: float, jpeg_quality: int) -> bytes:
    """Frame the board, put it in a scene, then tilt, skew, light unevenly, blur and compress it."""
    bw, bh = board.size
    frame = 40
    framed = Image.new("RGB", (bw + 2 * frame, bh + 2 * frame), rnd.choice([(120, 82, 50), (92, 60, 36), (60, 60, 60)]))
    framed.paste(board, (frame, frame))
    sw, sh = framed.size[0] + 360, framed.size[1] + 300
    wall = rnd.choice([(200, 190, 170), (170, 160, 150), (225, 220, 205), (120, 110, 100)])
    scene = Image.new("RGB", (sw, sh), wall)
    scene.paste(framed, (180, 150))
    scene = scene.rotate(tilt, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=wall)
    # perspective: the camera is off-axis, so one side of the board looks shorter than the other
    j = [rnd.uniform(0, 0.07) for _ in range(8)]
    src: list[tuple[float, float]] = [(0, 0), (sw, 0), (sw, sh), (0, sh)]
    dst = [
        (sw * j[0], sh * j[1]),
        (sw * (1 - j[2]), sh * j[3]),
        (sw * (1 - j[4]), sh * (1 - j[5])),
        (sw * j[6], sh * (1 - j[7])),
    ]
    scene = scene.transform(
        (sw, sh), Image.Transform.PERSPECTIVE, _perspective_coeffs(src, dst), Image.Resampling.BICUBIC, fillcolor=wall
    )
    # uneven light: a gradient from a lamp on one side, and a darker corner
    yy, xx = np.mgrid[0:sh, 0:sw].astype(float)
    cx, cy = rnd.uniform(0, sw), rnd.uniform(0, sh)
    dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / np.hypot(sw, sh)
    light = rnd.uniform(1.1, 1.45) - rnd.uniform(0.35, 0.7) * dist
    arr = np.asarray(scene, dtype=float) * light[..., None]
    scene = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    scene = scene.filter(ImageFilter.GaussianBlur(rnd.uniform(0.3, 1.6)))
    scale = rnd.uniform(0.8, 1.4)
    scene = scene.resize((int(sw * scale), int(sh * scale)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    scene.save(out, "JPEG", quality=jpeg_quality)
    return out.getvalue()


def _screen(rnd: random.Random, lines: list[str], font_path: str, jpeg_quality: int) -> bytes:
    """A menu shown on a TV screen and photographed: light text on dark, scan lines, moiré and a glare."""
    w, h = 1280, 720
    im = Image.new("RGB", (w, h), (16, 18, 30))
    _chalk_text(rnd, im, lines, font_path, (245, 245, 245))
    arr = np.asarray(im, dtype=float)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    moire = 1 + 0.12 * np.sin((xx * 0.9 + yy * 0.35) * rnd.uniform(0.8, 1.2))
    scan = np.where((yy.astype(int) % 3) == 0, 0.82, 1.0)
    glare = 70 * np.exp(-(((xx - rnd.uniform(0, w)) / 260) ** 2 + ((yy - rnd.uniform(0, h)) / 180) ** 2))
    arr = arr * (moire * scan)[..., None] + glare[..., None]
    shot = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    bezel = Image.new("RGB", (w + 120, h + 120), (8, 8, 8))
    bezel.paste(shot, (60, 60))
    return _photograph(rnd, bezel.crop((20, 20, w + 100, h + 100)), rnd.uniform(-8, 8), jpeg_quality)


def make_board(seed: int, style: str, font_path: str, *, tilt: float | None = None) -> Board:
    rnd = random.Random(seed)
    lang = rnd.choice(["fr", "en"])
    dishes = DISHES_FR if lang == "fr" else DISHES_EN
    lines = [rnd.choice(HEADERS[lang]), *rnd.sample(dishes, rnd.randrange(3, 6))]
    quality = rnd.randrange(40, 81)
    if style == "screen":
        jpeg = _screen(rnd, lines, font_path, quality)
    else:
        board = _slate(rnd, rnd.randrange(1100, 1500), rnd.randrange(800, 1100))
        _chalk_text(rnd, board, lines, font_path, rnd.choice(CHALK))
        jpeg = _photograph(rnd, board, rnd.uniform(-20, 20) if tilt is None else tilt, quality)
    font = Path(font_path).stem
    said = [line.upper() for line in lines] if font in CAPS_ONLY else lines
    return Board(f"{style}-{seed:03d}", style, lang, font, tuple(said), jpeg)


def boards(count: int, seed: int = 2026) -> list[Board]:
    """``count`` boards: about half block lettering, a third script, the rest photographed screens."""
    plan = [("block", 0.5), ("script", 0.34), ("screen", 0.16)]
    out: list[Board] = []
    for style, share in plan:
        fonts = available_fonts(style)
        if not fonts:
            continue
        n = max(1, round(count * share))
        for i in range(n):
            out.append(make_board(seed + len(out), style, fonts[i % len(fonts)]))
    return out
