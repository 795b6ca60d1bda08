"""Printful's mockup generator API (v1), over mockfarm's products: a client written
for Printful works by changing its base URL to mockfarm's and its token to a
mockfarm API key (sent as `Authorization: Bearer <key>`, or `x-api-key`).

    GET  /mockup-generator/printfiles/{product_id}
    GET  /mockup-generator/templates/{product_id}
    POST /mockup-generator/create-task/{product_id}
    GET  /mockup-generator/task?task_key=gt-...

Answers, errors included, are in Printful's envelope (api.MockfarmApi turns every
error on these paths into {"code", "result", "error": {"reason", "message"}}, and
validation failures into 400 as Printful does). Products, tasks and mockups are
the caller's account's: another account's look exactly like missing ones.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from http import HTTPStatus

from apispec import BasePlugin
from flask import current_app, jsonify
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api.auth import current_key
from api.renders import send
from api.tasks import describe_duration
from shared import bulk, printful, products, safefetch, tasks
from shared.schemas import (PrintfulCreateTask, PrintfulError, PrintfulPrintfilesResponse, PrintfulTaskCreatedResponse,
                            PrintfulTaskQuery, PrintfulTaskResponse, PrintfulTemplatesResponse)
from shared.storage import get_storage

PREFIX = "/mockup-generator/"

blp = Blueprint("printful", __name__, url_prefix="/mockup-generator",
                description="Printful-compatible mockup generator (Printful API v1 shapes; see README)")


def is_printful_path(path: str) -> bool:
    return path.startswith(PREFIX) or path == PREFIX.rstrip("/")


class PrintfulErrorsPlugin(BasePlugin):
    """OpenAPI: the generator's operations answer every error in Printful's shape, and
    invalid input with 400 rather than mockfarm's 422 (api.MockfarmApi makes it so)."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        if not path or not is_printful_path(path):
            return
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            responses.pop(422, None)
            responses["default"] = {"description": "an error, in Printful's shape (401 for a bad token too)",
                                    "content": {"application/json": {"schema": "PrintfulError"}}}


def error_response(status: int, message: str):
    """Printful's error shape, e.g. {"code": 400, "result": "Invalid variant_ids: 7",
    "error": {"reason": "BadRequest", "message": "Invalid variant_ids: 7"}}."""
    try:
        reason = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        reason = "Error"
    response = jsonify({"code": status, "result": message, "error": {"reason": reason, "message": message}})
    response.status_code = status
    return response


def bad_request(message: str):
    abort(400, message=message)


def _product(product_id: int) -> products.Product:
    product = products.get_product(product_id, current_key().account_id)
    if product is None:
        abort(404, message=f"Product {product_id} not found")
    return product


def _product_mockups(product: products.Product):
    try:
        return printful.product_mockups(product, current_key().account_id)
    except printful.GenerationError as exc:
        bad_request(str(exc))


def _lifetime() -> int:
    return current_app.config["MOCKFARM_SETTINGS"].result_url_ttl


def _ok(result) -> dict:
    return {"code": 200, "result": result, "extra": []}


_ERRORS = {"schema": PrintfulError}


@blp.route("/printfiles/<int:product_id>")
@blp.response(200, PrintfulPrintfilesResponse)
@blp.alt_response(404, description="no product of this account has this id", **_ERRORS)
def get_printfiles(product_id: int):
    """The product's placements, print files (size, dpi, fill mode) and each variant's
    print file per placement; its option groups and options."""
    return _ok(printful.printfiles_result(_product(product_id)))


@blp.route("/templates/<int:product_id>")
@blp.response(200, PrintfulTemplatesResponse)
@blp.alt_response(400, description="a mockup of the product was deleted: define it again", **_ERRORS)
@blp.alt_response(404, description="no product of this account has this id", **_ERRORS)
def get_templates(product_id: int):
    """Layout templates for positioning artwork in a client: each template's image
    (presigned), its size, and the print area on it; which templates each variant uses."""
    product = _product(product_id)
    by_uuid = _product_mockups(product)
    lifetime = _lifetime()

    def sign(key: str) -> str:
        return get_storage().presigned_get(key, lifetime_seconds=lifetime)[0]

    return _ok(printful.templates_result(product, by_uuid, sign))


@blp.route("/create-task/<int:product_id>", methods=["POST"])
@blp.arguments(PrintfulCreateTask)
@blp.response(200, PrintfulTaskCreatedResponse)
@blp.alt_response(400, description="invalid request: unknown variant, placement or option, a refused image_url",
                  **_ERRORS)
@blp.alt_response(404, description="no product of this account has this id", **_ERRORS)
def create_task(body: dict, product_id: int):
    """Start generating mockups (and print files) of the variants with the files'
    artwork in their placements; poll GET /mockup-generator/task for the result."""
    product = _product(product_id)
    for index, file in enumerate(body["files"]):
        try:
            safefetch.check_url(file["image_url"], safefetch.FetchPolicy.from_env())
        except safefetch.FetchError as exc:
            bad_request(f"files.{index}.image_url: refused: {exc.reason}")
    by_uuid = _product_mockups(product)
    try:
        params = printful.generation_params(product, by_uuid, body)
    except printful.GenerationError as exc:
        bad_request(str(exc))
    record = send(tasks.create_task(printful.GENERATE_KIND, params, account_id=current_key().account_id))
    return _ok({"task_key": printful.task_key_of(record.key), "status": "pending"})


@blp.route("/task")
@blp.arguments(PrintfulTaskQuery, location="query", unknown=RAISE)
@blp.response(200, PrintfulTaskResponse)
@blp.alt_response(400, description="no task_key, or an unknown query parameter", **_ERRORS)
@blp.alt_response(404, description="no generation task of this account has this key", **_ERRORS)
def get_task(query: dict):
    """A generation task: pending, failed (with its error) or completed, with every
    mockup's URL (presigned) and the print files."""
    record_key = printful.record_key_of(query["task_key"])
    record = tasks.get_task(record_key, current_key().account_id) if record_key else None
    if record is None or record.kind != printful.GENERATE_KIND:
        abort(404, message=f"Task {query['task_key']} not found")
    items = bulk.items_of(record.key) if record.items_total is not None else []
    expired = None
    remaining = 0
    if record.status == tasks.COMPLETED:
        ttl = _lifetime()
        # The items' results expire with them, and the first item finished after the
        # task started: a URL never outlives what it points at.
        remaining = int((record.started_at + timedelta(seconds=ttl) - datetime.now(timezone.utc)).total_seconds())
        if remaining < 1 or any(item.results_deleted_at is not None for item in items):
            expired = (f"the results of this task have expired: they are deleted {describe_duration(ttl)} after "
                       f"the task finishes")

    def sign(key: str) -> str:
        return get_storage().presigned_get(key, lifetime_seconds=remaining)[0]

    return _ok(printful.task_result(record, items, sign, expired))
