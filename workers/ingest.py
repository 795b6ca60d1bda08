"""The ingest queue's task: an uploaded PSD becomes a ready mockup.

Once per template, so renders never read the PSD again:

    fetch      the PSD from its URL (safefetch, byte cap, timeout) or from S3 (uploads)
    limits     bytes, canvas side and pixels, read from the header before parsing
    compile    `compositor.plan.compile_template`: base images and per-pixel formulas
    thumbnails 720, 480 and 240 px wide WebP, from the plan's base image
    fidelity   our base render against the composite Photoshop saved in the file
               (document PSNR), and each smart object against its cached pixels (MAE)
    store      plan and thumbnails in S3 under the mockup's prefix, metadata in PostgreSQL

Every object key derives from the mockup's uuid, so an ingest run again (its worker
died) overwrites its own objects; a mockup that is already ready is left alone.

`recompile_mockup` runs the same compile again on a ready mockup's stored PSD (after
an upgrade, `mockfarm templates recompile`): the new plan goes to a key of its own,
the row switches to it in one UPDATE, and only then is the old plan deleted.
"""
from __future__ import annotations

import io
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from minio.error import S3Error
from PIL import Image

from compositor.model import TemplateError, load_template
from compositor.plan import PLAN_VERSION, compile_template
from compositor.render import choose_level
from shared import mockups, safefetch, tasks, webhooks
from shared.db import is_uuid
from shared.config import Settings, load_settings
from shared.errors import InvalidInput
from workers.celery_app import INGEST_PSD_TASK, RECOMPILE_MOCKUP_TASK, app
from shared.storage import get_storage
from workers.render import RecordedTask, run_task

log = logging.getLogger(__name__)

THUMBNAIL_WIDTHS = (720, 480, 240)
THUMBNAIL_QUALITY = 80
# The per-layer fidelity check re-warps every smart object at full size; beyond this
# many canvas pixels it is skipped (and the report says so) to keep ingest quick.
LAYER_FIDELITY_MAX_PIXELS = 40_000_000
# Names the stable ids of smart objects whose layer carries no usable id of its own.
_SMART_OBJECT_NAMESPACE = uuid.UUID("6f1d8a52-4f64-4cde-9a43-7b9e0c3a51d2")


@dataclass
class TemplateAssets:
    """What an ingest makes of one PSD (before it is stored)."""

    width: int
    height: int
    plan_bytes: bytes
    thumbnails: dict[int, tuple[bytes, tuple[int, int]]]
    smart_objects: list[dict[str, Any]]
    fidelity: dict[str, Any]
    unsupported: list[str]
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- limits

def check_psd_header(data: bytes, settings: Settings) -> tuple[int, int]:
    """(width, height) from the PSD/PSB header; refuses what is not one, or too large."""
    if len(data) < 26 or data[:4] != b"8BPS" or data[4:6] not in (b"\x00\x01", b"\x00\x02"):
        raise InvalidInput("the file is not a Photoshop document (PSD or PSB): its header is missing")
    height = int.from_bytes(data[14:18], "big")
    width = int.from_bytes(data[18:22], "big")
    if width < 1 or height < 1:
        raise InvalidInput(f"the document's canvas is {width}x{height} pixels")
    if max(width, height) > settings.max_psd_side:
        raise InvalidInput(f"the document is {width}x{height} pixels; its sides may be at most "
                           f"{settings.max_psd_side} (MOCKFARM_MAX_PSD_SIDE)")
    if width * height > settings.max_psd_pixels:
        raise InvalidInput(f"the document is {width}x{height} = {width * height} pixels, more than "
                           f"{settings.max_psd_pixels} (MOCKFARM_MAX_PSD_PIXELS)")
    return width, height


# --------------------------------------------------------------------------- the pure part

def check_layer_sizes(template, max_pixels: int) -> None:
    """Refuse layers whose own box is beyond the pixel limit: a layer may extend far past
    a small canvas, and its pixels are decoded whole (the records say its size unread)."""
    for layer in template.psd.descendants():
        width, height = max(0, layer.width), max(0, layer.height)
        if width * height > max_pixels:
            raise InvalidInput(f"layer {layer.name!r} is {width}x{height} pixels, more than {max_pixels} "
                               f"(MOCKFARM_MAX_PSD_PIXELS)")


