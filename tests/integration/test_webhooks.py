"""Webhooks end to end: the test stack's API and workers deliver to real HTTP receivers
on 127.0.0.1 (the stack allows loopback through MOCKFARM_FETCH_ALLOW_NETWORKS), and
each test checks the signatures itself, with its own HMAC code."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.integration.helpers import auth, new_api_key, wait_for_status

pytestmark = pytest.mark.integration


# In `statuses`: hold the request without ever answering.
HANG = "hang"


class Receiver:
    """A webhook receiver: records every request (with the time it arrived) and
    answers with the next status of `statuses`, then with the last one forever."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received_at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._arrived:
                    status = receiver.statuses[min(len(receiver.requests), len(receiver.statuses) - 1)]
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "received_at": received_at, "answered": status})
                    receiver._arrived.notify_all()
                if status == HANG:
                    receiver._closing.wait(60)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 15) -> list[dict]:
        """The first `count` requests, once they have arrived."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{len(self.requests)} request(s) arrived in {timeout} s, expected {count}"
                self._arrived.wait(remaining)
            return list(self.requests[:count])

    def close(self):
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture()
def receiver():
    made = []

    def make(statuses=(200,)) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]
    yield make
    for one in made:
        one.close()


@pytest.fixture()
def celery():
    """A Celery client of the test stack's broker (the module-level app of
    workers.celery_app is bound to whatever environment first imported it)."""
    from shared.config import load_settings
    from workers.celery_app import make_celery

    app = make_celery(load_settings())
    yield app
    app.close()


@pytest.fixture()
def key():
    """A key of a new account of its own, so that no other test's endpoints interfere."""
    return new_api_key(f"webhooks-{uuid.uuid4().hex[:8]}")


