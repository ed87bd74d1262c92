"""The recognition engines, as the OCR child process runs them (see app/ocr/runner.py): image in, raw lines out.

* ``rapidocr``: RapidOCR 3 on ONNX Runtime with the PP-OCRv6 detection and recognition models that ship inside
  the ``rapidocr`` wheel. The model paths are given explicitly, so the package never looks for (or downloads)
  anything else; app/ocr/status.py says why it cannot run.
* ``tesseract``: Debian's ``tesseract`` command with the ``fra`` and ``eng`` data (``tesseract-ocr-fra``),
  called directly on the binarised board (pytesseract would only wrap the same command).

Both read the board as :mod:`app.ocr.preprocess` prepares it, and return one string per text line, top to
bottom. Post-correction is the caller's (app/ocr/correct.py).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from app.ocr import preprocess as prep
from app.ocr.status import rapidocr_models

ENGINES = ("rapidocr", "tesseract")
WORK_SIDE = 960  # the board is read at this size at most: enough for chalk letters, bounded in time and memory


@dataclass(frozen=True, slots=True)
class Box:
    text: str
    x: float  # left edge
    cy: float  # vertical centre
    height: float


def group_lines(boxes: list[Box]) -> list[str]:
    """Text boxes into lines: a box joins the line whose centre is within half a box height, left to right."""
    lines: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: b.cy):
        for line in lines:
            mean_cy = sum(x.cy for x in line) / len(line)
            mean_h = sum(x.height for x in line) / len(line)
            if abs(b.cy - mean_cy) < 0.5 * max(mean_h, b.height):
                line.append(b)
                break
        else:
            lines.append([b])
    return [" ".join(b.text for b in sorted(line, key=lambda b: b.x)).strip() for line in lines]


class Engine(Protocol):
    name: str

    def read(self, rgb: prep.Array) -> list[str]: ...


def _fit(img: prep.Array, side: int = WORK_SIDE) -> prep.Array:
    h, w = img.shape[:2]
    if max(h, w) <= side:
        return img
    s = side / max(h, w)
    return np.asarray(cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA), dtype=np.uint8)


class RapidEngine:
    name = "rapidocr"

    def __init__(self, threads: int = 2) -> None:
        from rapidocr import RapidOCR  # heavy import (ONNX Runtime, OpenCV): only in the OCR process

        models = rapidocr_models()
        self._ocr: Any = RapidOCR(
            params={
                "Global.log_level": "warning",
                "Global.use_cls": False,  # boards are upright once flattened: the 180° classifier only costs time
                "Det.model_path": str(models["det"]),
                "Rec.model_path": str(models["rec"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                # Detection at 640 px on the longest side and recognition two lines at a time: peak memory
                # 313 MB instead of 556 MB at the defaults, for the same reading (docs/performance.md)
                "Det.limit_side_len": 640,
                "Det.limit_type": "max",
                "Rec.rec_batch_num": 2,
            }
        )
        # Our own ONNX Runtime sessions, handed to RapidOCR through its ``session`` hook (it would otherwise build
        # them on the first image), for one option its configuration cannot set: no memory pattern. The pattern
        # keeps one planned buffer per input shape, and every board and line crop has a new shape, so it only
        # grows; off, the peak per image drops by ~100 MB at the same CPU time (docs/performance.md).
        from omegaconf import flag_override  # RapidOCR's configuration library: a session is not a plain value

        with flag_override(self._ocr.cfg, "allow_objects", True):
            self._ocr.cfg.Det.session = _session(models["det"], threads)
            self._ocr.cfg.Rec.session = _session(models["rec"], threads)

    def read(self, rgb: prep.Array) -> list[str]:
        board, _ = prep.board_view(rgb)
        img = np.ascontiguousarray(_fit(board)[:, :, ::-1])  # RapidOCR takes OpenCV's BGR order
        result = self._ocr(img)
        if result.boxes is None or result.txts is None:
            return []
        boxes = []
        for pts, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
            if float(score) < 0.5 or not str(text).strip():
                continue
            ys = [float(p[1]) for p in pts]
            boxes.append(
                Box(str(text), min(float(p[0]) for p in pts), (min(ys) + max(ys)) / 2, max(ys) - min(ys) or 1.0)
            )
        return group_lines(boxes)


def _session(model: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session with RapidOCR's own options (its ``_init_sess_opts``: no CPU memory arena, all
    graph optimisations, quiet) and the thread counts given to it above, plus the memory pattern off."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


class TesseractEngine:
    name = "tesseract"

    def __init__(self, cmd: str = "tesseract", timeout: float = 30.0) -> None:
        self.cmd = shutil.which(cmd) or cmd
        self.timeout = timeout

    def read(self, rgb: prep.Array) -> list[str]:
        board, _ = prep.board_view(rgb)
        img = prep.binarise(prep.normalise(_fit(board, 1600)))
        ok, png = cv2.imencode(".png", img)
        if not ok:
            return []
        out = subprocess.run(
            [self.cmd, "stdin", "stdout", "-l", "fra+eng", "--psm", "6"],
            input=png.tobytes(),
            capture_output=True,
            timeout=self.timeout,
            check=False,
            env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"},
        )
        return [line for line in out.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


def make(name: str, *, tesseract_cmd: str = "tesseract", threads: int = 2) -> Engine:
    if name == "rapidocr":
        return RapidEngine(threads)
    if name == "tesseract":
        return TesseractEngine(tesseract_cmd)
    raise ValueError(f"unknown OCR engine {name!r}")
