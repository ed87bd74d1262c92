"""End to end: a burst of signed ``PUBLIER`` webhooks becomes statuses on a Mastodon stand-in and recorded receipts.

``.venv/bin/python bench/burst.py`` (defaults: SQLite, the embedded ``ardoise serve``, 15 s at 32 connections) measures,
in one run and beside the bare FastAPI+INSERT baseline (``bench/baseline_app.py``) and the stand-in's own rate:

* acknowledged webhooks per second and their p50/p99 during the burst (wrk, signed exactly as Twilio signs);
* end to end: how long until every stored message became a post, a status on the stand-in and a receipt SMS
  recorded (the drain), the rate over burst + drain, and the posts per second during the burst itself;
* CPU seconds of every Ardoise process per SMS (user + system, from /proc), and statements and commits per SMS
  (counted by SQLAlchemy events in each Ardoise process, injected with ``sitecustomize`` so the app is untouched);
* nothing lost, nothing doubled: stored rows = posts = statuses = receipts, no text twice on the stand-in.

Topologies: ``--db sqlite`` runs one ``ardoise serve`` (API, worker, scheduler, SMTP in one process: the
embedded default); ``--db postgresql --procs 1+1`` (or ``2+2``) runs API processes with ``--no-worker`` and
separate ``ardoise worker`` processes, the load split evenly across the API ports. ``--latency 0.3`` adds 300 ms
to every stand-in answer. Raw results go to ``bench/out/burst-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    ARDOISE,
    FORM,
    ROOT,
    TWILIO_TOKEN,
    Backend,
    LoadResult,
    Options,
    Pool,
    Server,
    cpu_seconds,
    free_port,
    make_backend,
    rss_mb,
    run_baseline,
    run_wrk,
    say,
    start,
    versions,
)

# Counts statements (in all, and by verb and first table) and commits of every SQLAlchemy engine in the process,
# written to a file every 0.5 s. SQLite's BEGIN is counted at SQLAlchemy's "begin" event, since Ardoise sends it
# straight to the driver (app/db.py), past the cursor events.
SITECUSTOMIZE = textwrap.dedent(
    """
    import json, os, re, threading, time
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    _C = {"statements": 0, "commits": 0, "kinds": {}}
    _TABLE = re.compile(r'\\b(?:FROM|INTO|UPDATE)\\s+"?(\\w+)')
    @event.listens_for(Engine, "before_cursor_execute")
    def _stmt(_conn, _cursor, statement, *_a):
        verb = statement.split(None, 1)[0].upper() if statement.strip() else "?"
        if verb == "BEGIN":
            return  # counted by _begin below, however the application sends it
        _C["statements"] += 1
        table = _TABLE.search(statement)
        key = verb + (" " + table.group(1) if table and verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else "")
        _C["kinds"][key] = _C["kinds"].get(key, 0) + 1
    @event.listens_for(Engine, "begin")
    def _begin(conn):
        if conn.dialect.name == "sqlite":  # SQLite's BEGIN is a statement Ardoise sends (psycopg's is implicit)
            _C["statements"] += 1
            _C["kinds"]["BEGIN"] = _C["kinds"].get("BEGIN", 0) + 1
    @event.listens_for(Engine, "commit")
    def _commit(*_a):
        _C["commits"] += 1
    def _dump():
        path = os.environ["BURST_COUNTS"] + "." + str(os.getpid())
        while True:
            with open(path + ".tmp", "w") as f:
                json.dump(_C, f)
            os.replace(path + ".tmp", path)
            time.sleep(0.5)
    threading.Thread(target=_dump, daemon=True).start()
    """
)


def counts(prefix: Path) -> dict[str, Any]:
    total: dict[str, Any] = {"statements": 0, "commits": 0, "kinds": {}}
    for f in prefix.parent.glob(prefix.name + ".*"):
        if f.suffix == ".tmp":
            continue
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        for k in ("statements", "commits"):
            total[k] += int(data.get(k, 0))
        for kind, n in data.get("kinds", {}).items():
            total["kinds"][kind] = total["kinds"].get(kind, 0) + int(n)
    return total


def per_sms(c0: dict[str, Any], c1: dict[str, Any], stored: int) -> dict[str, float]:
    """Statements per SMS by verb and table (``SELECT job``, ``BEGIN``...), most first."""
    diff = {k: n - c0["kinds"].get(k, 0) for k, n in c1["kinds"].items()}
    return {k: round(n / stored, 2) for k, n in sorted(diff.items(), key=lambda kv: -kv[1]) if n > 0}


def stand_in(tmp: Path, latency: float) -> Server:
    port = free_port()
    env = dict(os.environ, FAST_MASTO_LATENCY=str(latency), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "uvicorn", "bench.fast_mastodon:app", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    return start("stand-in", cmd, env, tmp, port, "/_bench/stats")


def stand_in_rate(srv: Server, tmp: Path, seconds: float) -> LoadResult:
    """The stand-in's own rate for POST /api/v1/statuses (fresh keys), to show it is not the ceiling."""
    n = int(8000 * seconds)
    pool = Pool([("-", urllib.parse.urlencode({"status": f"rate {i}"})) for i in range(n)])
    return run_wrk(srv.base + "/api/v1/statuses", pool, FORM, "Bearer rate-probe", 32, 2, seconds, tmp)


