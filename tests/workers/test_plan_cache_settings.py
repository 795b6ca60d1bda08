"""The render worker's plan cache takes its bounds and folder from the settings."""
from __future__ import annotations

import pytest

from shared.config import load_settings
from workers import render


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(render, "_plan_cache", None)
    yield
    render._plan_cache = None


def test_the_default_memory_bound_is_two_gibibytes(monkeypatch):
    monkeypatch.delenv("MOCKFARM_PLAN_CACHE_BYTES", raising=False)
    assert load_settings().plan_cache_bytes == 2 * 1024 ** 3


def test_the_worker_cache_follows_the_environment(monkeypatch, tmp_path, fresh_cache):
    monkeypatch.setenv("MOCKFARM_PLAN_CACHE_BYTES", str(300 * 1024 ** 2))
    monkeypatch.setenv("MOCKFARM_PLAN_CACHE_DIR", str(tmp_path / "plans"))
    monkeypatch.setenv("MOCKFARM_PLAN_DISK_CACHE_BYTES", str(5 * 1024 ** 3))
    cache = render._get_plan_cache()
    assert cache.max_bytes == 300 * 1024 ** 2
    assert cache.disk_dir == tmp_path / "plans" and cache.disk_dir.is_dir()
    assert cache.disk_max_bytes == 5 * 1024 ** 3
    assert render._get_plan_cache() is cache  # one per process


def test_the_plan_folder_defaults_to_the_state_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MOCKFARM_PLAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("MOCKFARM_STATE_DIR", str(tmp_path))
    assert load_settings().plan_cache_path == tmp_path / "plan-cache"


@pytest.mark.parametrize("name", ["MOCKFARM_PLAN_CACHE_BYTES", "MOCKFARM_PLAN_DISK_CACHE_BYTES"])
def test_a_negative_bound_names_the_variable(monkeypatch, name):
    monkeypatch.setenv(name, "-1")
    with pytest.raises(ValueError, match=name):
        load_settings()
