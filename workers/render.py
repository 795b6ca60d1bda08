"""The render queue's tasks.

Each task receives only a task key; what to make is read from the task's row in
PostgreSQL, and the row is where the outcome is written. Output objects have a name
derived from the key, so a task run twice overwrites its own result and nothing else.
"""
from __future__ import annotations

import io
import logging
import time
from typing import Any

import psycopg
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from PIL import Image

from shared import tasks
from shared.config import load_settings
from shared.errors import InvalidInput
from shared.storage import Storage
from workers.celery_app import RENDER_SOLID_TASK, app

log = logging.getLogger(__name__)

_storage: Storage | None = None


def _get_storage() -> Storage:
    # One client per worker process, made after the fork.
    global _storage
    if _storage is None:
        _storage = Storage()
    return _storage


def result_object_key(task_key: str, extension: str) -> str:
    return f"results/{task_key}.{extension}"


def parse_hex_colour(text: str) -> tuple[int, int, int, int]:
    """'#rrggbb' or '#rrggbbaa' -> (r, g, b, a)."""
    if not isinstance(text, str) or len(text) not in (7, 9) or not text.startswith("#"):
        raise InvalidInput(f"colour must be #rrggbb or #rrggbbaa, got {text!r}")
    try:
        values = [int(text[i:i + 2], 16) for i in range(1, len(text), 2)]
    except ValueError:
        raise InvalidInput(f"colour must be #rrggbb or #rrggbbaa, got {text!r}") from None
    if len(values) == 3:
        values.append(255)
    return tuple(values)


def make_solid_png(width: int, height: int, colour: str) -> bytes:
    settings = load_settings()
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or not 1 <= value <= settings.max_output_side:
            raise InvalidInput(f"{name} must be an integer from 1 to {settings.max_output_side}, got {value!r}")
    if width * height > settings.max_image_pixels:
        raise InvalidInput(f"{width}x{height} exceeds the limit of {settings.max_image_pixels} pixels")
    rgba = parse_hex_colour(colour)
    image = Image.new("RGBA", (width, height), rgba)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run_task(task_key: str, work) -> str:
    """Claim, run and record one task; return what happened ('completed', 'failed',
    'skipped'). `work(record)` returns the result dict or raises."""
    settings = load_settings()
    record = tasks.start_task(task_key)
    if record is None:
        log.info("task %s is already finished (or unknown): nothing to do", task_key)
        return "skipped"
    if record.attempts > settings.task_max_attempts:
        # The worker died every time it ran this task; stop feeding it to workers.
        tasks.fail_task(task_key, f"gave up after {settings.task_max_attempts} attempts: "
                                  "the worker running it stopped each time")
        return "failed"
    try:
        result = work(record)
    except InvalidInput as exc:
        tasks.fail_task(task_key, str(exc))
        return "failed"
    except SoftTimeLimitExceeded:
        tasks.fail_task(task_key, f"timed out after {settings.task_soft_time_limit} s")
        return "failed"
    except Exception as exc:  # noqa: BLE001 - every accepted task must reach a final state
        log.exception("task %s failed", task_key)
        tasks.fail_task(task_key, f"internal error: {type(exc).__name__}: {exc}")
        return "failed"
    tasks.complete_task(task_key, result)
    return "completed"


def _render_solid(record: tasks.TaskRecord) -> dict[str, Any]:
    delay_ms = load_settings().render_delay_ms
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    params = record.params
    png = make_solid_png(params.get("width"), params.get("height"), params.get("color"))
    key = result_object_key(record.key, "png")
    _get_storage().put_bytes(key, png, "image/png")
    # One print file; the API presigns `object_key` each time the task is read.
    return {"print_files": [{"object_key": key, "format": "png", "content_type": "image/png",
                             "bytes": len(png), "width": params["width"], "height": params["height"]}]}


class RecordedTask(Task):
    """A task whose outcome is always written to its row, even when Celery kills it."""

    # PostgreSQL briefly unreachable (restart, failover): try again rather than drop
    # the task; the message is only acknowledged once the retry is queued.
    autoretry_for = (psycopg.OperationalError,)
    retry_backoff = 2
    retry_backoff_max = 60
    max_retries = 8

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Called in the worker's parent process when the hard time limit killed the
        # task's process: the task itself had no chance to record anything.
        if isinstance(exc, TimeLimitExceeded) and args:
            tasks.fail_task(args[0], f"killed after the hard time limit of {load_settings().task_time_limit} s")


@app.task(name=RENDER_SOLID_TASK, base=RecordedTask)
def render_solid(task_key: str) -> str:
    """Make a PNG of one colour: the smallest real render, proving the whole path."""
    return run_task(task_key, _render_solid)
