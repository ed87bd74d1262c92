"""The OCR child's memory: its reading is its own, not the peak of the process that started it, and what keeps
it down (RapidOCR on sessions without the memory pattern, the heap trimmed after each image) is in place."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import Any

import pytest

from app.ocr import preprocess as prep
from app.ocr.correct import correct
from app.ocr.engines import RapidEngine
from app.ocr.runner import _heap_trimmer
from app.ocr.status import why_off
from tests.ocr.test_flow import BOARD

PROBE = "from app.ocr.runner import _own_peak_kb; print(_own_peak_kb())"


def test_a_child_of_a_large_process_reports_its_own_peak() -> None:
    # Linux carries the parent's peak RSS across fork+exec into ru_maxrss; a preexec_fn forces fork, as the Reader's
    # memory cap does. The parent holds 400 MB of written pages while it starts the child.
    ballast = b"\x01" * (400 * 1024 * 1024)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, preexec_fn=lambda: None
    ).stdout
    del ballast
    assert int(out) < 200 * 1024, f"the child reported {int(out) // 1024} MB"


def test_the_heap_is_trimmed_after_each_image_on_glibc_only() -> None:
    trim = _heap_trimmer()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert trim is not None
        trim()  # returns free heap pages to the system; calling it twice is harmless
        trim()
    else:
        assert trim is None


def test_rapidocr_runs_on_our_sessions_with_the_memory_pattern_off() -> None:
    # RapidOCR builds its sessions on the first image unless given one; ours are the ones it must use.
    if (why := why_off("rapidocr")) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"rapidocr must be installed in CI (.ci/run): {why}")
        pytest.skip(why)
    engine = RapidEngine(threads=1)
    assert correct(engine.read(prep.load(BOARD, 1600)))[0] == "MENU DU JOUR"
    ocr: Any = engine._ocr
    for part in (ocr.text_det, ocr.text_rec):
        options = part.session.session.get_session_options()
        assert options.enable_mem_pattern is False
        assert options.enable_cpu_mem_arena is False
