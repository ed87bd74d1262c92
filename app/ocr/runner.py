"""Recognition, bounded: a child process holds the engine, the worker sends it one image at a time.

Why a child process: the engine's native code (ONNX Runtime, Tesseract) must not block the worker's event loop,
must not be able to take the worker's memory, and must be stoppable. Why a long-lived one: importing RapidOCR
and loading its models costs seconds, far more than reading one board, so the child is started on first use
and kept.

Bounds (settings ``ocr_*``, docs/configuration.md):

* memory: the child runs under ``RLIMIT_AS`` = ``ocr_memory_mb`` (set before it imports anything); an image that
  would need more makes the child fail, not the worker. Tesseract runs as its grandchild and inherits the limit.
* time: each image gets ``ocr_timeout_seconds``; past it the child is killed (and started again next time).
* size: the child decodes at most ``ocr_max_side`` pixels on the longest side (JPEG is decoded scaled down).

The protocol on the child's stdin/stdout: the parent writes a 4-byte big-endian length and the image bytes;
the child answers one JSON line ``{"lines": [...], "cpu": seconds, "maxrss_kb": n}`` or ``{"error": "..."}``.
It first prints ``{"ready": true}`` once the engine is loaded. Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform
import resource
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("ardoise.ocr")


class OcrFailed(Exception):
    """The image could not be read in time or within memory (or the engine is missing)."""


@dataclass(frozen=True, slots=True)
class Reading:
    lines: list[str]
    cpu_seconds: float
    wall_seconds: float
    maxrss_mb: float


@dataclass(frozen=True, slots=True)
class Limits:
    engine: str = "rapidocr"
    tesseract_cmd: str = "tesseract"
    timeout_seconds: float = 20.0
    start_timeout_seconds: float = 60.0
    memory_mb: int = 1536
    max_side: int = 1600
    threads: int = 2


class Reader:
    """One engine child process, used by one worker process, one image at a time."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def _cap(self) -> None:  # runs in the child between fork and exec
        cap = self.limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    async def _start(self) -> asyncio.subprocess.Process:
        lim = self.limits
        env = {**os.environ, "OMP_NUM_THREADS": str(lim.threads), "OMP_THREAD_LIMIT": str(lim.threads)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.ocr.runner",
            "--engine",
            lim.engine,
            "--tesseract-cmd",
            lim.tesseract_cmd,
            "--max-side",
            str(lim.max_side),
            "--threads",
            str(lim.threads),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=self._cap,
            env=env,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), lim.start_timeout_seconds)
        except TimeoutError:
            await self._kill(proc)
            raise OcrFailed(f"the {lim.engine} engine did not start within {lim.start_timeout_seconds:g} s") from None
        hello: dict[str, Any] = json.loads(line) if line.strip() else {"error": "the OCR process exited"}
        if not hello.get("ready"):
            await self._kill(proc)
            raise OcrFailed(str(hello.get("error", "the OCR process did not start"))[:300])
        return proc

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

    async def read(self, data: bytes) -> Reading:
        """The lines of text the engine sees in the image (raw, not corrected). Raises OcrFailed."""
        async with self._lock:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await self._start()
            proc = self._proc
            assert proc.stdin is not None
            assert proc.stdout is not None
            started = time.monotonic()
            try:
                proc.stdin.write(struct.pack(">I", len(data)) + data)
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), self.limits.timeout_seconds)
            except TimeoutError:
                self._proc = None
                await self._kill(proc)
                raise OcrFailed(f"no answer within {self.limits.timeout_seconds:g} s: stopped") from None
            except (BrokenPipeError, ConnectionResetError) as exc:
                self._proc = None
                await self._kill(proc)
                raise OcrFailed(f"the OCR process died: {exc}") from None
            if not line.strip():
                self._proc = None
                await self._kill(proc)
                raise OcrFailed("the OCR process died (memory limit?)")
            answer: dict[str, Any] = json.loads(line)
            if "error" in answer:
                raise OcrFailed(str(answer["error"])[:300])
            return Reading(
                lines=[str(x) for x in answer.get("lines", [])],
                cpu_seconds=float(answer.get("cpu", 0.0)),
                wall_seconds=time.monotonic() - started,
                maxrss_mb=float(answer.get("maxrss_kb", 0)) / 1024,
            )

    async def close(self) -> None:
        async with self._lock:
            if self._proc is not None:
                await self._kill(self._proc)
                self._proc = None


def _own_peak_kb() -> int:
    """This process's peak resident memory since its exec, in KiB.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the parent's peak across fork and exec into it, so a
    child of a 2 GB test process would report 2 GB however little it used. ``VmHWM`` belongs to the process's own
    address space, which exec replaces. (A grandchild such as ``tesseract`` inherits only this process's real size,
    so ``RUSAGE_CHILDREN`` stays right.)
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _heap_trimmer() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` on glibc Linux, else None.

    Why: glibc keeps the heap pages of the buffers ONNX Runtime frees after each image, and the next image's
    differently shaped buffers do not fit them all, so the resident size (and the peak) creeps up image after
    image; returning the free pages to the system after each image keeps the peak flat for a few milliseconds of
    CPU. (``MALLOC_MMAP_THRESHOLD_`` in the environment holds it lower still but costs ~1.5x the CPU time:
    docs/performance.md.) Other C libraries (musl, macOS) have no such call and are left alone.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


def _serve(args: argparse.Namespace) -> int:
    """The child: load the engine, then read images from stdin until it closes."""
    out = sys.stdout
    try:
        from app.ocr import engines
        from app.ocr import preprocess as prep

        engine = engines.make(args.engine, tesseract_cmd=args.tesseract_cmd, threads=args.threads)
    except Exception as exc:  # report why, whatever it is: the parent says it to the operator
        out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        return 1
    trim = _heap_trimmer()
    out.write(json.dumps({"ready": True, "engine": args.engine}) + "\n")
    out.flush()
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return 0
        data = stdin.read(struct.unpack(">I", head)[0])
        cpu = time.process_time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            lines = engine.read(prep.load(data, args.max_side))
            answer: dict[str, Any] = {"lines": lines}
        except Exception as exc:  # any failure of one image (cv2.error too) is that image's, not the process's
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        if trim is not None:
            trim()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        answer["cpu"] = (
            time.process_time() - cpu + (children.ru_utime + children.ru_stime) - (before.ru_utime + before.ru_stime)
        )
        answer["maxrss_kb"] = max(_own_peak_kb(), children.ru_maxrss)
        out.write(json.dumps(answer) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ardoise OCR child process (started by the worker).")
    ap.add_argument("--engine", default="rapidocr")
    ap.add_argument("--tesseract-cmd", default="tesseract")
    ap.add_argument("--max-side", type=int, default=1600)
    ap.add_argument("--threads", type=int, default=2)
    return _serve(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
