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


def configure(level: str = "INFO", fmt: str = "auto", env: str = "dev") -> None:
    json_logs = fmt == "json" or (fmt == "auto" and env == "prod")
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
    for noisy in ("httpx", "httpcore", "aiosqlite", "twilio.http_client", "twilio.async_http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
