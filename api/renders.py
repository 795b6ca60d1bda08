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
from shared import bulk, collections, mockups, tasks
from shared.schemas import (MAX_BULK_ITEMS, BulkRenderForm, BulkRenderRequest, MockupRenderRequest,
                            PrintFilesRequest, RenderForm, SolidRenderRequest, TaskResponse, WaitQuery)
from workers.celery_app import send_task_key

log = logging.getLogger(__name__)

blp = Blueprint("renders", __name__, url_prefix="/api/v1/renders", description="Start renders")


# Routes whose body may be multipart/form-data (artwork in the field `file`).
MULTIPART_ROUTES = frozenset({"renders.render_mockup", "renders.render_print_files", "renders.render_bulk"})


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
        item.update(mockup.render_item(so))
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


def _mockup_task_route(path: str, request_schema):
    """The decorators of a route that starts a task on one mockup: POST, `?wait=N`,
    the body as JSON or multipart (documented), 202 or 200 with the task."""
    decorators = [
        blp.route(path, methods=["POST"]),
        blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE),
        blp.doc(requestBody={**_BODY_DOC, "content": {"application/json": {"schema": request_schema},
                                                      **_BODY_DOC["content"]}}),
        blp.response(202, TaskResponse, description="accepted; poll the task (Location) for its state"),
        blp.alt_response(200, schema=TaskResponse, description="finished within `?wait=N` seconds"),
        blp.alt_response(404, description="no mockup of this account has this uuid"),
        blp.alt_response(409, description="the mockup is not ready (still processing, or failed)"),
    ]

    def decorate(view):
        for decorator in reversed(decorators):  # as if written above the view, top to bottom
            view = decorator(view)
        return view
    return decorate


@_mockup_task_route("", MockupRenderRequest)
def render_mockup(wait: int):
    """Render a mockup with your artwork in its smart objects (others keep their content).

    Artwork comes by `url` (downloaded by the worker), `base64` with `content_type`,
    or as the multipart field `file` (`"file": true` in the asset, the JSON in the
    form field `data`)."""
    return _start(MOCKUP_RENDER_KIND, MockupRenderRequest(), wait)


@_mockup_task_route("/print-files", PrintFilesRequest)
def render_print_files(wait: int):
    """Print files: each smart object's artwork placed as in a render, unwarped, at
    `export_options.dpi`, as PNG or PDF (one print file per smart object given artwork)."""
    return _start(PRINT_FILES_KIND, PrintFilesRequest(), wait)


# --------------------------------------------------------------------------- bulk renders

def _bulk_mockups(body: dict) -> list[tuple[str, mockups.Mockup | None]]:
    """(uuid as asked, the account's mockup or None) for every mockup of the bulk, in order."""
    account_id = current_key().account_id
    if "collection_uuid" in body:
        wanted = collections.mockup_uuids_of(body["collection_uuid"], account_id)
        if wanted is None:
            abort(404, message=f"no collection with uuid {body['collection_uuid']!r}")
        if not wanted:
            uploads.invalid("collection_uuid", f"collection {body['collection_uuid']} has no mockups")
    else:
        wanted = body["mockup_uuids"]
    found = mockups.get_mockups(wanted, account_id)
    return [(mockup_uuid, found.get(mockup_uuid.lower())) for mockup_uuid in wanted]


def _chosen_smart_objects(body: dict, chosen: list[tuple[str, mockups.Mockup | None]]) -> dict[str, list[dict]]:
    """The smart objects given the artwork, by mockup uuid: `overrides`, else all or
    the first (`smart_objects`). 422 naming the field for an override that names
    something not in the bulk."""
    ready = {mockup.uuid: mockup for _, mockup in chosen if mockup is not None}
    overrides = {}
    for index, override in enumerate(body["overrides"]):
        mockup = ready.get(override["mockup_uuid"].lower())
        if mockup is None:
            uploads.invalid(f"overrides.{index}.mockup_uuid",
                            f"{override['mockup_uuid']!r} is not a mockup of this bulk")
        known = {so["uuid"]: so for so in mockup.smart_objects}
        for number, so_uuid in enumerate(override["smart_object_uuids"]):
            if so_uuid not in known:
                uploads.invalid(f"overrides.{index}.smart_object_uuids.{number}",
                                f"mockup {mockup.uuid} has no smart object {so_uuid!r} "
                                f"(it has: {', '.join(known) or 'none'})")
        overrides[mockup.uuid] = [known[so_uuid] for so_uuid in dict.fromkeys(override["smart_object_uuids"])]
    picked = {}
    for mockup_uuid, mockup in ready.items():
        if mockup_uuid in overrides:
            picked[mockup_uuid] = overrides[mockup_uuid]
        else:
            picked[mockup_uuid] = list(mockup.smart_objects[:1] if body["smart_objects"] == "first"
                                       else mockup.smart_objects)
    return picked


