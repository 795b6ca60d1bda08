"""The task records in PostgreSQL: the only place task state lives.

Status moves pending -> processing -> completed | failed, and a finished task never
changes again. The state changes are single conditional UPDATEs, so that a task
delivered twice (a worker died, the broker handed it to another) is safe: only one
delivery can finish it, and a finished one is left alone.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.db import get_pool

PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
FINISHED = (COMPLETED, FAILED)


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


_COLUMNS = "key, kind, status, params, result, error, attempts, created_at, started_at, finished_at"


def _record(row: dict | None) -> TaskRecord | None:
    return TaskRecord(**row) if row else None


def new_task_key() -> str:
    return str(uuid.uuid4())


def create_task(kind: str, params: dict[str, Any]) -> TaskRecord:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"INSERT INTO tasks (key, kind, params) VALUES (%s, %s, %s) RETURNING {_COLUMNS}",
            (new_task_key(), kind, Jsonb(params)),
        )
        return _record(cur.fetchone())


def get_task(key: str) -> TaskRecord | None:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM tasks WHERE key = %s", (key,))
        return _record(cur.fetchone())


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


def complete_task(key: str, result: dict[str, Any]) -> bool:
    """Record success; False when the task had already finished."""
    with get_pool().connection() as conn:
        cur = conn.execute(
            """UPDATE tasks
                  SET status = 'completed', result = %s, error = NULL,
                      finished_at = now(), updated_at = now()
                WHERE key = %s AND status IN ('pending', 'processing')""",
            (Jsonb(result), key),
        )
        return cur.rowcount == 1


def fail_task(key: str, error: str) -> bool:
    """Record failure with its reason; False when the task had already finished."""
    with get_pool().connection() as conn:
        cur = conn.execute(
            """UPDATE tasks
                  SET status = 'failed', error = %s,
                      finished_at = now(), updated_at = now()
                WHERE key = %s AND status IN ('pending', 'processing')""",
            (error, key),
        )
        return cur.rowcount == 1
