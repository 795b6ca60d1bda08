"""GET /api/v1/tasks/<task_key>: a task's state, from PostgreSQL, with a fresh
presigned URL for its result once completed."""
from __future__ import annotations

import uuid

from flask_smorest import Blueprint, abort

from shared import tasks
from shared.schemas import TaskStatus
from shared.storage import Storage

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Task state and results")

_storage: Storage | None = None


def _get_storage() -> Storage:
    global _storage
    if _storage is None:
        _storage = Storage()
    return _storage


def task_view(record: tasks.TaskRecord) -> dict:
    view = {
        "task_key": record.key,
        "kind": record.kind,
        "status": record.status,
        "error": record.error,
        "attempts": record.attempts,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "result": None,
    }
    if record.status == tasks.COMPLETED and record.result:
        stored = record.result
        # Signed on every read, so a client that lost a URL just asks again.
        url, expires_at = _get_storage().presigned_get(stored["object_key"])
        view["result"] = {key: value for key, value in stored.items() if key != "object_key"}
        view["result"].update(url=url, expires_at=expires_at)
    return view


@blp.route("/<string:task_key>")
@blp.response(200, TaskStatus)
@blp.alt_response(404, description="no task has this key")
def get_task(task_key: str):
    try:
        uuid.UUID(task_key)
    except ValueError:
        abort(404, message=f"no task with key {task_key!r}")
    record = tasks.get_task(task_key)
    if record is None:
        abort(404, message=f"no task with key {task_key!r}")
    return task_view(record)
