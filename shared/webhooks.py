"""Webhooks: endpoints, events, deliveries and their signatures (README, "Webhooks").

An event becomes one delivery row per URL that wants it (the account's enabled
endpoints subscribed to the event type, and the per-request `webhook_url` of the
task). The row is the record; a Celery message on the `webhooks` queue carrying its
id is only the trigger, sent the moment the event happens, so that delivery starts
at once instead of at the next poll. `workers/webhooks.py` makes the attempts.

A task's event rows are written in the same transaction that finishes the task
(`record_task_event`, called by `shared.tasks`): a finished task always has its
deliveries, and if the message that triggers one is lost (Redis restarted, the
process died in between), beat's sweeper sends it again.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared import mockups
from shared.db import get_pool, is_uuid

log = logging.getLogger(__name__)

TASK_COMPLETED = "task.completed"
TASK_FAILED = "task.failed"
MOCKUP_READY = "mockup.ready"
MOCKUP_FAILED = "mockup.failed"
# The event types an endpoint can subscribe to.
EVENTS = (TASK_COMPLETED, TASK_FAILED, MOCKUP_READY, MOCKUP_FAILED)
# Sent by POST /api/v1/webhooks/test, to every enabled endpoint whatever its events.
TEST_EVENT = "webhook.test"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, FAILED)

SECRET_MARK = "whsec_"
SIGNATURE_VERSION = "v1"
ID_HEADER = "Mockfarm-Webhook-Id"
TIMESTAMP_HEADER = "Mockfarm-Webhook-Timestamp"
SIGNATURE_HEADER = "Mockfarm-Webhook-Signature"
EVENT_HEADER = "Mockfarm-Webhook-Event"


# --------------------------------------------------------------------------- signing

def new_secret() -> str:
    return SECRET_MARK + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256, keyed by the secret, of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify_signature(secret: str, headers, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (the README shows the same in a snippet): the signature
    matches and the timestamp is at most `tolerance` seconds away from now."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError, TypeError):
        return False
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    presented = headers.get(SIGNATURE_HEADER, "")
    # Several signatures may be sent (space-separated), e.g. while a secret is rotated.
    return any(hmac.compare_digest(expected, candidate) for candidate in presented.split())


# --------------------------------------------------------------------------- endpoints

@dataclass(frozen=True)
class Endpoint:
    id: str
    account_id: int
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime


_ENDPOINT_COLUMNS = "id::text AS id, account_id, url, events, enabled, created_at"


def create_endpoint(account_id: int, url: str, events: Iterable[str]) -> tuple[Endpoint, str]:
    """Make an endpoint: (it, its secret, to show once)."""
    events = sorted(set(events))
    unknown = set(events) - set(EVENTS)
    if unknown or not events:
        raise ValueError(f"events must be some of {EVENTS}, got {events}")
    secret = new_secret()
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""INSERT INTO webhook_endpoints (account_id, url, secret, events) VALUES (%s, %s, %s, %s)
                RETURNING {_ENDPOINT_COLUMNS}""",
            (account_id, url, secret, events),
        )
        return Endpoint(**cur.fetchone()), secret


def list_endpoints(account_id: int) -> list[Endpoint]:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = %s ORDER BY created_at",
                    (account_id,))
        return [Endpoint(**row) for row in cur.fetchall()]


