"""Bulk tasks: one parent task whose items are render tasks spread over the render workers.

    fan_out(parent_key, items)     record the items on the parent and queue them
    finish_bulk(parent_key)        the join: ZIP of every result, the parent's outcome
    start_bulk_render(parent_key)  POST /api/v1/renders/bulk's first step: fetch the
                                   artwork once, then fan_out

How the join works, and why not a Celery chord. A chord needs a result backend and
counts its header's results there; this farm keeps task state in PostgreSQL only
(no result backend), and a chord counter is fragile under the farm's delivery rules:
a child redelivered after its worker died (acks_late) may report twice, and a child
killed at its hard time limit reports through a different path. Here each item is a
task row of its own, finished by the same conditional UPDATE as any task (only one
delivery can finish it), and that same transaction adds one to the parent's
`items_done` (shared.tasks._finish_task). The item that completes the count queues
`finish_bulk`; beat's sweeper (workers.maintenance.sweep_bulk_tasks) queues it again
if that message is lost, and fails items still unfinished MOCKFARM_BULK_TIME_LIMIT
seconds after the bulk started, so that every accepted bulk task ends. The items
themselves go out as one Celery `group` on the render queue, behind single tasks
and, for a large bulk, behind small bulks' items (celery_app.bulk_item_priority).
"""
from __future__ import annotations

import io
import logging
import re
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from celery import Celery, group
from celery.exceptions import SoftTimeLimitExceeded

from shared import bulk, safefetch, tasks
from shared.bulk import BulkItem
from shared.errors import InvalidInput
from shared.storage import get_storage
from workers.celery_app import (BULK_FINISH_TASK, BULK_RENDER_TASK, TASKS_BY_KIND, app, bulk_item_priority,
                                send_bulk_finish)
from workers.render import RecordedTask, run_task

log = logging.getLogger(__name__)


# Result objects read at once while the ZIP is written (S3 waits, not CPU).
ZIP_READERS = 8
# The ZIP is spooled in memory up to this size, then on disk.
ZIP_SPOOL_BYTES = 64 * 1024 * 1024


def fan_out(parent_key: str, items: list[BulkItem | dict[str, Any]], celery: Celery | None = None) -> int:
    """Run `items` as the items of the task `parent_key`; answer how many were queued.

    `parent_key` is a recorded task (tasks.create_task) that is not finished. Each item
    is a BulkItem, or a plain dict of params (a `render.mockup` item): the params a
    single task of that kind takes. They are recorded as tasks naming the parent (the
    parent becomes `processing` with `items_total`), then queued as one Celery group
    over the render queue. From there on the parent needs nothing more from the
    caller: its progress is counted as items finish, and `finish_bulk` completes it
    (results, ZIP, per-item failures) or fails it (every item failed); its single
    task.completed / task.failed webhook goes out then.

    Safe to call again for the same parent with the same items (a redelivered
    parent step): the recorded items are found, and only unfinished ones are queued
    again (their own claim makes a second message harmless).

    `celery`: the Celery app to send with (default: the one configured from the
    environment when workers.celery_app was imported).

    A new kind of bulk task adds its parent kind to shared.bulk.PARENT_KINDS (so that
    GET /api/v1/tasks shows its progress before the fan-out, and the sweeper fails it
    if it never fans out) and shows its items with shared.bulk.shown_items; GET
    /api/v1/tasks and the task's webhook already do for any task that has items.
    """
    celery = celery or app
    records = bulk.record_items(parent_key, items)
    if records.to_send:
        # Behind single tasks, and a large bulk behind small ones (bulk_item_priority):
        # it does not hold up the renders sent after it.
        priority = bulk_item_priority(len(items))
        group(celery.signature(TASKS_BY_KIND[record.kind][0], args=[record.key], task_id=record.key,
                            queue=TASKS_BY_KIND[record.kind][1], priority=priority, immutable=True)
              for record in records.to_send).apply_async()
    if records.all_done:
        # Every item failed when recorded (or had finished already): finish now.
        send_bulk_finish(parent_key, celery)
    return len(records.to_send)


# --------------------------------------------------------------------------- the join

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "item"


def zip_entry_names(items: list[tasks.TaskRecord]) -> list[tuple[str, str]]:
    """(name in the ZIP, S3 key) of every print file of the completed items: the item's
    position (1-based, as in `items`), its label (export_label, else the mockup) and,
    for items with several files, the file's number."""
    entries = []
    for item in items:
        if item.status != tasks.COMPLETED:
            continue
        params = item.params or {}
        label = _slug(params.get("export_label") or params.get("mockup_uuid") or item.key)
        files = tasks.print_files_of(item)
        for number, print_file in enumerate(files, start=1):
            suffix = f"-{number}" if len(files) > 1 else ""
            extension = print_file.get("format") or print_file["object_key"].rsplit(".", 1)[-1]
            entries.append((f"{item.item_index + 1:03d}-{label}{suffix}.{extension}", print_file["object_key"]))
    return entries


def zip_object_key(parent_key: str) -> str:
    return f"results/{parent_key}.zip"


