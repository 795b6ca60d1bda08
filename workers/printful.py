"""The first step of a Printful-compatible create-task (shared/printful.py made its
params): download each file's image once, store it where the items read it, and
fan the items out as a bulk task (workers/bulk.py). The items are ordinary
render.mockup and render.print_files tasks spread over the render workers; the
bulk join completes the task once they have all finished.
"""
from __future__ import annotations

from shared import safefetch
from shared.errors import InvalidInput
from shared.storage import get_storage
from workers.bulk import check_artwork, start_bulk
from workers.celery_app import GENERATE_PRINTFUL_MOCKUPS_TASK, app
from workers.render import RecordedTask


def _store_files(params: dict) -> None:
    policy = safefetch.FetchPolicy.from_env()
    storage = get_storage()
    for file in params["files"]:
        try:
            data = safefetch.fetch(file["image_url"], policy, max_bytes=policy.max_asset_bytes).content
        except safefetch.FetchError as exc:
            raise InvalidInput(f"the image_url of placement {file['placement']!r} could not be downloaded "
                               f"(HTTP {exc.http_status} class): {exc}") from None
        try:
            check_artwork(data)
        except InvalidInput as exc:
            raise InvalidInput(f"the image_url of placement {file['placement']!r}: {exc}") from None
        storage.put_bytes(file["object_key"], data, "application/octet-stream")


@app.task(name=GENERATE_PRINTFUL_MOCKUPS_TASK, base=RecordedTask)
def generate_printful_mockups(parent_key: str) -> str:
    """Store the request's images, then fan out its renders and print files; the bulk
    join finishes the task."""
    return start_bulk(parent_key, _store_files)
