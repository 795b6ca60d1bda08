"""Templates ("mockups"): POST /api/v1/psd/upload, and GET/PATCH/DELETE /api/v1/mockups.

An upload is recorded (the mockup, `processing`, and its ingest task), the PSD's
bytes, when sent, are written to S3, and the ingest task's key is queued; the answer
comes at once. Only the ingest worker reads the PSD.
"""
from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api import uploads
from api.auth import current_key
from api.renders import send
from shared.storage import get_storage
from shared import collections, mockups, tasks
from shared.schemas import (MockupFilterQuery, MockupPageResponse, MockupPatch, MockupResponse, UploadMockupForm,
                            UploadMockupRequest, WaitQuery)

blp = Blueprint("mockups", __name__, url_prefix="/api/v1", description="Templates (mockups): upload and manage")

INGEST_KIND = "ingest.psd"
PSD_CONTENT_TYPE = "image/vnd.adobe.photoshop"
THUMBNAIL_WIDTHS = (720, 480, 240)


def mockup_data(mockup: mockups.Mockup) -> dict:
    """The `data` of a mockup response (see shared.schemas.MockupInfo)."""
    data = {
        "uuid": mockup.uuid, "name": mockup.name, "status": mockup.status, "error": mockup.error,
        "task_key": mockup.task_key, "width": mockup.width, "height": mockup.height,
        "smart_objects": mockup.smart_objects, "fidelity": mockup.fidelity, "unsupported": mockup.unsupported,
        "created_at": mockup.created_at, "updated_at": mockup.updated_at, "thumbnail": None, "thumbnails": [],
    }
    if mockup.status == mockups.READY:
        # Signed on every read, like results: a client that lost a URL asks again.
        lifetime = current_app.config["MOCKFARM_SETTINGS"].result_url_ttl
        for width in THUMBNAIL_WIDTHS:
            thumb = mockup.thumbnails.get(str(width))
            if thumb:
                url, _ = get_storage().presigned_get(thumb["key"], lifetime_seconds=lifetime)
                data["thumbnails"].append({"width": thumb["width"], "height": thumb["height"], "url": url})
        if data["thumbnails"]:
            data["thumbnail"] = data["thumbnails"][0]["url"]
    return data


def find_mockup(mockup_uuid: str) -> mockups.Mockup:
    """The caller's mockup, or 404 (another account's answers exactly like a missing one)."""
    mockup = mockups.get_mockup(mockup_uuid, current_key().account_id)
    if mockup is None:
        abort(404, message=f"no mockup with uuid {mockup_uuid!r}")
    return mockup


def _name_from_url(url: str) -> str | None:
    stem = posixpath.splitext(posixpath.basename(unquote(urlsplit(url).path)))[0]
    return stem[:200] or None


def _name_from_file(filename: str | None) -> str | None:
    if not filename:
        return None
    stem = posixpath.splitext(posixpath.basename(filename.replace("\\", "/")))[0]
    return stem[:200] or None


@blp.route("/psd/upload", methods=["POST"])
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": UploadMockupRequest},
    "multipart/form-data": {"schema": UploadMockupForm}}})
@blp.response(202, MockupResponse, description="accepted: the mockup is `processing` until its ingest ends")
@blp.alt_response(200, schema=MockupResponse, description="ingested (ready or failed) within `?wait=N` seconds")
@blp.alt_response(413, description="the PSD is larger than MOCKFARM_MAX_PSD_BYTES")
@blp.alt_response(422, description="invalid request: a refused URL, bad base64, a missing source...")
def upload_psd(wait: int):
    """Upload a PSD/PSB template: by URL, as base64, or as a multipart `file`.

    The ingest worker parses it, compiles its render plan, makes thumbnails and a
    fidelity report; poll `GET /api/v1/mockups/{uuid}` (or the `task_key`) until
    its status is `ready` or `failed`, or be told: `mockup.ready` / `mockup.failed`
    go to the account's webhooks and to `webhook_url`.
    """
    limit = uploads.fetch_policy().max_psd_bytes
    psd_bytes, url = None, None
    if uploads.is_multipart():
        body = uploads.multipart_fields(UploadMockupForm(partial=("file",)))
        psd_bytes, filename = uploads.multipart_file(limit)
        name = body.get("psd_name") or _name_from_file(filename)
    else:
        body = uploads.load_json(UploadMockupRequest())
        if "psd_file_url" in body:
            url = body["psd_file_url"]
            uploads.check_url(url, "psd_file_url")
            name = body.get("psd_name") or _name_from_url(url)
        else:
            psd_bytes = uploads.decode_base64(body["psd_file_base64"], "psd_file_base64", limit)
            name = body.get("psd_name")

    account_id = current_key().account_id
    mockup_uuid = mockups.new_mockup_uuid()
    psd_key = mockups.object_prefix(mockup_uuid) + "template.psd"
    if psd_bytes is not None:
        # The bytes go to S3, never through the queue: only the task key travels.
        get_storage().put_bytes(psd_key, psd_bytes, PSD_CONTENT_TYPE)
    record = tasks.create_task(INGEST_KIND, {"mockup_uuid": mockup_uuid, "psd_file_url": url,
                                             "webhook_url": body.get("webhook_url")}, account_id=account_id)
    mockups.create_mockup(mockup_uuid, account_id, name or "Untitled", record.key, psd_key)
    send(record)
    if wait:
        tasks.wait_until_finished(record.key, account_id, wait)
    mockup = find_mockup(mockup_uuid)
    status = 202 if mockup.status == mockups.PROCESSING else 200
    return {"data": mockup_data(mockup)}, status