def build_zip(parent_key: str, items: list[tasks.TaskRecord]) -> dict[str, Any]:
    """Write the ZIP of every result to S3 (once, by the join, so that a download is a
    plain presigned GET); answer what the parent records about it. Stored, not
    deflated: the images are compressed already."""
    storage = get_storage()
    entries = zip_entry_names(items)
    with tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_BYTES) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive, \
                ThreadPoolExecutor(ZIP_READERS) as readers:
            for (name, _), data in zip(entries, readers.map(storage.get_bytes, [key for _, key in entries])):
                archive.writestr(name, data)
        size = spool.tell()
        spool.seek(0)
        key = zip_object_key(parent_key)
        storage.put_file(key, spool, size, "application/zip")
    return {"object_key": key, "bytes": size, "files": len(entries)}


def _first_error(items: list[tasks.TaskRecord]) -> str:
    for item in items:
        if item.status == tasks.FAILED:
            return f"item {item.item_index}: {item.error}"
    return "no error recorded"


def finish(parent_key: str) -> str:
    """Finish a bulk task whose items have all finished (see finish_bulk)."""
    parent = tasks.get_task(parent_key)
    if parent is None or parent.finished or parent.items_total is None:
        return "skipped"
    if parent.items_done < parent.items_total:
        return "waiting"
    items = bulk.items_of(parent_key)
    completed = [item for item in items if item.status == tasks.COMPLETED]
    failed = len(items) - len(completed)
    if not completed:
        tasks.fail_task(parent_key, f"all {len(items)} items failed; the first: {_first_error(items)}")
        return "failed"
    result: dict[str, Any] = {
        # Every result, in the items' order, so that a client reading only print_files gets them all.
        "print_files": [print_file for item in completed for print_file in tasks.print_files_of(item)],
        "zip": None,
    }
    errors = []
    if failed:
        errors.append(f"{failed} of {len(items)} items failed (see items); the first: {_first_error(items)}")
    try:
        result["zip"] = build_zip(parent_key, items)
    except SoftTimeLimitExceeded:
        errors.append("the ZIP of the results could not be made within the task time limit")
    except Exception as exc:  # noqa: BLE001 - the renders exist: complete without the ZIP
        log.exception("could not make the ZIP of bulk task %s", parent_key)
        errors.append(f"the ZIP of the results could not be made: {type(exc).__name__}")
    tasks.complete_task(parent_key, result, error="; ".join(errors) or None)
    return "completed"


@app.task(name=BULK_FINISH_TASK, base=RecordedTask)
def finish_bulk(parent_key: str) -> str:
    """The join of a bulk task: once every item has finished, make the ZIP of every
    result and complete the parent (listing failed items), or fail it if every item
    failed. Idempotent: a finished parent is left alone, and a parent whose count is
    not complete is left for the last item (or the sweeper) to finish."""
    return finish(parent_key)


# --------------------------------------------------------------------------- POST /renders/bulk

def check_artwork(data: bytes) -> None:
    """Refuse, once for the whole bulk, what no item could render: not an image of an
    accepted format, or too many pixels. Reads the header only; the pixels are
    decoded by the render workers (once per worker process and size needed:
    compositor.artwork caches decoded artwork by its bytes' hash and target size)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    from compositor.artwork import FORMATS  # noqa: PLC0415 - the imaging code loads in workers only
    from compositor.limits import MAX_ARTWORK_PIXELS  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInput("artwork: not a PNG, JPEG, WebP or GIF image") from None
    if image_format not in FORMATS:
        raise InvalidInput(f"artwork: {image_format} is not accepted (PNG, JPEG, WebP or GIF)")
    if width * height > MAX_ARTWORK_PIXELS:
        raise InvalidInput(f"artwork: {width}x{height} exceeds the limit of {MAX_ARTWORK_PIXELS} pixels")


def _store_artwork(params: dict) -> None:
    """Download an artwork URL, here, once for every item, and store it where the items
    read it (base64 and multipart artwork was stored by the API); refuse a file that
    is not an image before any item runs."""
    storage = get_storage()
    url = params["artwork"].get("url")
    if url:
        policy = safefetch.FetchPolicy.from_env()
        try:
            data = safefetch.fetch(url, policy, max_bytes=policy.max_asset_bytes).content
        except safefetch.FetchError as exc:
            raise InvalidInput(f"artwork.url: the artwork could not be downloaded "
                               f"(HTTP {exc.http_status} class): {exc}") from None
        check_artwork(data)
        storage.put_bytes(params["artwork_key"], data, "application/octet-stream")
    else:
        check_artwork(storage.get_bytes(params["artwork_key"]))


def start_bulk(parent_key: str, store_inputs: Callable[[dict], None]) -> str:
    """The first step every kind of bulk task shares: claim the parent, let
    `store_inputs(params)` fetch and store what its items read (the artwork, once),
    then fan out `params["items"]` (BulkItem fields). A failure here fails the
    parent with its reason (run_task); on success it stays `processing` until
    finish_bulk."""
    def prepare_and_fan_out(record: tasks.TaskRecord) -> None:
        # Run again after its fan-out (the message redelivered), the step leaves the
        # stored inputs alone: items may have read them, and they must not change under them.
        if record.items_total is None:
            store_inputs(record.params)
        fan_out(parent_key, [BulkItem(**item) for item in record.params["items"]])

    return run_task(parent_key, prepare_and_fan_out, completes=False)


@app.task(name=BULK_RENDER_TASK, base=RecordedTask)
def start_bulk_render(parent_key: str) -> str:
    """The first step of POST /api/v1/renders/bulk: get the artwork once (download it
    if given by URL), store it for the items, and fan the items out."""
    return start_bulk(parent_key, _store_artwork)
