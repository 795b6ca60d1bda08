"""Redis (the broker) going away: the API says so instead of accepting work it
cannot queue, and the farm recovers when Redis is back."""
from __future__ import annotations

import pytest
import requests

from tests.integration.helpers import auth, start_solid_render, wait_for_status

pytestmark = pytest.mark.integration


@pytest.fixture()
def redis_stopped(farm):
    farm.stop_part("redis")
    yield
    farm.start_part("redis")
    farm.wait_redis()
    # The workers reconnect by themselves; wait until both pools answer again.
    farm.wait_workers(timeout=90)


def test_broker_outage_is_reported_and_survived(farm, api_url, redis_stopped):
    ready = requests.get(f"{api_url}/readyz", timeout=20)
    assert ready.status_code == 503
    body = ready.json()
    assert body["success"] is False
    assert "redis" in body["detail"]
    assert body["checks"]["postgres"]["ok"] and body["checks"]["s3"]["ok"]

    refused = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(),
                            json={"width": 8, "height": 8, "color": "#000000"}, timeout=60)
    assert refused.status_code == 503
    assert refused.json()["success"] is False
    assert "queue" in refused.json()["detail"]

    # The task had been recorded before queuing failed: it must not stay pending.
    from shared.db import get_pool
    with get_pool().connection() as conn:
        newest = conn.execute("SELECT status, error FROM tasks ORDER BY created_at DESC LIMIT 1").fetchone()
    assert newest[0] == "failed"
    assert "could not be queued" in newest[1]


def test_farm_works_again_after_the_outage(farm, api_url):
    task = wait_for_status(api_url, start_solid_render(api_url), timeout=60)
    assert task["status"] == "completed", task["error"]
