"""Mention polling cost (issue 5): accounts polled per minute per worker, and CPU per poll, against local servers.

``.venv/bin/python bench/polling.py`` seeds ``--accounts`` businesses, each with one Mastodon account on a local
Mastodon-compatible server (``bench/mastodon_server.py``, its own process, a random 0..``--latency`` s pause per
request to stand for the network), in a PostgreSQL database of its own. Then, for each configuration (number of
worker processes × ``ARDOISE_WORKER_CONCURRENCY``), it enqueues one ``mentions.poll`` job per account, exactly what
``mentions.schedule_polls`` enqueues but all due at once, and times the workers until the queue is empty:

* round ``first``: each account's first poll stores one new mention (number, insert, alert check);
* round ``steady``: the next poll of every account, nothing new (what almost every poll is).

It reports polls per minute per worker process, the CPU time per poll of the worker processes (user + system,
read from /proc, only while they poll) and of the PostgreSQL server backends is not counted (it runs as another
user). The baseline, measured in the same run, is a bare httpx client doing the same ``GET
/api/v1/notifications`` requests at the same concurrency: the ceiling the local server and the machine allow.

The worker processes import the Mastodon and Bluesky adapters before the clock starts (importing atproto's
models costs about a second of CPU once per process, which is not a per-poll cost).

``--bsky N`` also polls N accounts on the real local Bluesky network (``@atproto/dev-env``, tests/bsky), each
mentioned once by a fan account, for the cost of an atproto poll (session reuse, ``listNotifications``).

The worker processes are ``bench/polling.py --worker``: the job runner alone (no scheduler, so nothing but the
bench's jobs runs). Raw results go to ``bench/out/polling-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import cpu_seconds, say  # noqa: E402

SECRET = "bench-polling-secret-key-0123456789"
TARGET_PER_WORKER_PER_MIN = 10_000 / 5 / 2  # 10,000 accounts every 5 minutes on 2 workers


@dataclass
class Round:
    config: str
    workers: int
    concurrency: int
    lane_limit: int
    kind: str  # first | steady | bsky
    accounts: int
    seconds: float
    polls_done: int
    polls_failed: int
    cpu_seconds: float
    polls_per_min_per_worker: float
    cpu_ms_per_poll: float
    load: tuple[float, float] = (0.0, 0.0)
    mentions_stored: int = 0


@dataclass
class Results:
    started: str
    machine: dict[str, Any]
    options: dict[str, Any]
    baseline: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------------- the worker


def worker_main() -> int:
    """One worker process: the runner alone, until SIGTERM."""
    from app.config import get_settings
    from app.logging import configure
    from app.main import make_runner
    from app.runtime import build_runtime

    settings = get_settings()
    configure("WARNING", "console", settings.env)

    async def run() -> None:
        rt = build_runtime(settings)
        for name in ("mastodon", "bluesky"):  # import the adapters now (atproto's models: ~1 s of CPU, once)
            rt.networks.get(name)
        runner = make_runner(rt)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        task = asyncio.create_task(runner.run())
        await stop.wait()
        await runner.drain(2.0)
        await task
        await rt.close()

    asyncio.run(run())
    return 0


# ---------------------------------------------------------------------------------------------------------- helpers


def free_env(db_url: str, concurrency: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        ARDOISE_DATABASE_URL=db_url,
        ARDOISE_SECRET_KEY=SECRET,
        ARDOISE_WORKER_CONCURRENCY=str(concurrency),
        ARDOISE_WORKER_POLL_INTERVAL="0.2",
        ARDOISE_SMS_PROVIDER="console",
        ARDOISE_ALLOW_PRIVATE_NETWORKS="1",  # the Mastodon/Bluesky stand-ins are on loopback
        ARDOISE_SMTP_ENABLED="false",
        ARDOISE_LOG_LEVEL="WARNING",
    )
    return env


def start_mastodon(latency: float, tmp: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "mastodon_server.py"), "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        stderr=(tmp / "mastodon.log").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    port = int(json.loads(proc.stdout.readline())["port"])
    return proc, port


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def seed(db_url: str, network: str, creds: list[dict[str, str]], prefix: str) -> list[int]:
    """One business and one account per credential set; the account ids."""
    from app.kit.crypto import Vault

    vault = Vault([SECRET])
    ids: list[int] = []
    now = datetime.now(UTC).replace(tzinfo=None)
    with psycopg.connect(db_url) as con, con.cursor() as cur:
        for i, c in enumerate(creds):
            cur.execute(
                "INSERT INTO business (name, slug, timezone, language, publish_mode, post_seq, mention_seq, created_at)"
                " VALUES (%s, %s, 'America/Toronto', 'fr', 'direct', 0, 0, %s) RETURNING id",
                (f"Commerce {prefix}{i}", f"{prefix}{i}", now),
            )
            row = cur.fetchone()
            assert row is not None
            cur.execute(
                "INSERT INTO networkaccount (business_id, network, handle, credentials, settings, status,"
                " status_reason, created_at) VALUES (%s, %s, %s, %s, '{}', 'active', '', %s) RETURNING id",
                (row[0], network, c.get("handle", f"shop{i}"), vault.encrypt(c), now),
            )
            acct = cur.fetchone()
            assert acct is not None
            ids.append(int(acct[0]))
    return ids


def enqueue_polls(db_url: str, account_ids: list[int], network: str, tag: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with psycopg.connect(db_url) as con, con.cursor() as cur:
        cur.executemany(
            "INSERT INTO job (kind, payload, state, dedup_key, attempts, max_attempts, run_at, lane, created_at)"
            " VALUES ('mentions.poll', %s, 'queued', %s, 0, 3, %s, %s, %s)",
            [(json.dumps({"account_id": a}), f"bench-poll:{tag}:{a}", now, f"net:{network}", now) for a in account_ids],
        )


def queue_state(db_url: str, tag: str) -> tuple[int, int, int]:
    """(still to do, done, dead) among this round's jobs."""
    with psycopg.connect(db_url) as con:
        rows = con.execute(
            "SELECT state, count(*) FROM job WHERE dedup_key LIKE %s GROUP BY state", (f"bench-poll:{tag}:%",)
        ).fetchall()
    counts = {str(r[0]): int(r[1]) for r in rows}
    return counts.get("queued", 0) + counts.get("running", 0), counts.get("done", 0), counts.get("dead", 0)


