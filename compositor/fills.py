"""Gradient fill layers drawn the way Photoshop draws them.

A gradient fill layer (`GdFl`) stores no pixels of its own when Photoshop did
not cache them, so the renderer draws it from its descriptor. What Photoshop
does, measured on the corpus layers whose cached pixels it did store:

- *Stops*: colour and transparency stops each carry a location (0..4096) and a
  midpoint (percent of the segment that ends at the stop: the first stop's
  midpoint is unused). Between two stops the local position u is first bent
  so that the midpoint lands halfway, then eased by the gradient's smoothness
  ("Intr", 0..4096): classic mixing blends the linear ramp with the smooth
  cubic 3u^2 - 2u^3 by half the smoothness (a 100 % smooth ramp fits
  Photoshop's to 0.4 levels RMS, a plain linear one is 7 levels off).
- *Geometry*: the gradient spans the layer's bounds ("Align with layer"),
  else the document; it is sampled at integer pixel coordinates.
- *Styles*: linear, reflected and diamond run from the box centre to where a
  line at the gradient's angle leaves the box; radial reaches the same
  distance; angle sweeps once around the centre from the gradient's angle.
  Scale multiplies the reach, "Ofst" moves the centre by a share of the box.

Colours mix in the document's RGB values ("classic"), or in linear light or
Oklab for the newer "linear" and "perceptual" methods. Noise gradients have no
colour stops and are left to the caller (reported unsupported).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compositor.effects import _enum, _value, descriptor_color, from_mixing_space, to_mixing_space
from compositor.errors import UnsupportedFeature


@dataclass
class GradientStop:
    location: float  # 0..1 along the gradient
    midpoint: float  # 0..1 within the segment that ends at this stop
    value: tuple  # (r, g, b) or (opacity,)


@dataclass
class Gradient:
    style: str  # "linear", "radial", "angle", "reflected", "diamond"
    angle: float  # degrees, counter-clockwise from the x axis
    scale: float  # 1 = the reach measured on the box
    reverse: bool
    align_with_layer: bool
    offset: tuple[float, float]  # centre shift as a share of the box (x, y)
    smoothness: float  # 0..1
    method: str  # "classic", "linear", "perceptual"
    colour_stops: list[GradientStop]
    opacity_stops: list[GradientStop]


_STYLES = {"Lnr": "linear", "Rdl": "radial", "Angl": "angle", "Rflc": "reflected", "Dmnd": "diamond"}


def read_gradient_fill(descriptor) -> Gradient:
    """The gradient of a gradient fill layer's (or a shape's fill) descriptor."""
    style = _STYLES.get(_enum(descriptor, b"Type", "Lnr"))
    if style is None:
        raise UnsupportedFeature("gradient fill style", _enum(descriptor, b"Type"))
    grad = descriptor.get(b"Grad")
    if grad is None or b"Clrs" not in grad:
        raise UnsupportedFeature("gradient fill", "noise gradient")
    offset = descriptor.get(b"Ofst") if b"Ofst" in descriptor else None
    colour_stops, opacity_stops, smoothness = read_stops(grad)
    return Gradient(
        style=style,
        angle=float(_value(descriptor, b"Angl", 0.0) or 0.0),
        scale=float(_value(descriptor, b"Scl ", 100.0)) / 100,
        reverse=bool(_value(descriptor, b"Rvrs", False)),
        align_with_layer=bool(_value(descriptor, b"Algn", True)),
        offset=(float(_value(offset, b"Hrzn", 0) or 0) / 100, float(_value(offset, b"Vrtc", 0) or 0) / 100)
        if offset is not None else (0.0, 0.0),
        smoothness=smoothness,
        method={"Perc": "perceptual", "Lnr": "linear"}.get(
            _enum(descriptor, b"gradientsInterpolationMethod", "Gcls"), "classic"),
        colour_stops=colour_stops,
        opacity_stops=opacity_stops,
    )


def read_stops(grad) -> tuple[list[GradientStop], list[GradientStop], float]:
    """Colour stops, opacity stops (sorted by location) and smoothness 0..1
    of a gradient descriptor ("Grad") with custom stops."""
    if grad is None or b"Clrs" not in grad:
        raise UnsupportedFeature("gradient", "noise gradient")
    colour_stops = [GradientStop(float(_value(s, b"Lctn", 0)) / 4096, float(_value(s, b"Mdpn", 50)) / 100,
                                 descriptor_color(s.get(b"Clr "))) for s in grad[b"Clrs"]]
    opacity_stops = [GradientStop(float(_value(s, b"Lctn", 0)) / 4096, float(_value(s, b"Mdpn", 50)) / 100,
                                  (float(_value(s, b"Opct", 100)) / 100,)) for s in grad.get(b"Trns", [])]
    if not colour_stops:
        raise UnsupportedFeature("gradient", "no colour stops")
    colour_stops.sort(key=lambda s: s.location)
    opacity_stops.sort(key=lambda s: s.location)
    # Photoshop's classic gradients default to 100 % smoothness.
    smoothness = float(_value(grad, b"Intr", 4096)) / 4096
    return colour_stops, opacity_stops or [GradientStop(0.0, 0.5, (1.0,)), GradientStop(1.0, 0.5, (1.0,))], smoothness


def gradient_position(gradient: Gradient, box, viewport) -> np.ndarray:
    """Position 0..1 along the gradient of each viewport pixel, (h, w) float32.

    `box` = (left, top, right, bottom) the gradient is laid out on.
    """
    left, top, right, bottom = box
    width, height = max(right - left, 1), max(bottom - top, 1)
    centre_x = (left + right) / 2 + gradient.offset[0] * width
    centre_y = (top + bottom) / 2 + gradient.offset[1] * height
    # Integer pixel coordinates: sampling at pixel centres puts the ramp half
    # a pixel off Photoshop's (0.96 against 0.42 levels RMS on a 94-pixel ramp).
    xs = np.arange(viewport[0], viewport[2], dtype=np.float64) - centre_x
    ys = np.arange(viewport[1], viewport[3], dtype=np.float64) - centre_y
    xs, ys = np.meshgrid(xs, ys)
    radians = math.radians(gradient.angle)
    cos, sin = math.cos(radians), -math.sin(radians)  # y grows downwards
    along = xs * cos + ys * sin
    # From the centre to where a line at the gradient's angle leaves the box.
    reach = min(width / 2 / max(abs(cos), 1e-9), height / 2 / max(abs(sin), 1e-9))
    reach = max(reach * gradient.scale, 1e-6)
    if gradient.style == "linear":
        position = along / (2 * reach) + 0.5
    elif gradient.style == "reflected":
        position = np.abs(along) / reach
    elif gradient.style == "diamond":
        across = -xs * sin + ys * cos
        position = (np.abs(along) + np.abs(across)) / reach
    elif gradient.style == "radial":
        position = np.hypot(xs, ys) / reach
    else:  # angle: one sweep around the centre, starting at the gradient's angle
        sweep = np.arctan2(-ys, xs) - radians
        position = 1.0 - (sweep % (2 * math.pi)) / (2 * math.pi)
    position = np.clip(position, 0.0, 1.0)
    if gradient.reverse:
        position = 1.0 - position
    return position.astype(np.float32)


def eased(u: np.ndarray, midpoint: float, smoothness: float) -> np.ndarray:
    """Share of the way from one stop's value to the next at local position u.

    The midpoint is where the share is one half (piecewise linear either side
    of it); smoothness blends in the smooth cubic, by half at 100 %.
    """
    midpoint = min(max(midpoint, 1e-3), 1 - 1e-3)
    bent = np.where(u < midpoint, 0.5 * u / midpoint, 0.5 + 0.5 * (u - midpoint) / (1 - midpoint))
    smooth = bent * bent * (3 - 2 * bent)
    k = 0.5 * smoothness
    return (1 - k) * bent + k * smooth


def sample_stops(stops: list[GradientStop], position: np.ndarray, smoothness: float) -> np.ndarray:
    """Stop values interpolated at `position` (...,) -> (..., len(value))."""
    values = np.array([s.value for s in stops], np.float64)
    locations = [s.location for s in stops]
    out = np.empty(position.shape + (values.shape[1],), np.float64)
    out[...] = values[0]
    out[position >= locations[-1]] = values[-1]
    for start, end in zip(range(len(stops) - 1), range(1, len(stops))):
        low, high = locations[start], locations[end]
        if high <= low:
            continue
        inside = (position >= low) & (position < high)
        if not inside.any():
            continue
        u = (position[inside] - low) / (high - low)
        share = eased(u, stops[end].midpoint, smoothness)[:, None]
        out[inside] = values[start] + (values[end] - values[start]) * share
    return out


def draw_gradient(gradient: Gradient, box, viewport) -> tuple[np.ndarray, np.ndarray]:
    """RGB colour (h, w, 3) and alpha (h, w, 1) of the gradient over `viewport`."""
    position = gradient_position(gradient, box, viewport)
    return sample_gradient(gradient.colour_stops, gradient.opacity_stops, gradient.smoothness,
                           gradient.method, position)


def sample_gradient(colour_stops, opacity_stops, smoothness: float, method: str,
                    position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour (..., 3) and alpha (..., 1) at positions 0..1, float32."""
    # A lookup table over the positions keeps whole-canvas fills cheap.
    table_positions = np.linspace(0.0, 1.0, 4097)
    mixed_stops = [GradientStop(s.location, s.midpoint,
                                tuple(to_mixing_space(np.array([s.value], np.float64), method)[0]))
                   for s in colour_stops]
    colours = sample_stops(mixed_stops, table_positions, smoothness)
    colours = np.clip(from_mixing_space(colours, method), 0.0, 1.0).astype(np.float32)
    opacities = sample_stops(opacity_stops, table_positions, smoothness).astype(np.float32)
    index = np.round(np.clip(position, 0.0, 1.0) * 4096).astype(np.int32)
    return colours[index], opacities[index]


