"""The render queue's tasks.

Each task receives only a task key; what to make is read from the task's row in
PostgreSQL, and the row is where the outcome is written. Output objects have a name
derived from the key, so a task run twice overwrites its own result and nothing else.
"""
from __future__ import annotations

import io
import logging
import time
from collections import OrderedDict
from typing import Any

import psycopg
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from PIL import Image

from minio.error import S3Error

from shared import mockups, safefetch, tasks
from shared.config import load_settings
from shared.errors import InvalidInput
from shared.storage import get_storage
from workers.celery_app import RENDER_MOCKUP_TASK, RENDER_PRINT_FILES_TASK, RENDER_SOLID_TASK, app

log = logging.getLogger(__name__)

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


def run_task(task_key: str, work, completes: bool = True) -> str:
    """Claim, run and record one task; return what happened ('completed', 'failed',
    'skipped'). `work(record)` returns the result dict or raises. With `completes`
    false the task stays `processing` when the work succeeds ('started'): a later
    step finishes it (a bulk task's join); a failure still fails it here."""
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
    if not completes:
        return "started"
    tasks.complete_task(task_key, result)
    return "completed"


def _render_solid(record: tasks.TaskRecord) -> dict[str, Any]:
    delay_ms = load_settings().render_delay_ms
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    params = record.params
    png = make_solid_png(params.get("width"), params.get("height"), params.get("color"))
    key = result_object_key(record.key, "png")
    get_storage().put_bytes(key, png, "image/png")
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


# --------------------------------------------------------------------------- mockups

_plan_cache = None


def _get_plan_cache():
    # Per process: compiled plans are large, and a worker renders the same few often.
    global _plan_cache
    if _plan_cache is None:
        import cv2  # noqa: PLC0415 - the imaging code loads in workers only
        from compositor.plancache import PlanCache  # noqa: PLC0415

        settings = load_settings()
        # The first render of this process: only render processes get here (the
        # ingest pool keeps OpenCV's threads for compiling templates).
        cv2.setNumThreads(settings.render_threads)
        _plan_cache = PlanCache(max_bytes=settings.plan_cache_bytes, disk_dir=settings.plan_cache_path,
                                disk_max_bytes=settings.plan_disk_cache_bytes)
    return _plan_cache


class _PlanGone(Exception):
    """The plan object is not in S3."""


def _load_plan(plan_key: str, mockup_uuid: str | None = None):
    """The mockup's compiled plan: from this process's cache, else from S3 (never the PSD).

    A render names the plan its mockup had when it was accepted; if a recompile
    (`mockfarm templates recompile`) replaced and deleted that plan since, the
    mockup's current plan, compiled from the same PSD, is used instead."""
    try:
        return _load_plan_at(plan_key)
    except _PlanGone:
        current = mockups.get_mockup(mockup_uuid) if mockup_uuid else None
    if current is not None and current.status == mockups.READY and current.plan_key not in (None, plan_key):
        try:
            return _load_plan_at(current.plan_key)
        except _PlanGone:
            pass
    raise InvalidInput("the mockup was deleted: its render plan is gone")


