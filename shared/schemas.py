"""Marshmallow schemas of the public API (requests and responses).

Unknown fields are rejected (marshmallow's default, stated here so nobody loosens
it by accident): a misspelt option must be an error, not silently ignored.
"""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from compositor.blend import BLEND_MODES
from shared import webhooks
from shared.config import load_settings

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _side():
    # The limit is read when the schema is built (the app factory), not at import time.
    limit = load_settings().max_output_side
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=limit))


def check_delivery_url(url: str) -> None:
    """A marshmallow validator: the URL obeys the rules of user URLs (shared.safefetch,
    allowlist included). Host names are resolved and checked when a delivery is made."""
    from shared.safefetch import FetchPolicy, URLNotAllowed, check_url

    try:
        check_url(url, FetchPolicy.from_env())
    except URLNotAllowed as exc:
        raise ValidationError(f"this URL is not allowed: {exc.reason}") from None


def _delivery_url(description: str, **options) -> fields.String:
    return fields.String(validate=[validate.Length(max=2048), check_delivery_url],
                         metadata={"description": description, "example": "https://example.com/hooks/mockfarm"},
                         **options)


class WebhookUrlMixin(Schema):
    """`webhook_url`, for every request that starts a task (renders, templates): it
    is sent task.completed or task.failed for that task, besides the account's endpoints."""

    webhook_url = _delivery_url(
        "a URL to POST this task's task.completed / task.failed event to, signed with the account's "
        "signing secret (GET /api/v1/webhooks/signing-secret)", allow_none=True)


class SolidRenderRequest(WebhookUrlMixin, StrictSchema):
    """A PNG of one colour, `width` x `height` pixels."""

    width = _side()
    height = _side()
    color = fields.String(
        required=True,
        validate=validate.Regexp(HEX_COLOUR, error="must be a hex colour #rrggbb or #rrggbbaa"),
        metadata={"example": "#3366ff"},
    )

    @validates_schema
    def _not_too_many_pixels(self, data, **kwargs):
        limit = load_settings().max_image_pixels
        if data["width"] * data["height"] > limit:
            raise ValidationError(f"width x height must not exceed {limit} pixels", "width")


class WaitQuery(StrictSchema):
    """`?wait=N`: hold the answer until the task has finished, or N seconds passed."""

    wait = fields.Integer(
        load_default=0, validate=validate.Range(min=0, max=30),
        metadata={"description": "seconds (0 to 30) to wait for the task to finish before answering"})


# ------------------------------------------------------------------ responses
#
# Every success is {"success": true, "data": ...}, every error {"success": false,
# "detail": ..., "errors"?: ...}; `envelope` makes the former's schema for each kind
# of data so that the OpenAPI document shows the real shapes.

def envelope(data_field: fields.Field, name: str) -> type[Schema]:
    return Schema.from_dict({
        "success": fields.Boolean(dump_default=True, metadata={"description": "always true here"}),
        "data": data_field,
    }, name=name)


class ErrorResponse(Schema):
    """The one shape of every error (4xx and 5xx)."""

    success = fields.Boolean(dump_default=False, metadata={"description": "always false here"})
    detail = fields.String(metadata={"description": "what went wrong, in one sentence for people"})
    errors = fields.Dict(metadata={
        "description": "validation errors only (400, 422): messages per location (json, query) and field"})


class PrintFile(Schema):
    export_path = fields.String(metadata={"description": "presigned GET URL, signed anew on each read"})
    expires_at = fields.DateTime(metadata={"description": "when `export_path` stops working (UTC)"})
    width = fields.Integer()
    height = fields.Integer()
    bytes = fields.Integer(metadata={"description": "size of the file"})
    format = fields.String(metadata={"description": "png, jpg, webp or pdf"})
    smart_object_uuid = fields.String(metadata={"description": "the smart object it was made for, if any"})


class Progress(Schema):
    done = fields.Integer(metadata={"description": "items finished (completed or failed)"})
    failed = fields.Integer(metadata={"description": "items failed"})
    total = fields.Integer(metadata={"description": "items in all"})


class BulkItemInfo(Schema):
    task_key = fields.String(metadata={"description": "the item's own task (GET /api/v1/tasks/{task_key} works too)"})
    index = fields.Integer(metadata={"description": "its position in the request's order, from 0"})
    mockup_uuid = fields.String(allow_none=True)
    color = fields.String(allow_none=True, metadata={"description": "the colour variant (hex), none for the plain one"})
    status = fields.String(metadata={"description": "pending, processing, completed or failed"})
    print_files = fields.List(fields.Nested(PrintFile))
    error = fields.String(allow_none=True, metadata={"description": "why this item failed"})


class ZipExport(Schema):
    export_path = fields.String(metadata={"description": "presigned GET URL of a ZIP of every result"})
    expires_at = fields.DateTime()
    bytes = fields.Integer()
    files = fields.Integer(metadata={"description": "files in the ZIP"})


