"""Ardoise: run a small business's social-media presence from a basic phone or plain email."""

import sys

# Two libraries load extras we never use whenever those happen to be installed, and ``rich`` (with ``pygments``)
# comes with typer, ``click`` with uvicorn: structlog imports ``rich`` for tracebacks it renders itself (app/logging.py
# formats exceptions before any renderer sees them), and ``import httpx`` loads its command-line client
# (``httpx._main``: click, pygments, rich). Together about 8 MB in every process. So both are imported first, here,
# with those modules hidden (a ``None`` entry in sys.modules makes their import fail, and both libraries then do
# without); the entries are removed afterwards, so anything that really wants ``rich`` can still load it.
# tests/test_imports.py keeps this true.
_HIDDEN = [m for m in ("rich", "httpx._main") if m not in sys.modules]
if "structlog" not in sys.modules or "httpx" not in sys.modules:
    for _m in _HIDDEN:
        sys.modules[_m] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
        import structlog  # noqa: F401
    finally:
        for _m in _HIDDEN:
            del sys.modules[_m]
