"""The schema is made only by the Alembic migrations: the models and the migrations must agree, on SQLite and
PostgreSQL, and the migrations must go down to nothing and back up."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on SQLModel.metadata)
from app import migrate
from app.db import sync_url
from tests.conftest import PG_ADMIN_URL


def differences(url: str) -> list[Any]:
    """What ``alembic revision --autogenerate`` would put in a new migration (empty: models == migrations)."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff: list[Any] = compare_metadata(ctx, SQLModel.metadata)
            return diff
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def model_tables() -> set[str]:
    return set(SQLModel.metadata.tables)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'migrations.db'}"


@pytest.fixture
def scratch_pg(pg_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own (``pg_url`` decides skip or fail when PG is missing)."""
    name = "ardoise_mig_" + uuid.uuid4().hex[:10]
    admin = create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rpartition("/")[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def check_round_trip(url: str) -> None:
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert tables(url) - {"alembic_version"} == model_tables()
    assert differences(url) == []

    command.downgrade(migrate.alembic_config(url), "base")
    assert migrate.current_revision(url) is None
    assert tables(url) - {"alembic_version"} == set()

    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert differences(url) == []


def test_models_and_migrations_agree_on_sqlite(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    assert differences(sqlite_url) == []
    assert tables(sqlite_url) - {"alembic_version"} == model_tables()


@pytest.mark.postgres
def test_models_and_migrations_agree_on_postgresql(pg_url: str) -> None:
    assert migrate.current_revision(pg_url) == migrate.head_revision()
    assert differences(pg_url) == []
    assert tables(pg_url) - {"alembic_version"} == model_tables()


def test_downgrade_to_base_and_upgrade_again_on_sqlite(sqlite_url: str) -> None:
    check_round_trip(sqlite_url)


@pytest.mark.postgres
def test_downgrade_to_base_and_upgrade_again_on_postgresql(scratch_pg: str) -> None:
    check_round_trip(scratch_pg)


def test_single_head() -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert migrate._script_revisions(migrate.migrations_dir() / "versions") is not None  # the fast path is taken
    assert (
        migrate.head_revision() == ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    )


def test_starting_on_a_migrated_database_does_not_import_alembic(tmp_path: Path) -> None:
    """``ardoise serve`` migrates on start: at the head, that costs a read, not Alembic's 8 MB."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    migrate.upgrade(url)
    code = (
        "import sys\nfrom app import main, migrate\n"
        f"migrate.upgrade({url!r})\nassert migrate.current_revision({url!r}) == migrate.head_revision()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
