"""The OpenAPI document and its two readers, /docs (Swagger UI) and /redoc, served from this process.

What FastAPI cannot infer is added here: tag descriptions, an example for every request body, the bearer key,
and for each operation the errors it can really answer, as RFC 9457 ``application/problem+json``:

- 401 on the admin API (/api/v1: every route there depends on ``get_principal``);
- 404 where the path names an object (a path parameter), 403 where the route checks a signature or a scope;
- 409, 502 where a route (or the service it calls) raises them, listed in ``CONFLICTS`` and ``BAD_GATEWAY``;
- 413 on every POST, PUT and PATCH, 503 on /readyz, 422 where it takes any input (path, query or body).

Swagger UI and ReDoc load their scripts and styles from the ``fastapi-offline`` package's files, served under
``/docs-assets``, never from a CDN: the docs render on a machine without internet (docs/dependencies.md). Both
pages carry a Content-Security-Policy that lets them load only from this origin: ReDoc's sidebar credit draws its
logo from cdn.redoc.ly whatever its options, and the policy stops that request in the browser (the logo's own
error handler then hides it), as tests/ops/test_docs_offline_chromium.py checks with the network cut.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
}
ERRORS = {
    "401": "Missing, unknown or revoked API key",
    "403": "Not allowed: a forged webhook signature, or a business key doing an operator's job",
    "404": "Not found (or another business's object)",
    "409": "Conflict with the current state (the detail says which)",
    "413": "Body too large (ARDOISE_MAX_BODY_BYTES)",
    "422": "Invalid input (the errors list names each field)",
    "502": "The network could not be reached or refused",
    "503": "Not ready: the database does not answer or is not migrated",
}
READYZ_503 = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["status", "detail"],
            "properties": {"status": {"type": "string"}, "detail": {"type": "string"}},
        }
    }
}
BIZ = "/api/v1/businesses/{business_id}"
CONFLICTS = {
    ("POST", "/api/v1/businesses"),  # slug taken
    ("PATCH", BIZ),  # a number another business holds
    ("POST", f"{BIZ}/members"),  # phone already a member
    ("PATCH", f"{BIZ}/members/{{member_id}}"),
    ("POST", f"{BIZ}/accounts"),  # the page account exists
    ("DELETE", f"{BIZ}/accounts/{{account_id}}"),  # the built-in page
    ("DELETE", f"{BIZ}/posts/{{post_id}}"),  # already being removed
    ("POST", f"{BIZ}/mentions/{{mention_id}}/reply"),  # its account is no longer linked
    ("POST", "/api/v1/jobs/{job_id}/retry"),  # the job is not dead
}
BAD_GATEWAY = {("POST", f"{BIZ}/accounts")}  # the network is asked to verify the credentials
FORBIDDEN_SCOPE = {("POST", "/api/v1/businesses"), ("DELETE", BIZ)}  # operator keys only

TAGS: list[dict[str, str]] = [
    {"name": "businesses", "description": "Tenants: a business, its SMS numbers, language, time zone, publish mode."},
    {"name": "members", "description": "People who text or email for a business (owners, staff), their PIN, opt-out."},
    {"name": "accounts", "description": "Linked social-network accounts: link, test, unlink."},
    {"name": "posts", "description": "Posts and their delivery to every linked network; preview before posting."},
    {"name": "messages", "description": "SMS and emails in and out, with their status."},
    {"name": "mentions", "description": "What people say to the business on the networks, replies, digest settings."},
    {"name": "jobs", "description": "The job queue (operator): queued, running, done and dead jobs."},
    {"name": "audit", "description": "Every write and who made it."},
    {"name": "webhooks", "description": "Called by Twilio, Mailgun, Meta and Google; each checks its signature."},
    {"name": "page", "description": "The business's public page, post pages and Atom feed."},
    {"name": "health", "description": "Liveness (/healthz) and readiness (/readyz) for load balancers."},
    {"name": "connect", "description": "OAuth linking pages opened by the owner."},
]

EXAMPLES: dict[str, dict[str, Any]] = {
    "BusinessCreate": {
        "name": "Bistro L'Ardoise",
        "slug": "bistro-lardoise",
        "timezone": "America/Toronto",
        "language": "fr",
        "sms_numbers": ["+15815550100"],
        "publish_mode": "confirm",
        "phone": "+14185550123",
    },
    "BusinessUpdate": {"publish_mode": "direct", "sms_numbers": ["+15815550100", "+15815550101"]},
    "MemberCreate": {
        "name": "Camille",
        "phone": "418 555-0100",
        "email": "camille@example.org",
        "language": "fr",
        "role": "owner",
        "pin": "2468",
    },
    "MemberUpdate": {"role": "staff", "opted_out": False},
    "AccountCreate": {
        "network": "bluesky",
        "credentials": {"handle": "bistro.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
        "settings": {},
    },
    "PostCreate": {"text": "Menu du jour : soupe à l'oignon, 14 $", "media_urls": ["https://example.org/soupe.jpg"]},
    "PreviewRequest": {"text": "Ce soir : jazz à 20 h, entrée libre", "media_count": 1},
    "MentionReply": {"text": "Merci ! À bientôt au bistro."},
    "DigestSettingsUpdate": {
        "hours": ["08:00", "17:00"],
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "daily_cap_segments": 6,
        "budget_segments": 2,
        "channel": "sms",
        "alerts": True,
    },
    "ConnectLinkCreate": {"network": "facebook"},
}


def error_codes(method: str, path: str, op: dict[str, Any]) -> list[str]:
    """The error statuses this operation can answer (see the module docstring for the rules)."""
    key = (method, path)
    codes = set()
    if path.startswith("/api/v1/"):  # every admin route depends on get_principal (app/deps.py)
        codes.add("401")
    if "{" in path:
        codes.add("404")
    if path.startswith("/webhooks/") or key in FORBIDDEN_SCOPE:
        codes.add("403")
    if key in CONFLICTS:
        codes.add("409")
    if key in BAD_GATEWAY:
        codes.add("502")
    if method in ("POST", "PUT", "PATCH"):  # the body limit applies to every body, declared or read by hand
        codes.add("413")
    if path == "/readyz" and method == "GET":
        codes.add("503")
    if op.get("parameters") or "requestBody" in op:
        codes.add("422")
    return sorted(codes)


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes, tags=TAGS)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # every 422 is a Problem
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `ardoise apikey create`",
    }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    html = {"text/html": {"schema": {"type": "string"}}}
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            codes = error_codes(method.upper(), path, op)
            # The public pages (/b/...) answer their own errors as small HTML pages; what the middleware refuses
            # before a route runs (a control character in the URL, an oversized body) stays problem+json.
            errors_as = {**html, **problem} if path.startswith("/b/") else problem
            for code in codes:
                responses[code] = {"description": ERRORS[code], "content": READYZ_503 if code == "503" else errors_as}
            if "401" in codes:
                op["security"] = [{"bearer": []}]
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                ref = media.get("schema", {}).get("$ref", "")
                example = EXAMPLES.get(ref.rsplit("/", 1)[-1])
                if example is not None:
                    media["example"] = example
    return doc


def install(app: FastAPI, *, docs: bool = True) -> None:
    """The OpenAPI document (built once) and, with ``docs``, the offline /docs and /redoc pages."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if docs:
        install_docs(app)


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, with their assets served from this process (no CDN). The one place the
    documentation pages are added: a deployment that wants them off skips this call."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return same_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title}: Swagger UI",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return same_origin_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title}: ReDoc",
                redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )


def same_origin_only(page: HTMLResponse) -> HTMLResponse:
    """``page`` with a policy that lets it load scripts, styles, images, fonts and the OpenAPI document from this
    origin only. Its inline scripts (Swagger UI's start-up call) are allowed by their hash, not by
    ``'unsafe-inline'``; inline styles are allowed (both readers set styles from their scripts); ReDoc runs its
    search in a worker made from a ``blob:`` URL, and both draw icons as ``data:`` images."""
    body = bytes(page.body).decode()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
        for m in INLINE_SCRIPT.findall(body)
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return page
