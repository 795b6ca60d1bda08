"""The task records in PostgreSQL: the only place task state lives.

Status moves pending -> processing -> completed | failed, and a finished task never
changes again. The state changes are single conditional UPDATEs, so that a task
delivered twice (a worker died, the broker handed it to another) is safe: only one
delivery can finish it, and a finished one is left alone.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared import webhooks
from shared.config import load_settings
from shared.db import get_pool, is_uuid

PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
FINISHED = (COMPLETED, FAILED)

# The PostgreSQL channel a task's key is announced on when it finishes (a trigger in
# migration 0002 does it, whoever finishes the task).
FINISHED_CHANNEL = "task_finished"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskRecord:
    key: str
    kind: str
    status: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    account_id: int | None = None
    # When the result objects were deleted from S3 after their lifetime (None: kept).
    results_deleted_at: datetime | None = None
    # An item of a bulk task: its parent's key and its position there (see shared/bulk).
    parent_key: str | None = None
    item_index: int | None = None
    # A bulk task (a parent): how many items it has, and how many finished / failed.
    items_total: int | None = None
    items_done: int = 0
    items_failed: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_bulk(self) -> bool:
        return self.items_total is not None


_COLUMNS = ("key, kind, status, params, result, error, attempts, created_at, started_at, finished_at, "
            "account_id, results_deleted_at, parent_key, item_index, items_total, items_done, items_failed")


def _record(row: dict | None) -> TaskRecord | None:
    return TaskRecord(**row) if row else None


def new_task_key() -> str:
    return str(uuid.uuid4())


def create_task(kind: str, params: dict[str, Any], account_id: int) -> TaskRecord:
    """Record a task for the account; it is pending until a worker claims it."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"INSERT INTO tasks (key, kind, params, account_id) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
            (new_task_key(), kind, Jsonb(params), account_id),
        )
        return _record(cur.fetchone())


def get_task(key: str, account_id: int | None = None) -> TaskRecord | None:
    """The task with this key; with `account_id`, only if it belongs to that account
    (so that another account's task looks exactly like a missing one)."""
    if not is_uuid(key):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if account_id is None:
            cur.execute(f"SELECT {_COLUMNS} FROM tasks WHERE key = %s", (key,))
        else:
            cur.execute(f"SELECT {_COLUMNS} FROM tasks WHERE key = %s AND account_id = %s", (key, account_id))
        return _record(cur.fetchone())


