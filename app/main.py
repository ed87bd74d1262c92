"""The FastAPI application factory and, in the embedded mode, the in-process worker and scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from app import errors, openapi
from app.accounts.router import router as accounts_router
from app.admin import router as admin
from app.audit.router import router as audit_router
from app.businesses.router import router as businesses_router
from app.config import Settings, get_settings
from app.connect.router import router as connect_router
from app.email.webhooks import router as mailgun_router
from app.health import router as health_router
from app.jobs.router import router as jobs_router
from app.logging import add_secrets, configure
from app.members.router import router as members_router
from app.mentions.router import router as mentions_router
from app.mentions.webhooks import router as mention_webhooks_router
from app.messages.router import router as messages_router
from app.messages.webhooks import router as webhooks_router
from app.metrics import router as metrics_router
from app.middleware import RequestContext
from app.pages.router import router as pages_router
from app.posts.router import router as posts_router
from app.runtime import Runtime, build_runtime
from app.tasks import TASKS, periodics
from app.worker.runner import Runner
from app.worker.schedule import run_scheduler

log = structlog.get_logger("ardoise")


def make_runner(rt: Runtime) -> Runner[Runtime]:
    s = rt.settings
    return Runner(
        rt.db,
        TASKS,
        rt,
        concurrency=s.worker_concurrency,
        poll_interval=s.worker_poll_interval,
        lease_seconds=s.job_lease_seconds,
        backoff_base=s.job_backoff_base,
        backoff_cap=s.job_backoff_cap,
        reaper_interval=s.reaper_interval,
        lane_limit=s.worker_network_concurrency or None,
    )


class Background:
    """The worker, the scheduler and the SMTP listener running inside one process."""

    def __init__(self, rt: Runtime, *, worker: bool, smtp: bool) -> None:
        self.rt = rt
        self.runner = make_runner(rt) if worker else None
        self.smtp_enabled = smtp
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._smtp: object | None = None

    async def start(self) -> None:
        if self.runner is not None:
            self._tasks.append(asyncio.create_task(self.runner.run(), name="worker"))
            self._tasks.append(
                asyncio.create_task(
                    run_scheduler(self.rt.db, periodics(self.rt.settings), self._stop), name="scheduler"
                )
            )
        if self.smtp_enabled:
            from app.email.smtp import start_smtp

            self._smtp = await start_smtp(self.rt)

    async def stop(self, grace: float = 8.0) -> None:
        self._stop.set()
        if self._smtp is not None:
            from app.email.smtp import stop_smtp

            await stop_smtp(self._smtp)
        if self.runner is not None:
            await self.runner.drain(grace)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, worker: bool = False, smtp: bool = False
) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    configure(settings.log_level, settings.log_format, settings.env)
    add_secrets(settings.secret_keys())
    add_secrets(
        t
        for t in (
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_auth_token_secondary.get_secret_value(),
        )
        if t
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        app.state.runtime = rt
        if settings.twilio_dev_token_in_use:
            log.warning(
                "twilio.dev_token",
                detail="ARDOISE_TWILIO_AUTH_TOKEN is not set: Twilio signatures are "
                "checked with the development token; set it before pointing Twilio here",
            )
        elif not settings.twilio_validation_tokens():
            log.error("twilio.no_token", detail="ARDOISE_TWILIO_AUTH_TOKEN is not set: every Twilio webhook is refused")
        log.info(
            "ardoise.start",
            sms_provider=rt.sms.name,
            database="sqlite" if rt.db.is_sqlite else "postgresql",
            worker=worker,
            smtp=smtp,
            public_url=settings.public_url,
        )
        bg = Background(rt, worker=worker, smtp=smtp)
        await bg.start()
        app.state.background = bg
        try:
            yield
        finally:
            await bg.stop()
            if runtime is None:
                await rt.close()

    docs = settings.env != "prod" or settings.docs_in_production  # the API map is not public in production
    app = FastAPI(
        openapi_url="/openapi.json" if docs else None,
        title="Ardoise admin API",
        version="0.1.0",
        description="Manage businesses, members, linked accounts and posts. Authenticate with "
        "`Authorization: Bearer <key>` (create a key with `ardoise apikey create`).",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served offline by app/openapi.py
        redoc_url=None,
    )
    errors.install(app)
    openapi.install(app, docs=docs)
    admin.install(app)  # after errors.install: its error pages wrap the problem+json handler

    # Pages, feeds and JSON travel compressed when the client accepts it (images are left alone by Starlette).
    app.add_middleware(GZipMiddleware, minimum_size=512)
    app.add_middleware(
        RequestContext,
        max_body_bytes=settings.max_body_bytes,
        large_paths={"/webhooks/mailgun/": 2 * settings.email_max_bytes},
    )

    # Twilio's webhook first: routes are matched in order, and it is the busiest path.
    for r in (
        webhooks_router,
        health_router,
        metrics_router,
        mentions_router,
        connect_router,
        mailgun_router,
        mention_webhooks_router,
        businesses_router,
        members_router,
        accounts_router,
        posts_router,
        messages_router,
        jobs_router,
        audit_router,
        pages_router,
    ):
        app.include_router(r)
    return app
