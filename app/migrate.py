"""Run Alembic from code (``ardoise migrate``, start-up checks, tests).

Alembic (with Mako and the migration scripts) costs about 8 MB of memory and a second of imports, and a running
server needs it only on the start that finds the schema behind: the head revision is read from the scripts'
``revision``/``down_revision`` lines and the current one from ``alembic_version``, and Alembic is imported only
to migrate (or when the scripts form something else than one line of revisions).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, inspect, pool, text

from app.db import sync_url

if TYPE_CHECKING:
    from alembic.config import Config


def migrations_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "migrations"
    if (here / "env.py").exists():
        return here
    cwd = Path.cwd() / "migrations"
    if (cwd / "env.py").exists():
        return cwd
    raise FileNotFoundError("cannot find the migrations/ folder (run from the project folder)")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate to ``revision``; a database already at the head is left alone without importing Alembic."""
    if revision == "head" and (head := head_revision()) is not None and current_revision(url) == head:
        return
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def _script_revisions(folder: Path) -> dict[str, str | None] | None:
    """``revision → down_revision`` of every script in ``folder``, read with ``ast`` (not run); None when a script
    says something this reader does not follow (merges, branch labels, computed values)."""
    out: dict[str, str | None] = {}
    for path in sorted(folder.glob("*.py")):
        found: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision", "branch_labels"):
                if not isinstance(value, ast.Constant):
                    return None
                found[target.id] = value.value
        rev, down = found.get("revision"), found.get("down_revision")
        if not isinstance(rev, str) or not (down is None or isinstance(down, str)) or found.get("branch_labels"):
            return None
        out[rev] = down
    return out


@functools.cache
def head_revision() -> str | None:
    """The newest migration (the scripts do not change while the process runs)."""
    revisions = _script_revisions(migrations_dir() / "versions")
    if revisions is not None:
        heads = set(revisions) - {d for d in revisions.values() if d is not None}
        if len(heads) == 1:
            return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None: no schema yet), read from Alembic's ``alembic_version`` table."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()
    if len(rows) > 1:
        raise RuntimeError(f"the database has several migration heads: {', '.join(sorted(rows))}")
    return rows[0] if rows else None
