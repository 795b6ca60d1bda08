"""How faithfully we re-render each smart object, measured against Photoshop.

For every smart-object layer: its own embedded content warped by our
geometry, compared with the layer pixels Photoshop cached in the file,
inside the union of both boxes. Errors are on premultiplied RGBA in 0..255
so colour under transparent pixels does not count.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import SmartObjectError
from .content import is_raster_file
from .model import read_smart_object
from .warpmap import build_warp_map, outline_geometry, warp_content

OUTLINE_SIDES = ("left", "top", "right", "bottom")
# Layers above this error get their outline measured against Photoshop's
# (it costs one more inversion of the geometry, so well-matched layers skip it).
OUTLINE_CHECK_ABOVE = 0.5
# A side whose edge lies this far (canvas pixels) from Photoshop's is named
# in the layer's `cause`: a quarter of the 0.5-1.0 px seen on the layers
# over target, above the 0.0-0.1 px of sides that match.
OUTLINE_TOLERANCE = 0.15


def cached_layer_rgba(layer) -> np.ndarray | None:
    """The layer pixels Photoshop cached, float32 straight RGBA (h, w, 4), or None.

    Raw document values (no colour management), converted to RGB naively for
    grey and CMYK documents.
    """
    image = layer.topil(apply_icc=False)
    if image is None:
        return None
    from .content import pil_to_rgba

    rgba = pil_to_rgba(image)
    if image.mode == "CMYK":  # psd-tools leaves the alpha out of CMYK images
        channels = layer.numpy()
        if channels is not None and channels.shape[-1] == 5:
            rgba[..., 3] = channels[..., 4]
    return rgba


def _to_document_channels(ours_rgba, cached_layer, psd):
    """Both sides as (colour..., alpha) in a space where they are comparable.

    Grey documents: our RGB goes through the document's grey profile (as
    Photoshop converts placed RGB content); CMYK documents carry no profile
    we could convert to, so only the alpha (the geometry) is compared.
    Returns (ours, theirs, note).
    """
    mode = psd.color_mode
    if mode == 3:  # RGB
        return ours_rgba, cached_layer_rgba(cached_layer), None
    channels = cached_layer.numpy()
    if channels is None:
        return None, None, None
    channels = np.asarray(channels, np.float32)
    if mode == 1 and channels.shape[-1] == 2:  # greyscale + alpha
        grey = _rgb_to_document_grey(ours_rgba, psd)
        return np.dstack([grey, ours_rgba[..., 3]]), channels, None
    note = f"{mode.name} document: only the alpha (geometry) is compared"
    return ours_rgba[..., 3:4], channels[..., -1:], note


def _rgb_to_document_grey(rgba, psd):
    from PIL import Image, ImageCms
    from psd_tools.constants import Resource

    icc = psd.image_resources.get_data(Resource.ICC_PROFILE) if psd.image_resources else None
    rgb = Image.fromarray(np.clip(rgba[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8))
    if icc:
        import io

        try:
            grey = ImageCms.profileToProfile(
                rgb, ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(icc)), outputMode="L"
            )
            return np.asarray(grey, np.float32) / 255.0
        except Exception:
            pass
    return np.asarray(rgb.convert("L"), np.float32) / 255.0


def _premultiplied(pixels):
    """Colour channels times alpha (the last channel)."""
    out = np.array(pixels, dtype=np.float32)
    out[..., :-1] *= out[..., -1:]
    return out


def crop_to_canvas(pixels, box, canvas_size):
    """Photoshop keeps layer pixels beyond the canvas; we render only inside it."""
    left, top, right, bottom = box
    c_left, c_top = max(left, 0), max(top, 0)
    c_right, c_bottom = min(right, canvas_size[0]), min(bottom, canvas_size[1])
    c_right, c_bottom = max(c_right, c_left), max(c_bottom, c_top)
    cropped = pixels[c_top - top : c_bottom - top, c_left - left : c_right - left]
    return cropped, (c_left, c_top, c_right, c_bottom)


def compare_boxes(ours, our_box, theirs, their_box):
    """MAE (0..255) and PSNR (dB) of premultiplied pixels over the union box.

    Pixels are (h, w, channels) with alpha last; both sides the same channels.
    """
    left = min(our_box[0], their_box[0])
    top = min(our_box[1], their_box[1])
    right = max(our_box[2], their_box[2])
    bottom = max(our_box[3], their_box[3])
    a = np.zeros((bottom - top, right - left, ours.shape[-1]), np.float32)
    b = np.zeros_like(a)
    a[our_box[1] - top : our_box[3] - top, our_box[0] - left : our_box[2] - left] = _premultiplied(ours)
    b[their_box[1] - top : their_box[3] - top, their_box[0] - left : their_box[2] - left] = _premultiplied(theirs)
    diff = np.abs(a - b) * 255.0
    mae = float(diff.mean()) if diff.size else 0.0
    mse = float((diff**2).mean()) if diff.size else 0.0
    psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
    return mae, psnr


def rendered_error(so, cached_rgba, cached_box, warp_map=None) -> float:
    """MAE (0..255) of the smart object's own content, warped, against cached layer pixels.

    For choices made at ingest (presets.py's formula against a fitted
    mesh); both sides over the union of their boxes, nothing cropped to
    a canvas: the map covers the whole outline, also where it lies left
    of or above the canvas origin, as the cached box may.
    """
    warp_map = warp_map or build_warp_map(so, None)
    ours = warp_content(warp_map, so.content, is_raster_file(so.filetype))
    return compare_boxes(ours, warp_map.box, cached_rgba, tuple(cached_box))[0]


def outline_offsets(distances, content_alpha, cached_alpha, band=1.5, clearance=2.5, min_pixels=20, units=None):
    """How far Photoshop's outline lies beyond ours on each side, in canvas pixels
    (in content pixels with `units`, outline_geometry's content pixels per canvas pixel).

    distances: {side: (h, w) signed distance of each pixel centre to that
    side of our outline, positive inside} (warpmap.outline_distances);
    content_alpha: the content's own alpha sampled there, before coverage;
    cached_alpha: Photoshop's layer alpha on the same pixels.
    Our coverage of a pixel at distance d from one side (and far from the
    others) is 0.5 + d, so Photoshop's alpha over the content's, minus
    0.5 + d, is how much further out (positive) or in (negative) its edge
    lies. Only edge pixels count: within `band` of the side, `clearance`
    from the other sides, opaque content, and Photoshop's pixel partly
    covered (0.05-0.95, off its clipped ends). Returns {side: median offset,
    or None when fewer than `min_pixels` qualify}.
    """
    offsets = {}
    for side in OUTLINE_SIDES:
        d = distances[side]
        others = np.stack([distances[o] for o in OUTLINE_SIDES if o != side])
        with np.errstate(invalid="ignore"):
            nearest_other = np.min(np.where(np.isnan(others), -np.inf, others), axis=0)
            usable = (
                np.isfinite(d) & (np.abs(d) < band) & (nearest_other > clearance)
                & (content_alpha > 0.98) & (cached_alpha > 0.05) & (cached_alpha < 0.95)
            )
        if usable.sum() < min_pixels:
            offsets[side] = None
            continue
        estimates = cached_alpha[usable] / content_alpha[usable] - 0.5 - d[usable]
        if units is not None:
            estimates = estimates * units[side][usable]
        offsets[side] = float(np.median(estimates))
    return offsets


def outline_cause(offsets, tolerance=OUTLINE_TOLERANCE) -> str | None:
    """A sentence naming the sides where Photoshop's outline differs from ours, or None.

    Offsets as from outline_offsets (positive: Photoshop's edge lies outside
    ours). Two patterns are named: the right and bottom sides grown while
    the left and top match, and opposite sides moved the same way (the
    layer displaced as a whole).
    """
    off = {side: v for side, v in offsets.items() if v is not None and abs(v) >= tolerance}
    if not off:
        return None
    listed = ", ".join(f"{side} {v:+.2f} px" for side, v in off.items())
    text = f"outline differs from Photoshop's (its edge beyond ours, + outward): {listed}"
    matched = {side for side, v in offsets.items() if v is not None and abs(v) < tolerance}
    if set(off) <= {"right", "bottom"} and all(v > 0 for v in off.values()) and {"left", "top"} <= matched:
        text += "; grown on the right and bottom only, the left and top match"
    elif any(a in off and b in off and off[a] * off[b] < 0 for a, b in (("left", "right"), ("top", "bottom"))):
        text += "; opposite sides moved the same way: the layer is displaced as a whole"
    return text


def measure_outline(so, warp_map, cached, cached_box, content_units=False) -> dict:
    """outline_offsets of one layer: our outline against Photoshop's cached alpha (last channel),
    in canvas pixels, or content pixels with `content_units`."""
    left, top, right, bottom = warp_map.box
    alpha = np.zeros((bottom - top, right - left), np.float32)
    c_left, c_top = max(left, cached_box[0]), max(top, cached_box[1])
    c_right, c_bottom = min(right, cached_box[2]), min(bottom, cached_box[3])
    if c_right > c_left and c_bottom > c_top:
        alpha[c_top - top : c_bottom - top, c_left - left : c_right - left] = cached[
            c_top - cached_box[1] : c_bottom - cached_box[1], c_left - cached_box[0] : c_right - cached_box[0], -1]
    uncovered = dataclasses.replace(warp_map, coverage=np.ones_like(warp_map.coverage))
    content_alpha = warp_content(uncovered, so.content, is_raster_file(so.filetype))[..., 3]
    distances, units = outline_geometry(so, warp_map.box, warp_map.inverse)
    return outline_offsets(distances, content_alpha, alpha, units=units if content_units else None)


def edges_of(so) -> dict | None:
    """The edge offsets calibrated at ingest (calibrate.py), for the report: the
    content pixels each side is drawn beyond the warp's own, and whether the
    content moves with them; None when the exact warp is drawn."""
    if so.edge_offsets is None:
        return None
    return {**dict(zip(OUTLINE_SIDES, so.edge_offsets)), "content_moves": so.edges_move_content}


def layer_fidelity(psd, geometry=None) -> list[dict]:
    """One row per smart-object layer: name, mae, psnr, plus why a layer was skipped.

    Rows have keys name, mae, psnr (None when not rendered), skipped (why
    the layer is not compared, or None), unsupported (list of strings),
    note (how the comparison was restricted, or None), and, for layers with
    MAE above OUTLINE_CHECK_ABOVE, outline ({side: how far Photoshop's edge
    lies beyond ours, px}) and cause (outline_cause's sentence, or None),
    and edges (edges_of: the edge offsets measured at ingest, or None).

    `geometry(layer)`: (smart object, warp map) a caller already read for the
    layer -- `read_smart_object(layer, psd)` and `build_warp_map(so, canvas)`,
    as the plan compiler does -- or None to read them here.
    """
    rows = []
    canvas = (psd.width, psd.height)
    for layer in psd.descendants():
        if layer.kind != "smartobject":
            continue
        row = {"name": layer.name, "mae": None, "psnr": None, "skipped": None, "unsupported": [], "note": None,
               "outline": None, "cause": None, "edges": None}
        rows.append(row)
        known = geometry(layer) if geometry is not None else None
        try:
            so = known[0] if known else read_smart_object(layer, psd)
        except SmartObjectError as exc:
            row["skipped"] = str(exc)
            continue
        row["unsupported"] = list(so.unsupported)
        row["edges"] = edges_of(so)
        if so.content is None:
            row["skipped"] = "content not rendered: " + "; ".join(so.unsupported)
            continue
        if layer.bbox == (0, 0, 0, 0) or not layer.has_pixels():
            row["skipped"] = "Photoshop cached no pixels for this layer"
            continue
        try:
            warp_map = known[1] if known else build_warp_map(so, canvas)
        except SmartObjectError as exc:
            row["skipped"] = str(exc)
            continue
        ours_rgba = warp_content(warp_map, so.content, is_raster_file(so.filetype))
        ours, cached, note = _to_document_channels(ours_rgba, layer, psd)
        if cached is None:
            row["skipped"] = "Photoshop cached no pixels for this layer"
            continue
        cached, cached_box = crop_to_canvas(cached, tuple(layer.bbox), canvas)
        row["mae"], row["psnr"] = compare_boxes(ours, warp_map.box, cached, cached_box)
        row["note"] = note
        if row["mae"] > OUTLINE_CHECK_ABOVE and warp_map.coverage.size:
            try:
                row["outline"] = {k: None if v is None else round(v, 3)
                                  for k, v in measure_outline(so, warp_map, cached, cached_box).items()}
            except SmartObjectError:
                pass
            else:
                row["cause"] = outline_cause(row["outline"])
        unsupported_filters = [u for u in so.unsupported if u.startswith("smart filter")]
        if unsupported_filters:
            # Photoshop's pixels include filters we do not apply: the error is
            # reported but the layer is not comparable.
            row["skipped"] = "not comparable: " + "; ".join(unsupported_filters)
    return rows