class Task(Schema):
    task_key = fields.String()
    status = fields.String(metadata={"description": "pending, processing, completed or failed"})
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    print_files = fields.List(fields.Nested(PrintFile), metadata={
        "description": "the results, once completed (empty after they expired)"})
    error = fields.String(allow_none=True, metadata={
        "description": "why the task failed, or that its results expired"})
    expired = fields.Boolean(metadata={
        "description": "true once the results were deleted (MOCKFARM_RESULT_URL_TTL after the task finished)"})
    # Bulk tasks only (POST /api/v1/renders/bulk):
    progress = fields.Nested(Progress, metadata={"description": "bulk tasks: items finished so far"})
    # Not `items`: a task without it would be read as dict.items by marshmallow.
    bulk_items = fields.List(fields.Nested(BulkItemInfo), data_key="items", metadata={
        "description": "bulk tasks: every item, in the request's order, with its own status and results"})
    zip = fields.Nested(ZipExport, allow_none=True, metadata={
        "description": "bulk tasks: a ZIP of every result, once completed (none while running, or if "
                       "it could not be made: then `error` says so)"})


class Account(Schema):
    id = fields.Integer()
    name = fields.String()
    created_at = fields.DateTime()


class ApiKeyInfo(Schema):
    id = fields.String(metadata={"description": "the key's id (not the key): revoke it by this"})
    name = fields.String()
    prefix = fields.String(metadata={"description": "the key's first characters, to tell keys apart"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "to the minute"})


class NewApiKey(ApiKeyInfo):
    key = fields.String(metadata={"description": "the key itself: shown this once, never again"})


class CreateKeyRequest(StrictSchema):
    name = fields.String(load_default="", validate=validate.Length(max=100))
    expires_in_days = fields.Integer(load_default=None, allow_none=True, strict=True,
                                     validate=validate.Range(min=1, max=3650),
                                     metadata={"description": "days until the key stops working; none: never"})


class Usage(Schema):
    renders = fields.Integer(metadata={"description": "completed renders"})
    print_files = fields.Integer(metadata={"description": "print files of the completed renders"})
    failed_renders = fields.Integer(metadata={"description": "failed renders (not counted as usage)"})


class Me(Schema):
    account = fields.Nested(Account)
    key = fields.Nested(ApiKeyInfo, metadata={"description": "the key this request was made with"})
    usage = fields.Nested(Usage)


# ------------------------------------------------------------------ webhooks



class CreateWebhookRequest(StrictSchema):
    url = _delivery_url("where events are POSTed (http or https)", required=True)
    events = fields.List(
        fields.String(validate=validate.OneOf(webhooks.EVENTS)), load_default=lambda: list(webhooks.EVENTS),
        validate=validate.Length(min=1), metadata={"description": "the event types sent to it (default: all)"})


class UpdateWebhookRequest(StrictSchema):
    enabled = fields.Boolean(metadata={"description": "false: send it nothing (its pending retries stop)"})
    events = fields.List(fields.String(validate=validate.OneOf(webhooks.EVENTS)), validate=validate.Length(min=1))


