"""The operator console under /admin, through the real ASGI app: sign-in, the session cookie, CSRF, scoped keys,
revoked keys, each page and each action, and the weight of every page with realistic data."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from sqlalchemy import select, update
from sqlmodel import col

from app.config import Settings
from app.kit.time import utcnow
from app.models import (
    AccountStatus,
    ApiKey,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Job,
    NetworkAccount,
    OutboundMessage,
    Post,
)
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import Runner
from tests.conftest import BOTH_BACKENDS, make_key
from tests.helpers import drain, make_business
from tests.support.clock import Clock

PAGE_LIMIT = 30_000
LONG_FR = (
    "Menu du jour : soupe à l’oignon gratinée, tartare de saumon à l’aneth, jarret d’agneau braisé au vin rouge, "
    "purée de céleri-rave et légumes racines rôtis. Dessert : crème brûlée à l’érable ou tarte au sucre maison. "
    "Réservez au 418 555-0100, terrasse ouverte dès 11 h 30 !"
)


def hidden_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign in through the form like a browser; returns the session's CSRF token (read from a page)."""
    form = await client.get("/admin/")
    assert form.status_code == 200
    r = await client.post("/admin/login", data={"key": key, "csrf": hidden_csrf(form.text)})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin/"
    home = await client.get("/admin/")
    assert "Sign out" in home.text
    return hidden_csrf(home.text)


def set_cookie(r: httpx.Response, name: str) -> str:
    [line] = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return line


async def dead_job(rt: Runtime, runner: Runner[Runtime], business_id: int | None) -> int:
    async with rt.db.write() as s:
        job_id = await queue.enqueue(s, "tests.no_such_task", {}, business_id=business_id, max_attempts=1)
    assert job_id is not None
    await drain(runner)
    async with rt.db.read() as s:
        job = await s.get(Job, job_id)
    assert job is not None
    assert job.state == "dead"
    return job_id


# --- sign-in and the session cookie ------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_sign_in_with_a_key_gives_a_strict_httponly_cookie(
    client: httpx.AsyncClient, auth: dict[str, str], operator_key: str
) -> None:
    await make_business(client, auth, slug="alpha")
    form = await client.get("/admin/")
    assert form.status_code == 200
    assert re.search(r'<input type="password"[^>]*name="key"', form.text)
    assert "Bistro alpha" not in form.text
    login_cookie = set_cookie(form, "ardoise_admin_login")
    assert "HttpOnly" in login_cookie
    assert "SameSite=strict" in login_cookie

    r = await client.post("/admin/login", data={"key": operator_key, "csrf": hidden_csrf(form.text)})
    assert r.status_code == 303
    cookie = set_cookie(r, "ardoise_admin")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/admin", "Max-Age=28800"):
        assert flag in cookie, cookie
    assert "Secure" not in cookie  # http public URL: a Secure cookie would never come back
    value = cookie.split(";")[0].split("=", 1)[1]
    assert operator_key not in value  # the key never travels in the cookie
    assert "key" not in value  # encrypted, not readable JSON

    home = await client.get("/admin/")
    assert "Bistro alpha" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert "script" not in home.text.lower()  # usable without JavaScript: there is none


async def test_cookie_is_secure_behind_https(
    make_settings: Callable[..., Settings], db_url: str, operator_key: str
) -> None:
    from app.main import create_app
    from app.runtime import build_runtime

    https_rt = build_runtime(make_settings(db_url, public_url="https://ardoise.example"))
    app = create_app(https_rt.settings, runtime=https_rt)
    app.state.runtime = https_rt
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://ardoise.example") as c:
            form = await c.get("/admin/")
            r = await c.post("/admin/login", data={"key": operator_key, "csrf": hidden_csrf(form.text)})
            assert r.status_code == 303
            assert "Secure" in set_cookie(r, "ardoise_admin")
    finally:
        await https_rt.close()


