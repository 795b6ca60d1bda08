"""Layer effects (layer styles), re-rendered from the layer's own pixels.

A smart object's effects must follow its new content, so we never use the
effect pixels Photoshop cached: we read the settings once per template and
render them from the layer's RGBA each time.

Interface for the renderer
--------------------------
1. `read_effects(layer) -> list[Effect]` once per template (psd-tools layer).
   Effects we cannot render raise nothing here: they come back in
   `unsupported_effects(layer)` by name so the template can list them.
2. `render_effects(layer_rgba, box, effects) -> EffectStack` per render.
   `layer_rgba` is the layer's straight float32 RGBA (h, w, 4) covering
   `box` = (left, top, right, bottom) in canvas pixels. The stack covers the
   grown box `stack.box` (the layer box grown by the effects' reach), and
   `stack.layer_rgba` is the layer padded to it. It holds three lists of
   `EffectPart` (colour (h, w, 3) or (1, 1, 3), alpha (h, w, 1) already
   multiplied by the effect's opacity, blend mode name), bottom to top:
   - `below`: drop shadow, outer glow -- composited under the layer;
   - `overlays`: gradient/colour overlay -- composited, in their own mode,
     over the result of the layer's blend, inside the layer's shape (its
     pixel alpha, not scaled by fill). Measured: a Difference overlay on a
     Difference layer differences the backdrop twice, as Photoshop shows;
     recolouring the layer before its blend does not match;
   - `above`: inner glow, inner shadow, stroke -- composited over the layer.
3. `composite_with_effects(...)` does the whole thing for one layer over a
   backdrop crop of `stack.box`; the renderer may use it or reorder the parts.
   Opacity scales the layer and all its effects; fill only the layer pixels.

Blur: Photoshop's "size" is the reach of a soft edge; we use a Gaussian with
sigma = size / 2.5 (measured on the corpus drop shadows), after a
spread/choke of size x spread % by dilation/erosion. Contours, noise and
jitter are ignored (linear contour); they are listed as unsupported when set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from compositor.blend import composite, mode_name
from compositor.errors import UnsupportedFeature

# sigma of the Gaussian that stands in for Photoshop's blur of a given size.
SIZE_TO_SIGMA = 1 / 2.5


# --- settings ---------------------------------------------------------------------------


@dataclass
class Effect:
    kind: str  # "drop_shadow", "outer_glow", "color_overlay", ...
    mode: str = "normal"
    opacity: float = 1.0  # 0..1
    color: tuple[float, float, float] = (0.0, 0.0, 0.0)  # RGB 0..1
    size: float = 0.0  # px
    spread: float = 0.0  # 0..1 (choke for inner effects)
    distance: float = 0.0  # px
    angle: float = 120.0  # degrees, where the light comes from
    position: str = "outside"  # stroke: "outside", "inside", "center"
    gradient: list | None = None  # [(location 0..1, (r, g, b), alpha 0..1)]
    gradient_type: str = "linear"  # "linear", "radial"
    gradient_angle: float = 90.0
    gradient_scale: float = 1.0
    reverse: bool = False
    glow_source: str = "edge"  # inner glow: "edge" or "center"
    glow_range: float = 0.5  # glows' contour "Range": the blurred alpha is stretched by 1 / range


@dataclass
class EffectPart:
    name: str
    colour: np.ndarray  # (h, w, 3) or (1, 1, 3), straight
    alpha: np.ndarray  # (h, w, 1), already x the effect's opacity
    mode: str


@dataclass
class EffectStack:
    box: tuple[int, int, int, int]
    layer_rgba: np.ndarray
    below: list[EffectPart] = field(default_factory=list)
    overlays: list[EffectPart] = field(default_factory=list)
    above: list[EffectPart] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------

_KINDS = {
    "DropShadow": "drop_shadow",
    "InnerShadow": "inner_shadow",
    "OuterGlow": "outer_glow",
    "InnerGlow": "inner_glow",
    "ColorOverlay": "color_overlay",
    "GradientOverlay": "gradient_overlay",
    "Stroke": "stroke",
    "PatternOverlay": "pattern_overlay",
    "Satin": "satin",
    "BevelEmboss": "bevel_emboss",
}
SUPPORTED_KINDS = frozenset(
    {"drop_shadow", "inner_shadow", "outer_glow", "inner_glow", "color_overlay",
     "gradient_overlay", "stroke"}
)


def _value(descriptor, key, default=None):
    if descriptor is None or key not in descriptor:
        return default
    value = descriptor[key]
    return getattr(value, "value", value)


def _enum(descriptor, key, default=None):
    """An enumerated descriptor value as text ("OutF"), or `default`."""
    if descriptor is None or key not in descriptor:
        return default
    value = descriptor[key]
    value = getattr(value, "enum", getattr(value, "value", value))
    if isinstance(value, bytes):
        return value.decode("latin-1").strip()
    return value


def descriptor_color(colour) -> tuple[float, float, float]:
    """RGB 0..1 from a Photoshop colour descriptor (RGB, HSB, grey, Lab)."""
    from compositor.adjustments import lab_to_rgb

    if colour is None:
        raise UnsupportedFeature("effect colour", "missing")
    keys = set(colour.keys())
    if {b"Rd  ", b"Grn ", b"Bl  "} <= keys:
        return tuple(float(_value(colour, k)) / 255 for k in (b"Rd  ", b"Grn ", b"Bl  "))
    if {b"redFloat", b"greenFloat", b"blueFloat"} <= keys:
        return tuple(float(_value(colour, k)) for k in (b"redFloat", b"greenFloat", b"blueFloat"))
    if b"Gry " in keys:
        grey = 1 - float(_value(colour, b"Gry ")) / 100
        return (grey, grey, grey)
    if {b"H   ", b"Strt", b"Brgh"} <= keys:
        hue = float(_value(colour, b"H   ")) / 360
        saturation = float(_value(colour, b"Strt")) / 100
        brightness = float(_value(colour, b"Brgh")) / 100
        import colorsys

        return colorsys.hsv_to_rgb(hue, saturation, brightness)
    if {b"Lmnc", b"A   ", b"B   "} <= keys:
        rgb = lab_to_rgb(float(_value(colour, b"Lmnc")), float(_value(colour, b"A   ")),
                         float(_value(colour, b"B   ")))
        return tuple(float(c) for c in rgb)
    raise UnsupportedFeature("effect colour", f"colour model with keys {sorted(keys)}")


def descriptor_gradient(gradient) -> list:
    """[(location, (r, g, b), alpha)] from a gradient descriptor, merging the
    colour and transparency stops on one set of locations."""
    if gradient is None or b"Clrs" not in gradient:
        raise UnsupportedFeature("gradient", "no colour stops (noise gradient?)")
    colour_stops = [
        (float(_value(s, b"Lctn")) / 4096, descriptor_color(s.get(b"Clr ")))
        for s in gradient[b"Clrs"]
    ]
    alpha_stops = [
        (float(_value(s, b"Lctn")) / 4096, float(_value(s, b"Opct")) / 100)
        for s in gradient.get(b"Trns", [])
    ] or [(0.0, 1.0), (1.0, 1.0)]
    colour_stops.sort(key=lambda s: s[0])
    alpha_stops.sort(key=lambda s: s[0])
    locations = sorted({s[0] for s in colour_stops} | {s[0] for s in alpha_stops})
    xs = [s[0] for s in colour_stops]
    stops = []
    for location in locations:
        rgb = tuple(float(np.interp(location, xs, [s[1][c] for s in colour_stops])) for c in range(3))
        alpha = float(np.interp(location, [s[0] for s in alpha_stops], [s[1] for s in alpha_stops]))
        stops.append((location, rgb, alpha))
    return stops


def _effect_kind(effect) -> str:
    return _KINDS.get(type(effect).__name__, type(effect).__name__)


def _global_angle(layer) -> float:
    from psd_tools.constants import Resource

    psd = getattr(layer, "_psd", None)
    if psd is None:
        return 120.0
    return float(psd.image_resources.get_data(Resource.GLOBAL_ANGLE, 120))


def unsupported_effects(layer) -> list[str]:
    """Names of the layer's visible effects we do not render."""
    if not layer.has_effects() or not layer.effects.enabled:
        return []
    names = []
    for effect in layer.effects:
        if not effect.enabled:
            continue
        kind = _effect_kind(effect)
        if kind not in SUPPORTED_KINDS:
            names.append(kind.replace("_", " ") + " effect")
            continue
        try:
            _read_one(effect, layer)
        except UnsupportedFeature as problem:
            names.append(f"{kind.replace('_', ' ')} effect: {problem}")
    return names


