"""Structured logs: readable in dev, JSON in prod, a request id on every line, secrets scrubbed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_SECRETS: set[str] = set()


def add_secrets(values: Iterable[str]) -> None:
    """Register secret values; any log line containing one gets it replaced by ``[redacted]``."""
    for v in values:
        if v and len(v) >= 6:
            _SECRETS.add(v)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for s in _SECRETS:
            if s in value:
                value = value.replace(s, "[redacted]")
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _SECRETS:
        return event
    return {k: _scrub(v) for k, v in event.items()}


class RedactFilter(logging.Filter):
    """Scrubs registered secrets from standard-library records too (uvicorn, SQLAlchemy, httpx, twilio)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = _scrub(record.getMessage())
            record.args = None
        return True


def drop_none(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Leave out fields that say nothing (``skipped=None``)."""
    return {k: v for k, v in event.items() if v is not None}


def configure(level: str = "INFO", fmt: str = "auto", env: str = "dev") -> None:
    """structlog for our events, and the standard library's records (uvicorn, alembic, SQLAlchemy, httpx)
    rendered by the same processors: in JSON mode every line on stderr is one JSON object."""
    json_logs = fmt == "json" or (fmt == "auto" and env == "prod")
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_none,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact_processor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,
                renderer,
            ],
        )
    )
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn's loggers go through the root handler (one format), never their own plain-text handlers.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    for noisy in ("httpx", "httpcore", "aiosqlite", "twilio.http_client", "twilio.async_http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
