"""Settings read from the environment, and the deploy files agreeing with them
(no Docker engine runs in CI, so this is how deploy/ is kept honest)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from shared.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_round_trips_through_its_environment_variable(monkeypatch):
    settings = load_settings()
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    assert load_settings() == settings


def test_settings_follow_the_environment(monkeypatch):
    monkeypatch.setenv("MOCKFARM_API_PORT", "19999")
    monkeypatch.setenv("MOCKFARM_S3_BUCKET", "elsewhere")
    settings = load_settings()
    assert settings.api_port == 19999
    assert settings.s3_bucket == "elsewhere"
    assert settings.api_url.endswith(":19999")


def test_bad_integer_names_the_variable(monkeypatch):
    monkeypatch.setenv("MOCKFARM_API_PORT", "eighty")
    with pytest.raises(ValueError, match="MOCKFARM_API_PORT"):
        load_settings()


@pytest.mark.parametrize("env, message", [
    ({"MOCKFARM_TASK_SOFT_TIME_LIMIT": "200", "MOCKFARM_TASK_TIME_LIMIT": "100"}, "SOFT_TIME_LIMIT"),
    ({"MOCKFARM_BROKER_VISIBILITY_TIMEOUT": "10"}, "VISIBILITY_TIMEOUT"),
    ({"MOCKFARM_TASK_MAX_ATTEMPTS": "0"}, "MAX_ATTEMPTS"),
])
def test_inconsistent_limits_are_refused(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        load_settings()


def test_bad_rate_limit_stops_the_api_at_start(monkeypatch):
    from api import create_app

    monkeypatch.setenv("MOCKFARM_RATE_LIMIT", "lots")
    with pytest.raises(ValueError, match="MOCKFARM_RATE_LIMIT"):
        create_app()


def test_secrets_are_masked_in_the_table():
    table = dict(load_settings().as_table())
    assert table["s3_secret_key"] == "***"
    assert table["flower_password"] == "***"


def test_compose_file_uses_only_known_settings():
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    known = {f"MOCKFARM_{field.name.upper()}" for field in dataclasses.fields(Settings)}
    services = compose["services"]
    for role in ("api", "worker-ingest", "worker-render", "worker-webhooks", "beat", "flower", "prepare"):
        environment = services[role]["environment"]
        unknown = {name for name in environment if name.startswith("MOCKFARM_")} - known
        assert not unknown, f"{role} sets variables mockfarm does not read: {unknown}"
        for required in ("MOCKFARM_DATABASE_URL", "MOCKFARM_REDIS_URL", "MOCKFARM_S3_ENDPOINT",
                         "MOCKFARM_S3_ACCESS_KEY", "MOCKFARM_S3_SECRET_KEY"):
            assert required in environment, f"{role} lacks {required}"
    for server in ("postgres", "redis", "minio"):
        assert server in services
    # Each worker pool consumes exactly its own queue.
    for queue in ("ingest", "render", "webhooks"):
        command = services[f"worker-{queue}"]["command"]
        assert command[command.index("-Q") + 1] == queue


def test_dockerfile_copies_every_package():
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    for package in ("api", "workers", "compositor", "shared"):
        assert f"COPY {package} ./{package}" in dockerfile