def read_effects(layer) -> list[Effect]:
    """The layer's visible, supported effects, bottom-to-top irrelevant
    (render_effects orders them). Unsupported ones are skipped here and
    named by `unsupported_effects`."""
    if not layer.has_effects() or not layer.effects.enabled:
        return []
    effects = []
    for effect in layer.effects:
        if not effect.enabled or _effect_kind(effect) not in SUPPORTED_KINDS:
            continue
        try:
            effects.append(_read_one(effect, layer))
        except UnsupportedFeature:
            continue
    return effects


def _read_one(effect, layer) -> Effect:
    d = effect.value
    kind = _effect_kind(effect)
    settings = Effect(kind=kind, mode=mode_name(effect.blend_mode),
                      opacity=float(_value(d, b"Opct", 100)) / 100)
    if kind == "stroke":
        paint = _enum(d, b"PntT", "SClr")
        if paint != "SClr":
            raise UnsupportedFeature("stroke fill", f"{paint} (only solid colour)")
        settings.size = float(_value(d, b"Sz  ", 0))
        settings.position = {"OutF": "outside", "InsF": "inside", "CtrF": "center"}.get(
            _enum(d, b"Styl", "OutF"), "outside")
        settings.color = descriptor_color(d.get(b"Clr "))
        return settings
    if kind == "gradient_overlay":
        settings.gradient = descriptor_gradient(d.get(b"Grad"))
        settings.gradient_type = {"Lnr": "linear", "Rdl": "radial"}.get(_enum(d, b"Type", "Lnr"))
        if settings.gradient_type is None:
            raise UnsupportedFeature("gradient overlay style", _enum(d, b"Type"))
        settings.gradient_angle = float(_value(d, b"Angl", 90))
        settings.gradient_scale = float(_value(d, b"Scl ", 100)) / 100
        settings.reverse = bool(_value(d, b"Rvrs", False))
        return settings
    if kind in ("outer_glow", "inner_glow") and b"Clr " not in d:
        raise UnsupportedFeature(f"{kind.replace('_', ' ')} with a gradient")
    settings.color = descriptor_color(d.get(b"Clr "))
    if kind == "color_overlay":
        return settings
    settings.size = float(_value(d, b"blur", 0))
    settings.spread = float(_value(d, b"Ckmt", 0)) / 100
    if kind in ("drop_shadow", "inner_shadow"):
        settings.distance = float(_value(d, b"Dstn", 0))
        use_global = bool(_value(d, b"uglg", False))
        settings.angle = _global_angle(layer) if use_global else float(_value(d, b"lagl", 120))
    if kind in ("outer_glow", "inner_glow"):
        settings.glow_range = max(float(_value(d, b"Inpr", 50)) / 100, 0.01)
    if kind == "inner_glow":
        settings.glow_source = "center" if _enum(d, b"glwS") == "SrcC" else "edge"
    return settings


