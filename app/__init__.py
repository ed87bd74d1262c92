"""Ardoise: run a small business's social-media presence from a basic phone or plain email."""

import sys

# Two libraries load extras whenever they are installed, and they are (``rich`` and ``pygments`` come with typer,
# ``click`` with uvicorn): structlog imports ``rich`` to offer rich tracebacks, which Ardoise never uses
# (app/logging.py turns exceptions into text with ``format_exc_info`` before any renderer), and ``import httpx``
# loads its command-line client (``httpx._main``: click, pygments, rich). About 3 MB in every process. So both are
# imported first, here, with ``rich`` and ``httpx._main`` hidden (a ``None`` in sys.modules makes their import fail,
# and both libraries do without); the entries are removed afterwards, so whatever really wants ``rich`` can still
# load it. tests/test_imports.py keeps this true.
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
