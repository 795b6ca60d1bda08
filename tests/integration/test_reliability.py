"""Tasks survive dying workers, run at most once to completion, and always finish.

The render worker is restarted here with MOCKFARM_RENDER_DELAY_MS (a test-only
knob) so that a task is still running when the test kills its worker.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from shared import tasks
from shared.stack import LocalStack
from tests.integration.helpers import default_account_id, get_task, start_solid_render, wait_for_status

pytestmark = pytest.mark.integration

SLOW_RENDER_MS = 3000


@pytest.fixture()
def slow_render_worker(farm):
    """The render pool restarted so that every render takes SLOW_RENDER_MS; the
    normal pool is back (and answering) after the test."""
    slow = LocalStack(dataclasses.replace(farm.settings, render_delay_ms=SLOW_RENDER_MS),
                      echo=lambda message: None)
    slow.stop_part("worker-render")
    slow.start_part("worker-render")
    slow.wait_workers(queues=("render",))
    yield slow
    slow.stop_part("worker-render")
    farm.start_part("worker-render")
    farm.wait_workers()


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_task_survives_its_worker_being_killed(farm, api_url, slow_render_worker):
    task_key = start_solid_render(api_url)
    wait_for_status(api_url, task_key, statuses=("processing",), timeout=20)

    # The whole worker (parent and pool) dies at once, as on a lost machine or OOM kill.
    slow_render_worker.signal_part("worker-render", signal.SIGKILL)
    deadline = time.monotonic() + 10
    while slow_render_worker.running_pid("worker-render") is not None:
        assert time.monotonic() < deadline, "the killed worker did not go away"
        time.sleep(0.1)
    time.sleep(1)
    assert get_task(api_url, task_key)["status"] == "processing"

    ready = requests.get(f"{api_url}/readyz", timeout=15)
    assert ready.status_code == 503
    assert "workers.render" in ready.json()["detail"]
    assert ready.json()["checks"]["workers.ingest"]["ok"] is True

    # A worker comes back; the broker hands it the unacknowledged task once the
    # visibility timeout has passed, and the task completes.
    slow_render_worker.start_part("worker-render")
    task = wait_for_status(api_url, task_key, timeout=60)
    assert task["status"] == "completed", task["error"]
    assert tasks.get_task(task_key).attempts == 2
    assert requests.get(task["print_files"][0]["export_path"], timeout=10).status_code == 200


def test_task_survives_its_pool_process_being_killed(api_url, slow_render_worker):
    task_key = start_solid_render(api_url)
    wait_for_status(api_url, task_key, statuses=("processing",), timeout=20)

    # Only the process running the task dies (e.g. the kernel's OOM killer): the
    # worker notices, gives the task back to the broker, and runs it again.
    worker_pid = slow_render_worker.running_pid("worker-render")
    for child in _pool_children(worker_pid):
        os.kill(child, signal.SIGKILL)

    task = wait_for_status(api_url, task_key, timeout=40)
    assert task["status"] == "completed", task["error"]
    assert tasks.get_task(task_key).attempts == 2


def test_finished_task_delivered_again_does_nothing(farm, api_url):
    from workers.render import render_solid

    task_key = start_solid_render(api_url)
    before = wait_for_status(api_url, task_key)
    assert before["status"] == "completed"

    # As if the broker delivered the message a second time.
    assert render_solid(task_key) == "skipped"
    after = get_task(api_url, task_key)
    assert tasks.get_task(task_key).attempts == 1
    assert after["finished_at"] == before["finished_at"]
    assert requests.get(after["print_files"][0]["export_path"], timeout=10).status_code == 200


def test_invalid_parameters_fail_with_a_reason(api_url):
    from workers.render import render_solid

    # Parameters the API would refuse, written straight to the table (as a buggy or
    # older client of the queue might): the worker must record why, not crash.
    record = tasks.create_task("render.solid", {"width": 0, "height": 5, "color": "#000000"},
                               account_id=default_account_id())
    assert render_solid(record.key) == "failed"
    task = get_task(api_url, record.key)
    assert task["status"] == "failed"
    assert "width" in task["error"]
    assert task["print_files"] == []
    assert task["finished_at"] is not None


def test_task_whose_worker_keeps_dying_is_given_up(farm, api_url):
    from shared.db import get_pool
    from workers.render import render_solid

    record = tasks.create_task("render.solid", {"width": 4, "height": 4, "color": "#000000"},
                               account_id=default_account_id())
    # As if the worker had died while running it, as many times as allowed.
    with get_pool().connection() as conn:
        conn.execute("UPDATE tasks SET status = 'processing', attempts = %s WHERE key = %s",
                     (farm.settings.task_max_attempts, record.key))
    assert render_solid(record.key) == "failed"
    task = get_task(api_url, record.key)
    assert task["status"] == "failed"
    assert "gave up" in task["error"]


@pytest.fixture()
def render_worker_slower_than_soft_limit(farm):
    delay_ms = (farm.settings.task_soft_time_limit + 1) * 1000
    assert delay_ms < farm.settings.task_time_limit * 1000
    slow = LocalStack(dataclasses.replace(farm.settings, render_delay_ms=delay_ms), echo=lambda message: None)
    slow.stop_part("worker-render")
    slow.start_part("worker-render")
    slow.wait_workers(queues=("render",))
    yield slow
    slow.stop_part("worker-render")
    farm.start_part("worker-render")
    farm.wait_workers()


def test_task_over_its_soft_time_limit_fails_with_a_reason(farm, api_url, render_worker_slower_than_soft_limit):
    task_key = start_solid_render(api_url)
    task = wait_for_status(api_url, task_key, timeout=farm.settings.task_time_limit + 20)
    assert task["status"] == "failed"
    assert f"timed out after {farm.settings.task_soft_time_limit} s" in task["error"]
    assert tasks.get_task(task_key).attempts == 1


def test_task_killed_at_its_hard_time_limit_is_recorded_failed(farm, api_url):
    from celery.exceptions import TimeLimitExceeded

    from workers.render import render_solid

    record = tasks.create_task("render.solid", {"width": 4, "height": 4, "color": "#000000"},
                               account_id=default_account_id())
    assert tasks.start_task(record.key) is not None
    # What the worker's parent process calls after killing the task's process.
    render_solid.on_failure(TimeLimitExceeded(farm.settings.task_time_limit), record.key, [record.key], {}, None)
    task = get_task(api_url, record.key)
    assert task["status"] == "failed"
    assert "hard time limit" in task["error"]


def test_pending_task_whose_message_was_lost_is_requeued(farm, api_url):
    from shared.db import get_pool

    # Recorded but never queued (as if the API died between the two), long ago.
    record = tasks.create_task("render.solid", {"width": 8, "height": 8, "color": "#102030"},
                               account_id=default_account_id())
    with get_pool().connection() as conn:
        conn.execute("UPDATE tasks SET created_at = now() - interval '2 hours' WHERE key = %s", (record.key,))
    time.sleep(1)
    assert get_task(api_url, record.key)["status"] == "pending"

    result = subprocess.run([sys.executable, "-m", "shared.cli", "tasks", "requeue-stale", "--older-than", "3600"],
                            capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert result.returncode == 0, result.stderr
    assert record.key in result.stdout
    task = wait_for_status(api_url, record.key)
    assert task["status"] == "completed", task["error"]
