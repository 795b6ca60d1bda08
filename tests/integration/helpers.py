"""Small helpers for talking to the test stack over HTTP.

Calls are made with the key of the `tests` account unless given another one; the
key is made once per test stack, through `shared.accounts` (the same code as
`mockfarm keys create`), with the test stack's settings in the environment.
"""
from __future__ import annotations

import base64
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


# --------------------------------------------------------------------------- templates

def upload_template(api_url: str, psd: bytes, how: str = "multipart", name: str | None = None,
                    api_key: str | None = None, expect: int = 202, **extra) -> dict:
    """Upload PSD bytes (multipart `file`, or `base64`); the mockup's `data`."""
    if how == "multipart":
        response = requests.post(f"{api_url}/api/v1/psd/upload", headers=auth(api_key),
                                 files={"file": ("template.psd", psd)},
                                 data={"psd_name": name} if name else {}, timeout=30, **extra)
    else:
        body = {"psd_file_base64": base64.b64encode(psd).decode("ascii")}
        if name:
            body["psd_name"] = name
        response = requests.post(f"{api_url}/api/v1/psd/upload", headers=auth(api_key), json=body, timeout=30,
                                 **extra)
    assert response.status_code == expect, response.text
    return response.json()["data"]


def get_mockup(api_url: str, mockup_uuid: str, api_key: str | None = None, **params) -> dict:
    response = requests.get(f"{api_url}/api/v1/mockups/{mockup_uuid}", headers=auth(api_key), params=params,
                            timeout=40)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_for_mockup(api_url: str, mockup_uuid: str, timeout: float = 30, api_key: str | None = None) -> dict:
    """The mockup once its ingest has finished (ready or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        mockup = get_mockup(api_url, mockup_uuid, api_key, wait=min(10, max(1, int(timeout))))
        if mockup["status"] != "processing":
            return mockup
        if time.monotonic() > deadline:
            raise AssertionError(f"mockup {mockup_uuid} still processing after {timeout} s")


@contextmanager
def serve_files(routes: dict[str, tuple[int, dict[str, str], bytes]], seen: list[str] | None = None):
    """An HTTP server on 127.0.0.1 answering GET `path` with (status, headers, body)
    from `routes` (404 otherwise); yields its base URL. Stopped on exit. Each path
    requested is appended to `seen`, when given."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook's name
            if seen is not None:
                seen.append(self.path)
            status, headers, body = routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
