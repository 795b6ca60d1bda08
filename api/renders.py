"""POST /api/v1/renders/...: accept a render, record it, queue it, answer 202 (or,
with `?wait=N`, the finished task if it finishes within N seconds)."""
from __future__ import annotations

import logging
import uuid

from flask import request, url_for
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api import uploads
from api.auth import current_key
from api.tasks import task_data
from shared.storage import get_storage
from shared import mockups, tasks
from shared.schemas import (MockupRenderRequest, PrintFilesRequest, RenderForm, SolidRenderRequest, TaskResponse,
                            WaitQuery)
from workers.celery_app import send_task_key

log = logging.getLogger(__name__)

blp = Blueprint("renders", __name__, url_prefix="/api/v1/renders", description="Start renders")


# Routes whose body may be multipart/form-data (artwork in the field `file`).
MULTIPART_ROUTES = frozenset({"renders.render_mockup", "renders.render_print_files"})


@blp.before_request
def require_json():
    # Without this a form or text body reads as "every field missing", which misleads.
    if request.method != "POST" or request.is_json:
        return
    if request.endpoint in MULTIPART_ROUTES and request.mimetype == "multipart/form-data":
        return
    abort(415, message="send the request body as JSON (Content-Type: application/json)")


def send(record: tasks.TaskRecord) -> tasks.TaskRecord:
    """Queue the key of a recorded task; 503 (and the task failed) when the broker is down."""
    try:
        send_task_key(record.kind, record.key)
    except Exception as exc:  # noqa: BLE001 - any broker failure means the same to the client
        log.exception("could not queue task %s", record.key)
        tasks.fail_task(record.key, f"could not be queued: {type(exc).__name__}")
        abort(503, message="the task queue is unavailable; try again later")
    return record


def enqueue(kind: str, params: dict) -> tasks.TaskRecord:
    """Write the task to PostgreSQL first (the record), then queue its key."""
    return send(tasks.create_task(kind, params, account_id=current_key().account_id))


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


# --------------------------------------------------------------------------- renders of a mockup

MOCKUP_RENDER_KIND = "render.mockup"
PRINT_FILES_KIND = "render.print_files"


def _ready_mockup(mockup_uuid: str) -> mockups.Mockup:
    mockup = mockups.get_mockup(mockup_uuid, current_key().account_id)
    if mockup is None:
        abort(404, message=f"no mockup with uuid {mockup_uuid!r}")
    if mockup.status == mockups.PROCESSING:
        abort(409, message=f"mockup {mockup_uuid} is still processing; render it once its status is ready")
    if mockup.status != mockups.READY:
        abort(409, message=f"mockup {mockup_uuid} failed to ingest and cannot be rendered: {mockup.error}")
    return mockup


def _stash(data: bytes, content_type: str) -> str:
    """Store uploaded artwork in S3 (only keys travel through the queue); answer its key."""
    key = f"uploads/{uuid.uuid4()}"
    get_storage().put_bytes(key, data, content_type)
    return key