def update_endpoint(endpoint_id: str, account_id: int, enabled: bool | None = None,
                    events: Iterable[str] | None = None) -> Endpoint | None:
    """Switch the account's endpoint on or off, or change its event types; None when
    there is no such endpoint. A disabled endpoint is sent nothing, and its pending
    retries fail at their next attempt."""
    if not is_uuid(endpoint_id):
        return None
    if events is not None:
        events = sorted(set(events))
        if not events or set(events) - set(EVENTS):
            raise ValueError(f"events must be some of {EVENTS}, got {events}")
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""UPDATE webhook_endpoints SET enabled = coalesce(%s, enabled), events = coalesce(%s, events)
                 WHERE id = %s AND account_id = %s RETURNING {_ENDPOINT_COLUMNS}""",
            (enabled, events, endpoint_id, account_id))
        row = cur.fetchone()
        return Endpoint(**row) if row else None


def delete_endpoint(endpoint_id: str, account_id: int) -> Endpoint | None:
    """Delete the account's endpoint; its pending deliveries stop (they fail at their
    next attempt), its delivery history stays."""
    if not is_uuid(endpoint_id):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"DELETE FROM webhook_endpoints WHERE id = %s AND account_id = %s RETURNING {_ENDPOINT_COLUMNS}",
                    (endpoint_id, account_id))
        row = cur.fetchone()
        return Endpoint(**row) if row else None


def account_signing_secret(account_id: int, conn: psycopg.Connection | None = None) -> str:
    """The secret signing deliveries to per-request URLs (made on first need)."""
    if conn is None:
        with get_pool().connection() as own:
            return account_signing_secret(account_id, own)
    conn.execute("INSERT INTO webhook_account_secrets (account_id, secret) VALUES (%s, %s) "
                 "ON CONFLICT (account_id) DO NOTHING", (account_id, new_secret()))
    return conn.execute("SELECT secret FROM webhook_account_secrets WHERE account_id = %s",
                        (account_id,)).fetchone()[0]



# --------------------------------------------------------------------------- events

def _json_ready(value: Any) -> Any:
    """Datetimes as ISO 8601 text, so that the stored payload is what is sent."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def _insert_deliveries(conn: psycopg.Connection, account_id: int, event: str, data: dict[str, Any],
                       extra_url: str | None = None, task_key: str | None = None,
                       only_url: str | None = None) -> list[str]:
    """Rows for every URL that wants this event; their ids (the idempotency ids).

    `only_url`: a test sent to one given URL, not to the endpoints."""
    payload = Jsonb(_json_ready(data))
    targets: list[tuple[str | None, str, str, str]] = []  # (endpoint id, source, url, secret)
    if only_url is None:
        rows = conn.execute(
            """SELECT id::text, url, secret FROM webhook_endpoints
                WHERE account_id = %s AND enabled AND (%s = ANY(events) OR %s)
             ORDER BY created_at""",
            (account_id, event, event == TEST_EVENT)).fetchall()
        targets += [(endpoint_id, "endpoint", url, secret) for endpoint_id, url, secret in rows]
    url = only_url or extra_url
    if url:
        targets.append((None, "test" if only_url else "request", url, account_signing_secret(account_id, conn)))
    ids = []
    for endpoint_id, source, url, secret in targets:
        ids.append(conn.execute(
            """INSERT INTO webhook_deliveries (account_id, endpoint_id, source, url, secret, event, payload, task_key)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id::text""",
            (account_id, endpoint_id, source, url, secret, event, payload, task_key)).fetchone()[0])
    return ids


def enqueue_deliveries(delivery_ids: Iterable[str]) -> None:
    """Send the trigger message of each delivery. A failure is logged, not raised: the
    rows are recorded, and beat's sweeper sends what was not sent."""
    from workers.celery_app import send_webhook_delivery

    for delivery_id in delivery_ids:
        try:
            send_webhook_delivery(delivery_id)
        except Exception:  # noqa: BLE001 - the event is recorded; the sweeper retries the send
            log.exception("could not queue webhook delivery %s; beat will requeue it", delivery_id)


def emit_event(account_id: int, event: str, data: dict[str, Any], extra_url: str | None = None,
               task_key: str | None = None) -> list[str]:
    """Record `event` for the account's endpoints subscribed to it (and `extra_url`,
    a per-request webhook URL), and queue their deliveries now; the delivery ids.

    For events outside a task's own completion, e.g. ingest's `mockup.ready`."""
    if event not in EVENTS and event != TEST_EVENT:
        raise ValueError(f"unknown webhook event {event!r}")
    with get_pool().connection() as conn:
        ids = _insert_deliveries(conn, account_id, event, data, extra_url=extra_url, task_key=task_key)
    enqueue_deliveries(ids)
    return ids


def send_test(account_id: int, url: str | None = None) -> list[str]:
    """A sample `webhook.test` event to `url`, or to every enabled endpoint of the account."""
    data = {"message": "a test event from mockfarm", "sent_at": datetime.now(timezone.utc)}
    with get_pool().connection() as conn:
        ids = _insert_deliveries(conn, account_id, TEST_EVENT, data, only_url=url)
    enqueue_deliveries(ids)
    return ids