# --- rendering -----------------------------------------------------------------------------


def _reach(effect: Effect) -> int:
    if effect.kind in ("drop_shadow",):
        return int(math.ceil(effect.size + effect.distance)) + 2
    if effect.kind == "outer_glow":
        return int(math.ceil(effect.size)) + 2
    if effect.kind == "stroke" and effect.position != "inside":
        return int(math.ceil(effect.size)) + 2
    return 0


def _blur(alpha: np.ndarray, size: float) -> np.ndarray:
    """Soften a (h, w) alpha the way a shadow or glow of `size` px does."""
    if size <= 0:
        return alpha
    sigma = max(size * SIZE_TO_SIGMA, 0.1)
    return cv2.GaussianBlur(alpha, (0, 0), sigmaX=sigma, sigmaY=sigma)


def _grow(alpha: np.ndarray, radius: float) -> np.ndarray:
    """Dilate a (h, w) alpha by `radius` px, anti-aliased at the new edge."""
    if radius <= 0:
        return alpha
    outside = (alpha < 0.5).astype(np.uint8)
    # Distance from each outside pixel's centre to the nearest inside pixel's
    # centre; the shape's edge lies half a pixel before that one, so a pixel
    # is covered by radius + 1 - distance (1 px of stroke = 1 full pixel).
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.maximum(alpha, np.clip(radius + 1 - distance, 0, 1)).astype(np.float32)