def verify(request: dict, secret: str, tolerance: int = 300) -> dict:
    """What a receiver does: check the timestamp is recent and the HMAC-SHA256 of
    "<timestamp>.<body>" matches; return the parsed body."""
    timestamp = request["headers"]["Mockfarm-Webhook-Timestamp"]
    assert abs(time.time() - int(timestamp)) <= tolerance
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    presented = request["headers"]["Mockfarm-Webhook-Signature"]
    assert presented.startswith("v1=")
    assert hmac.compare_digest(presented, f"v1={expected}"), "the signature does not verify"
    # A wrong secret must not verify (the check above is not vacuous).
    wrong = hmac.new(b"not-the-secret", f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert presented != f"v1={wrong}"
    body = json.loads(request["body"])
    assert request["headers"]["Mockfarm-Webhook-Id"] == body["id"]
    assert request["headers"]["Content-Type"] == "application/json"
    return body


def signing_secret(api_url: str, key: str) -> str:
    response = requests.get(f"{api_url}/api/v1/webhooks/signing-secret", headers=auth(key), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]["secret"]


def create_endpoint(api_url: str, key: str, url: str, events=None) -> dict:
    body = {"url": url} if events is None else {"url": url, "events": events}
    response = requests.post(f"{api_url}/api/v1/webhooks", headers=auth(key), json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def deliveries(api_url: str, key: str, **query) -> list[dict]:
    response = requests.get(f"{api_url}/api/v1/webhooks/deliveries", headers=auth(key), params=query, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_for_delivery(api_url: str, key: str, delivery_id: str, statuses=("delivered", "failed"),
                      timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in deliveries(api_url, key, limit=100) if d["id"] == delivery_id]
        if found and found[0]["status"] in statuses:
            return found[0]
        assert time.monotonic() < deadline, f"delivery {delivery_id} is {found[0]['status'] if found else 'missing'}"
        time.sleep(0.1)


def start_render(api_url: str, key: str, **extra) -> str:
    response = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(key), timeout=10,
                             json={"width": 32, "height": 24, "color": "#22aa88", **extra})
    assert response.status_code == 202, response.text
    return response.json()["data"]["task_key"]


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_per_request_webhook_url_gets_task_completed_signed_and_at_once(api_url, key, receiver):
    hook = receiver()
    task_key = start_render(api_url, key, webhook_url=hook.url("/done?order=17"))
    task = wait_for_status(api_url, task_key, api_key=key)
    assert task["status"] == "completed"
    [request] = hook.wait_for(1)
    assert request["path"] == "/done?order=17"
    body = verify(request, signing_secret(api_url, key))
    assert body["event"] == "task.completed"
    assert request["headers"]["Mockfarm-Webhook-Event"] == "task.completed"
    data = body["data"]
    assert data["task_key"] == task_key
    assert data["status"] == "completed"
    assert data["kind"] == "render.solid"
    assert data["finished_at"] == task["finished_at"].replace("+00:00", "Z")
    [print_file] = data["print_files"]
    assert (print_file["width"], print_file["height"], print_file["format"]) == (32, 24, "png")
    # The export path in the event works, like the task's own.
    png = requests.get(print_file["export_path"], timeout=10)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    # Sent when the task finished, not at some later poll (the issue asks for <= 1 s;
    # 5 s here only catches breakage on a loaded machine: the real figure is printed).
    latencies = [request["received_at"] - _seconds(data["finished_at"])]
    # A few more, for the figure (the first pays for opening connections).
    for number in range(2, 7):
        start_render(api_url, key, webhook_url=hook.url())
        later = verify(hook.wait_for(number)[-1], signing_secret(api_url, key))
        latencies.append(hook.requests[number - 1]["received_at"] - _seconds(later["data"]["finished_at"]))
    print("\nwebhook latency after the task finished (ms): "
          + ", ".join(f"{latency * 1000:.0f}" for latency in latencies))
    assert all(-0.5 < latency < 5 for latency in latencies), latencies
    delivery = deliveries(api_url, key)[-1]
    assert delivery["id"] == body["id"] and delivery["status"] == "delivered"
    assert delivery["endpoint_id"] is None and delivery["task_key"] == task_key
    assert [a["status_code"] for a in delivery["attempts"]] == [200]


def test_a_failed_task_sends_task_failed(api_url, key, receiver, celery):
    from shared import accounts, tasks
    from workers.celery_app import send_task_key

    hook = receiver()
    # The API refuses bad parameters, so the failing task is recorded directly, as
    # the API would record it, and queued to the real render pool, which fails it.
    account_id = accounts.authenticate(key).account_id
    record = tasks.create_task("render.solid", {"width": 32, "height": 24, "color": "not a colour",
                                                "webhook_url": hook.url()}, account_id)
    send_task_key(record.kind, record.key, celery=celery)
    task = wait_for_status(api_url, record.key, api_key=key)
    assert task["status"] == "failed"
    [request] = hook.wait_for(1)
    body = verify(request, signing_secret(api_url, key))
    assert body["event"] == "task.failed"
    assert body["data"]["task_key"] == record.key
    assert body["data"]["status"] == "failed"
    assert "colour" in body["data"]["error"]
    assert body["data"]["print_files"] == []


def test_account_endpoint_gets_only_its_event_types(api_url, key, receiver, celery):
    hook = receiver()
    endpoint = create_endpoint(api_url, key, hook.url(), events=["task.failed"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["task.failed"]
    # The secret is shown once: never in the list.
    listed = requests.get(f"{api_url}/api/v1/webhooks", headers=auth(key), timeout=10).json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]

    completed = start_render(api_url, key)
    assert wait_for_status(api_url, completed, api_key=key)["status"] == "completed"
    # Deliveries are recorded in the transaction that finishes the task: none for this one.
    assert deliveries(api_url, key) == []

    from shared import accounts, tasks
    from workers.celery_app import send_task_key

    record = tasks.create_task("render.solid", {"width": 0, "height": 24, "color": "#000000"},
                               accounts.authenticate(key).account_id)
    send_task_key(record.kind, record.key, celery=celery)
    [request] = hook.wait_for(1)
    body = verify(request, endpoint["secret"])
    assert body["event"] == "task.failed" and body["data"]["task_key"] == record.key
    [delivery] = deliveries(api_url, key, event="task.failed")
    assert delivery["endpoint_id"] == endpoint["id"]
    assert len(hook.requests) == 1


def test_a_receiver_failing_three_times_gets_the_event_on_attempt_four(api_url, key, receiver):
    hook = receiver(statuses=(500, 500, 503, 200))
    endpoint = create_endpoint(api_url, key, hook.url(), events=["task.completed"])
    task_key = start_render(api_url, key)
    requests_seen = hook.wait_for(4, timeout=20)
    bodies = [verify(request, endpoint["secret"]) for request in requests_seen]
    # The same event, the same idempotency id, the same bytes: only the timestamp and
    # signature may change between attempts.
    assert len({request["headers"]["Mockfarm-Webhook-Id"] for request in requests_seen}) == 1
    assert len({request["body"] for request in requests_seen}) == 1
    assert bodies[0]["data"]["task_key"] == task_key
    # Exponential backoff (base 0.2 s in the test stack): the gaps grow.
    gaps = [b["received_at"] - a["received_at"] for a, b in zip(requests_seen, requests_seen[1:])]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.35 and gaps[2] >= 0.75, gaps
    delivery = wait_for_delivery(api_url, key, bodies[0]["id"])
    assert delivery["status"] == "delivered"
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3, 4]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 503, 200]
    assert delivery["attempts"][0]["error"] == "the receiver answered HTTP 500"
    assert delivery["attempts"][3]["error"] is None
    assert delivery["delivered_at"] is not None and delivery["next_attempt_at"] is None
    # Filters and paging.
    assert deliveries(api_url, key, status="pending") == []
    assert [d["id"] for d in deliveries(api_url, key, status="delivered", limit=1)] == [delivery["id"]]
    time.sleep(0.5)
    assert len(hook.requests) == 4, "a delivered event must not be sent again"


def test_a_receiver_that_never_answers_is_given_up_on_and_retried(api_url, key, receiver, farm):
    hook = receiver(statuses=(HANG, 200))
    task_key = start_render(api_url, key, webhook_url=hook.url())
    wait_for_status(api_url, task_key, api_key=key)
    first, second = hook.wait_for(2, timeout=farm.settings.webhook_timeout + 10)
    assert first["headers"]["Mockfarm-Webhook-Id"] == second["headers"]["Mockfarm-Webhook-Id"]
    # The first attempt was cut at the webhook time limit, not left hanging.
    assert farm.settings.webhook_timeout - 0.2 < second["received_at"] - first["received_at"] < \
        farm.settings.webhook_timeout + 3
    delivery = wait_for_delivery(api_url, key, first["headers"]["Mockfarm-Webhook-Id"])
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [None, 200]
    assert "time limit" in delivery["attempts"][0]["error"], delivery["attempts"][0]


def test_unreachable_receiver_attempts_are_recorded_and_the_worker_keeps_working(api_url, key, receiver):
    # A port nobody listens on: every attempt is a connection error, each recorded.
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        dead_url = f"http://127.0.0.1:{closed.server_address[1]}/hook"
    task_key = start_render(api_url, key, webhook_url=dead_url)
    wait_for_status(api_url, task_key, api_key=key)
    deadline = time.monotonic() + 10
    while True:
        [delivery] = deliveries(api_url, key)
        if len(delivery["attempts"]) >= 3:
            break
        assert time.monotonic() < deadline, delivery
        time.sleep(0.2)
    assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
    assert all(a["status_code"] is None and "connect" in a["error"] for a in delivery["attempts"])
    # The pool still delivers.
    hook = receiver()
    start_render(api_url, key, webhook_url=hook.url())
    hook.wait_for(1)


def test_webhooks_test_sends_a_sample(api_url, key, receiver):
    hook = receiver()
    no_endpoint = requests.post(f"{api_url}/api/v1/webhooks/test", headers=auth(key), timeout=10)
    assert no_endpoint.status_code == 422, no_endpoint.text
    endpoint = create_endpoint(api_url, key, hook.url("/a"), events=["mockup.ready"])
    response = requests.post(f"{api_url}/api/v1/webhooks/test", headers=auth(key), timeout=10)
    assert response.status_code == 202, response.text
    [made] = response.json()["data"]
    assert made["event"] == "webhook.test" and made["endpoint_id"] == endpoint["id"]
    [request] = hook.wait_for(1)
    body = verify(request, endpoint["secret"])
    assert body["id"] == made["id"] and body["event"] == "webhook.test"

    # To a given URL instead, signed with the account's signing secret.
    other = receiver()
    response = requests.post(f"{api_url}/api/v1/webhooks/test", headers=auth(key), json={"url": other.url("/b")},
                             timeout=10)
    assert response.status_code == 202, response.text
    [request] = other.wait_for(1)
    assert verify(request, signing_secret(api_url, key))["event"] == "webhook.test"
    assert len(hook.requests) == 1


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data/",
                                 "http://[fd00::1]/hook", "ftp://example.com/hook", "http://user:pw@example.com/"])
