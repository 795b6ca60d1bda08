"""POST /api/v1/renders/...: accept a render, record it, queue it, answer 202 (or,
with `?wait=N`, the finished task if it finishes within N seconds)."""
from __future__ import annotations

import logging

from flask import request, url_for
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api.auth import current_key
from api.tasks import task_data
from shared import tasks
from shared.schemas import SolidRenderRequest, TaskResponse, WaitQuery
from workers.celery_app import send_task_key

log = logging.getLogger(__name__)

blp = Blueprint("renders", __name__, url_prefix="/api/v1/renders", description="Start renders")


@blp.before_request
def require_json():
    # Without this a form or text body reads as "every field missing", which misleads.
    if request.method == "POST" and not request.is_json:
        abort(415, message="send the request body as JSON (Content-Type: application/json)")


def enqueue(kind: str, params: dict) -> tasks.TaskRecord:
    """Write the task to PostgreSQL first (the record), then queue its key."""
    record = tasks.create_task(kind, params, account_id=current_key().account_id)
    try:
        send_task_key(kind, record.key)
    except Exception as exc:  # noqa: BLE001 - any broker failure means the same to the client
        log.exception("could not queue task %s", record.key)
        tasks.fail_task(record.key, f"could not be queued: {type(exc).__name__}")
        abort(503, message="the task queue is unavailable; try again later")
    return record


def accepted(record: tasks.TaskRecord, wait: int):
    """202 with the pending task, or 200 with the finished one if it finished within `wait` s."""
    if wait:
        record = tasks.wait_until_finished(record.key, record.account_id, wait) or record
    status = 200 if record.finished else 202
    return {"data": task_data(record)}, status, {"Location": url_for("tasks.get_task", task_key=record.key)}


@blp.route("/solid", methods=["POST"])
@blp.arguments(SolidRenderRequest)
# unknown=RAISE: webargs ignores unknown query parameters by default; a misspelt
# `?wiat=` must be an error like any unknown field.
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(202, TaskResponse, description="accepted; poll the task (Location) for its state")
@blp.alt_response(200, schema=TaskResponse, description="finished within `?wait=N` seconds")
def render_solid(params: dict, wait: int):
    """A PNG of one colour: the smallest render, to check the farm end to end."""
    return accepted(enqueue("render.solid", params), wait)
