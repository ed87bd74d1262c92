"""Idle RSS of ``ardoise serve``: the embedded default (API, worker, scheduler and SMTP in one process) on a
migrated SQLite database, with console SMS.

For each run: migrate a fresh database in a temporary directory, start ``ardoise serve`` on free loopback ports,
wait for ``/healthz`` to answer, sleep ``--settle`` seconds (3 by default), read ``VmRSS`` of the server from
``/proc/<pid>/status`` (plus any child it made), stop it (by PID). The result is the median of ``--runs``.

``--app-root DIR`` (repeatable) measures the ``app/`` under DIR instead of this tree, e.g. a ``git archive`` of the
base commit: ``PYTHONPATH=DIR`` goes ahead of the editable install. With several roots the runs alternate
(A, B, A, B, …) so a change in the machine's load falls on both::

    git archive bd0b445 | tar -x -C /tmp/base
    .venv/bin/python bench/idle_rss.py --app-root /tmp/base --app-root . --runs 3

``--modules`` also lists the heavy third-party packages that the idle server has imported (read through a
``sitecustomize`` hook that writes ``sys.modules`` on SIGUSR1). ``--set VAR=VALUE`` adds to the environment, e.g.
``--set ARDOISE_LOG_FORMAT=json`` for the production log format.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import ARDOISE, free_port, rss_mb, say, start  # noqa: E402
from tests.test_imports import IDLE_FREE  # noqa: E402

WATCHED = (*IDLE_FREE, "typer", "click", "jinja2", "prometheus_client")
"""Packages worth knowing about in an idle server: what tests/test_imports.py keeps out, and what is still in."""

_SITECUSTOMIZE = """\
import os, signal, sys

def _dump(*_a):
    with open(os.environ["IDLE_RSS_MODULES"], "w") as fh:
        fh.write("\\n".join(sorted(sys.modules)))

signal.signal(signal.SIGUSR1, _dump)
"""


@dataclass
class Reading:
    rss_mb: float
    heavy: list[str] = field(default_factory=list)  # the WATCHED packages imported (with --modules)
    modules: int = 0  # len(sys.modules) (with --modules)


def measure(app_root: Path, tmp: Path, settle: float, modules: bool, extra: dict[str, str]) -> Reading:
    """One run: a migrated database, a started server, its RSS ``settle`` seconds after /healthz answers."""
    port, smtp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        ARDOISE_DATABASE_URL=f"sqlite:///{tmp}/ardoise.db",
        ARDOISE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ARDOISE_SMS_PROVIDER="console",
        ARDOISE_SMTP_PORT=str(smtp_port),
        ARDOISE_SECRET_KEY="bench-secret-key-" + secrets.token_hex(16),
        ARDOISE_MEDIA_DIR=str(tmp / "media"),
        PYTHONPATH=str(app_root),  # ahead of the editable install: measure exactly this app/
    )
    env.update(extra)
    dump = tmp / "modules.txt"
    if modules:
        site = tmp / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        env.update(PYTHONPATH=f"{site}:{app_root}", IDLE_RSS_MODULES=str(dump))
    subprocess.run([ARDOISE, "migrate"], env=env, cwd=tmp, check=True, capture_output=True)
    srv = start("ardoise", [ARDOISE, "serve", "--port", str(port)], env, tmp, port, "/healthz")
    try:
        time.sleep(settle)
        out = Reading(rss_mb(srv.proc.pid))
        if modules:
            srv.proc.send_signal(signal.SIGUSR1)
            for _ in range(50):
                if dump.exists():
                    break
                time.sleep(0.1)
            names = set(dump.read_text().split())
            out.heavy = [m for m in WATCHED if m in names]
            out.modules = len(names)
        return out
    finally:
        srv.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app-root", type=Path, action="append", help="app/ to measure (repeatable); default: here")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds between /healthz and the reading")
    ap.add_argument("--modules", action="store_true", help="also list the heavy packages imported")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="extra environment, e.g. ARDOISE_LOG_FORMAT=json",
    )
    args = ap.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in args.set)
    roots = [r.resolve() for r in (args.app_root or [ROOT])]
    results: dict[str, list[Reading]] = {str(r): [] for r in roots}
    for i in range(args.runs):
        for root in roots:
            with tempfile.TemporaryDirectory(prefix="idle-rss-") as d:
                r = measure(root, Path(d), args.settle, args.modules, extra)
            results[str(root)].append(r)
            say(f"run {i + 1} {root}: " + (json.dumps(asdict(r)) if args.modules else f"{r.rss_mb} MB"))
    for root, rs in results.items():
        values = [r.rss_mb for r in rs]
        say(f"{root}: median {statistics.median(values):.1f} MB (runs {', '.join(f'{v:.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
