"""Results are deleted once their lifetime has passed (Celery beat queues the
cleanup; an ingest worker runs it), and the task then says so plainly."""
from __future__ import annotations

import time

import pytest
import requests

from shared import tasks
from shared.db import get_pool
from shared.storage import Storage
from tests.integration.helpers import auth, get_task, new_api_key

pytestmark = pytest.mark.integration


def test_expired_results_are_deleted_and_the_task_says_so(farm, api_url):
    key = new_api_key("expiry")
    response = requests.post(f"{api_url}/api/v1/renders/solid", params={"wait": 10}, headers=auth(key),
                             json={"width": 8, "height": 8, "color": "#abcdef"}, timeout=20)
    task = response.json()["data"]
    assert task["status"] == "completed" and task["expired"] is False
    [object_key] = [f["object_key"] for f in tasks.print_files_of(tasks.get_task(task["task_key"]))]
    storage = Storage(farm.settings)
    assert storage.exists(object_key)

    # As if the result lifetime had passed since the task finished.
    ttl = farm.settings.result_url_ttl
    with get_pool().connection() as conn:
        conn.execute("UPDATE tasks SET finished_at = finished_at - make_interval(secs => %s) WHERE key = %s",
                     (ttl + 60, task["task_key"]))

    # Past its lifetime a task has no URL, even before the cleanup ran.
    expired = get_task(api_url, task["task_key"], api_key=key)
    assert expired["expired"] is True and expired["print_files"] == []

    # Beat queues the cleanup every few seconds in the test stack.
    deadline = time.monotonic() + 10 * farm.settings.cleanup_interval + 10
    while tasks.get_task(task["task_key"]).results_deleted_at is None:
        assert time.monotonic() < deadline, "the periodic cleanup did not run"
        time.sleep(0.5)
    assert not storage.exists(object_key)

    expired = get_task(api_url, task["task_key"], api_key=key)
    assert expired["status"] == "completed"
    assert expired["expired"] is True and expired["print_files"] == []
    assert f"{ttl // 3600} hours" in expired["error"] and "expired" in expired["error"]
    # Deleted results were still used.
    usage = requests.get(f"{api_url}/api/v1/me", headers=auth(key), timeout=10).json()["data"]["usage"]
    assert usage["renders"] == 1


def test_cleanup_leaves_results_within_their_lifetime(farm, api_url):
    from workers.maintenance import delete_expired_results

    response = requests.post(f"{api_url}/api/v1/renders/solid", params={"wait": 10}, headers=auth(),
                             json={"width": 8, "height": 8, "color": "#fedcba"}, timeout=20)
    task = response.json()["data"]
    record = tasks.get_task(task["task_key"])
    delete_expired_results()
    assert tasks.get_task(task["task_key"]).results_deleted_at is None
    assert Storage(farm.settings).exists(tasks.print_files_of(record)[0]["object_key"])
    assert requests.get(task["print_files"][0]["export_path"], timeout=10).status_code == 200
