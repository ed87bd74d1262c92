"""The OCR child's memory reading is its own, not the peak of the process that started it."""

from __future__ import annotations

import subprocess
import sys

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
