"""deploy/: the alert rules and the dashboard name only metrics that /metrics serves; .dockerignore keeps the
build context small; the image makes the media folder the app user's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from app.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
SERVED = {s.name for m in REGISTRY.collect() for s in m.samples} | {
    m.name + suffix for m in REGISTRY.collect() for suffix in SUFFIXES.get(m.type, ("",))
}
OURS = re.compile(r"\b((?:ardoise|process)_[a-z_]+)")


def _names(expr: str) -> set[str]:
    return set(OURS.findall(expr))


def test_alert_rules_name_served_metrics() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text())["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules}
    assert {"ArdoiseDeadJobs", "ArdoiseBrokenAccounts", "ArdoiseQueueLagging", "ArdoiseSmsFailures"} <= alerts
    lag = next(r for r in rules if r["alert"] == "ArdoiseQueueLagging")
    assert "> 60" in lag["expr"]
    for r in rules:
        assert _names(r["expr"]) <= SERVED, (r["alert"], _names(r["expr"]) - SERVED)


def test_dashboard_names_served_metrics() -> None:
    dash = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for e in exprs:
        assert _names(e) <= SERVED, (e, _names(e) - SERVED)


def test_image_files() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "*.db"} <= set(ignored)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "mkdir -p /data/media" in dockerfile
    assert "chown -R 10001:10001 /data" in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "caddy" in compose["services"]
    assert "media:/data/media" in compose["services"]["api1"]["volumes"]