def _task_params(body: dict, mockup: mockups.Mockup, file: tuple[bytes, str | None] | None) -> dict:
    """What the worker needs, with each smart object resolved against the mockup (422
    naming the field otherwise) and uploaded artwork moved to S3."""
    known = {so["uuid"]: so for so in mockup.smart_objects}
    limit = uploads.fetch_policy().max_asset_bytes
    file_key = None
    items = []
    for index, requested in enumerate(body["smart_objects"]):
        where = f"smart_objects.{index}"
        so = known.get(requested["uuid"])
        if so is None:
            uploads.invalid(f"{where}.uuid", f"mockup {mockup.uuid} has no smart object {requested['uuid']!r} "
                                             f"(it has: {', '.join(known) or 'none'})")
        item = {key: value for key, value in requested.items() if key != "print_area_preset_uuid"}
        item.update(name=so["name"], content_size=[so["size"]["width"], so["size"]["height"]], dpi=so.get("dpi"))
        preset_uuid = requested.get("print_area_preset_uuid")
        if preset_uuid is not None:
            presets = {preset["uuid"]: preset for preset in so.get("print_area_presets", [])}
            if preset_uuid not in presets:
                uploads.invalid(f"{where}.print_area_preset_uuid",
                                f"smart object {so['uuid']} has no print area preset {preset_uuid!r}")
            item["print_area"] = presets[preset_uuid]
        asset = dict(requested.get("asset") or {})
        if asset.get("url"):
            uploads.check_url(asset["url"], f"{where}.asset.url")
        elif asset.get("base64"):
            data = uploads.decode_base64(asset.pop("base64"), f"{where}.asset.base64", limit)
            asset["object_key"] = _stash(data, asset.pop("content_type"))
        elif asset.get("file"):
            if file is None:
                uploads.invalid(f"{where}.asset.file", "send the artwork as the multipart field `file`")
            if file_key is None:
                file_key = _stash(file[0], "application/octet-stream")
            asset["object_key"] = file_key
            del asset["file"]
        if asset:
            item["asset"] = asset
        items.append(item)
    return {"mockup_uuid": mockup.uuid, "plan_key": mockup.plan_key, "smart_objects": items,
            "export_options": body["export_options"], "export_label": body.get("export_label"),
            "webhook_url": body.get("webhook_url")}


def _render_request(schema) -> tuple[dict, tuple[bytes, str | None] | None]:
    """The request, from JSON or from multipart (JSON in `data`, artwork in `file`)."""
    if uploads.is_multipart():
        document = uploads.multipart_json("data")
        file = uploads.multipart_file(uploads.fetch_policy().max_asset_bytes)
        return uploads.load(schema, document, "form"), file
    return uploads.load_json(schema), None


def _start(kind: str, schema, wait: int):
    body, file = _render_request(schema)
    if kind == PRINT_FILES_KIND:
        for index, item in enumerate(body["smart_objects"]):
            if not item.get("asset"):
                uploads.invalid(f"smart_objects.{index}.asset", "required: a print file is made of artwork")
    mockup = _ready_mockup(body["mockup_uuid"])
    return accepted(enqueue(kind, _task_params(body, mockup, file)), wait)


_BODY_DOC = {"required": True, "content": {"multipart/form-data": {"schema": RenderForm}}}


@blp.route("", methods=["POST"])
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.doc(requestBody={**_BODY_DOC, "content": {"application/json": {"schema": MockupRenderRequest},
                                               **_BODY_DOC["content"]}})
@blp.response(202, TaskResponse, description="accepted; poll the task (Location) for its state")
@blp.alt_response(200, schema=TaskResponse, description="finished within `?wait=N` seconds")
@blp.alt_response(404, description="no mockup of this account has this uuid")
@blp.alt_response(409, description="the mockup is not ready (still processing, or failed)")
def render_mockup(wait: int):
    """Render a mockup with your artwork in its smart objects (others keep their content).

    Artwork comes by `url` (downloaded by the worker), `base64` with `content_type`,
    or as the multipart field `file` (`"file": true` in the asset, the JSON in the
    form field `data`)."""
    return _start(MOCKUP_RENDER_KIND, MockupRenderRequest(), wait)


@blp.route("/print-files", methods=["POST"])
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.doc(requestBody={**_BODY_DOC, "content": {"application/json": {"schema": PrintFilesRequest},
                                               **_BODY_DOC["content"]}})
@blp.response(202, TaskResponse, description="accepted; poll the task (Location) for its state")
@blp.alt_response(200, schema=TaskResponse, description="finished within `?wait=N` seconds")
@blp.alt_response(404, description="no mockup of this account has this uuid")
@blp.alt_response(409, description="the mockup is not ready (still processing, or failed)")
def render_print_files(wait: int):
    """Print files: each smart object's artwork placed as in a render, unwarped, at
    `export_options.dpi`, as PNG or PDF (one print file per smart object given artwork)."""
    return _start(PRINT_FILES_KIND, PrintFilesRequest(), wait)
