"""The first step of a Printful-compatible create-task (shared/printful.py made its
params): download each file's image once, store it where the items read it, and
fan the items out as a bulk task (workers/bulk.py). The items are ordinary
render.mockup and render.print_files tasks spread over the render workers; the
bulk join completes the task once they have all finished.
"""
from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded

from shared import safefetch, tasks
from shared.bulk import BulkItem
from shared.config import load_settings
from shared.errors import InvalidInput
from shared.storage import get_storage
from workers.bulk import _check_artwork, fan_out
from workers.celery_app import GENERATE_PRINTFUL_MOCKUPS_TASK, app
from workers.render import RecordedTask

log = logging.getLogger(__name__)


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
            _check_artwork(data)
        except InvalidInput as exc:
            raise InvalidInput(f"the image_url of placement {file['placement']!r}: {exc}") from None
        storage.put_bytes(file["object_key"], data, "application/octet-stream")


@app.task(name=GENERATE_PRINTFUL_MOCKUPS_TASK, base=RecordedTask)
def generate_printful_mockups(parent_key: str) -> str:
    """Store the request's images, then fan out its renders and print files. The task
    stays `processing` until the bulk join finishes it (or fails it, as does every
    failure here: every accepted task ends)."""
    settings = load_settings()
    record = tasks.start_task(parent_key)
    if record is None:
        return "skipped"
    if record.attempts > settings.task_max_attempts:
        tasks.fail_task(parent_key, f"gave up after {settings.task_max_attempts} attempts: "
                                    "the worker running it stopped each time")
        return "failed"
    try:
        # Run again after its fan-out (the message redelivered), the step leaves the
        # stored images alone: items may have read them, and they must not change under them.
        if record.items_total is None:
            _store_files(record.params)
        fan_out(parent_key, [BulkItem(params=item["params"], kind=item["kind"]) for item in record.params["items"]])
    except InvalidInput as exc:
        tasks.fail_task(parent_key, str(exc))
        return "failed"
    except SoftTimeLimitExceeded:
        tasks.fail_task(parent_key, f"timed out after {settings.task_soft_time_limit} s")
        return "failed"
    except Exception as exc:  # noqa: BLE001 - every accepted task must reach a final state
        log.exception("generation task %s failed to start", parent_key)
        tasks.fail_task(parent_key, f"internal error: {type(exc).__name__}: {exc}")
        return "failed"
    return "started"
