"""How faithfully we re-render each smart object, measured against Photoshop.

For every smart-object layer: its own embedded content warped by our
geometry, compared with the layer pixels Photoshop cached in the file,
inside the union of both boxes. Errors are on premultiplied RGBA in 0..255
so colour under transparent pixels does not count.
"""

from __future__ import annotations

import numpy as np

from .errors import SmartObjectError
from .model import read_smart_object
from .warpmap import build_warp_map, warp_content


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


def rendered_error(so, cached_rgba, cached_box) -> float:
    """MAE (0..255) of the smart object's own content, warped, against cached layer pixels.

    For choices made at ingest (presets.py's formula against a fitted
    mesh); both sides over the union of their boxes, nothing cropped to
    a canvas (the map is built over a canvas reaching past the cached box).
    """
    right = max(int(cached_box[2]), 1)
    bottom = max(int(cached_box[3]), 1)
    warp_map = build_warp_map(so, (2 * right + 64, 2 * bottom + 64))
    ours = warp_content(warp_map, so.content)
    return compare_boxes(ours, warp_map.box, cached_rgba, tuple(cached_box))[0]


def layer_fidelity(psd, geometry=None) -> list[dict]:
    """One row per smart-object layer: name, mae, psnr, plus why a layer was skipped.

    Rows have keys name, mae, psnr (None when not rendered), skipped (why
    the layer is not compared, or None), unsupported (list of strings) and
    note (how the comparison was restricted, or None).

    `geometry(layer)`: (smart object, warp map) a caller already read for the
    layer -- `read_smart_object(layer, psd)` and `build_warp_map(so, canvas)`,
    as the plan compiler does -- or None to read them here.
    """
    rows = []
    canvas = (psd.width, psd.height)
    for layer in psd.descendants():
        if layer.kind != "smartobject":
            continue
        row = {"name": layer.name, "mae": None, "psnr": None, "skipped": None, "unsupported": [], "note": None}
        rows.append(row)
        known = geometry(layer) if geometry is not None else None
        try:
            so = known[0] if known else read_smart_object(layer, psd)
        except SmartObjectError as exc:
            row["skipped"] = str(exc)
            continue
        row["unsupported"] = list(so.unsupported)
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
        ours_rgba = warp_content(warp_map, so.content)
        ours, cached, note = _to_document_channels(ours_rgba, layer, psd)
        if cached is None:
            row["skipped"] = "Photoshop cached no pixels for this layer"
            continue
        cached, cached_box = crop_to_canvas(cached, tuple(layer.bbox), canvas)
        row["mae"], row["psnr"] = compare_boxes(ours, warp_map.box, cached, cached_box)
        row["note"] = note
        unsupported_filters = [u for u in so.unsupported if u.startswith("smart filter")]
        if unsupported_filters:
            # Photoshop's pixels include filters we do not apply: the error is
            # reported but the layer is not comparable.
            row["skipped"] = "not comparable: " + "; ".join(unsupported_filters)
    return rows