def task_event_data(task, result_url_ttl: int) -> dict[str, Any]:
    """The `data` of task.completed / task.failed: the task as GET /api/v1/tasks shows it."""
    from shared.tasks import COMPLETED, presigned_print_files

    data = {"task_key": task.key, "kind": task.kind, "status": task.status, "created_at": task.created_at,
            "started_at": task.started_at, "finished_at": task.finished_at, "print_files": [],
            "error": task.error}
    if task.status == COMPLETED:
        # Valid as long as the result lives (it is deleted result_url_ttl after the task finished).
        data["print_files"] = presigned_print_files(task, result_url_ttl)
    if task.items_total is not None:
        # A bulk task: its one event carries every item's outcome, and the ZIP.
        from shared import bulk
        from shared.storage import get_storage

        data["progress"] = bulk.progress_of(task)
        data["items"] = bulk.shown_items(task, result_url_ttl)
        archive = (task.result or {}).get("zip") if task.status == COMPLETED else None
        data["zip"] = None
        if archive:
            url, expires_at = get_storage().presigned_get(archive["object_key"], lifetime_seconds=result_url_ttl)
            data["zip"] = {"export_path": url, "expires_at": expires_at, "bytes": archive["bytes"],
                           "files": archive["files"]}
    return data


def record_task_event(conn: psycopg.Connection, task) -> list[str]:
    """Inside the transaction finishing `task` (a shared.tasks.TaskRecord): the rows of
    its task.completed / task.failed deliveries; the caller queues them once committed.

    Never raises: a webhook problem must not stop a task from finishing (the savepoint
    undoes only the webhook rows)."""
    from shared.config import load_settings
    from shared.tasks import COMPLETED

    if task.account_id is None or task.kind == mockups.RECOMPILE_KIND:
        # An operator's recompile runs under the mockup's account, but the account did
        # not ask for it: its outcome is no event of theirs.
        return []
    event = TASK_COMPLETED if task.status == COMPLETED else TASK_FAILED
    extra_url = (task.params or {}).get("webhook_url")
    try:
        with conn.transaction():
            wanted = extra_url or conn.execute(
                "SELECT 1 FROM webhook_endpoints WHERE account_id = %s AND enabled AND %s = ANY(events) LIMIT 1",
                (task.account_id, event)).fetchone()
            if not wanted:
                return []
            data = task_event_data(task, load_settings().result_url_ttl)
            return _insert_deliveries(conn, task.account_id, event, data, extra_url=extra_url, task_key=task.key)
    except Exception:  # noqa: BLE001 - see above
        log.exception("could not record the %s webhooks of task %s", event, task.key)
        return []


# --------------------------------------------------------------------------- deliveries

