"""The yardstick: a minimal FastAPI app doing one INSERT per request, measured beside Ardoise in the same run.

Two routes, the least a service can do for each of Ardoise's two measured paths:

* ``POST /sms`` takes a Twilio-like form (``MessageSid, From, To, Body, NumMedia``), runs one
  ``INSERT … ON CONFLICT (message_sid) DO NOTHING`` and answers empty TwiML (no signature check, no job row);
* ``POST /posts`` takes ``{"text": ...}``, inserts one row and answers 201 with its id.

Configured by the environment (``bench/run.py`` starts it with ``uvicorn bench.baseline_app:app --workers 1``):

* ``BENCH_DATABASE_URL``: ``sqlite:///path`` (WAL, ``synchronous=FULL`` like Ardoise, ``busy_timeout=30000``) or
  ``postgresql://...`` (psycopg 3, pool 10 + 10, like Ardoise's engine);
* ``BENCH_BASELINE_MODE``: ``sync`` (default; plain ``def`` endpoints on Starlette's thread pool with a SQLModel
  ``Session``, as in reliability.md §3.1) or ``async`` (``async def`` with an ``AsyncSession`` on aiosqlite or
  psycopg async, the same drivers Ardoise uses).

The tables are created at start-up (``create_all``); the runner gives it a fresh database each run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Form, Response
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Field, Session, SQLModel, col, create_engine

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class BenchInbound(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(max_length=64, unique=True)
    sender: str = Field(max_length=32)
    to: str = Field(max_length=32)
    body: str
    num_media: int = 0
    created_at: datetime


class BenchPost(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    text: str
    created_at: datetime


class PostIn(BaseModel):
    text: str


class PostOut(BaseModel):
    id: int


def _url(raw: str, *, use_async: bool) -> str:
    if raw.startswith("sqlite:"):
        return ("sqlite+aiosqlite:" if use_async else "sqlite:") + raw.split(":", 1)[1]
    if raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    return raw


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_size": 10, "max_overflow": 10}


RAW_URL = os.environ.get("BENCH_DATABASE_URL", "sqlite:///./bench-baseline.db")
MODE = os.environ.get("BENCH_BASELINE_MODE", "sync")
IS_SQLITE = RAW_URL.startswith("sqlite")
_insert = sqlite.insert if IS_SQLITE else postgresql.insert

sync_engine: Engine = create_engine(_url(RAW_URL, use_async=False), **_engine_kwargs(RAW_URL))
if IS_SQLITE:
    event.listen(sync_engine, "connect", _sqlite_pragmas)
async_engine: AsyncEngine | None = None
if MODE == "async":
    kwargs = _engine_kwargs(RAW_URL)
    kwargs.get("connect_args", {}).pop("check_same_thread", None)
    async_engine = create_async_engine(_url(RAW_URL, use_async=True), **kwargs)
    if IS_SQLITE:
        event.listen(async_engine.sync_engine, "connect", _sqlite_pragmas)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    SQLModel.metadata.create_all(sync_engine)
    yield
    sync_engine.dispose()
    if async_engine is not None:
        await async_engine.dispose()


app = FastAPI(lifespan=lifespan)


def _sms_stmt(message_sid: str, sender: str, to: str, body: str, num_media: int) -> Any:
    return (
        _insert(BenchInbound)
        .values(
            message_sid=message_sid,
            sender=sender,
            to=to,
            body=body,
            num_media=num_media,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["message_sid"])
    )


if MODE == "async":
    assert async_engine is not None
    engine = async_engine

    @app.post("/sms")
    async def sms_async(
        message_sid: Annotated[str, Form(alias="MessageSid")],
        sender: Annotated[str, Form(alias="From")],
        to: Annotated[str, Form(alias="To")],
        body: Annotated[str, Form(alias="Body")] = "",
        num_media: Annotated[int, Form(alias="NumMedia")] = 0,
    ) -> Response:
        async with engine.begin() as conn:
            await conn.execute(_sms_stmt(message_sid, sender, to, body, num_media))
        return Response(EMPTY_TWIML, media_type="text/xml")

    @app.post("/posts", status_code=201)
    async def post_async(data: PostIn) -> PostOut:
        stmt = _insert(BenchPost).values(text=data.text, created_at=datetime.now(UTC))
        async with engine.begin() as conn:
            new_id = (await conn.execute(stmt.returning(col(BenchPost.id)))).scalar_one()
        return PostOut(id=new_id)

else:

    @app.post("/sms")
    def sms_sync(
        message_sid: Annotated[str, Form(alias="MessageSid")],
        sender: Annotated[str, Form(alias="From")],
        to: Annotated[str, Form(alias="To")],
        body: Annotated[str, Form(alias="Body")] = "",
        num_media: Annotated[int, Form(alias="NumMedia")] = 0,
    ) -> Response:
        with Session(sync_engine) as session:
            session.execute(_sms_stmt(message_sid, sender, to, body, num_media))
            session.commit()
        return Response(EMPTY_TWIML, media_type="text/xml")

    @app.post("/posts", status_code=201)
    def post_sync(data: PostIn) -> PostOut:
        with Session(sync_engine) as session:
            row = BenchPost(text=data.text, created_at=datetime.now(UTC))
            session.add(row)
            session.commit()
            assert row.id is not None
            return PostOut(id=row.id)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