async def test_wrong_key_is_refused_without_a_session(client: httpx.AsyncClient, operator_key: str) -> None:
    form = await client.get("/admin/")
    r = await client.post("/admin/login", data={"key": operator_key + "x", "csrf": hidden_csrf(form.text)})
    assert r.status_code == 401
    assert "Unknown or revoked API key" in r.text
    assert not [h for h in r.headers.get_list("set-cookie") if h.startswith("ardoise_admin=")]
    assert "Sign out" not in (await client.get("/admin/")).text


async def test_sign_in_form_from_another_site_is_refused(client: httpx.AsyncClient, operator_key: str) -> None:
    """Login CSRF: a page elsewhere posting the attacker's key has neither the cookie nor its token."""
    r = await client.post("/admin/login", data={"key": operator_key, "csrf": "forged"})
    assert r.status_code == 403
    assert not [h for h in r.headers.get_list("set-cookie") if h.startswith("ardoise_admin=")]


async def test_pages_need_a_session(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    biz, _ = await make_business(client, auth, slug="alpha")
    for path in ("/admin/jobs", "/admin/audit", f"/admin/b/{biz['id']}"):
        r = await client.get(path)
        assert (r.status_code, r.headers["location"]) == (303, "/admin/"), path
    r = await client.post("/admin/jobs/1/retry", data={"csrf": "x"})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/")
    client.cookies.set("ardoise_admin", "gAAAAABtampered", path="/admin")
    assert (await client.get("/admin/jobs")).status_code == 303


async def test_sign_out_ends_the_session(client: httpx.AsyncClient, operator_key: str) -> None:
    csrf = await sign_in(client, operator_key)
    r = await client.post("/admin/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert "Max-Age=0" in set_cookie(r, "ardoise_admin")
    assert "Sign out" not in (await client.get("/admin/")).text


async def test_session_expires(client: httpx.AsyncClient, operator_key: str, rt: Runtime, clock: Clock) -> None:
    await sign_in(client, operator_key)
    clock.advance(minutes=rt.settings.admin_session_minutes - 1)
    assert (await client.get("/admin/jobs")).status_code == 200
    clock.advance(minutes=2)  # the browser may keep the cookie: the server checks the expiry it sealed
    assert (await client.get("/admin/jobs")).status_code == 303


@BOTH_BACKENDS
async def test_revoked_key_session_stops_working(client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str]) -> None:
    await make_business(client, auth, slug="alpha")
    key = await make_key(rt, name="to-revoke")
    await sign_in(client, key)
    assert "Bistro alpha" in (await client.get("/admin/")).text
    async with rt.db.write() as s:
        await s.execute(update(ApiKey).where(col(ApiKey.name) == "to-revoke").values(revoked_at=utcnow()))
    home = await client.get("/admin/")
    assert "Bistro alpha" not in home.text
    assert 'type="password"' in home.text
    assert (await client.get("/admin/jobs")).status_code == 303


# --- CSRF --------------------------------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_forms_without_the_session_token_are_refused(
    client: httpx.AsyncClient, rt: Runtime, runner: Runner[Runtime], operator_key: str
) -> None:
    job_id = await dead_job(rt, runner, None)
    other = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with other:
        other_csrf = await sign_in(other, operator_key)  # a real token, of another session
    csrf = await sign_in(client, operator_key)
    assert other_csrf != csrf
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": other_csrf}):
        r = await client.post(f"/admin/jobs/{job_id}/retry", data=data)
        assert r.status_code == 403, data
        assert "nothing was done" in r.text
    async with rt.db.read() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        assert job.state == "dead"
    r = await client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/jobs?notice=job-retried")