def test_private_or_bad_urls_are_refused_at_creation(api_url, key, url):
    response = requests.post(f"{api_url}/api/v1/webhooks", headers=auth(key), json={"url": url}, timeout=10)
    assert response.status_code == 422, response.text
    assert "url" in response.json()["errors"]["json"]
    render = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(key), timeout=10,
                           json={"width": 8, "height": 8, "color": "#000000", "webhook_url": url})
    assert render.status_code == 422, render.text
    assert "webhook_url" in render.json()["errors"]["json"]
    test = requests.post(f"{api_url}/api/v1/webhooks/test", headers=auth(key), json={"url": url}, timeout=10)
    assert test.status_code == 422, test.text
    listed = requests.get(f"{api_url}/api/v1/webhooks", headers=auth(key), timeout=10).json()["data"]
    assert listed == []


def test_a_refused_address_fails_at_once_without_retries(api_url, key, celery):
    # A URL that got past the API (e.g. recorded before the allowlist shrank): the
    # worker applies the same rules and gives up at once, naming the reason.
    from shared import accounts, webhooks
    from shared.db import get_pool
    from workers.celery_app import send_webhook_delivery

    with get_pool().connection() as conn:
        [delivery_id] = webhooks._insert_deliveries(conn, accounts.authenticate(key).account_id, "mockup.ready",
                                                    {"template": "t-1"}, extra_url="http://10.1.2.3/hook")
    send_webhook_delivery(delivery_id, celery=celery)
    delivery = wait_for_delivery(api_url, key, delivery_id)
    assert delivery["status"] == "failed"
    assert "private address" in delivery["last_error"]
    assert len(delivery["attempts"]) == 1 and delivery["attempts"][0]["status_code"] is None