class WebhookEndpoint(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    enabled = fields.Boolean()
    created_at = fields.DateTime()


class NewWebhookEndpoint(WebhookEndpoint):
    secret = fields.String(metadata={
        "description": "the signing secret: shown this once, never again (README, \"Webhooks\")"})


class SigningSecret(Schema):
    secret = fields.String(metadata={"description": "signs deliveries to per-request webhook_url"})


class WebhookTestRequest(StrictSchema):
    url = _delivery_url("send the sample to this URL (signed with the account's signing secret) instead of "
                        "to every enabled endpoint", load_default=None, allow_none=True)


class DeliveryQuery(StrictSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(webhooks.DELIVERY_STATUSES))
    event = fields.String(load_default=None, validate=validate.OneOf(webhooks.EVENTS + (webhooks.TEST_EVENT,)))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class DeliveryAttempt(Schema):
    attempt = fields.Integer()
    started_at = fields.DateTime()
    duration_ms = fields.Integer()
    status_code = fields.Integer(allow_none=True, metadata={"description": "the receiver's answer, if any"})
    error = fields.String(allow_none=True)


class WebhookDelivery(Schema):
    id = fields.String(metadata={"description": "the idempotency id (Mockfarm-Webhook-Id), the same on every attempt"})
    endpoint_id = fields.String(allow_none=True, metadata={"description": "none for a per-request or test URL"})
    url = fields.String()
    event = fields.String()
    task_key = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending (retrying), delivered or failed (for good)"})
    attempts = fields.List(fields.Nested(DeliveryAttempt))
    next_attempt_at = fields.DateTime(allow_none=True, metadata={"description": "while pending"})
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    payload = fields.Dict(metadata={"description": "the event's data, as sent"})


# ------------------------------------------------------------------ mockups (templates)

MOCKUP_NAME = validate.Length(min=1, max=200)


class UploadMockupRequest(WebhookUrlMixin, StrictSchema):
    """A PSD/PSB template to ingest, by URL or as base64 (or as a multipart `file`,
    see `UploadMockupForm`): exactly one of `psd_file_url` and `psd_file_base64`."""

    psd_file_url = fields.String(validate=validate.Length(min=1, max=4096), metadata={
        "description": "http(s) URL the ingest worker downloads the PSD from (see README, hostile input)"})
    psd_file_base64 = fields.String(metadata={"description": "the PSD's bytes, base64-encoded"})
    psd_name = fields.String(validate=MOCKUP_NAME, metadata={
        "description": "the mockup's name (default: taken from the URL, or 'Untitled')"})

    @validates_schema
    def _one_source(self, data, **kwargs):
        given = [name for name in ("psd_file_url", "psd_file_base64") if name in data]
        if len(given) != 1:
            raise ValidationError("give exactly one of psd_file_url and psd_file_base64 "
                                  "(or send the file as multipart field `file`)", "psd_file_url")


class UploadMockupForm(WebhookUrlMixin, StrictSchema):
    """multipart/form-data: the PSD in the field `file`, and optionally its name."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    psd_name = fields.String(validate=MOCKUP_NAME)


class MockupListQuery(StrictSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    name = fields.String(validate=validate.Length(max=200), metadata={
        "description": "only mockups whose name contains this (case-insensitive)"})
    created_after = fields.AwareDateTime(default_timezone=None, metadata={
        "description": "ISO 8601 with a time zone"})
    created_before = fields.AwareDateTime(default_timezone=None)
    sort = fields.String(load_default="created_at", validate=validate.OneOf(("name", "created_at", "updated_at")))
    order = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))


class MockupFilterQuery(MockupListQuery):
    collection_uuid = fields.String(metadata={"description": "only the mockups of this collection"})
    catalog_uuid = fields.String(metadata={
        "description": "only the mockups in a collection of this catalog"})


class MockupPatch(StrictSchema):
    name = fields.String(required=True, validate=MOCKUP_NAME)


# ------------------------------------------------------------------ catalogs and collections

COLLECTION_NAME = validate.Length(min=1, max=200)


class CatalogInfo(Schema):
    uuid = fields.String()
    name = fields.String()
    is_default = fields.Boolean(metadata={"description": "every account has one default catalog"})
    collection_count = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CreateCatalogRequest(StrictSchema):
    name = fields.String(required=True, validate=COLLECTION_NAME)


class CollectionInfo(Schema):
    uuid = fields.String()
    name = fields.String()
    catalog_uuid = fields.String(metadata={"description": "the catalog it belongs to"})
    mockup_count = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CreateCollectionRequest(StrictSchema):
    name = fields.String(required=True, validate=COLLECTION_NAME)
    catalog_uuid = fields.String(metadata={"description": "default: the account's default catalog"})
    mockup_uuids = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                               validate=validate.Length(max=1000), metadata={"description": "mockups to put in it"})


class UpdateCollectionRequest(StrictSchema):
    name = fields.String(validate=COLLECTION_NAME)
    catalog_uuid = fields.String(metadata={"description": "move it to this catalog of the account"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give name and/or catalog_uuid", "name")


class CollectionMockupsRequest(StrictSchema):
    mockup_uuids = fields.List(fields.String(validate=validate.Length(max=100)), required=True,
                               validate=validate.Length(min=1, max=1000))


class CatalogQuery(StrictSchema):
    catalog_uuid = fields.String(metadata={"description": "only the collections of this catalog"})


class PrintAreaPresetInfo(Schema):
    uuid = fields.String()
    name = fields.String()
    size = fields.Dict(metadata={"description": "{width, height} in content pixels"})
    position = fields.Dict(metadata={"description": "{top, left} in content pixels"})


# PSNR and MAE are numbers, or the string "inf" where the pixels are identical.
FIDELITY_NUMBER = {"description": 'a number, or "inf" where the pixels are identical'}


class SmartObjectFidelity(Schema):
    name = fields.String()
    mae = fields.Raw(allow_none=True, metadata={
        "description": "mean absolute error (0-255) of the smart object re-rendered from its own content "
                       "against the pixels Photoshop cached for it; " + FIDELITY_NUMBER["description"]})
    psnr = fields.Raw(allow_none=True, metadata=FIDELITY_NUMBER)
    skipped = fields.String(allow_none=True, metadata={"description": "why it was not compared"})
    cause = fields.String(allow_none=True, metadata={
        "description": "for a notable error: which sides of the outline Photoshop draws elsewhere"})
    edges = fields.Dict(allow_none=True, metadata={
        "description": "where Photoshop draws this warped object's edges, measured on its cached pixels at "
                       "ingest and applied to every render: content pixels beyond the warp's own edges "
                       "{left, top, right, bottom}, and content_moves (the content is stretched with them, "
                       "else its edge pixels are drawn out); null when the exact warp is drawn"})


class RenderPathInfo(Schema):
    name = fields.String()
    method = fields.String(metadata={"description": "how renders draw this smart object"})
    reason = fields.String(allow_none=True)


class FidelityReport(Schema):
    document_psnr = fields.Raw(allow_none=True, metadata={
        "description": "PSNR (dB) of our composite against the one Photoshop saved, RGB over white, 8-bit; "
                       + FIDELITY_NUMBER["description"]})
    smart_objects = fields.List(fields.Nested(SmartObjectFidelity))
    skipped = fields.List(fields.String(), metadata={"description": "comparisons that could not be made, and why"})
    render_paths = fields.List(fields.Nested(RenderPathInfo))


class SmartObjectInfo(Schema):
    uuid = fields.String(metadata={"description": "give it in a render's smart_objects[].uuid"})
    name = fields.String()
    layer_name = fields.String()
    size = fields.Dict(metadata={"description": "{width, height} of its content, the artwork's pixels"})
    position = fields.Dict(metadata={"description": "{top, left, width, height}: its box on the canvas"})
    quad = fields.List(fields.List(fields.Float()), metadata={
        "description": "the content's corners on the canvas: top left, top right, bottom right, bottom left"})
    blend_mode = fields.String()
    dpi = fields.Float(allow_none=True, metadata={"description": "its content's resolution (print files)"})
    print_area_presets = fields.List(fields.Nested(PrintAreaPresetInfo))
    linked_uuids = fields.List(fields.String(), metadata={
        "description": "the other smart objects showing the same content (Photoshop's linked instances, e.g. "
                       "a design and its reflection): artwork given to this one goes into them too, unless "
                       "the render gives them their own"})


class Thumbnail(Schema):
    width = fields.Integer(metadata={"description": "720, 480 or 240, or less for a smaller template"})
    height = fields.Integer()
    url = fields.String(metadata={"description": "presigned GET URL (WebP)"})


class MockupInfo(Schema):
    uuid = fields.String()
    name = fields.String()
    status = fields.String(metadata={"description": "processing, ready or failed"})
    error = fields.String(allow_none=True, metadata={"description": "why the ingest failed"})
    task_key = fields.String(allow_none=True, metadata={"description": "the ingest task"})
    thumbnail = fields.String(allow_none=True, metadata={"description": "the largest thumbnail's URL"})
    thumbnails = fields.List(fields.Nested(Thumbnail))
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    smart_objects = fields.List(fields.Nested(SmartObjectInfo))
    fidelity = fields.Nested(FidelityReport, allow_none=True, metadata={
        "description": "how closely mockfarm re-renders the template, measured at ingest against "
                       "Photoshop's own pixels"})
    unsupported = fields.List(fields.String(), metadata={
        "description": "Photoshop features of the template mockfarm does not reproduce"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class Paging(Schema):
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class MockupPage(Paging):
    items = fields.List(fields.Nested(MockupInfo))


# ------------------------------------------------------------------ renders of a mockup

# Content types accepted for base64 artwork.
ARTWORK_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif")
MAX_PLACEMENT = 30000


class Placement(StrictSchema):
    width = fields.Float(required=True, validate=validate.Range(min=1, max=MAX_PLACEMENT))
    height = fields.Float(required=True, validate=validate.Range(min=1, max=MAX_PLACEMENT))


class PlacementPosition(StrictSchema):
    top = fields.Float(required=True, validate=validate.Range(min=-MAX_PLACEMENT, max=MAX_PLACEMENT))
    left = fields.Float(required=True, validate=validate.Range(min=-MAX_PLACEMENT, max=MAX_PLACEMENT))


class Asset(StrictSchema):
    """The artwork, from exactly one of `url`, `base64` (with `content_type`) or `file`
    (the multipart field `file`), and how it is placed in the smart object's content."""

    url = fields.String(validate=validate.Length(min=1, max=4096))
    base64 = fields.String()
    content_type = fields.String(validate=validate.OneOf(ARTWORK_TYPES))
    file = fields.Boolean(metadata={"description": "true: the artwork is the multipart field `file`"})
    fit = fields.String(validate=validate.OneOf(("fill", "stretch", "contain", "cover")))
    rotate = fields.Float(validate=validate.Range(min=-360, max=360), metadata={
        "description": "degrees, positive clockwise"})
    flip_horizontal = fields.Boolean()
    flip_vertical = fields.Boolean()
    size = fields.Nested(Placement, metadata={"description": "the placed box, in content pixels"})
    position = fields.Nested(PlacementPosition, metadata={"description": "the box's top left, content pixels"})

    @validates_schema
    def _one_source(self, data, **kwargs):
        given = [name for name in ("url", "base64", "file") if data.get(name)]
        if len(given) != 1:
            raise ValidationError("give exactly one of url, base64 and file", "url")
        if "base64" in given and "content_type" not in data:
            raise ValidationError("required with base64", "content_type")


class Color(StrictSchema):
    hex = fields.String(required=True, validate=validate.Regexp(
        r"^#?[0-9a-fA-F]{6}$", error="must be a hex colour #rrggbb"))
    blending_mode = fields.String(load_default="normal", validate=validate.OneOf(BLEND_MODES))
    opacity = fields.Float(validate=validate.Range(min=0, max=100))


class AdjustmentLayers(StrictSchema):
    brightness = fields.Float(validate=validate.Range(min=-150, max=150))
    contrast = fields.Float(validate=validate.Range(min=-100, max=100))
    saturation = fields.Float(validate=validate.Range(min=-100, max=100))
    vibrance = fields.Float(validate=validate.Range(min=-100, max=100))
    opacity = fields.Float(validate=validate.Range(min=0, max=100))
    blur = fields.Float(validate=validate.Range(min=0, max=100))


class SmartObjectInput(StrictSchema):
    uuid = fields.String(required=True, metadata={"description": "a smart object of the mockup"})
    asset = fields.Nested(Asset)
    color = fields.Nested(Color)
    adjustment_layers = fields.Nested(AdjustmentLayers)
    print_area_preset_uuid = fields.String()


class ExportOptions(StrictSchema):
    image_format = fields.String(load_default="jpg", validate=validate.OneOf(("jpg", "jpeg", "png", "webp")))
    image_size = fields.Integer(strict=True, validate=validate.Range(min=100, max=10000), metadata={
        "description": "output width in pixels (default: the template's)"})
    quality = fields.Integer(load_default=90, strict=True, validate=validate.Range(min=1, max=100))


class PrintFileOptions(StrictSchema):
    image_format = fields.String(load_default="png", validate=validate.OneOf(("png", "pdf")))
    dpi = fields.Float(load_default=300, validate=validate.Range(min=1, max=2400))


def _distinct_uuids(data):
    seen = set()
    for index, item in enumerate(data["smart_objects"]):
        if item["uuid"] in seen:
            raise ValidationError({index: {"uuid": ["given twice"]}}, "smart_objects")
        seen.add(item["uuid"])


class MockupRenderRequest(WebhookUrlMixin, StrictSchema):
    mockup_uuid = fields.String(required=True)
    smart_objects = fields.List(fields.Nested(SmartObjectInput), load_default=list,
                                validate=validate.Length(max=50), metadata={
                                    "description": "smart objects not listed keep their own content"})
    export_options = fields.Nested(ExportOptions, load_default=lambda: ExportOptions().load({}))
    export_label = fields.String(validate=validate.Length(max=200))

    @validates_schema
    def _distinct(self, data, **kwargs):
        _distinct_uuids(data)


class PrintFilesRequest(WebhookUrlMixin, StrictSchema):
    mockup_uuid = fields.String(required=True)
    smart_objects = fields.List(fields.Nested(SmartObjectInput), required=True,
                                validate=validate.Length(min=1, max=50))
    export_options = fields.Nested(PrintFileOptions, load_default=lambda: PrintFileOptions().load({}))
    export_label = fields.String(validate=validate.Length(max=200))

    @validates_schema
    def _distinct(self, data, **kwargs):
        _distinct_uuids(data)


# The most renders one bulk request may ask for (mockups x colours).
MAX_BULK_ITEMS = 1000


class SmartObjectOverride(StrictSchema):
    mockup_uuid = fields.String(required=True, metadata={"description": "one of the bulk's mockups"})
    smart_object_uuids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=50),
                                     metadata={"description": "the smart objects of that mockup given the artwork"})