def ardoise_env(
    be: Backend, public_url: str, work: Path, counts_prefix: Path, args: argparse.Namespace
) -> dict[str, str]:
    site = work / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDOISE_")}
    env.update(
        ARDOISE_DATABASE_URL=be.ardoise_url,
        ARDOISE_PUBLIC_URL=public_url,
        ARDOISE_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        ARDOISE_SMS_PROVIDER="console",
        ARDOISE_SECRET_KEY="bench-secret-key-" + secrets.token_hex(16),
        ARDOISE_SMS_COMMANDS_PER_HOUR="1000000",
        ARDOISE_MEDIA_DIR=str(work / "media"),
        ARDOISE_ALLOW_PRIVATE_NETWORKS="1",  # the stand-in is on loopback
        ARDOISE_LOG_LEVEL="WARNING",
        BURST_COUNTS=str(counts_prefix),
        PYTHONPATH=f"{site}:{args.app_root}",
    )
    env.update(dict(kv.split("=", 1) for kv in args.set))
    return env


def setup_businesses(base: str, key: str, n: int, masto: str) -> list[tuple[str, str]]:
    """``n`` businesses, each with its own number, one owner and a Mastodon account on the stand-in."""
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for i in range(n):
            number, owner = f"+1581700{i:04d}", f"+1418555{i:04d}"
            biz = c.post(
                "/api/v1/businesses",
                json={
                    "name": f"Bistro {i}",
                    "slug": f"burst{i}",
                    "timezone": "America/Toronto",
                    "language": "fr",
                    "sms_numbers": [number],
                },
            )
            biz.raise_for_status()
            bid = biz.json()["id"]
            for _ in range(100):
                r = c.post(
                    f"/api/v1/businesses/{bid}/members",
                    json={"name": "Proprio", "phone": owner, "language": "fr", "role": "owner"},
                )
                if r.status_code != 404:
                    break
                time.sleep(0.05)
            r.raise_for_status()
            r = c.post(
                f"/api/v1/businesses/{bid}/accounts",
                json={"network": "mastodon", "credentials": {"instance_url": masto, "access_token": f"tok-{i}"}},
            )
            if r.status_code != 201:
                raise RuntimeError(f"linking the stand-in failed: {r.status_code} {r.text[:300]}")
            out.append((number, owner))
    return out


def burst_pool(tag: str, n: int, signed_url: str, pairs: list[tuple[str, str]]) -> Pool:
    validator = RequestValidator(TWILIO_TOKEN)
    pool = Pool([])
    for i in range(n):
        number, owner = pairs[i % len(pairs)]
        sid = f"SMz{tag}{i:07d}"
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": owner,
            "To": number,
            "Body": f"PUBLIER burst {tag} {i} jarret d'agneau",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        pool.lines.append((validator.compute_signature(signed_url, form), urllib.parse.urlencode(form)))
        pool.sids.append(sid)
    return pool


def progress(be: Backend, tag: str) -> dict[str, int]:
    like = (f"SMz{tag}%",)
    q = be.count
    url = be.ardoise_url
    return {
        "inbound": q(url, "SELECT count(*) FROM inboundmessage WHERE provider_id LIKE %s", like),
        "posts": q(url, "SELECT count(*) FROM post WHERE text LIKE %s", (f"burst {tag} %",)),
        "receipts": q(
            url,
            "SELECT count(*) FROM outboundmessage o JOIN inboundmessage i ON o.in_reply_to_id = i.id "
            "WHERE i.provider_id LIKE %s AND o.kind = 'receipt'",
            like,
        ),
        "published": q(
            url,
            "SELECT count(*) FROM delivery d JOIN post p ON d.post_id = p.id "
            "WHERE p.text LIKE %s AND d.network = 'mastodon' AND d.status = 'published'",
            (f"burst {tag} %",),
        ),
    }


