"""Marshmallow schemas of the public API (requests and responses).

Unknown fields are rejected (marshmallow's default, stated here so nobody loosens
it by accident): a misspelt option must be an error, not silently ignored.
"""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

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


class Paging(Schema):
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


TaskResponse = envelope(fields.Nested(Task), "TaskResponse")
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