class BulkRenderRequest(WebhookUrlMixin, StrictSchema):
    """One artwork onto many mockups: every mockup of a collection, or a list of
    mockups, each rendered once per colour."""

    collection_uuid = fields.String(metadata={"description": "render every mockup of this collection"})
    mockup_uuids = fields.List(fields.String(validate=validate.Length(max=100)),
                               validate=validate.Length(min=1, max=MAX_BULK_ITEMS),
                               metadata={"description": "or these mockups, in this order"})
    artwork = fields.Nested(Asset, required=True, metadata={
        "description": "the artwork (url, base64 or multipart file) and its placement, the same for every mockup"})
    smart_objects = fields.String(load_default="all", validate=validate.OneOf(("all", "first")), metadata={
        "description": "which smart objects of each mockup get the artwork: all of them, or the first "
                       "(as listed by GET /api/v1/mockups/{uuid}); `overrides` chooses per mockup"})
    overrides = fields.List(fields.Nested(SmartObjectOverride), load_default=list,
                            validate=validate.Length(max=MAX_BULK_ITEMS))
    colors = fields.List(fields.Nested(Color, allow_none=True), validate=validate.Length(min=1, max=50), metadata={
        "description": "one render of each mockup per entry: the colour over the smart objects given the artwork "
                       "(as `color` in a single render); null for the render without colour. Default: [null]"})
    export_options = fields.Nested(ExportOptions, load_default=lambda: ExportOptions().load({}))

    @validates_schema
    def _one_source(self, data, **kwargs):
        given = [name for name in ("collection_uuid", "mockup_uuids") if name in data]
        if len(given) != 1:
            raise ValidationError("give exactly one of collection_uuid and mockup_uuids", "collection_uuid")


