"""Request bodies that carry files: JSON (with URLs or base64) or multipart/form-data
(the file in the field `file`). Shared by the upload of templates and by renders.

Every refusal names the field: 422 for a value that is wrong, 413 for one too large.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from flask import request
from flask_smorest import abort
from marshmallow import Schema, ValidationError

from shared import safefetch

# "data:image/png;base64,..." is accepted as well as the bare base64.
_DATA_URI = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]+)*;base64,", re.IGNORECASE)


def fetch_policy() -> safefetch.FetchPolicy:
    return safefetch.FetchPolicy.from_env()


def invalid(field: str, message: str, location: str = "json"):
    """Abort with 422 naming `field` (a dotted path such as smart_objects.0.uuid)."""
    abort(422, messages={location: {field: [message]}})


def is_multipart() -> bool:
    return request.mimetype == "multipart/form-data"


def load_json(schema: Schema) -> dict:
    """The JSON body validated by `schema` (415 when the body is not JSON)."""
    if not request.is_json:
        abort(415, message="send the request body as JSON (Content-Type: application/json) "
                           "or as multipart/form-data with the file in the field `file`")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, message="the request body is not valid JSON")
    return load(schema, body, "json")


def load(schema: Schema, data, location: str) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        abort(422, messages={location: exc.messages})


def multipart_file(limit: int) -> tuple[bytes, str | None]:
    """The bytes and file name of the multipart field `file`."""
    upload = request.files.get("file")
    if upload is None:
        invalid("file", "missing: send the file in the multipart field `file`", "form")
    data = upload.read(limit + 1)
    if len(data) > limit:
        abort(413, message=f"file: larger than the limit of {limit} bytes")
    if not data:
        invalid("file", "the file is empty", "form")
    return data, upload.filename or None


def multipart_fields(schema: Schema) -> dict:
    """The form's text fields (not the file) validated by `schema`."""
    return load(schema, {name: request.form.get(name) for name in request.form}, "form")


def multipart_json(field: str = "data"):
    """A JSON document sent as the text field `field` of a multipart form."""
    text = request.form.get(field)
    if text is None:
        invalid(field, "missing: send the request's JSON in this form field", "form")
    try:
        return json.loads(text)
    except ValueError:
        invalid(field, "is not valid JSON", "form")


def decode_base64(text: str, field: str, limit: int) -> bytes:
    text = _DATA_URI.sub("", text.strip(), count=1)
    # base64 takes 4 characters for 3 bytes: refuse before decoding what is too large.
    if len(text) * 3 // 4 > limit + 3:
        abort(413, message=f"{field}: larger than the limit of {limit} bytes")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        invalid(field, "is not valid base64")
    if len(data) > limit:
        abort(413, message=f"{field}: larger than the limit of {limit} bytes")
    if not data:
        invalid(field, "is empty")
    return data


def check_url(url: str, field: str) -> None:
    """Refuse at once a URL that can be refused without the network (SSRF, bad
    scheme...); host names are resolved and checked again when a worker fetches."""
    try:
        safefetch.check_url(url, fetch_policy())
    except safefetch.FetchError as exc:
        invalid(field, f"refused: {exc.reason}")