def alignment_box(layer, document_box, align_with_layer: bool):
    """The box a fill layer's gradient is laid out on.

    Aligned with the layer, that is the extent of what the layer shows: its
    path's bounds when it has a vector mask, else its raster mask's box when
    the mask hides everything outside it (background 0), else the document.
    """
    if not align_with_layer:
        return document_box
    if layer.vector_mask is not None and not layer.vector_mask.disabled and layer.vector_mask.paths:
        bounds = path_bounds(layer)
        if bounds is not None:
            return bounds
    mask = layer.mask
    if mask is not None and not mask.disabled and mask.background_color == 0:
        left, top, right, bottom = mask.bbox
        if right > left and bottom > top:
            return (left, top, right, bottom)
    return document_box


def path_bounds(layer):
    """Bounds of the layer's path anchors and control points, in document pixels."""
    from psd_tools.psd.vector import Knot  # noqa: PLC0415

    width, height = layer._psd.width, layer._psd.height
    xs, ys = [], []
    for subpath in layer.vector_mask.paths:
        for knot in subpath:
            if isinstance(knot, Knot):
                for point in (knot.preceding, knot.anchor, knot.leaving):
                    ys.append(point[0] * height)
                    xs.append(point[1] * width)
    if not xs:
        return None
    return (math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys)))


def is_noise_gradient(gradient_descriptor) -> bool:
    """Whether a gradient ("Grad") is a noise gradient: random colours drawn
    from a seed by Photoshop's own generator, which cannot be reproduced."""
    return gradient_descriptor is not None and _enum(gradient_descriptor, b"GrdF") == "ClNs"


def noise_gradients(layer, effects_renderer: str) -> list[str]:
    """What of the layer would be drawn from a noise gradient: its fill when
    Photoshop cached no pixels for it, and effects drawn by psd-tools (ours
    leave such effects out and report them already)."""
    from psd_tools.constants import Tag  # noqa: PLC0415

    from compositor.effects import _effect_kind, layer_effects  # noqa: PLC0415

    users = []
    fill = layer.tagged_blocks.get_data(Tag.GRADIENT_FILL_SETTING)
    if fill is not None and not layer.has_pixels() and is_noise_gradient(fill.get(b"Grad")):
        users.append("fill")
    if effects_renderer == "psd-tools":
        for effect in layer_effects(layer):
            if effect.enabled and is_noise_gradient(effect.value.get(b"Grad")):
                users.append(_effect_kind(effect).replace("_", " ") + " effect")
    return users
