"""Smart filters we reproduce, applied in canvas space after the warp.

Photoshop runs smart filters on the transformed layer, so their sizes
(e.g. a blur radius) are in document pixels. Only the common and cheap ones
are implemented; `unsupported_filters` names the rest for the report.

Adjustment-type filters (Curves, Levels, Brightness/Contrast, Invert) store
the same settings as the adjustment layers, as a descriptor; they are read
into the adjustment layers' own `Adjustment` classes, so both share one
implementation. They are point operations on colour: applied to the
unpremultiplied colour of the warped layer, alpha untouched.

Every filter's result is then blended over the layer as it was before the
filter, in the filter's blend mode and opacity (its "blending options").
A filter mask is not reproduced (`model.read_smart_object` reports it).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from compositor.adjustments import Adjustment, BrightnessContrast, Curves, Invert, Levels
from compositor.blend import BLEND_MODES, blend
from compositor.errors import UnsupportedFeature

from .descriptor import GAUSSIAN_BLUR_ID


def _four_cc(code: bytes) -> int:
    return int.from_bytes(code, "big")


# filterID of the adjustment-type smart filters (Photoshop's event codes).
CURVES_ID = _four_cc(b"Crvs")
LEVELS_ID = _four_cc(b"Lvls")
BRIGHTNESS_CONTRAST_ID = _four_cc(b"BrgC")
INVERT_ID = _four_cc(b"Invr")

# A smart filter's blend mode (descriptor enum `Md`) -> our blend mode name.
FILTER_BLEND_MODES = {
    "Nrml": "normal", "Dslv": "dissolve", "Drkn": "darken", "Mltp": "multiply",
    "CBrn": "color_burn", "linearBurn": "linear_burn", "darkerColor": "darker_color",
    "Lghn": "lighten", "Scrn": "screen", "CDdg": "color_dodge", "linearDodge": "linear_dodge",
    "lighterColor": "lighter_color", "Ovrl": "overlay", "SftL": "soft_light",
    "HrdL": "hard_light", "vividLight": "vivid_light", "linearLight": "linear_light",
    "pinLight": "pin_light", "hardMix": "hard_mix", "Dfrn": "difference", "Xclu": "exclusion",
    "blendSubtraction": "subtract", "blendDivide": "divide", "H": "hue", "Strt": "saturation",
    "Clr": "color", "Lmns": "luminosity",
}



def _filter_mode(flt) -> str | None:
    """Our name of a filter's blend mode (stored as a descriptor enum, or
    already ours), None when unknown."""
    if flt.blend_mode in BLEND_MODES:
        return flt.blend_mode
    return FILTER_BLEND_MODES.get(flt.blend_mode.strip())


# Curves and Levels name a channel by reference: composite (all), red, green, blue.
_CHANNEL_INDEX = {"Cmps": 0, "Rd": 1, "Grn": 2, "Bl": 3}


def _channel(entry: dict) -> int:
    reference = entry.get("Chnl")
    if isinstance(reference, list):  # a reference list holding one channel
        reference = reference[0] if reference else None
    name = str(reference or "Cmps").strip()
    if name not in _CHANNEL_INDEX:
        raise UnsupportedFeature("adjustment smart filter", f"channel {name!r}")
    return _CHANNEL_INDEX[name]


def _curves(params: dict) -> Curves:
    points = {}
    for entry in params.get("Adjs", []):
        curve = entry.get("Crv")
        if curve is None:  # a 256-entry mapping ("Mpng") instead of points
            raise UnsupportedFeature("Curves smart filter", "curve stored as a mapping")
        # inputs must be distinct and ascending, as for the adjustment layer
        by_input = {float(p.get("Hrzn", 0.0)): float(p.get("Vrtc", 0.0)) for p in curve}
        points[_channel(entry)] = sorted(by_input.items())
    return Curves(points=points)


def _levels(params: dict) -> Levels:
    identity = (0.0, 255.0, 1.0, 0.0, 255.0)
    records = [identity] * 4  # master, red, green, blue
    for entry in params.get("Adjs", []):
        in_black, in_white = entry.get("Inpt", [0, 255])
        out_black, out_white = entry.get("Otpt", [0, 255])
        gamma = float(entry.get("Gmm", 1.0))
        records[_channel(entry)] = (float(in_black), float(in_white), gamma, float(out_black), float(out_white))
    return Levels(records=records)


def _brightness_contrast(params: dict) -> BrightnessContrast:
    return BrightnessContrast(brightness=int(params.get("Brgh", 0)), contrast=int(params.get("Cntr", 0)),
                              legacy=bool(params.get("useLegacy", False)))


_ADJUSTMENT_READERS = {
    CURVES_ID: _curves,
    LEVELS_ID: _levels,
    BRIGHTNESS_CONTRAST_ID: _brightness_contrast,
    INVERT_ID: lambda params: Invert(),
}


def filter_adjustment(flt) -> Adjustment | None:
    """The `Adjustment` an adjustment-type smart filter applies, None for
    other filters. Raises UnsupportedFeature when its settings cannot be read."""
    reader = _ADJUSTMENT_READERS.get(flt.filter_id)
    if reader is None:
        return None
    try:
        return reader(flt.params or {})
    except (TypeError, ValueError, AttributeError) as exc:
        raise UnsupportedFeature(f"{flt.name} smart filter", f"settings not readable ({exc})") from None


def unsupported_filters(filters) -> list[str]:
    """What the report lists for the enabled filters we do not reproduce."""
    notes = []
    for flt in filters:
        if not flt.enabled:
            continue
        if _filter_mode(flt) is None:
            notes.append(f"smart filter {flt.name}: blend mode {flt.blend_mode!r}")
        if flt.filter_id == GAUSSIAN_BLUR_ID:
            continue
        try:
            adjustment = filter_adjustment(flt)
        except UnsupportedFeature as exc:
            notes.append(f"smart filter: {exc.feature} ({exc.detail})")
            continue
        if adjustment is None:
            notes.append(f"smart filter: {flt.name}")
        elif adjustment.approximate:
            notes.append(f"smart filter: {flt.name} (approximated)")
    return notes


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


def _unpremultiply(premultiplied: np.ndarray) -> np.ndarray:
    alpha = premultiplied[..., 3:4]
    return np.divide(premultiplied[..., :3], alpha, out=np.zeros_like(premultiplied[..., :3]),
                     where=alpha > 1e-6)


def _blend_filtered(before: np.ndarray, after: np.ndarray, flt) -> np.ndarray:
    """The filter's result over the layer before it (both premultiplied RGBA),
    in the filter's blend mode and opacity."""
    mix = np.float32(flt.opacity / 100.0)
    mode = _filter_mode(flt) or "normal"  # an unknown mode is reported
    if mode != "normal":
        # A mode compares straight colours; the filtered layer's alpha stays.
        alpha = after[..., 3:4]
        colour = blend(mode, _unpremultiply(before), _unpremultiply(after))
        after = np.concatenate([colour * alpha, alpha], axis=-1)
    if mix >= 1:
        return after
    return before + (after - before) * mix


def _apply_adjustment(premultiplied: np.ndarray, adjustment: Adjustment) -> np.ndarray:
    alpha = premultiplied[..., 3:4]
    adjusted = adjustment.apply(_unpremultiply(premultiplied))
    return np.concatenate([adjusted * alpha, alpha], axis=-1).astype(np.float32, copy=False)


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
                out = _blend_filtered(out, blurred, flt)
            continue
        try:
            adjustment = filter_adjustment(flt)
        except UnsupportedFeature:
            continue  # reported by unsupported_filters
        if adjustment is not None:
            out = _blend_filtered(out, _apply_adjustment(out, adjustment), flt)
    return out