def _shrink(alpha: np.ndarray, radius: float) -> np.ndarray:
    """Erode a (h, w) alpha by `radius` px."""
    if radius <= 0:
        return alpha
    return 1 - _grow(1 - alpha, radius)


def _shift(alpha: np.ndarray, dx: float, dy: float, fill: float = 0.0) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = alpha.shape
    return cv2.warpAffine(alpha, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def _soft(alpha, effect: Effect, grow: bool = True):
    """Spread (or choke) then blur, as shadows and glows do."""
    hard = effect.size * effect.spread
    shaped = _grow(alpha, hard) if grow else _shrink(alpha, hard)
    return np.clip(_blur(shaped, effect.size - hard), 0, 1)


def _offset(effect: Effect) -> tuple[float, float]:
    # The light comes from `angle`; the shadow falls the other way. y grows down.
    radians = math.radians(effect.angle)
    return -effect.distance * math.cos(radians), effect.distance * math.sin(radians)


def _gradient_fill(effect: Effect, shape: tuple[int, int], layer_box_in_stack):
    """Colour and alpha of a gradient overlay over the layer's box."""
    h, w = shape
    left, top, right, bottom = layer_box_in_stack
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs = xs + 0.5 - centre_x
    ys = ys + 0.5 - centre_y
    radians = math.radians(effect.gradient_angle)
    direction = (math.cos(radians), -math.sin(radians))
    if effect.gradient_type == "linear":
        # The gradient spans the layer box's extent along its direction.
        half = (abs(direction[0]) * (right - left) + abs(direction[1]) * (bottom - top)) / 2
        half = max(half * effect.gradient_scale, 1e-3)
        position = (xs * direction[0] + ys * direction[1]) / (2 * half) + 0.5
    else:
        radius = max(max(right - left, bottom - top) / 2 * effect.gradient_scale, 1e-3)
        position = np.sqrt(xs**2 + ys**2) / radius
    position = np.clip(position, 0, 1)
    if effect.reverse:
        position = 1 - position
    locations = [s[0] for s in effect.gradient]
    colour = np.stack(
        [np.interp(position, locations, [s[1][c] for s in effect.gradient]) for c in range(3)],
        axis=-1,
    ).astype(np.float32)
    alpha = np.interp(position, locations, [s[2] for s in effect.gradient]).astype(np.float32)
    return colour, alpha[..., None]


def render_effects(layer_rgba: np.ndarray, box, effects: list[Effect]) -> EffectStack:
    """Render `effects` from the layer's pixels; see the module docstring."""
    layer_rgba = np.asarray(layer_rgba, np.float32)
    if layer_rgba.ndim != 3 or layer_rgba.shape[-1] != 4:
        raise ValueError(f"layer pixels must be (h, w, 4) RGBA, got {layer_rgba.shape}")
    left, top, right, bottom = box
    if (bottom - top, right - left) != layer_rgba.shape[:2]:
        raise ValueError(f"box {box} does not match layer pixels {layer_rgba.shape[:2]}")
    reach = max((_reach(e) for e in effects), default=0)
    padded = np.pad(layer_rgba, ((reach, reach), (reach, reach), (0, 0)))
    stack = EffectStack(box=(left - reach, top - reach, right + reach, bottom + reach),
                        layer_rgba=padded)
    alpha = np.ascontiguousarray(padded[..., 3])
    layer_box = (reach, reach, reach + right - left, reach + bottom - top)
    order = ["drop_shadow", "outer_glow", "gradient_overlay", "color_overlay",
             "inner_glow", "inner_shadow", "stroke"]
    # Several strokes form rings: each one only covers what the layer and the
    # strokes listed before it leave free (Photoshop draws the first listed
    # innermost), so they never blend into each other.
    stroked = np.zeros_like(alpha)
    for effect in sorted(effects, key=lambda e: order.index(e.kind)):
        colour = np.float32(effect.color).reshape(1, 1, 3)
        if effect.kind == "drop_shadow":
            dx, dy = _offset(effect)
            shadow = _soft(_shift(alpha, dx, dy), effect)
            stack.below.append(EffectPart("drop shadow", colour, shadow[..., None] * effect.opacity, effect.mode))
        elif effect.kind == "outer_glow":
            glow = np.clip(_soft(alpha, effect) / effect.glow_range, 0, 1)
            stack.below.append(EffectPart("outer glow", colour, glow[..., None] * effect.opacity, effect.mode))
        elif effect.kind == "color_overlay":
            stack.overlays.append(EffectPart("color overlay", colour, alpha[..., None] * effect.opacity, effect.mode))
        elif effect.kind == "gradient_overlay":
            fill, fill_alpha = _gradient_fill(effect, alpha.shape, layer_box)
            stack.overlays.append(EffectPart("gradient overlay", fill, fill_alpha * alpha[..., None] * effect.opacity, effect.mode))
        elif effect.kind == "inner_glow":
            if effect.glow_source == "edge":
                glow = alpha * _soft(1 - alpha, effect)
            else:
                glow = alpha * (1 - _soft(1 - alpha, effect))
            stack.above.append(EffectPart("inner glow", colour, glow[..., None] * effect.opacity, effect.mode))
        elif effect.kind == "inner_shadow":
            dx, dy = _offset(effect)
            inverse = _shift(1 - alpha, dx, dy, fill=1.0)
            shadow = alpha * _soft(inverse, effect)
            stack.above.append(EffectPart("inner shadow", colour, shadow[..., None] * effect.opacity, effect.mode))
        elif effect.kind == "stroke":
            own = _stroke_alpha(alpha, effect)
            stroke = np.clip(own - stroked, 0, 1)
            stroked = np.maximum(stroked, own)
            stack.above.append(EffectPart("stroke", colour, stroke[..., None] * effect.opacity, effect.mode))
    return stack


def _stroke_alpha(alpha: np.ndarray, effect: Effect) -> np.ndarray:
    if effect.position == "outside":
        return np.clip(_grow(alpha, effect.size) - alpha, 0, 1)
    if effect.position == "inside":
        return np.clip(alpha - _shrink(alpha, effect.size), 0, 1)
    half = effect.size / 2
    return np.clip(_grow(alpha, half) - _shrink(alpha, half), 0, 1)


def composite_with_effects(stack: EffectStack, mode: str, cb: np.ndarray, ab: np.ndarray,
                           opacity: float = 1.0, fill: float = 1.0):
    """Composite the layer and its effects over a backdrop crop (cb, ab) of
    `stack.box`, bottom to top: below, the layer, overlays, above.
    Returns (colour, alpha)."""
    colour, alpha = cb, ab
    for part in stack.below:
        colour, alpha = composite(part.mode, colour, alpha,
                                  np.broadcast_to(part.colour, cb.shape), part.alpha * opacity)
    colour, alpha = composite(mode, colour, alpha, stack.layer_rgba[..., :3],
                              stack.layer_rgba[..., 3:] * (opacity * fill))
    for part in stack.overlays + stack.above:
        colour, alpha = composite(part.mode, colour, alpha,
                                  np.broadcast_to(part.colour, cb.shape), part.alpha * opacity)
    return colour, alpha
