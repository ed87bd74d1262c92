"""From a phone photo of a chalkboard to an upright, flat, evenly lit image of the board. Pure: arrays in and out.

The steps, in order (each is a function, tested on its own):

1. :func:`load`: decode, apply the EXIF orientation, and scale down so the longest side is at most
   ``max_side`` (JPEG is decoded at a reduced size directly, so a 12-megapixel photo never sits in memory whole).
2. :func:`find_board`: the board is the largest dark, roughly four-sided region; its corners are returned.
3. :func:`warp`: a perspective transform maps those corners to a rectangle (this also removes the tilt).
4. :func:`deskew`: where no board was found (a close-up), the text's own angle is measured and undone.
5. :func:`normalise`: grey, light text on dark is inverted to dark on light, the lighting is flattened
   (divided by a blurred background), and the contrast stretched.
6. :func:`binarise`: Otsu threshold, for engines that want black on white (Tesseract).

OpenCV (headless) does the geometry: it is already installed as a dependency of the RapidOCR engine.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

Array = NDArray[np.uint8]

MIN_BOARD_SHARE = 0.12  # a dark region smaller than this share of the photo is not the board


class BadImage(ValueError):
    """The bytes are not an image Pillow can read, or the image is absurdly large."""


def load(data: bytes, max_side: int, max_pixels: int = 60_000_000) -> Array:
    """RGB array of the photo, upright (EXIF), its longest side at most ``max_side``."""
    try:
        src = Image.open(io.BytesIO(data))
        if src.width * src.height > max_pixels:
            raise BadImage(f"{src.width}x{src.height} is too large")
        src.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale when that is enough
        im = (ImageOps.exif_transpose(src) or src).convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(str(exc)) from exc
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8)


def _order(pts: NDArray[np.float32]) -> NDArray[np.float32]:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    s = pts.sum(axis=1)
    d = np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], dtype=np.float32)


def find_board(rgb: Array) -> NDArray[np.float32] | None:
    """The four corners of the board (ordered), or None when no dark region is large enough.

    The photo is reduced to 400 px, blurred, and split at Otsu's threshold; a closing with a kernel larger than
    the chalk strokes fills the letters, so the board is one dark blob. Its outline is simplified to four points
    (or, when that fails, its minimum-area rectangle).
    """
    h, w = rgb.shape[:2]
    scale = 400 / max(h, w)
    small = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    _, dark = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 25)))
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9)))
    contours, _ = cv2.findContours(dark, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    blob = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(blob)
    if area < MIN_BOARD_SHARE * small.shape[0] * small.shape[1]:
        return None
    if area > 0.97 * small.shape[0] * small.shape[1]:
        return None  # the whole photo is dark: a close-up of the board, nothing to crop
    hull = cv2.convexHull(blob)
    approx = cv2.approxPolyDP(hull, 0.03 * cv2.arcLength(hull, True), True)
    pts = approx.reshape(-1, 2) if len(approx) == 4 else cv2.boxPoints(cv2.minAreaRect(hull))
    return _order(np.asarray(pts, dtype=np.float32) / scale)


def warp(rgb: Array, corners: NDArray[np.float32], inset: float = 0.015) -> Array:
    """The board seen from the front: ``corners`` mapped to a rectangle of the same mean width and height.

    ``inset`` trims a thin border (the frame's edge) off each side."""
    tl, tr, br, bl = corners
    width = int((np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2)
    height = int((np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2)
    if width < 32 or height < 32:
        return rgb
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(corners, dst)
    flat = cv2.warpPerspective(rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    dx, dy = int(width * inset), int(height * inset)
    return np.ascontiguousarray(flat[dy : height - dy, dx : width - dx])


def skew_angle(grey: Array, limit: float = 20.0) -> float:
    """The angle (degrees) that makes the text lines horizontal: the rotation whose row profile is sharpest."""
    h, w = grey.shape[:2]
    scale = 500 / max(h, w)
    small = cv2.resize(grey, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if np.mean(ink) > 127:  # ink is the minority colour
        ink = 255 - ink
    centre = (small.shape[1] / 2, small.shape[0] / 2)
    best, best_score = 0.0, -1.0
    for angle in np.arange(-limit, limit + 0.01, 1.0):
        rot = cv2.warpAffine(ink, cv2.getRotationMatrix2D(centre, float(angle), 1.0), (small.shape[1], small.shape[0]))
        score = float(np.var(rot.sum(axis=1, dtype=np.float64)))
        if score > best_score:
            best, best_score = float(angle), score
    return best


def deskew(img: Array, angle: float) -> Array:
    if abs(angle) < 0.5:
        return img
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.uint8)


def normalise(rgb: Array) -> Array:
    """Grey, dark text on a light, evenly lit background, full contrast."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    if float(np.median(grey)) < 128:  # chalk: light text on a dark board
        grey = 255 - grey
    k = max(15, (min(grey.shape[:2]) // 8) | 1)
    background = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    flat = cv2.divide(grey, background, scale=255)
    return cv2.normalize(flat, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def binarise(grey: Array) -> Array:
    _, out = cv2.threshold(cv2.GaussianBlur(grey, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.asarray(out, dtype=np.uint8)


def board_view(rgb: Array) -> tuple[Array, bool]:
    """Steps 2-4: the board cropped, flattened and upright (colour kept). Returns it and whether a board was found."""
    corners = find_board(rgb)
    if corners is not None:
        return warp(rgb, corners), True
    grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    return deskew(rgb, skew_angle(grey)), False
