"""Database engine and sessions, one code path for SQLite (embedded) and PostgreSQL (scale-out).

SQLite: WAL, ``synchronous=FULL`` (we acknowledge Twilio only after a durable write), a long busy timeout,
and explicit ``BEGIN IMMEDIATE`` for transactions that write, so two writers queue on the lock instead of
failing on a stale snapshot. Statements that cannot wait (reads in WAL, writes under a held write lock) run on
the event loop's thread; only what may wait for the lock or the disk goes to aiosqlite's thread
(:class:`InlineSQLite`). PostgreSQL: psycopg 3, READ COMMITTED, row locks with SKIP LOCKED in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite
from sqlalchemy import Table, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session


def async_url(url: str) -> str:
    """The URL with the async driver Ardoise uses (operators write plain ``sqlite://`` or ``postgresql://``)."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sync_url(url: str) -> str:
    """The URL with the sync driver (Alembic, CLI)."""
    if url.startswith("sqlite+aiosqlite:"):
        return "sqlite:" + url[len("sqlite+aiosqlite:") :]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Statements that may wait for SQLite's write lock (the busy handler sleeps up to 30 s) or for the disk (a commit
# with synchronous=FULL, a checkpoint): these go to the connection's thread.
_MAY_WAIT = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "COMMIT", "END", "VACUUM")
# Statements that never take the write lock: in WAL mode a reader neither waits for a writer nor blocks one.
_NEVER_WRITE = ("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "EXPLAIN")
_THREADED_CALLS = frozenset({"commit", "close", "executescript", "backup", "iterdump", "load_extension"})


class InlineSQLite(aiosqlite.Connection):
    """aiosqlite's connection, with the statements that cannot wait run in place on the event loop's thread.

    aiosqlite hands every call to its own thread and back, three hand-offs per statement (execute, fetch, close
    the cursor): measured here at about 90 µs of CPU each (thread wake-ups, the loop's self-pipe), more than the
    statement itself costs (10–20 µs for a keyed SELECT). In WAL mode a read never waits for a writer, and once
    ``BEGIN IMMEDIATE`` holds the write lock no write in that transaction waits for another connection either;
    so only ``BEGIN IMMEDIATE``, ``COMMIT`` (the fsync of ``synchronous=FULL``, an automatic checkpoint) and a
    write attempted without the lock held go to the thread, where a wait cannot stall the event loop. The
    sqlite3 connection is opened with ``check_same_thread=False``; its calls never overlap (each is awaited).
    """

    _writing = False  # this connection holds the write lock (BEGIN IMMEDIATE succeeded, no COMMIT/ROLLBACK yet)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        name = getattr(fn, "__name__", "")
        sql = args[0].lstrip()[:16].upper() if args and isinstance(args[0], str) else ""
        own = getattr(fn, "__self__", None) is self._connection  # the connection's method, not a cursor's
        if self._connection is None or not self._running or self._may_wait(name if own else "", sql):
            result = await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        else:
            result = fn(*args, **kwargs)
        if (own and name in ("commit", "rollback")) or sql.startswith(("COMMIT", "END", "ROLLBACK")):
            self._writing = sql.startswith("ROLLBACK TO")  # a savepoint's rollback keeps the transaction
        elif sql.startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")):
            self._writing = True
        return result

    def _may_wait(self, name: str, sql: str) -> bool:
        if name in _THREADED_CALLS:  # the connection's commit, close...
            return True
        if not sql:
            return False  # fetches, a cursor's close, create_function...
        if sql.startswith(_MAY_WAIT):
            return True
        return not self._writing and not sql.startswith(_NEVER_WRITE)


def _connect_inline(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> InlineSQLite:
    """``aiosqlite.connect`` with :class:`InlineSQLite` (SQLAlchemy's ``async_creator_fn`` hook: the dialect still
    turns the URL into the file name and options)."""

    def connector() -> sqlite3.Connection:
        conn: sqlite3.Connection = sqlite3.connect(database, **(kwargs | {"check_same_thread": False}))
        return conn

    conn = InlineSQLite(connector, iter_chunk_size)
    conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return conn


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        record.info["synchronous"] = "FULL"
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        opts = conn.get_execution_options()
        if opts.get("sqlite_write"):
            # FULL: the commit is on disk before we answer (an SMS acknowledged to Twilio, a 2xx to the API).
            # NORMAL (WAL): the job engine's own bookkeeping; a power cut can lose its last commits, which only
            # re-runs idempotent jobs, and the next FULL commit makes everything before it durable too.
            # The setting stays on the connection: say it only when it changes (reads commit nothing).
            mode = "NORMAL" if opts.get("sqlite_fast") else "FULL"
            info = conn.connection.info
            if info.get("synchronous") != mode:
                conn.exec_driver_sql(f"PRAGMA synchronous={mode}")
                info["synchronous"] = mode
        # Straight to the driver's cursor: SQLAlchemy's statement machinery (exec_driver_sql) cost about a fifth
        # of a short read session, more than the BEGIN itself.
        sql = f"BEGIN {'IMMEDIATE' if opts.get('sqlite_write') else 'DEFERRED'}"
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(sql)
        except conn.dialect.loaded_dbapi.Error as exc:  # "database is locked": SQLAlchemy's error, as elsewhere
            raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error) from exc
        finally:
            cur.close()


# Set while serving an HTTP request (or an SMTP conversation): those writes answer someone who is waiting
# (Twilio gives up after 15 s), so on SQLite they go before the worker's writes, which can wait.
URGENT: ContextVar[bool] = ContextVar("ardoise_urgent_write", default=False)
# Set while this task holds one of the PostgreSQL pool's places kept for background work (Database._background).
_HOLDS_PLACE: ContextVar[bool] = ContextVar("ardoise_holds_place", default=False)


class PriorityLock:
    """An asyncio lock whose urgent waiters are served before the others (FIFO within each class)."""

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, urgent: bool) -> None:
        if not self._locked:
            self._locked = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the lock was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(fut)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)  # hand over: the lock stays held
                    return
        self._locked = False

    @asynccontextmanager
    async def hold(self, urgent: bool) -> AsyncIterator[None]:
        await self.acquire(urgent)
        try:
            yield
        finally:
            self.release()


