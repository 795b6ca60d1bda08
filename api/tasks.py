"""GET /api/v1/tasks/<task_key>: a task of the caller's account, from PostgreSQL,
with freshly presigned URLs for its print files once completed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api.auth import current_key
from shared import bulk, tasks
from shared.schemas import TaskResponse, WaitQuery
from shared.storage import get_storage

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Task state and results")

def describe_duration(seconds: int) -> str:
    """In the largest unit that divides it: 72 hours, 90 minutes, 5 seconds."""
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable: every integer is a whole number of seconds")


def task_data(record: tasks.TaskRecord) -> dict:
    """The `data` of a task response (see shared.schemas.Task)."""
    data = {
        "task_key": record.key,
        "status": record.status,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "print_files": [],
        "error": record.error,
        "expired": False,
    }
    ttl = current_app.config["MOCKFARM_SETTINGS"].result_url_ttl
    if record.is_bulk or record.kind in bulk.PARENT_KINDS:
        _add_bulk(data, record, ttl)
    if record.status != tasks.COMPLETED:
        return data
    # Results live `ttl` after the task finished; a URL never outlives them.
    remaining = _remaining(record.finished_at, ttl)
    if record.results_deleted_at is not None or remaining < 1:
        data["expired"] = True
        data["error"] = (f"the results of this task have expired: they are deleted {describe_duration(ttl)} "
                         f"after the task finishes, and it finished at "
                         f"{record.finished_at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        return data
    # Signed on every read, so a client that lost a URL just asks again.
    if record.is_bulk:
        # A bulk task's print files are its items': they expire with them, and the
        # first item finished after the bulk started.
        data["print_files"] = tasks.presigned_print_files(
            record, int(min(remaining, _remaining(record.started_at or record.finished_at, ttl))))
        archive = (record.result or {}).get("zip")
        if archive:
            url, expires_at = get_storage().presigned_get(archive["object_key"], lifetime_seconds=int(remaining))
            data["zip"] = {"export_path": url, "expires_at": expires_at, "bytes": archive["bytes"],
                           "files": archive["files"]}
    else:
        data["print_files"] = tasks.presigned_print_files(record, int(remaining))
    return data


def _remaining(finished_at: datetime, ttl: int) -> float:
    return (finished_at + timedelta(seconds=ttl) - datetime.now(timezone.utc)).total_seconds()


def _add_bulk(data: dict, record: tasks.TaskRecord, ttl: int) -> None:
    """`progress`, `items` (each with its print files once completed) and `zip` (set
    later, once completed) of a bulk task."""
    data["progress"] = bulk.progress_of(record)
    data["zip"] = None
    data["bulk_items"] = bulk.shown_items(record, ttl)


def find_task(task_key: str, wait: int = 0) -> tasks.TaskRecord:
    """The caller's task (waiting up to `wait` seconds for it to finish), or 404.
    Another account's task is answered exactly like a missing one."""
    record = tasks.wait_until_finished(task_key, current_key().account_id, wait)
    if record is None:
        abort(404, message=f"no task with key {task_key!r}")
    return record


@blp.route("/<string:task_key>")
# unknown=RAISE: webargs ignores unknown query parameters by default; a misspelt
# `?wiat=` must be an error like any unknown field.
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, TaskResponse)
@blp.alt_response(404, description="no task of this account has this key")
def get_task(task_key: str, wait: int):
    """A task's state and, once completed, its print files.

    With `?wait=N` the answer comes as soon as the task has finished, or after N
    seconds if it has not.
    """
    return {"data": task_data(find_task(task_key, wait))}
