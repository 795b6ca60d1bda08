"""/healthz, /readyz, Flower and `mockfarm status` on the running test stack."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.integration


def test_healthz(api_url):
    response = requests.get(f"{api_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["success"] is True


def test_readyz_checks_every_part(api_url):
    response = requests.get(f"{api_url}/readyz", timeout=15)
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert set(checks) == {"redis", "postgres", "s3", "workers.ingest", "workers.render", "workers.webhooks"}
    assert all(check["ok"] for check in checks.values())
    assert any(name.startswith("ingest@") for name in checks["workers.ingest"]["workers"])
    assert any(name.startswith("render@") for name in checks["workers.render"]["workers"])
    assert any(name.startswith("webhooks@") for name in checks["workers.webhooks"]["workers"])


def test_flower_lists_every_pool_behind_basic_auth(farm):
    settings = farm.settings
    assert requests.get(f"{settings.flower_url}/api/workers", timeout=10).status_code == 401
    wrong = requests.get(f"{settings.flower_url}/api/workers", auth=(settings.flower_user, "wrong"), timeout=10)
    assert wrong.status_code == 401
    names = farm.flower_workers()
    assert any(name.startswith("ingest@") for name in names)
    assert any(name.startswith("render@") for name in names)
    assert any(name.startswith("webhooks@") for name in names)


def _mockfarm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)


def test_status_command_shows_every_part(farm):
    result = _mockfarm("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for part in ("redis", "postgres", "s3", "api", "worker-ingest", "worker-render", "worker-webhooks", "beat",
                 "flower"):
        assert part in result.stdout
    assert " no " not in result.stdout


def test_db_upgrade_is_idempotent(farm):
    from shared.db import applied_versions, available_migrations

    result = _mockfarm("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert applied_versions(farm.settings.database_url) == [m.version for m in available_migrations()]


def test_up_again_is_harmless(farm):
    pids = {name: farm.running_pid(name) for name in ("redis", "postgres", "api", "worker-render")}
    result = _mockfarm("up", "--no-demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already running" in result.stdout
    assert {name: farm.running_pid(name) for name in pids} == pids
