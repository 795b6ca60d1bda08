"""Smart filters we reproduce, applied in canvas space after the warp.

Photoshop runs smart filters on the transformed layer, so their sizes
(e.g. a blur radius) are in document pixels. Only the common and cheap ones
are implemented; `model.read_smart_object` reports the rest as unsupported.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .descriptor import GAUSSIAN_BLUR_ID


def _blur_sigma(flt) -> float:
    # Photoshop's Gaussian Blur "radius" is the standard deviation in pixels.
    return float(flt.params.get("Rds", 0.0))


def filter_padding(filters) -> int:
    """Canvas pixels a layer grows by under its smart filters."""
    pad = 0
    for flt in filters:
        if flt.enabled and flt.filter_id == GAUSSIAN_BLUR_ID:
            pad += int(math.ceil(3 * _blur_sigma(flt)))
    return pad


def apply_smart_filters(premultiplied: np.ndarray, filters) -> np.ndarray:
    """Apply supported enabled filters, in stack order, to premultiplied RGBA."""
    out = premultiplied
    for flt in filters:
        if not flt.enabled:
            continue
        if flt.filter_id == GAUSSIAN_BLUR_ID:
            sigma = _blur_sigma(flt)
            if sigma > 0:
                blurred = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
                mix = flt.opacity / 100.0
                out = blurred if mix >= 1 else out + (blurred - out) * mix
    return out
