"""``/admin``: the operator console. Server-rendered HTML, no JavaScript, each page well under 30 KB.

Thin routes: check the session (and the CSRF token on forms), call a feature's service, render a template.
Reads use a read session; every action is one write transaction and answers with a redirect (POST/redirect/GET),
so reloading a page never repeats it. A key scoped to one business sees and changes only that business.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as account_service
from app.admin import auth
from app.admin import service as admin_service
from app.admin.auth import FormOperatorDep, Operator, OperatorDep
from app.audit import service as audit
from app.businesses import service as business_service
from app.connect import service as connect_service
from app.deps import Id, RuntimeDep, readable_business
from app.errors import AppError, NotFound
from app.jobs import service as job_service
from app.kit.crypto import hash_api_key
from app.kit.time import utcnow
from app.members import service as member_service
from app.messages import service as message_service
from app.models import Business, JobState, Post
from app.posts import service as post_service
from app.runtime import Runtime

router = APIRouter(prefix="/admin", include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(), trim_blocks=True
)

BUSINESSES_PER_PAGE = 50
JOBS_PER_PAGE = 30
AUDIT_PER_PAGE = 50
RECENT = 15  # messages in, messages out and posts on a business's page
Before = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="show rows older than this id")]

# What an action did, said after its redirect. Fixed texts: nothing from the query string is echoed.
NOTICES = {
    "test-ok": ("ok", "The account's credentials work."),
    "test-refused": (
        "bad",
        "The network refused the credentials: the account is marked broken and the owner was told.",
    ),
    "test-failed": ("bad", "The network could not be reached: nothing changed (the audit log has its answer)."),
    "post-deleting": ("ok", "The post is being removed from every network it reached."),
    "post-retrying": ("ok", "The failed deliveries are queued again."),
    "post-nothing": ("bad", "Nothing to retry: no delivery of this post failed."),
    "job-retried": ("ok", "The job is queued again, due now."),
}
# Headers of every console page: never cached, never framed, no script at all, links leak no URL.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def ago(at: datetime | None) -> str:
    """``3 min ago``, ``5 h ago``, ``12 d ago``; a date past 60 days; ``never``."""
    if at is None:
        return "never"
    seconds = int((utcnow() - at).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 60 * 86400:
        return f"{seconds // 86400} d ago"
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def utc(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else ""


def cut(text: str | None, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


_env.filters.update(ago=ago, utc=utc, cut=cut)


def render(name: str, *, op: Operator | None, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(name).render(op=op, **values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def back_to(path: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={notice}" if notice else path, status_code=303, headers=HEADERS)


def notice_of(code: str | None) -> tuple[str, str] | None:
    return NOTICES.get(code or "")


def sign_in_page(rt: Runtime, *, error: str = "", status: int = 200) -> HTMLResponse:
    token = auth.new_token()
    response = render("login.html", op=None, status=status, csrf=token, error=error)
    auth.set_login_token(response, rt, token)
    return response


async def business_of(rt: Runtime, op: Operator, business_id: int) -> Business:
    """The business in the path if this key may see it; another tenant's is a 404, like a missing one."""
    return await readable_business(rt, op.principal.business_id, business_id)


# --- sign in, sign out ------------------------------------------------------------------------------------------


@router.get("/", response_model=None)
async def home(
    request: Request, rt: RuntimeDep, before: Before = None, notice: Annotated[str | None, Query(max_length=32)] = None
) -> HTMLResponse:
    """The businesses with their health; the sign-in form when nobody is signed in."""
    op = await auth.current(request, rt)
    if op is None:
        return sign_in_page(rt)
    async with rt.db.read() as session:
        rows = await business_service.list_visible(
            session, business_id=op.principal.business_id, limit=BUSINESSES_PER_PAGE, before_id=before
        )
        health = await admin_service.health(
            session,
            rows,
            since=admin_service.month_start(utcnow()),
            segment_price=rt.settings.sms_segment_price,
        )
        orphans = await admin_service.dead_jobs_without_business(session) if op.principal.is_operator else 0
    return render(
        "home.html",
        op=op,
        rows=health,
        attention=[h for h in health if h.needs_attention],
        orphan_dead_jobs=orphans,
        currency=rt.settings.sms_price_currency,
        price=rt.settings.sms_segment_price,
        older=rows[-1].id if len(rows) == BUSINESSES_PER_PAGE else None,
        notice=notice_of(notice),
    )