def _load_plan_at(plan_key: str):
    def read() -> bytes:
        try:
            return get_storage().get_bytes(plan_key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise _PlanGone(plan_key) from None
            raise
    from compositor.model import TemplateError  # noqa: PLC0415

    try:
        return _get_plan_cache().get_or_load(plan_key, read)
    except TemplateError as exc:
        # A plan written by an older mockfarm (its format has a version).
        raise InvalidInput(f"the mockup's render plan cannot be used ({exc}); upload the template again") from None


def _artwork_bytes(index: int, asset: dict) -> bytes:
    """The artwork of smart_objects[index]: downloaded from its URL, or the bytes the
    API stored in S3 (base64 and multipart uploads), or nothing at all for
    `{"empty": true}` (the Printful-compatible generator's placements left without
    a file: shown empty, not with the template's placeholder)."""
    if asset.get("empty"):
        return _transparent_pixel()
    if asset.get("url"):
        policy = safefetch.FetchPolicy.from_env()
        try:
            return safefetch.fetch(asset["url"], policy, max_bytes=policy.max_asset_bytes).content
        except safefetch.FetchError as exc:
            raise InvalidInput(f"smart_objects.{index}.asset.url: the artwork could not be downloaded "
                               f"(HTTP {exc.http_status} class): {exc}") from None
    key = asset["object_key"]
    data = _stored_artwork.get(key)
    if data is not None:
        return data
    try:
        data = get_storage().get_bytes(key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            raise InvalidInput(f"smart_objects.{index}.asset: the uploaded artwork is no longer stored") from None
        raise
    _stored_artwork.put(key, data)
    return data


class _StoredArtworkCache:
    """The bytes of stored artwork, by S3 key, most recently used kept, up to a total
    size. Artwork keys (uploads/<uuid>) are written once and never rewritten, so a
    kept copy cannot go stale; the items of a bulk task all read the same key, and
    this saves each item after a process's first its S3 round trip."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._total = 0

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes or key in self._items:
            return
        self._items[key] = data
        self._total += len(data)
        while self._total > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._total -= len(dropped)


# Per worker process (the render pool's processes share nothing).
_stored_artwork = _StoredArtworkCache(64 * 1024 * 1024)


def _transparent_pixel() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def placement_options(index: int, item: dict):
    """A request's smart object (as the API stored it) -> compositor PlacementOptions."""
    from compositor.errors import InvalidOption  # noqa: PLC0415
    from compositor.placement import PlacementOptions, PrintAreaPreset  # noqa: PLC0415

    asset = item.get("asset") or {}
    options = {name: asset[name] for name in ("fit", "rotate", "flip_horizontal", "flip_vertical")
               if name in asset}
    if "size" in asset:
        options["size"] = (asset["size"]["width"], asset["size"]["height"])
    if "position" in asset:
        options["position"] = {"left": asset["position"]["left"], "top": asset["position"]["top"]}
    if item.get("color"):
        color = item["color"]
        options["color"] = {"hex": color["hex"], "blend_mode": color.get("blending_mode", "normal")}
        # fill_area: set by the Printful-compatible generator (shared/printful.py) for a
        # variant's colour, which fills the whole smart object behind the artwork.
        for name in ("opacity", "fill_area"):
            if name in color:
                options["color"][name] = color[name]
    if item.get("adjustment_layers"):
        options["adjustment_layers"] = dict(item["adjustment_layers"])
    presets = []
    if item.get("print_area"):
        area = item["print_area"]
        presets = [PrintAreaPreset(area["name"], (area["size"]["width"], area["size"]["height"]),
                                   (area["position"]["left"], area["position"]["top"]))]
        options["print_area"] = area["name"]
    try:
        return PlacementOptions.from_dict(options, presets)
    except InvalidOption as exc:
        raise InvalidInput(f"smart_objects.{index}.{exc}") from None


def _inputs(params: dict):
    """[(index, request item, artwork bytes or None, PlacementOptions)] for the listed smart objects."""
    inputs = []
    for index, item in enumerate(params.get("smart_objects") or []):
        asset = item.get("asset")
        if not asset and not item.get("color"):
            continue  # nothing to put in: it keeps its own content
        data = _artwork_bytes(index, asset) if asset else None
        inputs.append((index, item, data, placement_options(index, item)))
    return inputs


def _compositor_errors():
    from compositor.errors import InvalidArtwork, InvalidOption  # noqa: PLC0415
    from compositor.model import TemplateError  # noqa: PLC0415
    return InvalidArtwork, InvalidOption, TemplateError


def _render_mockup(record: tasks.TaskRecord) -> dict[str, Any]:
    from compositor.export import output_size  # noqa: PLC0415
    from compositor.render import ArtworkInput, ExportOptions, render  # noqa: PLC0415

    # Where a render's time goes, kept with its result (`mockfarm bench-api` reports it).
    seconds = {}
    mark = time.perf_counter()
    params = record.params
    plan = _load_plan(params["plan_key"], params.get("mockup_uuid"))
    seconds["plan"] = time.perf_counter() - mark
    mark = time.perf_counter()
    artwork = {}
    for index, item, data, options in _inputs(params):
        # By the object's index in the plan (names may repeat); tasks queued before
        # items carried it name the layer. Linked instances follow (artwork_targets).
        key = item["index"] if item.get("index") is not None else item["name"]
        artwork[key] = ArtworkInput(data, options)
    seconds["artwork"] = time.perf_counter() - mark
    mark = time.perf_counter()
    export = params.get("export_options") or {}
    image_format = {"jpeg": "jpg"}.get(export.get("image_format", "jpg"), export.get("image_format", "jpg"))
    try:
        image = render(plan, artwork, ExportOptions(format=image_format, image_size=export.get("image_size"),
                                                    quality=export.get("quality", 90)))
    except _compositor_errors() as exc:
        raise InvalidInput(str(exc)) from None
    seconds["composite"] = time.perf_counter() - mark
    mark = time.perf_counter()
    width, height = output_size((plan.width, plan.height), export.get("image_size"))
    key = result_object_key(record.key, image_format)
    content_type = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[image_format]
    get_storage().put_bytes(key, image, content_type)
    seconds["upload"] = time.perf_counter() - mark
    return {"print_files": [{"object_key": key, "format": image_format, "content_type": content_type,
                             "bytes": len(image), "width": width, "height": height}],
            "mockup_uuid": params["mockup_uuid"], "export_label": params.get("export_label"),
            "seconds": {name: round(value, 4) for name, value in seconds.items()}}


def _render_print_files(record: tasks.TaskRecord) -> dict[str, Any]:
    from compositor.artwork import load_artwork  # noqa: PLC0415
    from compositor.placement import required_artwork_size  # noqa: PLC0415
    from compositor.printfile import make_print_file, print_size  # noqa: PLC0415

    params = record.params
    export = params.get("export_options") or {}
    image_format, dpi = export.get("image_format", "png"), export.get("dpi", 300)
    content_type = {"png": "image/png", "pdf": "application/pdf"}[image_format]
    files = []
    for index, item, data, options in _inputs(params):
        if data is None:
            raise InvalidInput(f"smart_objects.{index}.asset: a print file needs artwork")
        content_size = tuple(item["content_size"])
        content_dpi = item.get("dpi") or 72.0
        try:
            size = print_size(content_size, content_dpi, dpi)
            artwork = load_artwork(data, target_size=required_artwork_size(size, None))
            output = make_print_file(artwork, content_size, options, content_dpi=content_dpi, dpi=dpi,
                                     format=image_format)
        except _compositor_errors() as exc:
            raise InvalidInput(f"smart_objects.{index}: {exc}") from None
        key = f"results/{record.key}-{index}.{image_format}"
        get_storage().put_bytes(key, output, content_type)
        files.append({"object_key": key, "format": image_format, "content_type": content_type,
                      "bytes": len(output), "width": size[0], "height": size[1],
                      "smart_object_uuid": item["uuid"]})
    if not files:
        raise InvalidInput("smart_objects: none has artwork to make a print file of")
    return {"print_files": files, "mockup_uuid": params["mockup_uuid"], "export_label": params.get("export_label")}


@app.task(name=RENDER_MOCKUP_TASK, base=RecordedTask)
def render_mockup(task_key: str) -> str:
    """Render a mockup with the request's artwork from its compiled plan."""
    return run_task(task_key, _render_mockup)


@app.task(name=RENDER_PRINT_FILES_TASK, base=RecordedTask)
def render_print_files(task_key: str) -> str:
    """The print file (PNG or PDF, unwarped) of each smart object given artwork."""
    return run_task(task_key, _render_print_files)
