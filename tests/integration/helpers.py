"""Small helpers for talking to the test stack over HTTP.

Calls are made with the key of the `tests` account unless given another one; the
key is made once per test stack, through `shared.accounts` (the same code as
`mockfarm keys create`), with the test stack's settings in the environment.
"""
from __future__ import annotations

import time

import requests

from shared import accounts
from shared.config import load_settings

FINISHED = ("completed", "failed")
TEST_ACCOUNT = "tests"

# database URL -> (account id, key): one test stack per session, but keyed anyway.
_default_keys: dict[str, tuple[int, str]] = {}


def new_api_key(account_name: str, **options) -> str:
    """A new key of the account (created if missing)."""
    account = accounts.ensure_account(account_name)
    _, key = accounts.create_key(account.id, **options)
    return key


def _default() -> tuple[int, str]:
    database_url = load_settings().database_url
    if database_url not in _default_keys:
        account = accounts.ensure_account(TEST_ACCOUNT)
        _, key = accounts.create_key(account.id, name="integration tests")
        _default_keys[database_url] = (account.id, key)
    return _default_keys[database_url]


def default_api_key() -> str:
    return _default()[1]


def default_account_id() -> int:
    return _default()[0]


def auth(api_key: str | None = None) -> dict[str, str]:
    """Headers carrying the key (the default test account's when none is given)."""
    return {"x-api-key": api_key or default_api_key()}


def start_solid_render(api_url: str, width: int = 64, height: int = 48, color: str = "#3366ff",
                       api_key: str | None = None) -> str:
    response = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(api_key),
                             json={"width": width, "height": height, "color": color}, timeout=10)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "pending"
    return body["data"]["task_key"]


def get_task(api_url: str, task_key: str, api_key: str | None = None, **params) -> dict:
    """The task's `data`."""
    response = requests.get(f"{api_url}/api/v1/tasks/{task_key}", headers=auth(api_key), params=params,
                            timeout=40)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    return response.json()["data"]


def wait_for_status(api_url: str, task_key: str, statuses=FINISHED, timeout: float = 30,
                    api_key: str | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = get_task(api_url, task_key, api_key)
        if task["status"] in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_key} still {task['status']!r} after {timeout} s, "
                                 f"expected one of {statuses}")
        time.sleep(0.2)
