"""Liveness and readiness, for load balancers and Docker (GET or HEAD)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from app import migrate
from app.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.head("/healthz", response_class=Response, responses={200: {"description": "Alive (no body)"}})
async def healthz_head() -> Response:
    """Alive, for monitors that send HEAD: 200 without a body."""
    return Response(status_code=200)


@router.get("/readyz")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready: the database answers and its schema is at the newest migration."""
    try:
        async with rt.db.read() as s:
            rev = (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "detail": f"database: {type(exc).__name__}"}, status_code=503)
    head = migrate.head_revision()
    if rev != head:
        return JSONResponse(
            {"status": "unavailable", "detail": f"migrations at {rev}, head is {head}"}, status_code=503
        )
    return JSONResponse({"status": "ok", "migration": rev})


@router.head(
    "/readyz",
    response_class=Response,
    responses={200: {"description": "Ready (no body)"}, 503: {"description": "Not ready (no body)"}},
)
async def readyz_head(rt: RuntimeDep) -> Response:
    """Ready, for monitors that send HEAD: the status of GET /readyz without a body."""
    return Response(status_code=(await readyz(rt)).status_code)
