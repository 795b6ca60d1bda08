"""Redis (the broker) going away: the API says so instead of accepting work it
cannot queue, and the farm recovers when Redis is back."""
from __future__ import annotations

import time

import pytest
import requests

from shared.stack import WORKER_QUEUES
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


# Long enough to be still waiting in its worker while Redis restarts, short enough
# to have run before the session ends.
HELD_COUNTDOWN = 20


def test_workers_holding_messages_survive_a_broker_restart(farm, api_url):
    """A worker holds messages it has not acknowledged: a task it runs (acks_late)
    and every countdown (a webhook's next attempt waits in its worker). When Redis
    restarted under such a worker, closing its broken connection tried to give those
    messages back through a transport already detached from it, and the worker died
    of an AttributeError ("Unrecoverable error") instead of reconnecting."""
    from workers.celery_app import DELETE_EXPIRED_RESULTS_TASK, make_celery

    celery = make_celery(farm.settings)
    try:
        # One harmless task with a countdown held by each pool, unacknowledged.
        held = {queue: celery.send_task(DELETE_EXPIRED_RESULTS_TASK, queue=queue, countdown=HELD_COUNTDOWN).id
                for queue in WORKER_QUEUES}
        deadline = time.monotonic() + 15
        while True:
            scheduled = celery.control.inspect(timeout=1.0).scheduled() or {}
            holding = {worker.split("@")[0] for worker, entries in scheduled.items()
                       for entry in entries if entry["request"]["id"] in held.values()}
            if holding >= set(WORKER_QUEUES):
                break
            assert time.monotonic() < deadline, f"the held messages did not reach every pool: {scheduled}"
            time.sleep(0.3)
    finally:
        celery.close()
    pids = {queue: farm.running_pid(f"worker-{queue}") for queue in WORKER_QUEUES}

    farm.stop_part("redis")
    try:
        farm.start_part("redis")
        farm.wait_redis()
        try:
            farm.wait_workers(timeout=30)
        finally:
            died = [queue for queue in WORKER_QUEUES if farm.running_pid(f"worker-{queue}") != pids[queue]]
            assert not died, f"workers died when the broker restarted: {died} (see {farm.logs_dir})"
        task = wait_for_status(api_url, start_solid_render(api_url), timeout=30)
        assert task["status"] == "completed", task["error"]
    finally:
        # Leave a working farm to the next tests, whatever happened above.
        for queue in WORKER_QUEUES:
            if farm.running_pid(f"worker-{queue}") is None:
                farm.start_part(f"worker-{queue}")
        farm.wait_workers(timeout=90)