# --- scoped keys -------------------------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_scoped_key_sees_and_touches_only_its_business(
    client: httpx.AsyncClient, rt: Runtime, runner: Runner[Runtime], auth: dict[str, str]
) -> None:
    a, _ = await make_business(client, auth, slug="alpha", number="+15817000001", phone="+14185550120")
    b, _ = await make_business(client, auth, slug="beta", number="+15817000002", phone="+14185550121")
    job_a = await dead_job(rt, runner, a["id"])
    job_b = await dead_job(rt, runner, b["id"])
    job_none = await dead_job(rt, runner, None)
    r = await client.post(f"/api/v1/businesses/{b['id']}/posts", headers=auth, json={"text": "Menu beta"})
    post_b = r.json()["id"]
    csrf = await sign_in(client, await make_key(rt, a["id"], name="alpha-key"))

    home = await client.get("/admin/")
    assert "Bistro alpha" in home.text
    assert "Bistro beta" not in home.text
    assert "outside any business" not in home.text
    assert "Bistro alpha only" in home.text
    assert (await client.get(f"/admin/b/{a['id']}")).status_code == 200
    other = await client.get(f"/admin/b/{b['id']}")
    assert other.status_code == 404
    assert "Bistro beta" not in other.text

    jobs = (await client.get("/admin/jobs")).text
    assert f"#{job_a} " in jobs
    assert f"#{job_b} " not in jobs
    assert f"#{job_none} " not in jobs
    audit = (await client.get("/admin/audit")).text
    assert "Bistro alpha" in audit
    assert "Bistro beta" not in audit

    [page_b] = [x for x in await accounts(rt, b["id"])]
    for path in (
        f"/admin/jobs/{job_b}/retry",
        f"/admin/jobs/{job_none}/retry",
        f"/admin/b/{b['id']}/accounts/{page_b.id}/test",
        f"/admin/b/{a['id']}/accounts/{page_b.id}/test",  # B's account under A's own path
        f"/admin/b/{b['id']}/posts/{post_b}/delete",
        f"/admin/b/{a['id']}/posts/{post_b}/delete",
        f"/admin/b/{a['id']}/posts/{post_b}/retry",
        f"/admin/b/{b['id']}/connect",
    ):
        r = await client.post(path, data={"csrf": csrf})
        assert r.status_code == 404, path
    async with rt.db.read() as s:
        states = {
            j.id: j.state for j in (await s.execute(select(Job).where(col(Job.id).in_([job_b, job_none])))).scalars()
        }
        tested = (await s.execute(select(AuditEvent).where(col(AuditEvent.action) == "account.test"))).scalars().all()
        post = await s.get(Post, post_b)
    assert states == {job_b: "dead", job_none: "dead"}
    assert tested == []
    assert post is not None
    assert post.deleted_at is None


async def accounts(rt: Runtime, business_id: int) -> list[NetworkAccount]:
    async with rt.db.read() as s:
        rows = await s.execute(select(NetworkAccount).where(col(NetworkAccount.business_id) == business_id))
        return list(rows.scalars())


# --- the pages and their actions ---------------------------------------------------------------------------------


@BOTH_BACKENDS
async def test_broken_account_shows_on_home_and_test_repairs_it(
    client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str], operator_key: str
) -> None:
    biz, _ = await make_business(client, auth, slug="alpha")
    [page] = await accounts(rt, biz["id"])
    async with rt.db.write() as s:
        await s.execute(
            update(NetworkAccount)
            .where(col(NetworkAccount.id) == page.id)
            .values(status=AccountStatus.broken.value, status_reason="token revoked by the owner")
        )
    csrf = await sign_in(client, operator_key)
    home = (await client.get("/admin/")).text
    assert "Needs attention" in home
    assert "page alpha broken" in home
    assert "1 broken" in home
    detail = (await client.get(f"/admin/b/{biz['id']}")).text
    assert "token revoked by the owner" in detail

    r = await client.post(f"/admin/b/{biz['id']}/accounts/{page.id}/test", data={"csrf": csrf})
    assert (r.status_code, r.headers["location"]) == (303, f"/admin/b/{biz['id']}?notice=test-ok")
    after = (await client.get(r.headers["location"])).text
    assert "credentials work" in after
    assert "Needs attention" not in (await client.get("/admin/")).text
    [page] = await accounts(rt, biz["id"])
    assert page.status == AccountStatus.active.value
    assert page.last_checked_at is not None


