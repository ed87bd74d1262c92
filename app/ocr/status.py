"""Whether the configured OCR engine can run here, and why not. Light: imports no engine (doctor, flow)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from functools import cache
from pathlib import Path

RAPIDOCR_MODELS = ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx")  # inside the rapidocr wheel


def rapidocr_models() -> dict[str, Path]:
    """The detection and recognition models shipped in the installed ``rapidocr`` package ({} if absent)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations))) / "models"
    return {"det": root / RAPIDOCR_MODELS[0], "rec": root / RAPIDOCR_MODELS[1]}


def rapidocr_missing() -> str | None:
    """Why RapidOCR cannot run here, or None."""
    for pkg in ("rapidocr", "onnxruntime", "cv2"):
        if importlib.util.find_spec(pkg) is None:
            return f"the Python package {pkg} is not installed"
    missing = [str(p) for p in rapidocr_models().values() if not p.is_file()]
    return f"model file missing: {missing[0]}" if missing else None


def tesseract_missing(cmd: str) -> str | None:
    """Why Tesseract cannot run here (command, French or English data missing), or None."""
    if importlib.util.find_spec("cv2") is None:
        return "the Python package opencv-python-headless is not installed"
    path = shutil.which(cmd)
    if path is None:
        return f"the command {cmd!r} is not installed (apt-get install tesseract-ocr tesseract-ocr-fra)"
    try:
        out = subprocess.run([path, "--list-langs"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd} --list-langs failed: {exc}"
    langs = set((out.stdout + out.stderr).split())
    lacking = [lang for lang in ("fra", "eng") if lang not in langs]
    return f"tesseract has no {'+'.join(lacking)} data (apt-get install tesseract-ocr-fra)" if lacking else None


@cache
def why_off(engine: str, tesseract_cmd: str = "tesseract") -> str | None:
    """None when ``engine`` can read photos here, else the reason OCR is off (cached: the answer does not
    change while the process runs)."""
    if engine == "off":
        return "ARDOISE_OCR_ENGINE=off"
    if engine == "rapidocr":
        return rapidocr_missing()
    if engine == "tesseract":
        return tesseract_missing(tesseract_cmd)
    return f"unknown engine {engine!r}"