def mention_count(db_url: str) -> int:
    with psycopg.connect(db_url) as con:
        row = con.execute("SELECT count(*) FROM mention").fetchone()
    return int(row[0]) if row else 0


def run_round(
    db_url: str,
    tmp: Path,
    *,
    config: str,
    kind: str,
    account_ids: list[int],
    network: str,
    workers: int,
    concurrency: int,
    timeout: float,
) -> Round:
    env = free_env(db_url, concurrency)
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            env=env,
            cwd=ROOT,
            stdout=(tmp / f"worker-{config}-{kind}-{i}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for i in range(workers)
    ]
    try:
        time.sleep(6.0)  # imports and the first idle claim: not part of the cost
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"worker exited with {p.returncode}: see {tmp}")
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        before = mention_count(db_url)
        load0 = os.getloadavg()[0]
        tag = f"{config}-{kind}"
        t0 = time.monotonic()
        enqueue_polls(db_url, account_ids, network, tag)
        while True:
            todo, done, dead = queue_state(db_url, tag)
            if todo == 0 or time.monotonic() - t0 > timeout:
                break
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        load1 = os.getloadavg()[0]
        stored = mention_count(db_url) - before
    finally:
        for p in procs:
            stop(p)
    lane = max(1, concurrency // 2)
    per_min = done / seconds * 60 / workers if seconds else 0.0
    r = Round(
        config=config,
        workers=workers,
        concurrency=concurrency,
        lane_limit=lane,
        kind=kind,
        accounts=len(account_ids),
        seconds=round(seconds, 2),
        polls_done=done,
        polls_failed=dead + todo,
        cpu_seconds=round(cpu, 2),
        polls_per_min_per_worker=round(per_min, 1),
        cpu_ms_per_poll=round(cpu / done * 1000, 2) if done else 0.0,
        load=(round(load0, 2), round(load1, 2)),
        mentions_stored=stored,
    )
    say(
        f"  {config:>12} {kind:>6}: {done}/{len(account_ids)} polls in {seconds:.1f} s = "
        f"{r.polls_per_min_per_worker:,.0f}/min/worker, {r.cpu_ms_per_poll} ms CPU/poll, {stored} stored"
    )
    return r


async def baseline(port: int, accounts: int, concurrency: int) -> dict[str, Any]:
    """The same GET /api/v1/notifications as the polls, from a bare httpx client at ``concurrency``."""
    sem = asyncio.Semaphore(concurrency)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

        async def one(n: int) -> None:
            async with sem:
                r = await http.get(
                    "/api/v1/notifications",
                    params={"types[]": "mention", "limit": 40},
                    headers={"Authorization": f"Bearer tok-{n}"},
                )
                r.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(accounts)))
    seconds = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    out = {
        "concurrency": concurrency,
        "requests": accounts,
        "seconds": round(seconds, 2),
        "per_min": round(accounts / seconds * 60, 1),
        "cpu_ms_per_request": round(cpu / accounts * 1000, 3),
    }
    say(f"  baseline c={concurrency}: {out['per_min']:,.0f} requests/min, {out['cpu_ms_per_request']} ms CPU/request")
    return out