@BOTH_BACKENDS
async def test_retry_a_dead_job_from_the_console(
    client: httpx.AsyncClient, rt: Runtime, runner: Runner[Runtime], auth: dict[str, str], operator_key: str
) -> None:
    biz, _ = await make_business(client, auth, slug="alpha")
    job_id = await dead_job(rt, runner, biz["id"])
    csrf = await sign_in(client, operator_key)
    assert "1 dead job" in (await client.get("/admin/")).text
    page = (await client.get("/admin/jobs")).text
    assert f"#{job_id} tests.no_such_task" in page
    assert f'action="/admin/jobs/{job_id}/retry"' in page

    r = await client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf})
    after = (await client.get(r.headers["location"])).text
    assert "queued again" in after
    assert f"#{job_id} " not in after
    async with rt.db.read() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        assert (job.state, job.attempts) == ("queued", 0)
    r = await client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf})  # a second press: not dead now
    assert r.status_code == 409
    assert "not dead" in r.text
    audit = (await client.get("/admin/audit")).text
    assert "job.retry" in audit
    assert "console.sign_in" in audit


@BOTH_BACKENDS
async def test_post_retry_and_delete_from_the_console(
    client: httpx.AsyncClient, rt: Runtime, runner: Runner[Runtime], auth: dict[str, str], operator_key: str
) -> None:
    biz, _ = await make_business(client, auth, slug="alpha")
    r = await client.post(f"/api/v1/businesses/{biz['id']}/posts", headers=auth, json={"text": "Soupe du jour"})
    post_id = r.json()["id"]
    await drain(runner)
    async with rt.db.write() as s:  # as if the page had refused it for good
        await s.execute(
            update(Delivery).where(col(Delivery.post_id) == post_id).values(status="failed", last_error="HTTP 503")
        )
        await s.execute(update(Post).where(col(Post.id) == post_id).values(status="failed"))
    csrf = await sign_in(client, operator_key)
    page = (await client.get(f"/admin/b/{biz['id']}")).text
    assert "HTTP 503" in page
    assert f'action="/admin/b/{biz["id"]}/posts/{post_id}/retry"' in page

    r = await client.post(f"/admin/b/{biz['id']}/posts/{post_id}/retry", data={"csrf": csrf})
    assert r.headers["location"].endswith("notice=post-retrying")
    await drain(runner)
    async with rt.db.read() as s:
        [d] = (await s.execute(select(Delivery).where(col(Delivery.post_id) == post_id))).scalars().all()
        assert d.status == DeliveryStatus.published.value
    r = await client.post(f"/admin/b/{biz['id']}/posts/{post_id}/retry", data={"csrf": csrf})
    assert r.headers["location"].endswith("notice=post-nothing")

    r = await client.post(f"/admin/b/{biz['id']}/posts/{post_id}/delete", data={"csrf": csrf})
    assert r.headers["location"].endswith("notice=post-deleting")
    await drain(runner)
    got = (await client.get(f"/api/v1/businesses/{biz['id']}/posts/{post_id}", headers=auth)).json()
    assert got["status"] == "deleted"
    assert f"/posts/{post_id}/delete" not in (await client.get(f"/admin/b/{biz['id']}")).text


async def test_connect_link_when_configured(
    make_settings: Callable[..., Settings], db_url: str, operator_key: str
) -> None:
    from app.main import create_app
    from app.runtime import build_runtime

    rt = build_runtime(make_settings(db_url, facebook_app_id="123", facebook_app_secret="s3cret"))
    app = create_app(rt.settings, runtime=rt)
    app.state.runtime = rt
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            biz, _ = await make_business(c, {"Authorization": f"Bearer {operator_key}"}, slug="alpha")
            csrf = await sign_in(c, operator_key)
            page = (await c.get(f"/admin/b/{biz['id']}")).text
            assert 'value="facebook">Facebook link' in page
            assert "Google" in page  # named as not configured
            r = await c.post(f"/admin/b/{biz['id']}/connect", data={"csrf": csrf, "network": "facebook"})
            assert r.status_code == 200
            assert "http://testserver/connect/facebook?business=alpha&amp;token=" in r.text
            r = await c.post(f"/admin/b/{biz['id']}/connect", data={"csrf": csrf, "network": "google"})
            assert r.status_code == 404
            assert "not configured" in r.text
    finally:
        await rt.close()