class BulkRenderForm(StrictSchema):
    """multipart/form-data: the request's JSON in the field `data`, the artwork in
    `file` (with `"artwork": {"file": true}`)."""

    data = fields.String(required=True, metadata={"description": "the JSON request"})
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class RenderForm(StrictSchema):
    """multipart/form-data: the request's JSON in the field `data`, the artwork in `file`
    (used by the smart objects whose asset says `"file": true`)."""

    data = fields.String(required=True, metadata={"description": "the JSON request"})
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


TaskResponse = envelope(fields.Nested(Task), "TaskResponse")
CatalogResponse = envelope(fields.Nested(CatalogInfo), "CatalogResponse")
CatalogListResponse = envelope(fields.List(fields.Nested(CatalogInfo)), "CatalogListResponse")
CollectionResponse = envelope(fields.Nested(CollectionInfo), "CollectionResponse")
CollectionListResponse = envelope(fields.List(fields.Nested(CollectionInfo)), "CollectionListResponse")
MockupResponse = envelope(fields.Nested(MockupInfo), "MockupResponse")
MockupPageResponse = envelope(fields.Nested(MockupPage), "MockupPageResponse")
MeResponse = envelope(fields.Nested(Me), "MeResponse")
ApiKeyResponse = envelope(fields.Nested(ApiKeyInfo), "ApiKeyResponse")
NewApiKeyResponse = envelope(fields.Nested(NewApiKey), "NewApiKeyResponse")
ApiKeyListResponse = envelope(fields.List(fields.Nested(ApiKeyInfo)), "ApiKeyListResponse")
WebhookResponse = envelope(fields.Nested(WebhookEndpoint), "WebhookResponse")
NewWebhookResponse = envelope(fields.Nested(NewWebhookEndpoint), "NewWebhookResponse")
WebhookListResponse = envelope(fields.List(fields.Nested(WebhookEndpoint)), "WebhookListResponse")
SigningSecretResponse = envelope(fields.Nested(SigningSecret), "SigningSecretResponse")
DeliveryListResponse = Schema.from_dict({
    "success": fields.Boolean(dump_default=True),
    "data": fields.List(fields.Nested(WebhookDelivery)),
    "paging": fields.Nested(Paging),
}, name="DeliveryListResponse")