def build_template_assets(psd_bytes: bytes, mockup_uuid: str, max_pixels: int | None = None,
                          previous_smart_objects: list[dict[str, Any]] | None = None) -> TemplateAssets:
    """Compile, thumbnail and measure a template (no storage, no database).
    `previous_smart_objects`: the mockup's from an earlier compile, whose uuids are kept."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    max_pixels = load_settings().max_psd_pixels if max_pixels is None else max_pixels
    try:
        template = load_template(psd_bytes)
        check_layer_sizes(template, max_pixels)
        timings["parse"] = time.perf_counter() - started
        mark = time.perf_counter()
        # The original bytes: kept as they are when an object falls back.
        # Its smart objects and warp maps kept for the fidelity check.
        plan = compile_template(template, psd_bytes=psd_bytes, keep_geometry=True)
        timings["compile"] = time.perf_counter() - mark
    except TemplateError as exc:
        raise InvalidInput(f"the template cannot be used: {exc}") from None

    # Serialising (zstandard, outside the GIL) runs beside the thumbnails and the
    # fidelity check, which read the same finished plan.
    with ThreadPoolExecutor(max_workers=1) as pool:
        serialised = pool.submit(_timed, plan.to_bytes)

        mark = time.perf_counter()
        thumbnails = make_thumbnails(plan)
        timings["thumbnails"] = time.perf_counter() - mark

        mark = time.perf_counter()
        fidelity = measure_fidelity(template, plan)
        timings["fidelity"] = time.perf_counter() - mark

        plan_bytes, timings["serialise"] = serialised.result()

    smart_objects = describe_smart_objects(template, plan, mockup_uuid, previous_smart_objects)
    unsupported = list(plan.unsupported)
    return TemplateAssets(width=plan.width, height=plan.height, plan_bytes=plan_bytes, thumbnails=thumbnails,
                          smart_objects=smart_objects, fidelity=fidelity, unsupported=unsupported,
                          timings=timings)


def _timed(function):
    """(function(), the seconds it took)."""
    start = time.perf_counter()
    return function(), time.perf_counter() - start


def make_thumbnails(plan) -> dict[int, tuple[bytes, tuple[int, int]]]:
    """WebP previews of the template as it is (its own smart-object content), never
    enlarged: {nominal width: (bytes, (width, height))}."""
    base = plan.base[choose_level(plan, max(THUMBNAIL_WIDTHS))]
    # Opaque plans keep their base as RGB, others as RGBA.
    image = Image.fromarray(np.ascontiguousarray(base), "RGB" if base.shape[2] == 3 else "RGBA")
    out = {}
    for width in THUMBNAIL_WIDTHS:
        size = (min(width, image.width), max(1, round(image.height * min(width, image.width) / image.width)))
        thumb = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        thumb.save(buffer, format="WEBP", quality=THUMBNAIL_QUALITY, method=4)
        out[width] = (buffer.getvalue(), size)
    return out


def measure_fidelity(template, plan) -> dict[str, Any]:
    """Our render of the template against Photoshop's own pixels (see compositor.fidelity)."""
    from compositor.fidelity import _json_number, flatten_rgb8  # noqa: PLC0415

    report: dict[str, Any] = {"document_psnr": None, "smart_objects": [], "skipped": []}
    try:
        reference = template.psd.topil()
    except Exception as exc:  # noqa: BLE001 - a bad preview must not fail the ingest
        reference, reason = None, f"the saved composite cannot be read ({type(exc).__name__})"
    else:
        reason = "the file has no composite saved by Photoshop ('maximize compatibility' off)"
    if reference is None:
        report["skipped"].append(f"document: {reason}")
    else:
        # An opaque base needs no flattening (the common case, and the costly one on big canvases).
        base = plan.base[1]
        ours = (np.ascontiguousarray(base[..., :3]) if plan.opaque or base.shape[2] == 3
                else flatten_rgb8(Image.fromarray(np.ascontiguousarray(base), "RGBA")))
        theirs = flatten_rgb8(reference)
        if theirs.shape == ours.shape:
            # cv2.PSNR: the same measure as compositor.fidelity.psnr, on the uint8 pixels directly.
            value = cv2.PSNR(theirs, ours) if np.any(theirs != ours) else float("inf")
            report["document_psnr"] = _json_number(value)
        else:
            report["skipped"].append(f"document: the saved composite is {theirs.shape[1]}x{theirs.shape[0]}, "
                                     f"not the canvas size")
    if plan.width * plan.height > LAYER_FIDELITY_MAX_PIXELS:
        report["skipped"].append(f"smart objects: not compared on canvases over {LAYER_FIDELITY_MAX_PIXELS} pixels")
    else:
        try:
            from compositor.smartobjects import layer_fidelity  # noqa: PLC0415
            # The compile's smart objects and warp maps, not read again.
            for row in layer_fidelity(template.psd, geometry=plan.compiled_geometry):
                # cause: what Photoshop's own pixels show our geometry misses (its
                # outline lies elsewhere), named for layers with a notable error
                report["smart_objects"].append({"name": row["name"], "mae": _json_number(row["mae"]),
                                                "psnr": _json_number(row["psnr"]), "skipped": row["skipped"],
                                                "cause": row["cause"], "edges": row["edges"]})
        except Exception as exc:  # noqa: BLE001 - the report is information, not a requirement
            report["skipped"].append(f"smart objects: the comparison failed ({type(exc).__name__}: {exc})")
    report["render_paths"] = [{"name": so.name, "method": so.method, "reason": so.reason}
                              for so in plan.smart_objects]
    return report