def _bulk_item(mockup_uuid: str, mockup: mockups.Mockup | None, smart_objects: list[dict] | None,
               asset: dict, color: dict | None, export_options: dict) -> dict:
    """One item of the bulk: the params of a single render.mockup task (see
    `_task_params`), or the reason it cannot be rendered."""
    hex_colour = None if color is None else "#" + color["hex"].lstrip("#").lower()
    shown = {"mockup_uuid": mockup.uuid if mockup else mockup_uuid, "color": hex_colour}
    if mockup is None:
        return {"params": shown, "error": f"no mockup with uuid {mockup_uuid!r}"}
    if mockup.status == mockups.PROCESSING:
        return {"params": shown, "error": f"mockup {mockup.uuid} is still processing"}
    if mockup.status != mockups.READY:
        return {"params": shown, "error": f"mockup {mockup.uuid} failed to ingest: {mockup.error}"}
    if not smart_objects:
        return {"params": shown, "error": f"mockup {mockup.uuid} has no smart object to put the artwork in"}
    items = []
    for so in smart_objects:
        item = {**mockup.render_item(so), "asset": dict(asset)}
        if color is not None:
            item["color"] = {**color, "hex": hex_colour}
        items.append(item)
    label = mockup.name if hex_colour is None else f"{mockup.name} {hex_colour}"
    return {"params": {**shown, "plan_key": mockup.plan_key, "smart_objects": items,
                       "export_options": export_options, "export_label": label}}


@blp.route("/bulk", methods=["POST"])
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": BulkRenderRequest},
                                                    "multipart/form-data": {"schema": BulkRenderForm}}})
@blp.response(202, TaskResponse, description="accepted; poll the task (Location) for progress and results")
@blp.alt_response(200, schema=TaskResponse, description="finished within `?wait=N` seconds")
@blp.alt_response(404, description="no collection of this account has this uuid")
@blp.alt_response(422, description="invalid request: no mockups, too many renders, a bad override...")
def render_bulk(wait: int):
    """One artwork onto every mockup of a collection (or a list of mockups), once per
    colour: one task, whose items are single renders spread over the render workers.

    The task shows `progress` (done, failed, total) while it runs and every item's
    status and print files; once completed, `zip` is a ZIP of every result. A mockup
    that cannot be rendered (unknown, not ready) is a failed item, not a failed
    request. The artwork is downloaded (by URL) or stored (base64, file) once, and
    every item reads that copy."""
    body, file = _render_request(BulkRenderRequest())
    chosen = _bulk_mockups(body)
    colors = body.get("colors") or [None]
    if len(chosen) * len(colors) > MAX_BULK_ITEMS:
        uploads.invalid("colors", f"{len(chosen)} mockups x {len(colors)} colours is more than "
                                  f"{MAX_BULK_ITEMS} renders in one bulk")
    picked = _chosen_smart_objects(body, chosen)

    limit = uploads.fetch_policy().max_asset_bytes
    asset = dict(body["artwork"])
    artwork_key = f"uploads/{uuid.uuid4()}"
    source = {}
    if asset.get("url"):
        uploads.check_url(asset["url"], "artwork.url")
        source["url"] = asset.pop("url")
    elif asset.get("base64"):
        data = uploads.decode_base64(asset.pop("base64"), "artwork.base64", limit)
        get_storage().put_bytes(artwork_key, data, asset.pop("content_type"))
    else:
        if file is None:
            uploads.invalid("artwork.file", "send the artwork as the multipart field `file`")
        get_storage().put_bytes(artwork_key, file[0], "application/octet-stream")
        del asset["file"]
    # Every item reads the one stored copy (a URL's is written by the task's first step).
    asset["object_key"] = artwork_key

    items = [_bulk_item(mockup_uuid, mockup, picked.get(mockup.uuid) if mockup else None, asset, color,
                        body["export_options"])
             for mockup_uuid, mockup in chosen for color in colors]
    params = {"artwork": source, "artwork_key": artwork_key, "items": items,
              "collection_uuid": body.get("collection_uuid"), "webhook_url": body.get("webhook_url")}
    return accepted(enqueue(bulk.BULK_RENDER_KIND, params), wait)
