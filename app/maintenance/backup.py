"""``ardoise backup`` and ``ardoise restore``, in Python where it can be (no ``sqlite3`` binary needed, so they run
inside the image), with the PostgreSQL tools where it cannot.

SQLite: the online backup API copies the database while the service writes. The copy holds one read
transaction on the source for its whole length, so it is one consistent snapshot (every commit before it
started, none after) and never restarts however busy the writers are (WAL: readers do not block writers).
PostgreSQL: ``pg_dump -Fc`` (one consistent snapshot, online) and ``pg_restore``; the connection settings go
to them as ``PG*`` environment variables, never on the command line (no password in ``ps``).

Both write to a temporary name and rename at the end: a backup interrupted half-way never looks complete.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from app.maintenance import OpsError

Progress = Callable[[str], None]
PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
PAGES_PER_STEP = 1024


def sqlite_path(database_url: str) -> Path:
    """The file of a ``sqlite:///path`` URL (``sqlite:///./a.db`` is relative to the working directory)."""
    url = make_url(database_url)
    if not url.database or url.database == ":memory:":
        raise OpsError(f"{database_url} is not a database file")
    return Path(url.database)


def default_name(is_sqlite: bool, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return Path(f"ardoise-{stamp}.{'db' if is_sqlite else 'dump'}")


def backup(database_url: str, dest: Path, progress: Progress) -> Path:
    if dest.exists():
        raise OpsError(f"{dest} already exists: choose another name (--to)")
    if not dest.parent.is_dir():
        raise OpsError(f"folder {dest.parent} does not exist")
    if database_url.startswith("sqlite"):
        _backup_sqlite(sqlite_path(database_url), dest, progress)
    else:
        _backup_pg(database_url, dest, progress)
    return dest


def restore(database_url: str, src: Path, progress: Progress, *, replace: bool = False) -> str:
    """Restore ``src`` into the configured database. Returns where the previous database went (SQLite) or ""."""
    if not src.is_file():
        raise OpsError(f"no backup file {src}")
    with src.open("rb") as f:
        head = f.read(16)
    if database_url.startswith("sqlite"):
        if head != SQLITE_MAGIC:
            raise OpsError(f"{src} is not a SQLite backup (a PostgreSQL dump restores only into PostgreSQL)")
        return _restore_sqlite(src, sqlite_path(database_url), progress, replace=replace)
    if not head.startswith(PG_MAGIC):
        raise OpsError(f"{src} is not a pg_dump custom-format file (ardoise backup on PostgreSQL makes one)")
    _restore_pg(database_url, src, progress, replace=replace)
    return ""


# SQLite ---------------------------------------------------------------------------------------------------------


def _copy_sqlite(src: sqlite3.Connection, dest: Path, progress: Progress, what: str) -> None:
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    out = sqlite3.connect(partial)
    last = -1

    def report(_status: int, remaining: int, total: int) -> None:
        nonlocal last
        pct = 100 * (total - remaining) // max(total, 1)
        if pct // 10 != last // 10 or remaining == 0:
            last = pct
            progress(f"{what}: {pct}% ({total - remaining}/{total} pages)")

    try:
        # One read transaction on the source for the whole copy: a consistent snapshot that writers cannot
        # restart (they append to the WAL meanwhile).
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        src.backup(out, pages=PAGES_PER_STEP, progress=report, sleep=0)
        src.execute("COMMIT")
        check = out.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise OpsError(f"the copy fails SQLite's integrity check: {check}")
        out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        out.commit()
    except sqlite3.Error as exc:
        raise OpsError(f"{what} failed: {exc}") from None
    finally:
        out.close()
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, dest)


def _backup_sqlite(path: Path, dest: Path, progress: Progress) -> None:
    if not path.is_file():
        raise OpsError(f"no database file {path} (check ARDOISE_DATABASE_URL)")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        _copy_sqlite(src, dest, progress, "backup")
    finally:
        src.close()
    progress(f"backup written: {dest} ({dest.stat().st_size} bytes)")


def _restore_sqlite(src_file: Path, target: Path, progress: Progress, *, replace: bool) -> str:
    src = sqlite3.connect(f"file:{src_file}?mode=ro", uri=True)
    try:
        try:
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise OpsError(f"{src_file} cannot be read as a database: {exc}") from None
        if "alembic_version" not in tables:
            raise OpsError(f"{src_file} is not an Ardoise database (no alembic_version table)")
        aside = ""
        if target.exists() and target.stat().st_size > 0:
            if not replace:
                raise OpsError(
                    f"{target} exists: stop the service, then run again with --replace "
                    "(the current database is kept aside, not deleted)"
                )
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            aside = f"{target}.before-restore-{stamp}"
            for suffix in ("", "-wal", "-shm"):  # the WAL holds the latest commits: it goes with its file
                old = Path(f"{target}{suffix}")
                if old.exists():
                    os.replace(old, f"{aside}{suffix}")
            progress(f"current database moved to {aside}")
        _copy_sqlite(src, target, progress, "restore")
    finally:
        src.close()
    return aside


# PostgreSQL -----------------------------------------------------------------------------------------------------


def _pg_env(database_url: str) -> dict[str, str]:
    """The libpq environment for ``database_url`` (``PGHOST``, ``PGPASSWORD``…)."""
    url = make_url(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    parts: tuple[tuple[str, object], ...] = (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    )
    for var, value in parts:
        if value is not None:
            env[var] = str(value)
    for key, value in url.query.items():
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options"):
            env["PG" + key.upper()] = str(value)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def _run_pg(tool: str, args: list[str], env: dict[str, str], progress: Progress, marker: str) -> None:
    exe = shutil.which(tool)
    if exe is None:
        raise OpsError(f"{tool} not found: install the PostgreSQL client tools (apt-get install postgresql-client)")
    proc = subprocess.Popen(
        [exe, "--verbose", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    tail: list[str] = []
    for line in proc.stderr:
        line = line.rstrip()
        tail = [*tail[-4:], line]
        if marker in line:
            progress(line.split(": ", 1)[-1])
    if proc.wait() != 0:
        errors = [t for t in tail if "error" in t.lower()] or tail
        raise OpsError(f"{tool} failed: {errors[-1] if errors else 'exit status ' + str(proc.returncode)}")


def _backup_pg(database_url: str, dest: Path, progress: Progress) -> None:
    partial = dest.with_name(dest.name + ".partial")
    try:
        _run_pg("pg_dump", ["-Fc", "-f", str(partial)], _pg_env(database_url), progress, "dumping contents of table")
    except OpsError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    progress(f"backup written: {dest} ({dest.stat().st_size} bytes)")


def _restore_pg(database_url: str, src: Path, progress: Progress, *, replace: bool) -> None:
    from sqlalchemy import create_engine, pool, text

    from app.db import sync_url

    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
    finally:
        engine.dispose()
    if tables and not replace:
        raise OpsError(
            f"database {make_url(database_url).database!r} already has {tables} tables: restore into a new empty "
            "database (createdb), or stop every process and run again with --replace to overwrite it"
        )
    args = ["--no-owner", "--exit-on-error", "-d", make_url(database_url).database or ""]
    if tables:
        args[:0] = ["--clean", "--if-exists"]
    _run_pg("pg_restore", [*args, str(src)], _pg_env(database_url), progress, "processing data for table")