def _stable_uuid(candidate: str | None, taken: set[str], mockup_uuid: str, index: int, name: str) -> str:
    """The layer's own id when it is a uuid not used by another layer, else one derived
    from the mockup and the layer's place (the same on every ingest of this mockup)."""
    if candidate and is_uuid(candidate):
        value = str(uuid.UUID(candidate))
        if value not in taken:
            return value
    return str(uuid.uuid5(_SMART_OBJECT_NAMESPACE, f"{mockup_uuid}/{index}/{name}"))


def _previous_uuids(template, plan, mockup_uuid: str, previous: list[dict[str, Any]]) -> list[str | None]:
    """Per smart object of the plan, the uuid an earlier compile of the same PSD gave
    it (None: new). Render requests name smart objects by uuid, and how a release
    derives them (or which layers it compiles as smart objects) may change; so each
    layer keeps the uuid it had: its own when that uuid was already its uuid, else the
    unclaimed earlier entry of the same layer name, in template order."""
    fresh, taken = [], set()
    for index, so in enumerate(plan.smart_objects):
        fresh.append(_stable_uuid(so.uuid, taken, mockup_uuid, index, so.name))
        taken.add(fresh[-1])
    earlier = {entry["uuid"] for entry in previous}
    unclaimed: dict[str, list[str]] = {}
    for entry in previous:
        if entry["uuid"] not in fresh:
            unclaimed.setdefault(entry.get("layer_name"), []).append(entry["uuid"])
    kept = []
    for so_uuid, node in zip(fresh, template.smart_objects):
        if so_uuid in earlier:
            kept.append(so_uuid)
        elif unclaimed.get(node.name):
            kept.append(unclaimed[node.name].pop(0))
        else:
            kept.append(None)
    return kept


