"""Small helpers for talking to the test stack over HTTP."""
from __future__ import annotations

import time

import requests

FINISHED = ("completed", "failed")


def start_solid_render(api_url: str, width: int = 64, height: int = 48, color: str = "#3366ff") -> str:
    response = requests.post(f"{api_url}/api/v1/renders/solid",
                             json={"width": width, "height": height, "color": color}, timeout=10)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    return body["task_key"]


def get_task(api_url: str, task_key: str) -> dict:
    response = requests.get(f"{api_url}/api/v1/tasks/{task_key}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_status(api_url: str, task_key: str, statuses=FINISHED, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = get_task(api_url, task_key)
        if task["status"] in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_key} still {task['status']!r} after {timeout} s, "
                                 f"expected one of {statuses}")
        time.sleep(0.2)