# ------------------------------------------------------------------ products (Printful-compatible)
#
# A product groups templates for the Printful-compatible mockup generator (README,
# "Printful-compatible mockup generator"). The same document is the body of
# POST /api/v1/products and the file `mockfarm products import` reads.

PRODUCT_ID = validate.Range(min=1, max=2_147_483_647)
PLACEMENT_NAME = validate.Regexp(r"^[a-z0-9_]{1,64}$", error="must be 1 to 64 of a-z, 0-9 and _ (like 'front')")
LABEL = validate.Length(min=1, max=200)


class ProductPrintfile(StrictSchema):
    printfile_id = fields.Integer(required=True, strict=True, validate=PRODUCT_ID)
    width = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=30000),
                           metadata={"description": "pixels"})
    height = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=30000))
    dpi = fields.Integer(load_default=150, strict=True, validate=validate.Range(min=1, max=2400))
    fill_mode = fields.String(load_default="fit", validate=validate.OneOf(("fit", "cover")), metadata={
        "description": "how artwork sent without a position fills the print area: fit (all of it "
                       "visible) or cover (the area filled, the rest cropped)"})
    can_rotate = fields.Boolean(load_default=False)


class ProductPlacement(StrictSchema):
    placement = fields.String(required=True, validate=PLACEMENT_NAME, metadata={"example": "front"})
    title = fields.String(validate=LABEL, metadata={"description": "default: the placement, capitalised"})
    smart_object = fields.String(required=True, validate=LABEL, metadata={
        "description": "the smart object's layer name (or name) in the variants' templates"})
    printfile_id = fields.Integer(required=True, strict=True, validate=PRODUCT_ID, metadata={
        "description": "its print file, unless a variant names another"})


class ProductColorOverlay(StrictSchema):
    smart_object = fields.String(required=True, validate=LABEL, metadata={
        "description": "the smart object each variant's color_code is laid over (the garment, the frame...)"})
    blend_mode = fields.String(load_default="multiply", validate=validate.OneOf(BLEND_MODES))
    opacity = fields.Float(load_default=100, validate=validate.Range(min=0, max=100))
    fill_area = fields.Boolean(load_default=True, metadata={
        "description": "true: the colour fills the whole smart object (behind the artwork, if it is a "
                       "placement); false: it tints the artwork only"})


class ProductVariantMockup(StrictSchema):
    mockup = fields.String(required=True, validate=LABEL, metadata={
        "description": "a ready mockup of the account: its uuid, or its name if no other mockup has it"})
    option = fields.String(load_default="Front", validate=LABEL, metadata={
        "description": "the view it shows, as Printful's `options` name them (Front, Back, Left...)"})
    option_group = fields.String(load_default="Default", validate=LABEL, metadata={
        "description": "the style it belongs to, as Printful's `option_groups` (Flat, Men's...)"})


class ProductVariant(StrictSchema):
    id = fields.Integer(strict=True, validate=PRODUCT_ID, metadata={
        "description": "unique in the product; default: 1, 2, 3... in order"})
    name = fields.String(validate=LABEL)
    color = fields.String(validate=LABEL, allow_none=True)
    color_code = fields.String(allow_none=True, validate=validate.Regexp(
        r"^#[0-9a-fA-F]{6}$", error="must be a hex colour #rrggbb"))
    size = fields.String(validate=LABEL, allow_none=True)
    mockups = fields.List(fields.Nested(ProductVariantMockup), required=True,
                          validate=validate.Length(min=1, max=20), metadata={
                              "description": "its templates: the first one matching a task's options gives "
                                             "`mockup_url`, the others `extra`"})
    printfiles = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True, validate=PRODUCT_ID),
                             metadata={"description": "{placement: printfile_id} where it differs from the "
                                                      "placement's (a larger poster size...)"})


