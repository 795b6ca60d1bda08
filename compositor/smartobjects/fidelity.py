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
    """The layer pixels Photoshop cached, float32 straight RGBA (h, w, 4), or None."""
    image = layer.topil(apply_icc=False)
    if image is None:
        return None
    from .content import pil_to_rgba

    return pil_to_rgba(image)


def _premultiplied(rgba):
    out = rgba.copy()
    out[..., :3] *= out[..., 3:4]
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
    """MAE (0..255) and PSNR (dB) of premultiplied RGBA over the union box."""
    left = min(our_box[0], their_box[0])
    top = min(our_box[1], their_box[1])
    right = max(our_box[2], their_box[2])
    bottom = max(our_box[3], their_box[3])
    a = np.zeros((bottom - top, right - left, 4), np.float32)
    b = np.zeros_like(a)
    a[our_box[1] - top : our_box[3] - top, our_box[0] - left : our_box[2] - left] = _premultiplied(ours)
    b[their_box[1] - top : their_box[3] - top, their_box[0] - left : their_box[2] - left] = _premultiplied(theirs)
    diff = np.abs(a - b) * 255.0
    mae = float(diff.mean()) if diff.size else 0.0
    mse = float((diff**2).mean()) if diff.size else 0.0
    psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
    return mae, psnr


def layer_fidelity(psd) -> list[dict]:
    """One row per smart-object layer: name, mae, psnr, plus why a layer was skipped.

    Rows have keys name, mae, psnr (None when skipped), skipped (reason or
    None) and unsupported (list of strings).
    """
    rows = []
    canvas = (psd.width, psd.height)
    for layer in psd.descendants():
        if layer.kind != "smartobject":
            continue
        row = {"name": layer.name, "mae": None, "psnr": None, "skipped": None, "unsupported": []}
        rows.append(row)
        try:
            so = read_smart_object(layer, psd)
        except SmartObjectError as exc:
            row["skipped"] = str(exc)
            continue
        row["unsupported"] = list(so.unsupported)
        if so.content is None:
            row["skipped"] = "content not rendered: " + "; ".join(so.unsupported)
            continue
        cached = cached_layer_rgba(layer)
        if cached is None:
            row["skipped"] = "Photoshop cached no pixels for this layer"
            continue
        if psd.color_mode != 3:  # RGB
            row["skipped_note"] = f"document colour mode {psd.color_mode.name}: compared after conversion to RGB"
        try:
            warp_map = build_warp_map(so, canvas)
        except SmartObjectError as exc:
            row["skipped"] = str(exc)
            continue
        ours = warp_content(warp_map, so.content)
        cached, cached_box = crop_to_canvas(cached, tuple(layer.bbox), canvas)
        row["mae"], row["psnr"] = compare_boxes(ours, warp_map.box, cached, cached_box)
    return rows
