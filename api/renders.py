"""POST /api/v1/renders/...: accept a render, record it, queue it, answer 202."""
from __future__ import annotations

import logging

from flask import request, url_for
from flask_smorest import Blueprint, abort

from shared import tasks
from shared.schemas import SolidRenderRequest, TaskAccepted
from workers.celery_app import send_task_key

log = logging.getLogger(__name__)

blp = Blueprint("renders", __name__, url_prefix="/api/v1/renders", description="Start renders")


@blp.before_request
def require_json():
    # Without this a form or text body reads as "every field missing", which misleads.
    if request.method == "POST" and not request.is_json:
        abort(415, message="send the request body as JSON (Content-Type: application/json)")


def enqueue(kind: str, params: dict):
    """Write the task to PostgreSQL first (the record), then queue its key."""
    record = tasks.create_task(kind, params)
    try:
        send_task_key(kind, record.key)
    except Exception as exc:  # noqa: BLE001 - any broker failure means the same to the client
        log.exception("could not queue task %s", record.key)
        tasks.fail_task(record.key, f"could not be queued: {type(exc).__name__}")
        abort(503, message="the task queue is unavailable; try again later")
    return record


@blp.route("/solid", methods=["POST"])
@blp.arguments(SolidRenderRequest)
@blp.response(202, TaskAccepted)
def render_solid(params: dict):
    """A PNG of one colour: the smallest render, to check the farm end to end."""
    record = enqueue("render.solid", params)
    return {"task_key": record.key, "status": record.status}, 202, {
        "Location": url_for("tasks.get_task", task_key=record.key)}