class FinishedTaskListener:
    """One LISTEN connection per process, shared by every thread waiting for a task.

    A waiter registers the key it waits for and sleeps on an event; the listener's
    thread sets the event when the key is announced on FINISHED_CHANNEL. Opening a
    connection per wait would cost a PostgreSQL backend (a fork, on the server) and a
    connection set-up per `?wait=N` call. If the connection breaks, the thread opens
    it again; meanwhile waiters still re-read their task every second.
    """

    RECONNECT_DELAY = 1.0

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._waiters: dict[str, list[threading.Event]] = {}
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-finished-listener", daemon=True)
        self._thread.start()

    def register(self, key: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(key, []).append(event)
        return event

    def unregister(self, key: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiters.get(key, [])
            if event in events:
                events.remove(event)
            if not events:
                self._waiters.pop(key, None)

    def wait_listening(self, timeout: float) -> bool:
        """True once LISTEN is in force (a notification sent from then on is seen)."""
        return self._listening.wait(timeout)

    def _run(self) -> None:
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {FINISHED_CHANNEL}")
                    self._listening.set()
                    for notice in conn.notifies():
                        with self._lock:
                            events = list(self._waiters.get(notice.payload, ()))
                        for event in events:
                            event.set()
            except Exception:  # noqa: BLE001 - a broken connection is opened again; waiters poll meanwhile
                log.warning("the task-finished listener lost its connection; reconnecting", exc_info=True)
            self._listening.clear()
            time.sleep(self.RECONNECT_DELAY)


_listeners: dict[tuple[int, str], FinishedTaskListener] = {}
_listener_lock = threading.Lock()


def finished_task_listener() -> FinishedTaskListener:
    """This process's listener for the configured database, started on first use
    (per pid: gunicorn forks, and a thread does not survive a fork)."""
    where = (os.getpid(), load_settings().database_url)
    with _listener_lock:
        if where not in _listeners:
            _listeners[where] = FinishedTaskListener(where[1])
        return _listeners[where]


def wait_until_finished(key: str, account_id: int, timeout: float) -> TaskRecord | None:
    """The task, read again as soon as it has finished, or once `timeout` seconds passed.

    Registers with the process's FINISHED_CHANNEL listener before reading the row, so
    that a task finishing in between is not missed. Re-reads at least every second
    anyway, so that a lost notification (or a listener reconnecting) costs a second,
    not the whole wait.
    """
    record = get_task(key, account_id)
    if record is None or record.finished or timeout <= 0:
        return record
    deadline = time.monotonic() + timeout
    listener = finished_task_listener()
    # Blocks only while the listener connects (a process's first wait) or reconnects.
    listener.wait_listening(min(timeout, 5.0))
    event = listener.register(key)
    try:
        while True:
            record = get_task(key, account_id)
            remaining = deadline - time.monotonic()
            if record is None or record.finished or remaining <= 0:
                return record
            event.wait(min(1.0, remaining))
            event.clear()
    finally:
        listener.unregister(key, event)


def presigned_print_files(record: TaskRecord, lifetime_seconds: int) -> list[dict[str, Any]]:
    """The task's print files as clients see them: each with a freshly signed
    `export_path` valid `lifetime_seconds`, and its stored metadata."""
    from shared.storage import get_storage  # noqa: PLC0415 (storage is only needed here)

    files = []
    for stored in print_files_of(record):
        url, expires_at = get_storage().presigned_get(stored["object_key"], lifetime_seconds=lifetime_seconds)
        print_file = {"export_path": url, "expires_at": expires_at}
        for name in ("width", "height", "bytes", "format", "smart_object_uuid"):
            if stored.get(name) is not None:
                print_file[name] = stored[name]
        files.append(print_file)
    return files


def print_files_of(record: TaskRecord) -> list[dict[str, Any]]:
    """The print files a completed task recorded (each with its `object_key`).

    Results recorded before `print_files` existed held one file at the top level.
    """
    result = record.result or {}
    if "print_files" in result:
        return list(result["print_files"])
    if "object_key" in result:
        return [{"object_key": result["object_key"], "width": result.get("width"),
                 "height": result.get("height"), "bytes": result.get("size_bytes"),
                 "format": (result.get("content_type") or "image/png").split("/")[-1]}]
    return []


def uploaded_objects_of(record: TaskRecord) -> list[str]:
    """The S3 keys of the artwork the API stored for this task (base64 and multipart
    uploads): they live as long as the task's results."""
    keys = []
    # A bulk task's artwork, stored once for all its items.
    if (record.params or {}).get("artwork_key"):
        keys.append(record.params["artwork_key"])
    # A Printful-compatible generation task's images, one per placement (shared/printful.py).
    keys.extend((record.params or {}).get("artwork_keys") or [])
    for item in (record.params or {}).get("smart_objects") or []:
        key = (item.get("asset") or {}).get("object_key")
        if key and key not in keys:
            keys.append(key)
    return keys


def tasks_with_expired_results(older_than_seconds: int, limit: int = 500) -> list[TaskRecord]:
    """Completed tasks that finished over `older_than_seconds` ago whose result
    objects are still in S3."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT {_COLUMNS} FROM tasks
                 WHERE status = 'completed' AND results_deleted_at IS NULL
                   AND finished_at < now() - make_interval(secs => %s)
              ORDER BY finished_at LIMIT %s""",
            (older_than_seconds, limit),
        )
        return [_record(row) for row in cur.fetchall()]


def mark_results_deleted(key: str) -> bool:
    with get_pool().connection() as conn:
        cur = conn.execute(
            "UPDATE tasks SET results_deleted_at = now(), updated_at = now() "
            "WHERE key = %s AND results_deleted_at IS NULL",
            (key,),
        )
        return cur.rowcount == 1


def stale_pending_tasks(older_than_seconds: int, limit: int = 1000) -> list[TaskRecord]:
    """Tasks still pending long after they were accepted: their message was lost."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT {_COLUMNS} FROM tasks
                 WHERE status = 'pending' AND created_at < now() - make_interval(secs => %s)
              ORDER BY created_at LIMIT %s""",
            (older_than_seconds, limit),
        )
        return [_record(row) for row in cur.fetchall()]


