"""OCR benchmark: synthetic chalkboard menus (bench/chalk.py, deterministic from --seed) read by each engine through
the same bounded child process the worker uses (app/ocr/runner.py), then post-corrected (app/ocr/correct.py).

Reports, per engine and per style (block lettering, script, photographed screen): character error rate (edit
distance over the reference length, lines joined by newlines) before and after correction, dish-line accuracy
(share of the board's lines read exactly), CPU and wall time per image, and the OCR process's peak resident
memory. Nothing is written to disk unless --save-images is given.

    .venv/bin/python bench/ocr.py --count 60 --engines rapidocr,tesseract
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ocr.correct import correct
from app.ocr.runner import Limits, OcrFailed, Reader
from app.ocr.status import why_off
from bench.chalk import Board, boards


def distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions: cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def norm(lines: list[str] | tuple[str, ...]) -> list[str]:
    return [" ".join(x.split()) for x in lines if x.strip()]


async def run_engine(engine: str, items: list[Board]) -> list[dict[str, object]]:
    reader = Reader(Limits(engine=engine, timeout_seconds=60))
    started = time.monotonic()
    await reader.read(items[0].jpeg)  # start the process (model loading is reported apart)
    startup = time.monotonic() - started
    rows: list[dict[str, object]] = []
    for b in items:
        ref = "\n".join(norm(b.lines))
        try:
            r = await reader.read(b.jpeg)
            raw, fixed = norm(r.lines), norm(correct(r.lines))
            cpu, wall, rss = r.cpu_seconds, r.wall_seconds, r.maxrss_mb
        except OcrFailed as exc:
            print(f"{engine} {b.name}: {exc}", file=sys.stderr)  # noqa: T201
            raw, fixed, cpu, wall, rss = [], [], 0.0, 0.0, 0.0
        rows.append(
            {
                "engine": engine,
                "board": b.name,
                "style": b.style,
                "font": b.font,
                "lang": b.lang,
                "cer_raw": distance(ref, "\n".join(raw)) / len(ref),
                "cer": distance(ref, "\n".join(fixed)) / len(ref),
                "lines": sum(1 for x in norm(b.lines) if x in fixed) / len(norm(b.lines)),
                "cpu": cpu,
                "wall": wall,
                "rss": rss,
                "startup": startup,
                "raw": raw,
                "read": fixed,
            }
        )
    await reader.close()
    return rows


def table(rows: list[dict[str, object]]) -> str:
    out = [
        "| engine | style | images | CER raw | CER corrected | dish lines exact | CPU s/image (mean, max) "
        "| wall s/image (mean, max) | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for r in rows:
        groups.setdefault((str(r["engine"]), str(r["style"])), []).append(r)
        groups.setdefault((str(r["engine"]), "all"), []).append(r)
    for (engine, style), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == "all", kv[0][1])):

        def col(key: str, rs: list[dict[str, object]] = rs) -> list[float]:
            return [float(str(r[key])) for r in rs]

        out.append(
            f"| {engine} | {style} | {len(rs)} | {statistics.mean(col('cer_raw')):.1%} "
            f"| {statistics.mean(col('cer')):.1%} | {statistics.mean(col('lines')):.0%} "
            f"| {statistics.mean(col('cpu')):.2f}, {max(col('cpu')):.2f} "
            f"| {statistics.mean(col('wall')):.2f}, {max(col('wall')):.2f} | {max(col('rss')):.0f} |"
        )
    return "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--engines", default="rapidocr,tesseract")
    ap.add_argument("--json", type=Path, help="write every row here")
    ap.add_argument("--save-images", type=Path, help="write the generated JPEGs into this folder")
    args = ap.parse_args()
    t0 = time.monotonic()
    items = boards(args.count, args.seed)
    print(f"{len(items)} boards generated in {time.monotonic() - t0:.0f} s", file=sys.stderr)  # noqa: T201
    if args.save_images:
        args.save_images.mkdir(parents=True, exist_ok=True)
        for b in items:
            (args.save_images / f"{b.name}.jpg").write_bytes(b.jpeg)
    rows: list[dict[str, object]] = []
    for engine in args.engines.split(","):
        if (why := why_off(engine)) is not None:
            print(f"{engine}: skipped ({why})", file=sys.stderr)  # noqa: T201
            continue
        engine_rows = await run_engine(engine, items)
        print(f"{engine}: process start {float(str(engine_rows[0]['startup'])):.1f} s", file=sys.stderr)  # noqa: T201
        rows += engine_rows
    print(table(rows))  # noqa: T201
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