@router.post("/login", response_model=None)
async def login(
    request: Request,
    rt: RuntimeDep,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    if not auth.login_token_ok(request, csrf):
        return sign_in_page(rt, error="This form expired: please sign in again.", status=403)
    found = await auth.key_for(rt, key_hash=hash_api_key(key.strip())) if key.strip() else None
    if found is None or found.id is None:
        return sign_in_page(rt, error="Unknown or revoked API key.", status=401)
    response = back_to("/admin/")
    auth.set_session(response, rt, key_id=found.id)
    async with rt.db.write() as session:
        await audit.record(
            session, actor=f"key:{found.id}", action="console.sign_in", business_id=found.business_id, target="admin"
        )
    return response


@router.post("/logout", response_model=None)
async def logout(op: FormOperatorDep, rt: RuntimeDep) -> Response:
    response = back_to("/admin/")
    auth.end_session(response, rt)
    return response


# --- one business -----------------------------------------------------------------------------------------------


@router.get("/b/{business_id}", response_model=None)
async def business_page(
    business_id: Id,
    op: OperatorDep,
    rt: RuntimeDep,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    biz = await business_of(rt, op, business_id)
    async with rt.db.read() as session:
        profile = await business_service.to_read(session, biz, rt.settings.public_url)
        members = await member_service.list_members(session, business_id=business_id, limit=50)
        accounts = await account_service.list_accounts(session, business_id=business_id, limit=50)
        inbound = await message_service.list_inbound(session, business_id=business_id, limit=RECENT)
        outbound = await message_service.list_outbound(session, business_id=business_id, limit=RECENT, suppressed=True)
        posts = await post_service.list_with_deliveries(session, business_id=business_id, limit=RECENT)
    return render(
        "business.html",
        op=op,
        biz=profile,
        members=members,
        accounts=sorted(accounts, key=lambda a: (a.status != "broken", a.id or 0)),
        connect=[(n, connect_service.LABELS[n], connect_service.configured(rt, n)) for n in connect_service.NETWORKS],
        inbound=inbound,
        outbound=outbound,
        posts=posts,
        removable=lambda p: p.status not in ("deleting", "deleted"),
        notice=notice_of(notice),
    )


@router.post("/b/{business_id}/accounts/{account_id}/test", response_model=None)
async def test_account(business_id: Id, account_id: Id, op: FormOperatorDep, rt: RuntimeDep) -> Response:
    biz = await business_of(rt, op, business_id)
    result = await account_service.test(rt, business=biz, account_id=account_id, actor=op.principal.actor)
    outcome = "test-ok" if result.ok else "test-refused" if result.status == "broken" else "test-failed"
    return back_to(f"/admin/b/{business_id}", outcome)


@router.post("/b/{business_id}/connect", response_model=None)
async def connect_link(
    business_id: Id, op: FormOperatorDep, rt: RuntimeDep, network: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    """A signed, expiring link that starts OAuth linking for the owner (shown once; it is not stored)."""
    biz = await business_of(rt, op, business_id)
    if network not in connect_service.PROVIDERS or not connect_service.configured(rt, network):
        raise NotFound(f"linking {network!r} is not configured on this server")
    url, expires = connect_service.start_link(rt, business=biz, network=network)
    async with rt.db.write() as session:
        await audit.record(
            session,
            actor=op.principal.actor,
            action="account.connect_link",
            business_id=business_id,
            target=f"network:{network}",
        )
    return render(
        "connect.html",
        op=op,
        biz=biz,
        label=connect_service.LABELS[network],
        url=url,
        expires=datetime.fromtimestamp(expires, UTC),
    )


async def _post(session: AsyncSession, biz: Business, post_id: int) -> Post:
    post = await session.get(Post, post_id)
    if post is None or post.business_id != biz.id:
        raise NotFound(f"no post {post_id} in business {biz.id}")
    return post


@router.post("/b/{business_id}/posts/{post_id}/delete", response_model=None)
async def delete_post(business_id: Id, post_id: Id, op: FormOperatorDep, rt: RuntimeDep) -> Response:
    biz = await business_of(rt, op, business_id)
    async with rt.db.write() as session:
        post = await _post(session, biz, post_id)
        if post.status not in ("deleting", "deleted"):
            await post_service.remove(
                session,
                post=post,
                actor=op.principal.actor,
                receipt_deadline=rt.settings.receipt_deadline_seconds,
            )
    return back_to(f"/admin/b/{business_id}", "post-deleting")


@router.post("/b/{business_id}/posts/{post_id}/retry", response_model=None)
async def retry_post(business_id: Id, post_id: Id, op: FormOperatorDep, rt: RuntimeDep) -> Response:
    biz = await business_of(rt, op, business_id)
    async with rt.db.write() as session:
        post = await _post(session, biz, post_id)
        retried = await post_service.retry_failed(session, post=post, actor=op.principal.actor)
    return back_to(f"/admin/b/{business_id}", "post-retrying" if retried else "post-nothing")


# --- jobs, audit ------------------------------------------------------------------------------------------------


@router.get("/jobs", response_model=None)
async def dead_jobs(
    op: OperatorDep, rt: RuntimeDep, before: Before = None, notice: Annotated[str | None, Query(max_length=32)] = None
) -> HTMLResponse:
    async with rt.db.read() as session:
        jobs = await job_service.list_jobs(
            session,
            business_id=op.principal.business_id,
            state=JobState.dead.value,
            limit=JOBS_PER_PAGE,
            before_id=before,
        )
        names = await business_service.names_of(session, (j.business_id for j in jobs))
    return render(
        "jobs.html",
        op=op,
        jobs=jobs,
        names=names,
        older=jobs[-1].id if len(jobs) == JOBS_PER_PAGE else None,
        notice=notice_of(notice),
    )


@router.post("/jobs/{job_id}/retry", response_model=None)
async def retry_job(job_id: Id, op: FormOperatorDep, rt: RuntimeDep) -> Response:
    async with rt.db.write() as session:
        job = await job_service.visible(session, job_id=job_id, business_id=op.principal.business_id)
        await job_service.retry(session, job=job, actor=op.principal.actor)
    return back_to("/admin/jobs", "job-retried")


@router.get("/audit", response_model=None)
async def audit_log(op: OperatorDep, rt: RuntimeDep, before: Before = None) -> HTMLResponse:
    async with rt.db.read() as session:
        events = await audit.list_events(
            session, business_id=op.principal.business_id, limit=AUDIT_PER_PAGE, before_id=before
        )
        names = await business_service.names_of(session, (e.business_id for e in events))
    return render(
        "audit.html",
        op=op,
        events=events,
        names=names,
        older=events[-1].id if len(events) == AUDIT_PER_PAGE else None,
    )


# --- errors -----------------------------------------------------------------------------------------------------


def _error_page(status: int, message: str) -> HTMLResponse:
    return render("error.html", op=None, status=status, message=message)


def install(app: FastAPI) -> None:
    """Mount the console and its error pages (HTML under /admin; problem+json stays everywhere else)."""
    app.include_router(router)

    @app.exception_handler(auth.SignInRequired)
    async def _sign_in(_r: Request, _exc: auth.SignInRequired) -> Response:
        return RedirectResponse("/admin/", status_code=303, headers=HEADERS)

    @app.exception_handler(auth.CsrfRefused)
    async def _csrf(_r: Request, _exc: auth.CsrfRefused) -> Response:
        return _error_page(403, "This form is out of date or did not come from this console: nothing was done.")

    previous = app.exception_handlers.get(AppError)

    async def _app_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/admin/") and isinstance(exc, AppError):
            return _error_page(exc.status_code, exc.detail)
        assert previous is not None
        response = previous(request, exc)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(AppError, _app_error)