def test_beat_requeues_a_delivery_whose_message_was_lost(api_url, key, receiver):
    from shared import accounts, webhooks
    from shared.db import get_pool

    hook = receiver()
    account_id = accounts.authenticate(key).account_id
    # Recorded but never queued, as if Redis had lost the message, and long overdue.
    with get_pool().connection() as conn:
        [delivery_id] = webhooks._insert_deliveries(conn, account_id, "mockup.ready", {"template": "t-2"},
                                                    extra_url=hook.url())
        conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 hour' WHERE id = %s",
                     (delivery_id,))
    [request] = hook.wait_for(1, timeout=20)
    assert verify(request, signing_secret(api_url, key))["id"] == delivery_id


def test_endpoints_are_per_account_and_deletable(api_url, key, receiver):
    hook = receiver()
    endpoint = create_endpoint(api_url, key, hook.url())
    assert sorted(endpoint["events"]) == ["mockup.failed", "mockup.ready", "task.completed", "task.failed"]
    unknown = requests.post(f"{api_url}/api/v1/webhooks", headers=auth(key), timeout=10,
                            json={"url": hook.url(), "events": ["task.done"]})
    assert unknown.status_code == 422 and "events" in unknown.json()["errors"]["json"], unknown.text
    stranger = new_api_key(f"webhooks-{uuid.uuid4().hex[:8]}")
    assert requests.get(f"{api_url}/api/v1/webhooks", headers=auth(stranger), timeout=10).json()["data"] == []
    gone = requests.delete(f"{api_url}/api/v1/webhooks/{endpoint['id']}", headers=auth(stranger), timeout=10)
    assert gone.status_code == 404
    # Switched off, it is sent nothing.
    off = requests.patch(f"{api_url}/api/v1/webhooks/{endpoint['id']}", headers=auth(key), timeout=10,
                         json={"enabled": False, "events": ["task.completed"]})
    assert off.status_code == 200, off.text
    assert off.json()["data"]["enabled"] is False and off.json()["data"]["events"] == ["task.completed"]
    wait_for_status(api_url, start_render(api_url, key), api_key=key)
    assert deliveries(api_url, key) == []
    deleted = requests.delete(f"{api_url}/api/v1/webhooks/{endpoint['id']}", headers=auth(key), timeout=10)
    assert deleted.status_code == 200 and deleted.json()["data"]["id"] == endpoint["id"]
    assert requests.get(f"{api_url}/api/v1/webhooks", headers=auth(key), timeout=10).json()["data"] == []
    task_key = start_render(api_url, key)
    wait_for_status(api_url, task_key, api_key=key)
    assert deliveries(api_url, key) == []
    assert hook.requests == []


def test_deleting_an_endpoint_stops_its_retries(api_url, key, receiver):
    hook = receiver(statuses=(500,))
    endpoint = create_endpoint(api_url, key, hook.url())
    requests.post(f"{api_url}/api/v1/webhooks/test", headers=auth(key), timeout=10)
    first = hook.wait_for(1)[0]
    deleted = requests.delete(f"{api_url}/api/v1/webhooks/{endpoint['id']}", headers=auth(key), timeout=10)
    assert deleted.status_code == 200
    delivery = wait_for_delivery(api_url, key, first["headers"]["Mockfarm-Webhook-Id"], statuses=("failed",))
    assert delivery["last_error"] == "the endpoint was deleted or disabled"
    # Its history stays; it may have made one more attempt before the delete landed.
    assert delivery["attempts"][0]["status_code"] == 500
    sent = len(hook.requests)
    time.sleep(1)
    assert len(hook.requests) == sent <= 2