# --- weight with realistic data ----------------------------------------------------------------------------------


async def seed_realistic(client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str]) -> int:
    """50 businesses (a full page), one of them busy: 10 members, 15+ posts, 20 SMS each way, broken accounts,
    30+ dead jobs with long errors, a long audit log."""
    for i in range(49):
        await make_business(
            client, auth, slug=f"bistro-{i:02d}", number=f"+1581700{i:04d}", phone=f"+1418555{i:04d}",
            name=f"Café-bistro « Chez {'Marguerite-Éloïse' * 2} » n° {i:02d}",
        )  # fmt: skip
    biz, member = await make_business(client, auth, slug="busy", number="+15817009999", phone="+14185559999")
    bid = biz["id"]
    for i in range(9):
        r = await client.post(
            f"/api/v1/businesses/{bid}/members",
            headers=auth,
            json={"name": f"Employé·e numéro {i} Marguerite-Éloïse", "phone": f"+1418556{i:04d}", "role": "staff"},
        )
        assert r.status_code == 201, r.text
    for i in range(18):
        r = await client.post(f"/api/v1/businesses/{bid}/posts", headers=auth, json={"text": f"{LONG_FR} #{i}"})
        assert r.status_code == 202, r.text
    now = utcnow()
    async with rt.db.write() as s:
        for i in range(20):
            s.add(
                InboundMessage(
                    channel="sms",
                    provider_id=f"SMseed{i}",
                    business_id=bid,
                    member_id=member["id"],
                    peer=member["phone"],
                    to="+15817009999",
                    body=f"PUBLIER {LONG_FR} {i}",
                    status="processed",
                )
            )
            s.add(
                OutboundMessage(
                    channel="sms",
                    business_id=bid,
                    peer=member["phone"],
                    body=LONG_FR[:150],
                    segments=2,
                    status="delivered",
                    created_at=now,
                )
            )
        for net in ("mastodon", "bluesky", "facebook", "instagram", "google", "x"):
            s.add(
                NetworkAccount(
                    business_id=bid,
                    network=net,
                    handle=f"@bistro-busy-{net}@piaille.example",
                    status="broken",
                    status_reason="The access token was revoked by the user (OAuthException code 190) " * 4,
                )
            )
        for i in range(40):
            await queue.enqueue(s, "posts.deliver", {"delivery_id": i}, business_id=bid if i % 2 else None)
        await s.flush()
        await s.execute(update(Job).values(state="dead", last_error=("httpx.ConnectTimeout: " + "x" * 2000)[:2000]))
        for i in range(120):
            s.add(
                AuditEvent(actor="key:1", business_id=bid, action="post.create", target=f"post:{i}", detail="y" * 2000)
            )
    return int(bid)


@BOTH_BACKENDS
async def test_every_page_renders_under_30_kb_with_realistic_data(
    client: httpx.AsyncClient, rt: Runtime, auth: dict[str, str], operator_key: str
) -> None:
    bid = await seed_realistic(client, rt, auth)
    form = await client.get("/admin/")
    assert len(form.content) < PAGE_LIMIT
    await sign_in(client, operator_key)
    sizes = {}
    for path in ("/admin/", f"/admin/b/{bid}", "/admin/jobs", "/admin/audit"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        sizes[path] = len(r.content)
    assert all(n < PAGE_LIMIT for n in sizes.values()), sizes
    home = (await client.get("/admin/")).text
    assert home.count("<tr") == 51  # a full page of 50 businesses and the header
    assert "Older businesses" in home
    busy = (await client.get(f"/admin/b/{bid}")).text
    assert busy.count("PUBLIER") == 15  # the 15 most recent messages in
    assert "Sign out" in busy
