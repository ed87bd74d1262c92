"""PostgreSQL restarted under load. The shared server on :5432 is never touched: this module runs a private
PostgreSQL (initdb + pg_ctl as the ``postgres`` user, in a temporary directory, on a free port), an API process
and a worker against it, sends signed webhooks, restarts that PostgreSQL (``pg_ctl restart -m fast``) while
sending, and checks that nothing acknowledged was lost or doubled and that the processes recovered by themselves.

While the database is down a webhook may fail (5xx, or no answer): Twilio would try the fallback URL and the
client here tries again with the same MessageSid, which must stay single.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app import migrate
from app.db import sync_url
from app.runtime import build_runtime
from tests.helpers import twilio_form
from tests.resilience.cluster import (
    CI,
    Twilio,
    api_proc,
    check_exactly_once,
    free_port,
    in_process_settings,
    new_sid,
    seed_shops,
    stop_all,
    wait_ready,
    wait_settled,
    worker_proc,
)
from tests.resilience.mastodon_stub import FaultyMastodon, running_stub

pytestmark = [pytest.mark.resilience, pytest.mark.slow, pytest.mark.postgres]


@dataclass
class PrivatePostgres:
    bindir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def as_postgres(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command as the postgres user. Its output goes to a file, not a pipe: a postmaster started by
        ``pg_ctl start/restart`` inherits it and would keep a pipe open for ever."""
        cmd = " ".join(shlex.quote(a) for a in argv)
        out = self.root / "commands.log"
        with out.open("a") as sink:
            r = subprocess.run(
                ["su", "postgres", "-s", "/bin/sh", "-c", cmd],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=timeout,
                check=False,
                cwd=self.root,
            )
        return subprocess.CompletedProcess(r.args, r.returncode, out.read_text(errors="replace")[-2000:], "")

    def pg_ctl(self, *args: str, timeout: float = 120) -> None:
        r = self.as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log"), *args)
        assert r.returncode == 0, f"pg_ctl {' '.join(args)}: {r.stdout}\n{self.log_tail()}"

    def log_tail(self) -> str:
        try:
            return (self.root / "pg.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    bindir = _bindir()
    if bindir is None or os.geteuid() != 0 or shutil.which("su") is None:
        if CI:
            pytest.fail("the PostgreSQL restart test needs initdb/pg_ctl and root (su postgres) under CI")
        pytest.skip("needs /usr/lib/postgresql/*/bin/initdb and root to run it as postgres")
    root = Path(tempfile.mkdtemp(prefix="ardoise-pg-", dir="/tmp"))
    root.chmod(0o755)
    shutil.chown(root, "postgres", "postgres")
    pg = PrivatePostgres(bindir, root, free_port())
    try:
        r = pg.as_postgres(
            str(bindir / "initdb"), "-D", str(pg.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
        )
        assert r.returncode == 0, f"initdb: {r.stdout}"
        opts = f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        pg.pg_ctl("-o", opts, "-w", "start")
        yield pg
    finally:
        if (pg.data / "postmaster.pid").exists():
            pg.as_postgres(str(bindir / "pg_ctl"), "-D", str(pg.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


async def test_postgres_restart_during_load_loses_and_doubles_nothing(private_pg: PrivatePostgres) -> None:
    admin = create_engine(sync_url(private_pg.url("postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "ardoise"'))
    admin.dispose()
    url = private_pg.url("ardoise")
    migrate.upgrade(url)
    workdir = Path(tempfile.mkdtemp(prefix="ardoise-pgrestart-"))
    rt = build_runtime(in_process_settings(url, workdir))
    api = api_proc(url, workdir, "api")
    worker = worker_proc(url, workdir, "worker")
    procs = [api, worker]
    try:
        with running_stub(FaultyMastodon(latency=0.1)) as stub:
            shops = await seed_shops(rt, stub, 2, "pgr")
            for p in procs:
                p.start()
            await wait_ready(procs, 240)
            first_pids = {p.name: p.pid for p in procs}
            twilio = Twilio(lambda: [api.port or 0])
            n_messages, restart_after = 30, 10
            restarted = asyncio.Event()

            async def send_all() -> None:
                async with httpx.AsyncClient() as http:
                    for i in range(n_messages):
                        shop = shops[i % len(shops)]
                        form = twilio_form(
                            shop.owner, shop.number, f"PUBLIER Redemarrage {i} chez {shop.slug}", new_sid()
                        )
                        await twilio.deliver(http, form, within=120)
                        if i == restart_after:
                            restarted.set()
                        await asyncio.sleep(0.15)

            async def restart() -> float:
                await restarted.wait()
                t0 = time.monotonic()
                await asyncio.to_thread(private_pg.pg_ctl, "restart", "-m", "fast", "-w")
                return time.monotonic() - t0

            t0 = time.monotonic()
            _, down_s = await asyncio.gather(send_all(), restart())
            await wait_settled(rt, list(twilio.acked), 180, procs)
            report = await check_exactly_once(
                rt, twilio.acked, stub, page_base=f"http://127.0.0.1:{api.port}", shops=shops
            )
            assert report.inbound == n_messages
            # Both processes rode out the restart without being restarted themselves.
            assert {p.name: p.pid for p in procs} == first_pids
            assert all(p.alive() for p in procs), "\n".join(p.tail() for p in procs)
            print(  # noqa: T201
                f"\nPostgreSQL restart took {down_s:.1f}s; {report.inbound} messages, {report.posts} posts, "
                f"{report.receipts} receipts in {time.monotonic() - t0:.0f}s; webhook failures {twilio.statuses}; "
                f"dead jobs {report.dead_jobs}"
            )
    finally:
        stop_all(procs)
        await rt.close()
        shutil.rmtree(workdir, ignore_errors=True)