class ProductDefinition(StrictSchema):
    """A product: variants mapped to templates, placements mapped to smart objects,
    and the print file of each placement."""

    id = fields.Integer(strict=True, validate=PRODUCT_ID, metadata={
        "description": "the product id Printful clients use (default: the account's next free id)"})
    title = fields.String(required=True, validate=LABEL)
    description = fields.String(validate=validate.Length(max=5000))
    printfiles = fields.List(fields.Nested(ProductPrintfile), required=True, validate=validate.Length(min=1, max=100))
    placements = fields.List(fields.Nested(ProductPlacement), required=True, validate=validate.Length(min=1, max=50))
    color_overlay = fields.Nested(ProductColorOverlay, allow_none=True)
    variants = fields.List(fields.Nested(ProductVariant), required=True, validate=validate.Length(min=1, max=1000))

    @validates_schema
    def _consistent(self, data, **kwargs):
        printfile_ids = [printfile["printfile_id"] for printfile in data["printfiles"]]
        if len(set(printfile_ids)) != len(printfile_ids):
            raise ValidationError("two print files share a printfile_id", "printfiles")
        placements = [placement["placement"] for placement in data["placements"]]
        if len(set(placements)) != len(placements):
            raise ValidationError("two placements share a name", "placements")
        for index, placement in enumerate(data["placements"]):
            if placement["printfile_id"] not in printfile_ids:
                raise ValidationError({index: {"printfile_id": [f"no print file {placement['printfile_id']}"]}},
                                      "placements")
        variant_ids = [variant["id"] for variant in data["variants"] if "id" in variant]
        if len(set(variant_ids)) != len(variant_ids):
            raise ValidationError("two variants share an id", "variants")
        if variant_ids and len(variant_ids) != len(data["variants"]):
            raise ValidationError("give every variant an id, or none (they are then numbered 1, 2, 3...)",
                                  "variants")
        for index, variant in enumerate(data["variants"]):
            for placement, printfile_id in (variant.get("printfiles") or {}).items():
                if placement not in placements:
                    raise ValidationError({index: {"printfiles": [f"no placement {placement!r}"]}}, "variants")
                if printfile_id not in printfile_ids:
                    raise ValidationError({index: {"printfiles": [f"no print file {printfile_id}"]}}, "variants")


class ProductTemplate(Schema):
    template_id = fields.Integer()
    mockup_uuid = fields.String()
    placement = fields.String()


class ProductInfo(Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String(allow_none=True)
    printfiles = fields.List(fields.Nested(ProductPrintfile))
    placements = fields.List(fields.Nested(ProductPlacement))
    color_overlay = fields.Nested(ProductColorOverlay, allow_none=True)
    variants = fields.List(fields.Dict(), metadata={
        "description": "as defined, with ids assigned and each mockup's `mockup_uuid` resolved"})
    templates = fields.List(fields.Nested(ProductTemplate), metadata={
        "description": "the layout templates (one per template and placement) of "
                       "GET /mockup-generator/templates/{product_id}"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProductListQuery(StrictSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class ProductPage(Paging):
    items = fields.List(fields.Nested(ProductInfo))


ProductResponse = envelope(fields.Nested(ProductInfo), "ProductResponse")
ProductPageResponse = envelope(fields.Nested(ProductPage), "ProductPageResponse")


# ------------------------------------------------------------------ Printful-compatible mockup generator
#
# /mockup-generator/... answers in Printful's shape: {"code": 200, "result": ...,
# "extra": []} on success, {"code": 4xx, "result": message, "error": {"reason",
# "message"}} on errors.

class PrintfulError(Schema):
    code = fields.Integer(metadata={"description": "the HTTP status"})
    result = fields.String(metadata={"description": "what went wrong"})
    error = fields.Dict(metadata={"description": "{reason: e.g. BadRequest, message}"})


def printful_envelope(result_field: fields.Field, name: str) -> type[Schema]:
    return Schema.from_dict({
        "code": fields.Integer(dump_default=200),
        "result": result_field,
        "extra": fields.List(fields.Raw(), dump_default=list),
    }, name=name)


class PrintfulPrintfile(Schema):
    printfile_id = fields.Integer()
    width = fields.Integer()
    height = fields.Integer()
    dpi = fields.Integer()
    fill_mode = fields.String(metadata={"description": "fit or cover"})
    can_rotate = fields.Boolean()


class PrintfulVariantPrintfiles(Schema):
    variant_id = fields.Integer()
    placements = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "{placement: printfile_id}"})


class PrintfulPrintfiles(Schema):
    product_id = fields.Integer()
    available_placements = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "{placement: title}"})
    printfiles = fields.List(fields.Nested(PrintfulPrintfile))
    variant_printfiles = fields.List(fields.Nested(PrintfulVariantPrintfiles))
    option_groups = fields.List(fields.String())
    options = fields.List(fields.String())


class PrintfulTemplateRef(Schema):
    placement = fields.String()
    template_id = fields.Integer()