def describe_smart_objects(template, plan, mockup_uuid: str,
                           previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The mockup's `smart_objects`, in the plan's order (which is the template's);
    `previous`: the mockup's from an earlier compile (a recompile keeps their uuids)."""
    described, taken = [], set()
    kept = _previous_uuids(template, plan, mockup_uuid, previous) if previous else []
    # The kept uuids are reserved first, so that no new smart object derives one of them.
    taken.update(value for value in kept if value)
    for index, (node, so) in enumerate(zip(template.smart_objects, plan.smart_objects)):
        so_uuid = (kept[index] if index < len(kept) else None) or _stable_uuid(so.uuid, taken, mockup_uuid,
                                                                                index, so.name)
        taken.add(so_uuid)
        quad = np.asarray(so.quad, dtype=np.float64).reshape(4, 2)
        left, top = np.clip(quad.min(axis=0), 0, None)
        right, bottom = np.minimum(quad.max(axis=0), (plan.width, plan.height))
        width, height = so.content_size
        try:
            dpi = float(node.layer.smart_object.resolution) or None
        except Exception:  # noqa: BLE001 - older files may not record it
            dpi = None
        described.append({
            "uuid": so_uuid,
            "name": so.name,
            "layer_name": node.name,
            "size": {"width": width, "height": height},
            "position": {"top": round(float(top)), "left": round(float(left)),
                         "width": round(float(right - left)), "height": round(float(bottom - top))},
            "quad": [[round(float(x), 3), round(float(y), 3)] for x, y in quad],
            "blend_mode": node.blend_mode.name.lower(),
            "dpi": dpi,
            # One preset: the whole content (PSDs carry no named print areas).
            "print_area_presets": [{
                "uuid": str(uuid.uuid5(uuid.UUID(so_uuid), "full")), "name": "Full print area",
                "size": {"width": width, "height": height}, "position": {"top": 0, "left": 0}}],
        })
    # Photoshop's linked instances (duplicates sharing one embedded file) show the
    # same content: artwork given to one goes into the others (renders'
    # compositor.model.artwork_targets), unless they are given their own.
    for entry, so in zip(described, plan.smart_objects):
        entry["linked_uuids"] = [other["uuid"] for other, other_so in zip(described, plan.smart_objects)
                                 if other is not entry and so.uuid and other_so.uuid == so.uuid]
    return described


# --------------------------------------------------------------------------- the task

def _read_psd(mockup: mockups.Mockup, url: str | None) -> bytes:
    storage = get_storage()
    if url:
        policy = safefetch.FetchPolicy.from_env()
        try:
            fetched = safefetch.fetch(url, policy, max_bytes=policy.max_psd_bytes)
        except safefetch.FetchError as exc:
            raise InvalidInput(f"psd_file_url: the PSD could not be downloaded (HTTP {exc.http_status} class): "
                               f"{exc}") from None
        storage.put_bytes(mockup.psd_key, fetched.content, "image/vnd.adobe.photoshop")
        return fetched.content
    try:
        return storage.get_bytes(mockup.psd_key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            raise InvalidInput("the uploaded PSD is no longer in storage") from None
        raise


def _announce(record: tasks.TaskRecord, mockup_uuid: str) -> None:
    """mockup.ready or mockup.failed to the account's webhooks and the request's
    webhook_url. Never raises: a webhook problem must not change the ingest's outcome."""
    try:
        mockup = mockups.get_mockup(mockup_uuid)
        if mockup is None or mockup.status == mockups.PROCESSING:
            return
        event = webhooks.MOCKUP_READY if mockup.status == mockups.READY else webhooks.MOCKUP_FAILED
        data = {"uuid": mockup.uuid, "name": mockup.name, "status": mockup.status, "error": mockup.error,
                "task_key": mockup.task_key, "width": mockup.width, "height": mockup.height,
                "smart_objects": mockup.smart_objects, "unsupported": mockup.unsupported,
                "fidelity": mockup.fidelity}
        webhooks.emit_event(mockup.account_id, event, data, extra_url=record.params.get("webhook_url"),
                            task_key=record.key)
    except Exception:  # noqa: BLE001 - see above
        log.exception("could not record the webhook events of mockup %s", mockup_uuid)


def _ingest(record: tasks.TaskRecord) -> dict[str, Any]:
    mockup_uuid = record.params["mockup_uuid"]
    mockup = mockups.get_mockup(mockup_uuid)
    if mockup is None:
        raise InvalidInput("the mockup was deleted before its ingest ran")
    if mockup.status == mockups.READY:
        return {"mockup_uuid": mockup_uuid, "note": "already ingested"}
    try:
        result = _ingest_mockup(mockup, record.params.get("psd_file_url"))
    except InvalidInput as exc:
        mockups.mark_failed(mockup_uuid, str(exc))
        raise
    except SoftTimeLimitExceeded:
        mockups.mark_failed(mockup_uuid, f"the ingest timed out after {load_settings().task_soft_time_limit} s")
        raise
    except MemoryError:
        mockups.mark_failed(mockup_uuid, "the template is too large to ingest in memory")
        raise InvalidInput("the template is too large to ingest in memory") from None
    except Exception as exc:
        mockups.mark_failed(mockup_uuid, f"internal error: {type(exc).__name__}: {exc}")
        raise
    finally:
        _announce(record, mockup_uuid)
    return result


def _ingest_mockup(mockup: mockups.Mockup, url: str | None) -> dict[str, Any]:
    prefix = mockups.object_prefix(mockup.uuid)
    stored, assets, timings = _compile_and_store(mockup, prefix + "plan.zip", url=url)
    if not stored:
        # Deleted while we worked: take our objects with it.
        get_storage().delete_prefix(prefix)
        raise InvalidInput("the mockup was deleted while it was being ingested")
    log.info("ingested mockup %s (%dx%d) in %.2f s", mockup.uuid, assets.width, assets.height, timings["total"])
    return {"mockup_uuid": mockup.uuid, "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _compile_and_store(mockup: mockups.Mockup, plan_key: str, url: str | None = None,
                       replacing_plan_key: str | None = None) -> tuple[bool, TemplateAssets, dict[str, float]]:
    """What an ingest and a recompile share: read and check the mockup's PSD, compile
    it, store the plan under `plan_key` and the thumbnails, and record them on the
    mockup (ready, at PLAN_VERSION). False when the row was not changed: the mockup
    was deleted meanwhile or, with `replacing_plan_key` (a recompile), it is no longer
    ready with that plan. Smart objects keep the uuids the mockup already has."""
    settings = load_settings()
    started = time.perf_counter()
    psd_bytes = _read_psd(mockup, url)
    limit = safefetch.FetchPolicy.from_env().max_psd_bytes
    if len(psd_bytes) > limit:
        raise InvalidInput(f"the PSD is {len(psd_bytes)} bytes, more than {limit} (MOCKFARM_MAX_PSD_BYTES)")
    check_psd_header(psd_bytes, settings)
    fetched = time.perf_counter() - started

    assets = build_template_assets(psd_bytes, mockup.uuid, previous_smart_objects=mockup.smart_objects)
    del psd_bytes

    mark = time.perf_counter()
    storage = get_storage()
    prefix = mockups.object_prefix(mockup.uuid)
    storage.put_bytes(plan_key, assets.plan_bytes, "application/zip")
    thumbnail_keys = {}
    for width, (data, size) in assets.thumbnails.items():
        key = f"{prefix}thumbnail-{width}.webp"
        storage.put_bytes(key, data, "image/webp")
        thumbnail_keys[str(width)] = {"key": key, "width": size[0], "height": size[1]}
    stored = mockups.mark_ready(mockup.uuid, width=assets.width, height=assets.height,
                                smart_objects=assets.smart_objects, thumbnails=thumbnail_keys, plan_key=plan_key,
                                psd_key=mockup.psd_key, fidelity=assets.fidelity, unsupported=assets.unsupported,
                                plan_version=PLAN_VERSION, replacing_plan_key=replacing_plan_key)
    timings = {"fetch": fetched, **assets.timings, "store": time.perf_counter() - mark,
               "total": time.perf_counter() - started}
    return stored, assets, timings


@app.task(name=INGEST_PSD_TASK, base=RecordedTask)
def ingest_psd(task_key: str) -> str:
    """Turn an uploaded PSD into a ready (or failed) mockup."""
    return run_task(task_key, _ingest)


# --------------------------------------------------------------------------- recompiling

def _recompile(record: tasks.TaskRecord) -> dict[str, Any]:
    """Compile a ready mockup's stored PSD again with this release's compositor.

    Never fails the mockup: until the new plan is recorded, the row and the old plan
    are untouched, so any failure (PSD gone, compile error, timeout) leaves it ready
    with what it had, and only this task fails. Announces nothing (no mockup.ready):
    the template did not change for its owner."""
    mockup_uuid = record.params["mockup_uuid"]
    mockup = mockups.get_mockup(mockup_uuid)
    if mockup is None:
        return {"mockup_uuid": mockup_uuid, "skipped": "the mockup was deleted before its recompile ran"}
    if mockup.status != mockups.READY:
        return {"mockup_uuid": mockup_uuid,
                "skipped": f"the mockup is {mockup.status}, not ready: only ready mockups are recompiled"}
    if not record.params.get("force") and mockup.plan_version is not None and mockup.plan_version >= PLAN_VERSION:
        return {"mockup_uuid": mockup_uuid, "skipped": f"already current (plan version {mockup.plan_version})"}

    storage = get_storage()
    prefix = mockups.object_prefix(mockup.uuid)
    # A key of its own (named after this task, so that a redelivery overwrites only its
    # own object): renders that already read the old key keep it, and the workers'
    # plan caches, keyed by plan key, cannot serve the old plan for the new key.
    plan_key = f"{prefix}plan-v{PLAN_VERSION}-{record.key[:8]}.zip"
    try:
        stored, assets, timings = _compile_and_store(mockup, plan_key, replacing_plan_key=mockup.plan_key)
    except InvalidInput as exc:
        _discard_plan(mockup.uuid, plan_key)
        raise InvalidInput(f"{exc} (the mockup keeps its current plan)") from None
    except Exception:
        _discard_plan(mockup.uuid, plan_key)
        raise
    if not stored:
        current = mockups.get_mockup(mockup.uuid)
        if current is None:
            # Deleted while we worked: take our objects with it, never bring the row back.
            storage.delete_prefix(prefix)
            raise InvalidInput("the mockup was deleted while it was being recompiled")
        _discard_plan(mockup.uuid, plan_key)
        raise InvalidInput(f"the mockup changed while it was being recompiled (now {current.status}, plan "
                           f"{current.plan_key}); it was left as it is")
    if mockup.plan_key and mockup.plan_key != plan_key:
        # Renders accepted before the switch that have not read it yet find the
        # mockup's new plan instead (workers/render.py, _load_plan).
        try:
            storage.delete(mockup.plan_key)
        except Exception:  # noqa: BLE001 - the recompile is recorded; the old object only wastes space
            log.warning("could not delete the old plan %s of mockup %s", mockup.plan_key, mockup.uuid,
                        exc_info=True)
    log.info("recompiled mockup %s (plan version %s -> %d) in %.2f s", mockup.uuid, mockup.plan_version,
             PLAN_VERSION, timings["total"])
    return {"mockup_uuid": mockup.uuid, "plan_key": plan_key, "plan_version": PLAN_VERSION,
            "previous_plan_key": mockup.plan_key, "previous_plan_version": mockup.plan_version,
            "unsupported": assets.unsupported, "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _discard_plan(mockup_uuid: str, plan_key: str) -> None:
    """Delete a plan a recompile wrote but did not record, unless the row names it
    after all. Never raises: it runs while another error is on its way out."""
    try:
        current = mockups.get_mockup(mockup_uuid)
        if current is None or current.plan_key != plan_key:
            get_storage().delete(plan_key)
    except Exception:  # noqa: BLE001 - see above; an object left behind only wastes space
        log.warning("could not delete the unused plan %s of mockup %s", plan_key, mockup_uuid, exc_info=True)


@app.task(name=RECOMPILE_MOCKUP_TASK, base=RecordedTask)
def recompile_mockup(task_key: str) -> str:
    """Recompile a ready mockup from its stored PSD (`mockfarm templates recompile`)."""
    return run_task(task_key, _recompile)
