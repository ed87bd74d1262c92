"""The deployment files. ``docker-compose.yml`` cannot be run here (no Docker engine on the development machine
or in CI), so it is checked as data: valid YAML, the services of the scale-out, their environment and
healthchecks. ``deploy/run-scaleout.sh`` is run for real by test_scaleout.py; here only its syntax."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.resilience.cluster import ROOT

pytestmark = [pytest.mark.resilience, pytest.mark.slow]

REQUIRED_ENV = ("ARDOISE_DATABASE_URL", "ARDOISE_SECRET_KEY", "ARDOISE_PUBLIC_URL")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_is_valid_yaml_with_the_scale_out_services() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "api1", "api2", "worker", "smtp"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["postgres"]["image"].startswith("postgres:")
    commands = {name: " ".join(s["command"]) for name, s in services.items() if "command" in s}
    assert commands["migrate"] == "ardoise migrate"
    assert commands["api1"].startswith("ardoise serve --no-worker --no-smtp")
    assert commands["api2"] == commands["api1"]
    assert commands["worker"] == "ardoise worker"
    assert commands["smtp"] == "ardoise smtp"


@pytest.mark.parametrize("name", ["migrate", "api1", "api2", "worker", "smtp"])
def test_every_ardoise_service_has_its_environment(name: str) -> None:
    service = _compose()["services"][name]
    env = service["environment"]
    for var in REQUIRED_ENV:
        assert env.get(var), f"{name} lacks {var}"
    assert env["ARDOISE_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["ARDOISE_DATABASE_URL"]
    assert env["ARDOISE_ENV"] == "prod"


@pytest.mark.parametrize("name", ["postgres", "api1", "api2", "worker", "smtp"])
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    service = _compose()["services"][name]
    check = service["healthcheck"]
    assert check["test"]
    assert check["interval"]
    assert check["retries"] >= 1
    if name != "postgres":
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_worker_stop_grace_covers_the_drain() -> None:
    # SIGTERM drains for 10 s (docs/deployment.md); Docker's default 10 s would SIGKILL mid-drain.
    assert _compose()["services"]["worker"]["stop_grace_period"] == "15s"


def test_scaleout_script_is_valid_bash() -> None:
    script = ROOT / "deploy" / "run-scaleout.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stdout
    usage = subprocess.run(["bash", str(script), "nonsense"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
    assert "start|stop|status" in usage.stderr