_PREPARED: dict[tuple[str, str], Any] = {}


def prepared(session: AsyncSession, name: str, build: Callable[[str], Any]) -> Any:
    """The statement ``name``, built once per dialect by ``build(dialect_name)`` and reused. A hot statement whose
    values all travel as execution parameters (``bindparam``, or an ``INSERT`` given a dict) then costs neither
    construction nor cache-key generation on each call: SQLAlchemy memoizes the key on the statement object."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    stmt = _PREPARED.get((dialect, name))
    if stmt is None:
        stmt = _PREPARED[(dialect, name)] = build(dialect)
    return stmt


async def run_prepared(
    session: AsyncSession, name: str, build: Callable[[str], Any], params: dict[str, Any]
) -> CursorResult[Any]:
    """Run the statement ``name`` (built once by :func:`prepared`) with ``params`` on the session's connection, in
    its transaction, past the ORM: for hot Core statements whose rows the session need not track."""
    result: CursorResult[Any] = await (await session.connection()).execute(prepared(session, name, build), params)
    return result


def insert_in(dialect: str, model: type[Any] | Table) -> Any:
    """``INSERT`` for ``model`` in ``dialect`` (``postgresql`` or ``sqlite``), with ``on_conflict_*``."""
    if dialect == "postgresql":
        # Loaded by the PostgreSQL engine already; on SQLite, importing it at start would cost 2.3 MB for nothing.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_for(session: AsyncSession, model: type[Any] | Table) -> Any:
    """``INSERT`` for ``model`` (or a Core table) in the session's dialect (PostgreSQL or SQLite), so that
    ``on_conflict_do_nothing`` and ``on_conflict_do_update`` are available: every "store once" and upsert goes
    through here (or through :func:`insert_in`)."""
    return insert_in(session.bind.dialect.name if session.bind is not None else "sqlite", model)


class Database:
    """The engine plus session factories. One per process (tests may make several)."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "async_creator_fn": _connect_inline}
            # Keep as many idle connections as PostgreSQL's pool does: SQLAlchemy's default (5) closed every
            # connection a burst of jobs had opened beyond it, and opening one costs a thread, the file and four
            # PRAGMAs (measured: 0.4 new connections per SMS in a burst, peak 15 in use). A read never waits on
            # its connection (InlineSQLite), so a few connections serve many tasks.
            kwargs.update(pool_size=pool_size, max_overflow=4 * pool_size)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        # This database's own session class: listeners (the job engine's wake-ups) are registered on it by the
        # code that sets the database up, not on SQLAlchemy's global Session at import.
        self.session_class: type[Session] = type("ArdoiseSession", (Session,), {})
        self.info: dict[str, Any] = {}  # per-database state of the layers above (e.g. hooks installed)
        common: dict[str, Any] = {
            "expire_on_commit": False,
            "autoflush": False,
            "sync_session_class": self.session_class,
        }
        self._read = async_sessionmaker(self.engine, **common)
        self._write = async_sessionmaker(self.engine.execution_options(sqlite_write=True), **common)
        self._write_fast = async_sessionmaker(
            self.engine.execution_options(sqlite_write=True, sqlite_fast=True), **common
        )
        # SQLite has one writer; inside one process we queue writers here rather than in SQLite's busy
        # handler, which sleeps with backoff and makes the latency tail long.
        self._write_lock = PriorityLock() if self.is_sqlite else None
        # PostgreSQL: background work (the worker's jobs, which may run by the hundred) holds at most half the
        # connection pool at once, so a request (URGENT) never queues behind it for a connection. A task that holds
        # a place keeps it for the sessions it opens inside (no deadlock on nested sessions).
        self._background = None if self.is_sqlite else asyncio.Semaphore(max(1, pool_size // 2))

    @asynccontextmanager
    async def _place(self) -> AsyncIterator[None]:
        if self._background is None or URGENT.get() or _HOLDS_PLACE.get():
            yield
            return
        async with self._background:
            token = _HOLDS_PLACE.set(True)
            try:
                yield
            finally:
                _HOLDS_PLACE.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads. It is rolled back at the end."""
        if self.is_sqlite:
            # Closed in place: SQLAlchemy's own exit runs the close in a task of its own (so that a cancellation
            # cannot cut it short), which hands the loop to every other task while this one still holds its
            # connection; a burst of jobs then held 20 connections at once, and the pool closed and reopened
            # them. On SQLite the close (a ROLLBACK, InlineSQLite) never suspends, so it cannot be cut short.
            session = self._read()
            try:
                yield session
            finally:
                await session.close()
            return
        async with self._place(), self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose work commits at the end of the block (or rolls back on error).

        ``durable=False`` (SQLite only) commits without waiting for the disk: for the job engine's bookkeeping.
        """
        maker = self._write if durable else self._write_fast
        if self._write_lock is not None:
            async with self._write_lock.hold(URGENT.get()), maker() as session, session.begin():
                yield session
        else:
            async with self._place(), maker() as session, session.begin():
                yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
