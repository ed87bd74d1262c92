"""Plots of one deployment's load run (``bench/load.py``): latency, queue depth, CPU and RSS over time.

``.venv/bin/python -m bench.load_plot bench/out/load-<UTC>.json`` redraws docs/img/load-<db>.png from raw results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot(r: dict[str, Any], name: str, path: Path) -> None:
    dur = float(r["load_window_s"])
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True, height_ratios=[3, 2, 2, 1.4])
    title = {"sqlite": "SQLite, embedded (one process)", "postgresql": "PostgreSQL: 2 API + 2 workers + SMTP"}
    la0, la1 = r["loadavg_start"][0], r["loadavg_end"][0]
    fig.suptitle(
        f"Ardoise load run: {title.get(name, name)}\n{r['sent']['sms']} webhooks + {r['sent']['email']} emails in "
        f"{dur:g} s, {r['accepted_per_s']}/s accepted; load average {la0:.1f} → {la1:.1f} (2 cores)",
        fontsize=10,
    )
    ax = axes[0]
    for kind, colour in (("sms", "tab:blue"), ("email", "tab:green")):
        pts = [a for a in r["acks"] if a["kind"] == kind and a["ack_s"] >= 0]
        label = "webhook ack" if kind == "sms" else "SMTP accept (connect → 250)"
        ax.scatter([a["t"] for a in pts], [a["ack_s"] for a in pts], s=4, c=colour, alpha=0.5, label=label)
    for ch, colour in (("sms", "tab:red"), ("email", "tab:purple")):
        pts = [e for e in r["e2e"] if e["channel"] == ch]
        ax.scatter(
            [e["t"] for e in pts],
            [e["done_s"] for e in pts],
            s=6,
            marker="x",
            c=colour,
            alpha=0.7,
            label=f"end to end, {ch} → all deliveries done (by arrival time)",
        )
    ax.set_yscale("log")
    ax.set_ylabel("latency (s, log)")
    ax.legend(fontsize=7, loc="upper left", markerscale=2)
    ax.grid(alpha=0.3)

    q = r["queue"]
    t = [s["t"] for s in q]
    ax = axes[1]
    ax.plot(t, [s["due"] for s in q], label="due jobs (queued, run_at ≤ now)", c="tab:orange")
    ax.plot(t, [s["running"] for s in q], label="running jobs", c="tab:brown")
    ax.set_ylabel("jobs")
    ax2 = ax.twinx()
    ax2.plot(t, [s["oldest_due_age_s"] for s in q], c="tab:gray", ls="--", label="oldest due job age (s)")
    ax2.set_ylabel("age (s)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)

    ax, ax3 = axes[2], axes[3]
    for pname, rows in r["proc_samples"].items():
        if not rows:
            continue
        ax.plot([x[0] for x in rows], [x[1] for x in rows], lw=1, label=pname)
        ax3.plot([x[0] for x in rows], [x[2] for x in rows], lw=1, label=pname)
    ax.set_ylabel("CPU % of one core")
    ax.legend(fontsize=6, loc="upper right", ncol=2)
    ax.grid(alpha=0.3)
    ax3.set_ylabel("RSS (MB)")
    ax3.set_xlabel("seconds since the load started (load ends at the dotted line, then drain)")
    ax3.grid(alpha=0.3)
    for a in axes:
        a.axvline(dur, c="k", ls=":", lw=1)
    fig.tight_layout()
    fig.savefig(path, dpi=65)
    plt.close(fig)


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "img"
    for name, r in data["deployments"].items():
        plot(r, name, out / f"load-{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