@dataclass(frozen=True)
class Delivery:
    id: str
    account_id: int
    endpoint_id: str | None
    source: str
    url: str
    secret: str
    event: str
    payload: dict[str, Any]
    task_key: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    finished_at: datetime | None
    # False when the delivery's endpoint was deleted or disabled since.
    endpoint_usable: bool = True

    def body(self) -> bytes:
        """What is POSTed: the same bytes on every attempt."""
        return json.dumps({"id": self.id, "event": self.event, "created_at": _json_ready(self.created_at),
                           "data": self.payload}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_DELIVERY_COLUMNS = """id::text AS id, account_id, endpoint_id::text AS endpoint_id, source, url, secret, event,
    payload, task_key, status, attempts, next_attempt_at, last_status_code, last_error, created_at,
    delivered_at, finished_at"""


def claim_delivery(delivery_id: str, lease_seconds: float) -> Delivery | None:
    """Start an attempt (counted) of a pending delivery that is due; None when there is
    nothing to do: delivered or failed already, not due yet (this message is a
    duplicate; the scheduled one will come), or another attempt is running."""
    if not is_uuid(delivery_id):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""UPDATE webhook_deliveries d
                   SET attempts = attempts + 1, claimed_until = now() + make_interval(secs => %s)
                 WHERE id = %s AND status = 'pending'
                   -- A second of slack: a retry's message may come a hair before its time.
                   AND next_attempt_at <= now() + interval '1 second'
                   AND (claimed_until IS NULL OR claimed_until < now())
             RETURNING {_DELIVERY_COLUMNS},
                   source <> 'endpoint' OR coalesce(
                       (SELECT enabled FROM webhook_endpoints e WHERE e.id = d.endpoint_id), false)
                       AS endpoint_usable""",
            (lease_seconds, delivery_id),
        )
        row = cur.fetchone()
        return Delivery(**row) if row else None


def finish_attempt(delivery: Delivery, started_at: datetime, duration_ms: int, status_code: int | None,
                   error: str | None, outcome: str, retry_in: float | None = None) -> None:
    """Record the attempt `delivery.attempts` and its outcome: DELIVERED, FAILED (for
    good), or PENDING again with the next attempt `retry_in` seconds from now."""
    with get_pool().connection() as conn:
        conn.execute(
            """INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (delivery_id, attempt) DO NOTHING""",
            (delivery.id, delivery.attempts, started_at, duration_ms, status_code, error))
        conn.execute(
            """UPDATE webhook_deliveries
                  SET status = %(outcome)s, last_status_code = %(status_code)s, last_error = %(error)s,
                      claimed_until = NULL,
                      next_attempt_at = CASE WHEN %(outcome)s = 'pending'
                                             THEN now() + make_interval(secs => %(retry_in)s)
                                             ELSE next_attempt_at END,
                      delivered_at = CASE WHEN %(outcome)s = 'delivered' THEN now() END,
                      finished_at = CASE WHEN %(outcome)s <> 'pending' THEN now() END
                WHERE id = %(id)s AND status = 'pending'""",
            {"outcome": outcome, "status_code": status_code, "error": error, "retry_in": retry_in or 0,
             "id": delivery.id})


def overdue_deliveries(overdue_seconds: float, limit: int = 1000) -> list[str]:
    """Pending deliveries whose next attempt is over `overdue_seconds` late and that no
    attempt holds: their message was lost."""
    with get_pool().connection() as conn:
        rows = conn.execute(
            """SELECT id::text FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => %s)
                  AND (claimed_until IS NULL OR claimed_until < now())
             ORDER BY next_attempt_at LIMIT %s""",
            (overdue_seconds, limit)).fetchall()
        return [row[0] for row in rows]


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


def list_deliveries(account_id: int, status: str | None = None, event: str | None = None,
                    limit: int = 20, offset: int = 0, ids: list[str] | None = None,
                    ) -> tuple[list[tuple[Delivery, list[Attempt]]], int]:
    """The account's deliveries (those of `ids` only, when given), newest first, each
    with its attempts; and how many match in all."""
    where = "account_id = %(account_id)s"
    if ids is not None:
        where += " AND id = ANY(%(ids)s::uuid[])"
    if status:
        where += " AND status = %(status)s"
    if event:
        where += " AND event = %(event)s"
    params = {"account_id": account_id, "status": status, "event": event, "limit": limit, "offset": offset,
              "ids": ids}
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT count(*) AS n FROM webhook_deliveries WHERE {where}", params)
        total = cur.fetchone()["n"]
        cur.execute(f"""SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where}
                         ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s""", params)
        deliveries = [Delivery(**row) for row in cur.fetchall()]
        attempts: dict[str, list[Attempt]] = {d.id: [] for d in deliveries}
        if deliveries:
            cur.execute("""SELECT delivery_id::text AS delivery_id, attempt, started_at, duration_ms, status_code, error
                             FROM webhook_attempts WHERE delivery_id = ANY(%s::uuid[]) ORDER BY attempt""",
                        (list(attempts),))
            for row in cur.fetchall():
                attempts[row.pop("delivery_id")].append(Attempt(**row))
    return [(d, attempts[d.id]) for d in deliveries], total


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after attempt number `attempt` (1, 2...) failed: base, 2 x base,
    4 x base... at most cap."""
    return min(cap, base * 2 ** min(attempt - 1, 62))


def give_up_at(delivery: Delivery, max_age: int) -> datetime:
    return delivery.created_at + timedelta(seconds=max_age)