def mockup_page(query: dict, collection_uuid: str | None = None, catalog_uuid: str | None = None) -> dict:
    """A page of the caller's mockups as `MockupPageResponse` shows it; 404 when the
    collection or catalog is not the caller's."""
    account_id = current_key().account_id
    if collection_uuid is not None and collections.get_collection(collection_uuid, account_id) is None:
        abort(404, message=f"no collection with uuid {collection_uuid!r}")
    if catalog_uuid is not None and collections.get_catalog(catalog_uuid, account_id) is None:
        abort(404, message=f"no catalog with uuid {catalog_uuid!r}")
    items, total = mockups.list_mockups(
        account_id, limit=query["limit"], offset=query["offset"], name=query.get("name"),
        created_after=query.get("created_after"), created_before=query.get("created_before"),
        sort=query["sort"], order=query["order"], collection_uuid=collection_uuid, catalog_uuid=catalog_uuid)
    return {"data": {"items": [mockup_data(m) for m in items], "total": total,
                     "limit": query["limit"], "offset": query["offset"]}}


@blp.route("/mockups", methods=["GET"])
@blp.arguments(MockupFilterQuery, location="query", unknown=RAISE)
@blp.response(200, MockupPageResponse)
@blp.alt_response(404, description="the collection or catalog is not one of this account's")
def list_mockups(query: dict):
    """The account's mockups, a page at a time, filtered by name, creation time,
    collection (`collection_uuid`) and catalog (`catalog_uuid`: the mockups in its
    collections)."""
    return mockup_page(query, query.get("collection_uuid"), query.get("catalog_uuid"))


@blp.route("/mockups/<string:mockup_uuid>", methods=["GET"])
@blp.arguments(WaitQuery, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, MockupResponse)
@blp.alt_response(404, description="no mockup of this account has this uuid")
def get_mockup(mockup_uuid: str, wait: int):
    """A mockup; with `?wait=N`, answered as soon as its ingest has finished (or after N s)."""
    mockup = find_mockup(mockup_uuid)
    if wait and mockup.status == mockups.PROCESSING and mockup.task_key:
        tasks.wait_until_finished(mockup.task_key, current_key().account_id, wait)
        mockup = find_mockup(mockup_uuid)
    return {"data": mockup_data(mockup)}


@blp.route("/mockups/<string:mockup_uuid>", methods=["PATCH"])
@blp.arguments(MockupPatch)
@blp.response(200, MockupResponse)
@blp.alt_response(404, description="no mockup of this account has this uuid")
def rename_mockup(params: dict, mockup_uuid: str):
    """Rename a mockup."""
    find_mockup(mockup_uuid)
    mockup = mockups.rename_mockup(mockup_uuid, current_key().account_id, params["name"])
    if mockup is None:
        abort(404, message=f"no mockup with uuid {mockup_uuid!r}")
    return {"data": mockup_data(mockup)}


@blp.route("/mockups/<string:mockup_uuid>", methods=["DELETE"])
@blp.response(200, MockupResponse)
@blp.alt_response(404, description="no mockup of this account has this uuid")
def delete_mockup(mockup_uuid: str):
    """Delete a mockup and every object it owns in S3 (PSD, plan, thumbnails).

    Renders already made are kept until their results expire."""
    mockup = mockups.delete_mockup(mockup_uuid, current_key().account_id)
    if mockup is None:
        abort(404, message=f"no mockup with uuid {mockup_uuid!r}")
    # Everything under its prefix, so objects of an ingest still running when the
    # row went are not left behind either (the ingest removes its own once it sees the row gone).
    get_storage().delete_prefix(mockups.object_prefix(mockup.uuid))
    data = mockup_data(mockup)
    data["thumbnails"], data["thumbnail"] = [], None
    return {"data": data}