def spy(server: Server, folder: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` (not a project dependency: ``pip install py-spy``) on one Ardoise process from the burst's
    start to the end of the drain; collapsed stacks of the thread holding the GIL, in ``folder/<process>.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{server.name}.txt"
    cmd = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(server.proc.pid),
        "--format",
        "raw",
        "--rate",
        "250",
        "--gil",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(args: argparse.Namespace, be: Backend, tmp: Path) -> dict[str, Any]:
    apis, workers = (1, 0) if be.name == "sqlite" else tuple(int(x) for x in args.procs.split("+"))
    out: dict[str, Any] = {"db": be.name, "apis": apis, "workers": workers, "latency_s": args.latency}
    masto = stand_in(tmp, args.latency)
    procs: list[Server] = []
    try:
        out["stand_in"] = asdict(stand_in_rate(masto, tmp, 3.0)) | {"note": "POST /api/v1/statuses, 32 conns, 3 s"}
        out["stand_in"].pop("sent_indices", None)
        say(f"  stand-in alone: {out['stand_in']['req_per_s']} statuses/s")
        work = tmp / "ardoise"
        work.mkdir()
        ports = [free_port() for _ in range(apis)]
        public = f"http://127.0.0.1:{ports[0]}"
        cprefix = work / "counts"
        env = ardoise_env(be, public, work, cprefix, args)
        subprocess.run([ARDOISE, "migrate"], env=env, cwd=work, check=True, capture_output=True)
        key = subprocess.run(
            [ARDOISE, "apikey", "create", "--name", "burst"],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        for i, port in enumerate(ports):
            cmd = [ARDOISE, "serve", "--port", str(port), "--host", "127.0.0.1"]
            e = dict(env, ARDOISE_SMTP_PORT=str(free_port()))
            if workers:
                cmd += ["--no-worker"]
            if i > 0:
                cmd += ["--no-smtp"]
            procs.append(start(f"api{i}", cmd, e, work, port, "/readyz"))
        for i in range(workers):
            w = subprocess.Popen(
                [ARDOISE, "worker"],
                env=env,
                cwd=work,
                stdout=(work / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            procs.append(Server(f"worker{i}", w, 0, work / f"worker{i}.log"))
        time.sleep(2.0)
        out["rss_idle_mb"] = [rss_mb(p.proc.pid) for p in procs]
        pairs = setup_businesses(procs[0].base, key, args.businesses, masto.base)
        time.sleep(1.0)
        tag = secrets.token_hex(3)
        signed = f"{public}/webhooks/twilio/sms"
        n = int(args.duration * 2500)
        pool = burst_pool(tag, n, signed, pairs)
        shares = [Pool(pool.lines[i::apis], pool.sids[i::apis]) for i in range(apis)]
        c0 = counts(cprefix)
        cpu0 = sum(cpu_seconds(p.proc.pid) for p in procs)
        results: list[LoadResult] = []

        def fire(i: int) -> None:
            url = f"http://127.0.0.1:{ports[i]}/webhooks/twilio/sms"
            conns = max(1, args.connections // apis)
            results.append(run_wrk(url, shares[i], FORM, "-", conns, 2 if conns > 1 else 1, args.duration, tmp))

        spies = [spy(p, args.py_spy) for p in procs] if args.py_spy else []
        t0 = time.monotonic()
        threads = [threading.Thread(target=fire, args=(i,)) for i in range(apis)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        burst_end = time.monotonic()
        during = progress(be, tag)
        cpu_mid = sum(cpu_seconds(p.proc.pid) for p in procs)
        out["rss_after_burst_mb"] = [rss_mb(p.proc.pid) for p in procs]
        acked = sum(r.ok_2xx for r in results)
        say(f"  burst: {acked} acked in {burst_end - t0:.1f} s; during it {during['published']} statuses")
        drained = None
        last = during
        while time.monotonic() - burst_end < args.drain_timeout:
            last = progress(be, tag)
            if last["inbound"] and last["inbound"] == last["posts"] == last["published"] == last["receipts"]:
                drained = time.monotonic()
                break
            time.sleep(0.5)
        end = drained or time.monotonic()
        cpu_end = sum(cpu_seconds(p.proc.pid) for p in procs)
        cpu = cpu_end - cpu0
        for s in spies:
            s.send_signal(signal.SIGINT)
            s.wait(timeout=60)
        c1 = counts(cprefix)
        stats = httpx.get(masto.base + "/_bench/stats", timeout=30).json()
        stored = last["inbound"] or 1
        out["webhooks"] = {
            "acked": acked,
            "ack_per_s": round(acked / max(1e-9, max(r.duration_s for r in results)), 1),
            "p50_ms": max(r.p50_ms for r in results),
            "p99_ms": max(r.p99_ms for r in results),
            "non_2xx": sum(r.non_2xx for r in results),
            "errors": sum(r.errors for r in results),
        }
        out["end_to_end"] = {
            "stored": last["inbound"],
            "posts": last["posts"],
            "published": last["published"],
            "receipts": last["receipts"],
            "drained": drained is not None,
            "burst_s": round(burst_end - t0, 2),
            "drain_s": round(end - burst_end, 2),
            "sms_per_s": round(last["published"] / (end - t0), 1),
            "published_during_burst": during["published"],
            "cpu_s": round(cpu, 2),
            "cpu_ms_per_sms": round(1000 * cpu / stored, 2),
            # The two halves: during the burst mostly webhooks (the worker's writes wait behind them), after it
            # the worker alone (what was left of the pipeline, per SMS it had left).
            "cpu_ms_per_ack_during_burst": round(1000 * (cpu_mid - cpu0) / max(1, acked), 2),
            "cpu_ms_per_sms_left_at_burst_end": round(
                1000 * (cpu_end - cpu_mid) / max(1, stored - during["published"]), 2
            ),
            "statements_per_sms": round((c1["statements"] - c0["statements"]) / stored, 1),
            "commits_per_sms": round((c1["commits"] - c0["commits"]) / stored, 1),
            "statements_per_sms_by_kind": per_sms(c0, c1, stored),
            "stand_in_statuses": stats["statuses"],
            "stand_in_duplicate_texts": stats["duplicate_texts"],
        }
        out["rss_after_drain_mb"] = [rss_mb(p.proc.pid) for p in procs]
        e2e = out["end_to_end"]
        say(
            f"  end to end: {e2e['sms_per_s']} SMS/s over burst + drain ({e2e['drain_s']} s drain), "
            f"{e2e['cpu_ms_per_sms']} ms CPU/SMS (burst {e2e['cpu_ms_per_ack_during_burst']} per ack, drain "
            f"{e2e['cpu_ms_per_sms_left_at_burst_end']} per SMS left), {e2e['statements_per_sms']} statements and "
            f"{e2e['commits_per_sms']} commits per SMS; stored {e2e['stored']}, posts {e2e['posts']}, "
            f"statuses {e2e['published']}, receipts {e2e['receipts']}, duplicates {e2e['stand_in_duplicate_texts']}"
        )
        kinds = e2e["statements_per_sms_by_kind"]
        say("  statements per SMS: " + ", ".join(f"{k} {v}" for k, v in list(kinds.items())[:14]))
        return out
    finally:
        for p in reversed(procs):
            p.stop()
        masto.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    ap.add_argument("--procs", default="1+1", help="PostgreSQL: API processes + worker processes, e.g. 2+2")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every stand-in answer")
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--businesses", type=int, default=40)
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the bare FastAPI+INSERT baseline")
    ap.add_argument(
        "--set", action="append", default=[], metavar="ARDOISE_X=V", help="an extra setting for the Ardoise processes"
    )
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--app-root", type=Path, default=ROOT)
    ap.add_argument("--py-spy", type=Path, metavar="DIR", help="profile each Ardoise process (GIL holders) into DIR")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args(argv)
    args.app_root = str(Path(args.app_root).resolve())
    tmp = Path(tempfile.mkdtemp(prefix="ardoise-burst-"))
    be = make_backend(args.db, tmp, args.pg)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": versions(),
        "loadavg_before": os.getloadavg(),
    }
    say(f"== burst on {args.db}" + ("" if args.db == "sqlite" else f" ({args.procs})") + f", latency {args.latency}s")
    if not args.no_baseline:
        opts = Options(
            duration=args.duration,
            warmup=2.0,
            connections=args.connections,
            threads=2,
            loadgen="wrk",
            max_requests=100_000,
            baseline_mode="sync",
            commands_per_hour=1_000_000,
            drain_timeout=0.0,
            app_root=args.app_root,
            worker=True,
        )
        base = run_baseline(opts, be, tmp)
        results["baseline_webhooks_per_s"] = base["webhooks"]["req_per_s"]
        results["baseline_webhooks_p99_ms"] = base["webhooks"]["p99_ms"]
    results["ardoise"] = run(args, be, tmp)
    if "baseline_webhooks_per_s" in results:
        ratio = results["ardoise"]["webhooks"]["ack_per_s"] / max(1e-9, results["baseline_webhooks_per_s"])
        results["ack_ratio_to_baseline"] = round(ratio, 2)
        say(f"  webhook acks: {ratio:.0%} of the bare baseline ({results['baseline_webhooks_per_s']}/s)")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"burst-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    say(f"raw results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