def start_task(key: str) -> TaskRecord | None:
    """Claim a task for running and count the attempt; None when it is already finished
    (or unknown), in which case the delivery must do nothing."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""UPDATE tasks
                   SET status = 'processing', attempts = attempts + 1,
                       started_at = now(), updated_at = now()
                 WHERE key = %s AND status IN ('pending', 'processing')
             RETURNING {_COLUMNS}""",
            (key,),
        )
        return _record(cur.fetchone())


def complete_task(key: str, result: dict[str, Any], error: str | None = None) -> bool:
    """Record success (`error`: what went wrong in part, e.g. some items of a bulk
    task failed); False when the task had already finished."""
    return _finish_task(
        """UPDATE tasks
              SET status = 'completed', result = %s, error = %s,
                  finished_at = now(), updated_at = now()
            WHERE key = %s AND status IN ('pending', 'processing')""",
        (Jsonb(result), error, key))


def fail_task(key: str, error: str) -> bool:
    """Record failure with its reason; False when the task had already finished."""
    return _finish_task(
        """UPDATE tasks
              SET status = 'failed', error = %s,
                  finished_at = now(), updated_at = now()
            WHERE key = %s AND status IN ('pending', 'processing')""",
        (error, key))


def _finish_task(update: str, params: tuple) -> bool:
    """Run the UPDATE finishing a task and, in the same transaction, record its
    webhook deliveries; once committed, queue them at once (README, "Webhooks": they
    leave within milliseconds of the task finishing). False when it had finished already.

    An item of a bulk task has no webhooks of its own (its parent has one, once):
    instead it is counted on its parent in the same transaction, so that it counts
    exactly once however many times it was delivered, and the item that finishes the
    count queues the parent's finishing step."""
    parent_done = None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"{update} RETURNING {_COLUMNS}", params)
        record = _record(cur.fetchone())
        if record is None:
            return False
        if record.parent_key is not None:
            delivery_ids = []
            cur.execute(
                """UPDATE tasks SET items_done = items_done + 1,
                                    items_failed = items_failed + %s, updated_at = now()
                    WHERE key = %s
                RETURNING items_done >= items_total AS all_done""",
                (1 if record.status == FAILED else 0, record.parent_key))
            row = cur.fetchone()
            parent_done = row is not None and row["all_done"]
        else:
            delivery_ids = webhooks.record_task_event(conn, record)
    webhooks.enqueue_deliveries(delivery_ids)
    if parent_done:
        _queue_bulk_finish(record.parent_key)
    return True


def _queue_bulk_finish(parent_key: str) -> None:
    """Queue the step that finishes a bulk task whose items have all finished. A
    failure is logged, not raised: beat's sweeper finds such parents and queues it again."""
    import logging  # noqa: PLC0415

    from workers.celery_app import send_bulk_finish  # noqa: PLC0415 - the API and workers both finish tasks

    try:
        send_bulk_finish(parent_key)
    except Exception:  # noqa: BLE001 - see above
        logging.getLogger(__name__).exception("could not queue the finishing step of bulk task %s", parent_key)