def bsky_accounts(n: int) -> tuple[contextlib.ExitStack, str, list[dict[str, str]]]:
    """Start the local Bluesky network; ``n`` business accounts, each mentioned once by a fan. Returns the stack
    that stops the network, the PDS URL and the credentials to link."""
    from tests.bsky.bsky_network import bsky_network
    from tests.bsky_support import BskyNet

    stack = contextlib.ExitStack()
    info = stack.enter_context(bsky_network())
    net = BskyNet(info)
    fan = net.create_account("fan")
    creds: list[dict[str, str]] = []
    for _ in range(n):
        acct = net.create_account("shop")
        creds.append({"handle": acct.handle, "app_password": acct.app_password, "pds_url": net.pds})
        net.xrpc(
            "POST",
            "com.atproto.repo.createRecord",
            token=fan.access_jwt,
            json={
                "repo": fan.did,
                "collection": "app.bsky.feed.post",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "text": f"@{acct.handle} c'est comment?",
                    "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "facets": [
                        {
                            "index": {"byteStart": 0, "byteEnd": len(acct.handle.encode()) + 1},
                            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": acct.did}],
                        }
                    ],
                },
            },
        )
    return stack, net.pds, creds


# ------------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.05, help="random pause 0..s per request on the local server")
    ap.add_argument("--configs", default="1x4,2x4,1x16,2x16", help="workers x concurrency, comma-separated")
    ap.add_argument("--bsky", type=int, default=0, help="also poll N accounts on the local Bluesky network")
    ap.add_argument("--bsky-concurrency", default="4,8", help="worker concurrencies for the Bluesky rounds")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"polling-{stamp}"
    tmp.mkdir()
    dbname = f"ardoise_pollbench_{os.getpid()}"
    admin = args.pg.rstrip("/") + "/postgres"
    db_url = f"{args.pg.rstrip('/')}/{dbname}"
    results = Results(
        started=stamp,
        machine={
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_at_start": os.getloadavg(),
        },
        options=vars(args),
    )
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {dbname}")
    masto: subprocess.Popen[str] | None = None
    stack: contextlib.ExitStack | None = None
    try:
        subprocess.run(
            [str(Path(sys.executable).parent / "ardoise"), "migrate"],
            env=free_env(db_url, 4),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        masto, port = start_mastodon(args.latency, tmp)
        say(f"local Mastodon-compatible server on :{port}, latency 0..{args.latency} s; {args.accounts} accounts")
        configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",") if c]
        for lanes in sorted({max(1, conc // 2) for _, conc in configs}):  # a worker's polls at once: its lane limit
            results.baseline.append(asyncio.run(baseline(port, args.accounts, lanes)))
        for workers, conc in configs:
            config = f"{workers}x{conc}"
            # Fresh accounts per configuration: the first poll stores one mention, the second nothing new.
            ids = seed(
                db_url,
                "mastodon",
                [
                    {"instance_url": f"http://127.0.0.1:{port}", "access_token": f"tok-{n}", "handle": f"shop{n}"}
                    for n in range(args.accounts)
                ],
                prefix=f"m{config}-",
            )
            for kind in ("first", "steady"):
                results.rounds.append(
                    run_round(
                        db_url,
                        tmp,
                        config=config,
                        kind=kind,
                        account_ids=ids,
                        network="mastodon",
                        workers=workers,
                        concurrency=conc,
                        timeout=args.timeout,
                    )
                )
        if args.bsky:
            say(f"local Bluesky network: {args.bsky} accounts, each mentioned once")
            stack, _pds, creds = bsky_accounts(args.bsky)
            ids = seed(db_url, "bluesky", creds, prefix="b-")
            for i, conc in enumerate(int(c) for c in args.bsky_concurrency.split(",") if c):
                for kind in ("first", "steady") if i == 0 else ("steady",):
                    results.rounds.append(
                        run_round(
                            db_url,
                            tmp,
                            config=f"bsky-1x{conc}",
                            kind=kind,
                            account_ids=ids,
                            network="bluesky",
                            workers=1,
                            concurrency=conc,
                            timeout=args.timeout,
                        )
                    )
    finally:
        if stack is not None:
            stack.close()
        if masto is not None:
            stop(masto)
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    results.machine["load_at_end"] = os.getloadavg()
    path = out_dir / f"polling-{stamp}.json"
    path.write_text(json.dumps(asdict(results), indent=2))
    say(f"\nresults: {path}")
    say(f"target: {TARGET_PER_WORKER_PER_MIN:,.0f} polls/min per worker (10,000 accounts / 5 min / 2 workers)")
    for r in results.rounds:
        verdict = "met" if r.polls_per_min_per_worker >= TARGET_PER_WORKER_PER_MIN else "missed"
        say(
            f"  {r.config:>9} {r.kind:>7}: {r.polls_per_min_per_worker:>8,.0f}/min/worker ({verdict}), "
            f"{r.cpu_ms_per_poll:>6} ms CPU/poll, failed {r.polls_failed}, load {r.load[0]}→{r.load[1]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