class PrintfulVariantTemplates(Schema):
    variant_id = fields.Integer()
    templates = fields.List(fields.Nested(PrintfulTemplateRef))


class PrintfulTemplate(Schema):
    template_id = fields.Integer()
    image_url = fields.String(metadata={"description": "the template's image (presigned, WebP)"})
    background_url = fields.String(allow_none=True)
    background_color = fields.String(allow_none=True)
    printfile_id = fields.Integer()
    template_width = fields.Integer()
    template_height = fields.Integer()
    print_area_width = fields.Integer()
    print_area_height = fields.Integer()
    print_area_top = fields.Integer()
    print_area_left = fields.Integer()
    is_template_on_front = fields.Boolean()
    orientation = fields.String()


class PrintfulConflict(Schema):
    placement = fields.String()
    conflicts = fields.List(fields.String())


class PrintfulTemplates(Schema):
    version = fields.Integer()
    min_dpi = fields.Integer()
    variant_mapping = fields.List(fields.Nested(PrintfulVariantTemplates))
    templates = fields.List(fields.Nested(PrintfulTemplate))
    conflicting_placements = fields.List(fields.Nested(PrintfulConflict))


class PrintfulPosition(StrictSchema):
    """Where the image goes, in a print area of area_width x area_height."""

    area_width = fields.Float(required=True, validate=validate.Range(min=1, max=MAX_PLACEMENT))
    area_height = fields.Float(required=True, validate=validate.Range(min=1, max=MAX_PLACEMENT))
    width = fields.Float(required=True, validate=validate.Range(min=1, max=MAX_PLACEMENT))
    height = fields.Float(required=True, validate=validate.Range(min=1, max=MAX_PLACEMENT))
    top = fields.Float(required=True, validate=validate.Range(min=-MAX_PLACEMENT, max=MAX_PLACEMENT))
    left = fields.Float(required=True, validate=validate.Range(min=-MAX_PLACEMENT, max=MAX_PLACEMENT))
    limit_to_print_area = fields.Boolean(load_default=True, metadata={
        "description": "false: what lies outside the print area shows too"})


class PrintfulFile(StrictSchema):
    placement = fields.String(required=True, validate=validate.Length(min=1, max=64))
    image_url = fields.String(required=True, validate=validate.Length(min=1, max=4096), metadata={
        "description": "downloaded by the worker (README, hostile input)"})
    position = fields.Nested(PrintfulPosition, metadata={
        "description": "default: the image fits (or covers, per the print file's fill_mode) the print area"})


class PrintfulCreateTask(StrictSchema):
    variant_ids = fields.List(fields.Integer(strict=True), required=True, validate=validate.Length(min=1, max=1000))
    format = fields.String(load_default="jpg", validate=validate.OneOf(("jpg", "png")))
    width = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=100, max=10000), metadata={
        "description": "the mockups' width in pixels (default: the templates')"})
    files = fields.List(fields.Nested(PrintfulFile), required=True, validate=validate.Length(min=1, max=50))
    options = fields.List(fields.String(), metadata={"description": "only mockups of these options (views)"})
    option_groups = fields.List(fields.String(), metadata={"description": "only mockups of these option groups"})
    product_options = fields.Dict(metadata={"description": "accepted; no product option changes a mockup yet"})


class PrintfulTaskCreated(Schema):
    task_key = fields.String(metadata={"example": "gt-6f1c0d5e-8a51-4d7e-9a41-2f5c8f1f9d11"})
    status = fields.String()


class PrintfulMockupExtra(Schema):
    title = fields.String()
    option = fields.String()
    option_group = fields.String()
    url = fields.String()


class PrintfulMockup(Schema):
    placement = fields.String()
    variant_ids = fields.List(fields.Integer())
    mockup_url = fields.String(metadata={"description": "presigned, signed anew on each read"})
    extra = fields.List(fields.Nested(PrintfulMockupExtra), metadata={
        "description": "the variants' other mockups of this placement (other options)"})


class PrintfulTaskPrintfile(Schema):
    variant_ids = fields.List(fields.Integer())
    placement = fields.String()
    url = fields.String(metadata={"description": "the print file (PNG at the print file's size and dpi)"})


class PrintfulTask(Schema):
    task_key = fields.String()
    status = fields.String(metadata={"description": "pending, completed or failed"})
    error = fields.String(allow_none=True)
    mockups = fields.List(fields.Nested(PrintfulMockup))
    printfiles = fields.List(fields.Nested(PrintfulTaskPrintfile))


class PrintfulTaskQuery(StrictSchema):
    task_key = fields.String(required=True)


PrintfulPrintfilesResponse = printful_envelope(fields.Nested(PrintfulPrintfiles), "PrintfulPrintfilesResponse")
PrintfulTemplatesResponse = printful_envelope(fields.Nested(PrintfulTemplates), "PrintfulTemplatesResponse")
PrintfulTaskCreatedResponse = printful_envelope(fields.Nested(PrintfulTaskCreated), "PrintfulTaskCreatedResponse")
PrintfulTaskResponse = printful_envelope(fields.Nested(PrintfulTask), "PrintfulTaskResponse")
