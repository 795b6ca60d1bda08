"""Marshmallow schemas of the public API (requests and responses).

Unknown fields are rejected (marshmallow's default, stated here so nobody loosens
it by accident): a misspelt option must be an error, not silently ignored.
"""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.config import load_settings

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _side():
    # The limit is read when the schema is built (the app factory), not at import time.
    limit = load_settings().max_output_side
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=limit))


class SolidRenderRequest(StrictSchema):
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


class TaskAccepted(Schema):
    success = fields.Boolean(dump_default=True)
    task_key = fields.String()
    status = fields.String()


class TaskResult(Schema):
    url = fields.String(metadata={"description": "presigned GET URL of the result"})
    expires_at = fields.DateTime(metadata={"description": "when `url` stops working (UTC)"})
    content_type = fields.String()
    size_bytes = fields.Integer()
    width = fields.Integer()
    height = fields.Integer()


class TaskStatus(Schema):
    success = fields.Boolean(dump_default=True)
    task_key = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "pending, processing, completed or failed"})
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    result = fields.Nested(TaskResult, allow_none=True)
