"""Accounts and API keys: who may call, what each account sees, and what it used."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from shared import accounts, tasks
from shared.db import get_pool
from tests.integration.helpers import auth, default_api_key, get_task, new_api_key, start_solid_render

pytestmark = pytest.mark.integration


def assert_error(response, status) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def me(api_url, headers) -> requests.Response:
    return requests.get(f"{api_url}/api/v1/me", headers=headers, timeout=10)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_a_call_without_a_key_is_401(api_url):
    body = assert_error(me(api_url, {}), 401)
    assert "x-api-key" in body["detail"]
    refused = requests.post(f"{api_url}/api/v1/renders/solid", json={"width": 8, "height": 8, "color": "#000000"},
                            timeout=10)
    assert_error(refused, 401)
    assert_error(requests.get(f"{api_url}/api/v1/tasks/{uuid.uuid4()}", timeout=10), 401)
    assert_error(requests.get(f"{api_url}/api/v1/keys", timeout=10), 401)


def test_unknown_keys_are_401(api_url):
    real = default_api_key()
    altered = real[:-1] + ("A" if real[-1] != "A" else "B")  # right prefix, wrong secret
    details = set()
    for bad in ("mf_" + "x" * 43, "not-a-key", altered, real + "x", "mf_" + "y" * 500):
        details.add(assert_error(me(api_url, {"x-api-key": bad}), 401)["detail"])
    assert len(details) == 1
    assert me(api_url, {"x-api-key": real}).status_code == 200


def test_revoked_and_expired_keys_get_the_same_401_as_unknown_ones(api_url):
    unknown_detail = assert_error(me(api_url, {"x-api-key": "mf_" + "z" * 43}), 401)["detail"]

    key = new_api_key(unique("revoking"))
    key_id = me(api_url, auth(key)).json()["data"]["key"]["id"]
    # A key may revoke itself; it stops working at once.
    revoked = requests.delete(f"{api_url}/api/v1/keys/{key_id}", headers=auth(key), timeout=10)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["data"]["revoked_at"] is not None
    assert assert_error(me(api_url, auth(key)), 401)["detail"] == unknown_detail

    expiring = new_api_key(unique("expiring"), expires_in_days=1)
    assert me(api_url, auth(expiring)).status_code == 200
    with get_pool().connection() as conn:
        conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE prefix = %s",
                     (expiring[:accounts.PREFIX_LENGTH],))
    assert assert_error(me(api_url, auth(expiring)), 401)["detail"] == unknown_detail


def test_bearer_authorization_works_too(api_url):
    response = me(api_url, {"Authorization": f"Bearer {default_api_key()}"})
    assert response.status_code == 200, response.text
    assert_error(me(api_url, {"Authorization": "Bearer mf_wrong"}), 401)
    assert_error(me(api_url, {"Authorization": f"Basic {default_api_key()}"}), 401)


def test_another_accounts_task_is_404(api_url):
    alpha, beta = new_api_key(unique("alpha")), new_api_key(unique("beta"))
    task_key = start_solid_render(api_url, api_key=alpha)
    assert get_task(api_url, task_key, api_key=alpha, wait=10)["status"] == "completed"

    for params in ({}, {"wait": 1}):
        seen_by_beta = requests.get(f"{api_url}/api/v1/tasks/{task_key}", headers=auth(beta), params=params,
                                    timeout=10)
        body = assert_error(seen_by_beta, 404)
        # Exactly what a key that never existed gets.
        missing = str(uuid.uuid4())
        absent = assert_error(requests.get(f"{api_url}/api/v1/tasks/{missing}", headers=auth(beta), timeout=10), 404)
        assert body["detail"] == absent["detail"].replace(missing, task_key)


def test_me_counts_completed_renders_but_not_failed_ones(api_url):
    from workers.render import render_solid

    name = unique("usage")
    key = new_api_key(name, name="counting")
    before = me(api_url, auth(key)).json()["data"]
    assert before["account"]["name"] == name
    assert before["key"]["name"] == "counting"
    assert before["key"]["prefix"] == key[:accounts.PREFIX_LENGTH]
    assert "hash" not in before["key"] and "key" not in before["key"]
    assert before["usage"] == {"renders": 0, "print_files": 0, "failed_renders": 0}

    done = requests.post(f"{api_url}/api/v1/renders/solid", params={"wait": 10}, headers=auth(key),
                         json={"width": 16, "height": 16, "color": "#00ff00"}, timeout=20)
    assert done.status_code == 200 and done.json()["data"]["status"] == "completed", done.text
    # A render that fails (parameters the API would refuse, run by the worker's code).
    failing = tasks.create_task("render.solid", {"width": 0, "height": 1, "color": "#000000"},
                                account_id=before["account"]["id"])
    assert render_solid(failing.key) == "failed"

    after = me(api_url, auth(key)).json()["data"]
    assert after["usage"] == {"renders": 1, "print_files": 1, "failed_renders": 1}
    assert after["key"]["last_used_at"] is not None


def _mockfarm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)


def test_keys_create_prints_only_the_key(api_url):
    account = unique("cli")
    created = _mockfarm("keys", "create", "--account", account, "--name", "laptop", "--expires-in", "30")
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"mf_[A-Za-z0-9_-]{43}\n", created.stdout), created.stdout
    key = created.stdout.strip()
    assert account in created.stderr and key not in created.stderr

    data = me(api_url, auth(key)).json()["data"]
    assert data["account"]["name"] == account
    assert data["key"]["name"] == "laptop"
    expires_at = datetime.fromisoformat(data["key"]["expires_at"])
    assert abs(expires_at - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(minutes=5)

    listed = _mockfarm("keys", "list", "--account", account)
    assert listed.returncode == 0, listed.stderr
    assert key[:accounts.PREFIX_LENGTH] in listed.stdout and key not in listed.stdout
    assert data["key"]["id"] in listed.stdout

    revoked = _mockfarm("keys", "revoke", data["key"]["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert_error(me(api_url, auth(key)), 401)
    assert _mockfarm("keys", "revoke", str(uuid.uuid4())).returncode != 0
    assert _mockfarm("keys", "list", "--account", unique("nobody")).returncode != 0


def test_keys_over_http(api_url):
    key = new_api_key(unique("http-keys"))
    made = requests.post(f"{api_url}/api/v1/keys", headers=auth(key),
                         json={"name": "second", "expires_in_days": 7}, timeout=10)
    assert made.status_code == 201, made.text
    second = made.json()["data"]
    assert second["key"].startswith(second["prefix"])
    assert me(api_url, auth(second["key"])).json()["data"]["key"]["id"] == second["id"]

    listed = requests.get(f"{api_url}/api/v1/keys", headers=auth(key), timeout=10).json()
    assert listed["success"] is True
    assert [item["name"] for item in listed["data"]] == ["", "second"]
    assert all("key" not in item and "hash" not in item for item in listed["data"])

    body = assert_error(requests.post(f"{api_url}/api/v1/keys", headers=auth(key), json={"nmae": "x"},
                                      timeout=10), 422)
    assert set(body["errors"]["json"]) == {"nmae"}
    body = assert_error(requests.post(f"{api_url}/api/v1/keys", headers=auth(key), json={"expires_in_days": 0},
                                      timeout=10), 422)
    assert "expires_in_days" in body["detail"]

    # Another account's key, and ids that are no key at all, are not found.
    other_id = me(api_url, auth(default_api_key())).json()["data"]["key"]["id"]
    for key_id in (other_id, str(uuid.uuid4()), "not-an-id"):
        assert_error(requests.delete(f"{api_url}/api/v1/keys/{key_id}", headers=auth(key), timeout=10), 404)
    assert me(api_url, auth(default_api_key())).status_code == 200


def test_wait_returns_as_soon_as_the_task_has_finished(api_url):
    started = time.monotonic()
    response = requests.post(f"{api_url}/api/v1/renders/solid", params={"wait": 5}, headers=auth(),
                             json={"width": 20, "height": 10, "color": "#123456"}, timeout=20)
    assert response.status_code == 200, response.text
    task = response.json()["data"]
    assert task["status"] == "completed" and len(task["print_files"]) == 1
    assert time.monotonic() - started < 4

    task_key = start_solid_render(api_url)
    started = time.monotonic()
    assert get_task(api_url, task_key, wait=5)["status"] == "completed"
    assert time.monotonic() - started < 4


def test_wait_on_a_task_that_does_not_finish_answers_after_the_wait(api_url):
    from tests.integration.helpers import default_account_id

    # Recorded but never queued, so it stays pending.
    record = tasks.create_task("render.solid", {"width": 1, "height": 1, "color": "#000000"},
                               account_id=default_account_id())
    try:
        started = time.monotonic()
        assert get_task(api_url, record.key, wait=2)["status"] == "pending"
        assert 1.9 <= time.monotonic() - started < 5
    finally:
        tasks.fail_task(record.key, "test: never queued")


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_wait_is_validated(api_url, wait):
    task_key = start_solid_render(api_url)
    body = assert_error(requests.get(f"{api_url}/api/v1/tasks/{task_key}", params={"wait": wait},
                                     headers=auth(), timeout=10), 422)
    assert set(body["errors"]["query"]) == {"wait"}
    assert "wait" in body["detail"]
    body = assert_error(requests.post(f"{api_url}/api/v1/renders/solid", params={"wait": wait}, headers=auth(),
                                      json={"width": 8, "height": 8, "color": "#000000"}, timeout=10), 422)
    assert set(body["errors"]["query"]) == {"wait"}


def test_unknown_query_parameter_is_refused(api_url):
    task_key = start_solid_render(api_url)
    body = assert_error(requests.get(f"{api_url}/api/v1/tasks/{task_key}", params={"wiat": 1}, headers=auth(),
                                     timeout=10), 422)
    assert set(body["errors"]["query"]) == {"wiat"}


def test_every_success_has_the_envelope(api_url):
    accepted = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(),
                             json={"width": 8, "height": 8, "color": "#000000"}, timeout=10).json()
    assert set(accepted) == {"success", "data"} and accepted["success"] is True
    task_fields = {"task_key", "status", "created_at", "started_at", "finished_at", "print_files", "error", "expired"}
    assert set(accepted["data"]) == task_fields
    finished = requests.get(f"{api_url}/api/v1/tasks/{accepted['data']['task_key']}", params={"wait": 10},
                            headers=auth(), timeout=20).json()
    assert set(finished) == {"success", "data"} and set(finished["data"]) == task_fields
    assert set(finished["data"]["print_files"][0]) == {"export_path", "expires_at", "width", "height", "bytes",
                                                       "format"}
    for path in ("/api/v1/me", "/api/v1/keys"):
        body = requests.get(f"{api_url}{path}", headers=auth(), timeout=10).json()
        assert set(body) == {"success", "data"} and body["success"] is True


def test_local_key_is_kept_between_runs(farm):
    from shared.stack import LOCAL_KEY_FILE, local_api_key

    first = local_api_key(farm.settings)
    assert local_api_key(farm.settings) == first
    key_file = farm.settings.state_dir / LOCAL_KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    # A revoked key is replaced, not shown again.
    accounts.revoke_key(accounts.authenticate(first).id)
    second = local_api_key(farm.settings)
    assert second != first and accounts.authenticate(second) is not None


def test_up_renders_the_demo_with_the_local_key_and_prints_it(farm):
    from shared.stack import LOCAL_KEY_FILE

    outputs = [_mockfarm("up"), _mockfarm("up", "--no-demo")]
    for result in outputs:
        assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo render" in outputs[0].stdout and "completed" in outputs[0].stdout
    key = (farm.settings.state_dir / LOCAL_KEY_FILE).read_text().strip()
    for result in outputs:
        assert f"API key: {key}" in result.stdout
    assert accounts.authenticate(key).account_name == "local"
