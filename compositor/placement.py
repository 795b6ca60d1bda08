"""Place artwork into a smart object's content: the image `warp_content` then
maps onto the canvas.

Everything here happens in content space: a (w, h) pixel box, the smart
object's own document. `place_artwork(artwork, content_size, options)` is a
pipeline of small steps, in the order Photoshop would apply them if the
artwork were a layer inside the smart object:

    box      where the artwork goes: `fit` inside the print area, or the
             explicit `size` / `position`
    place    flip, resize (area filter to shrink, bicubic to enlarge, on
             premultiplied colour so edges do not fringe), rotate about the
             box's centre, clip to the print area; or tile it (`pattern`)
    color    a colour over the artwork in any blend mode (Photoshop's Color
             Overlay effect: only where the artwork is), or a solid fill of
             the print area when there is no artwork
    adjust   Brightness/Contrast, Hue/Saturation (saturation), Vibrance, as
             `compositor.adjustments` reproduces Photoshop's layers
    blur     Gaussian Blur of the result
    opacity  the layer's opacity

Geometry conventions: content pixels, x to the right, y down, (0, 0) the top
left corner of the content; `rotate` is in degrees, positive clockwise on
screen, as the angle field of Photoshop's Free Transform.

`PlacementOptions` validates on construction; a bad value raises
`InvalidOption` whose `field` (and message) names the option.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace

import cv2
import numpy as np

from compositor.adjustments import BrightnessContrast, HueSaturation, Vibrance
from compositor.artwork import Artwork, load_artwork
from compositor.blend import BLEND_MODES, blend, composite, dissolve_alpha
from compositor.errors import InvalidOption
from compositor.limits import MAX_ARTWORK_PIXELS, MAX_CONTENT_PIXELS, MAX_CONTENT_SIDE
from compositor.smartobjects.warpmap import premultiplied

FITS = ("fill", "contain", "cover")

# --- options ----------------------------------------------------------------------


def _number(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidOption(name, f"must be a number from {low:g} to {high:g}, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidOption(name, f"must be a number from {low:g} to {high:g}, got {value!r}")
    return value


def _pair(name: str, value, low: float, high: float, keys=("x", "y")) -> tuple[float, float]:
    """(a, b), [a, b] or {"x": a, "y": b} (keys as given) -> a tuple of floats."""
    if isinstance(value, dict):
        if set(value) != set(keys):
            raise InvalidOption(name, f"must have exactly the keys {keys}, got {sorted(value)}")
        value = (value[keys[0]], value[keys[1]])
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidOption(name, f"must be a pair ({keys[0]}, {keys[1]}), got {value!r}")
    return (_number(f"{name}.{keys[0]}", value[0], low, high),
            _number(f"{name}.{keys[1]}", value[1], low, high))


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidOption(name, f"must be true or false, got {value!r}")
    return bool(value)


def _set(obj, name, value):
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass


def _from_mapping(cls, name: str, data):
    """A nested option given as a dict; unknown keys are errors naming them."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise InvalidOption(name, f"must be an object, got {data!r}")
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise InvalidOption(f"{name}.{key}", f"unknown option; expected one of {sorted(known)}")
    return cls(**data)


@dataclass(frozen=True)
class PrintAreaPreset:
    """A named box inside a smart object's content (templates carry them:
    "chest", "sleeve"...). `size` (w, h) and `position` (x, y, top left) are
    in content pixels. Artwork is fitted into the preset instead of the
    whole content, and clipped to it."""

    name: str
    size: tuple[float, float]
    position: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidOption("print_area.name", f"must be a non-empty string, got {self.name!r}")
        _set(self, "size", _pair("print_area.size", self.size, 1, MAX_CONTENT_SIDE, ("width", "height")))
        _set(self, "position", _pair("print_area.position", self.position, 0, MAX_CONTENT_SIDE))


@dataclass(frozen=True)
class Pattern:
    """Tile the artwork over the print area.

    scale: 0.01..100, each tile's size relative to the box the artwork would
        take without `pattern` (from `fit`, or `size`).
    spacing: 0..30000 content pixels between tiles, one number or (x, y).
    offset: (x, y) in content pixels, -30000..30000: shifts the grid, whose
        first tile's top left otherwise sits at the print area's top left.
    Tiles are whole pixels (a tile's size is rounded), so the grid repeats
    exactly; `rotate` turns the whole pattern about the print area's centre,
    flips apply to each tile.
    """

    scale: float = 1.0
    spacing: float | tuple[float, float] = 0.0
    offset: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        _set(self, "scale", _number("pattern.scale", self.scale, 0.01, 100))
        spacing = self.spacing
        if not isinstance(spacing, (tuple, list, dict)):
            spacing = (spacing, spacing)
        _set(self, "spacing", _pair("pattern.spacing", spacing, 0, MAX_CONTENT_SIDE))
        _set(self, "offset", _pair("pattern.offset", self.offset, -MAX_CONTENT_SIDE, MAX_CONTENT_SIDE))


_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


@dataclass(frozen=True)
class ColorOverlay:
    """A colour over the placed artwork, or alone as a solid fill.

    hex: "#RRGGBB" or "RRGGBB". blend_mode: any of `compositor.blend.BLEND_MODES`
    (e.g. "multiply" to recolour a white garment while keeping its shading).
    opacity: 0..100 percent.
    fill_area: False (default): over artwork it behaves as Photoshop's Color
        Overlay effect: the colour is blended with the artwork's colour only
        where the artwork is (its alpha is kept). True: a colour-fill layer over
        the whole print area, blended with the artwork where there is some and
        plain colour where there is none (a garment colour behind a design,
        the way Dynamic Mockups applies "color" over the entire smart object).
    Without artwork the colour fills the print area either way.
    """

    hex: str
    blend_mode: str = "normal"
    opacity: float = 100.0
    fill_area: bool = False

    def __post_init__(self):
        match = _HEX.fullmatch(self.hex.strip()) if isinstance(self.hex, str) else None
        if match is None:
            raise InvalidOption("color", f"must be a hex colour #RRGGBB or RRGGBB, got {self.hex!r}")
        _set(self, "hex", "#" + match.group(1).upper())
        if self.blend_mode not in BLEND_MODES:
            raise InvalidOption("color.blend_mode", f"must be one of {', '.join(BLEND_MODES)}; got {self.blend_mode!r}")
        _set(self, "opacity", _number("color.opacity", self.opacity, 0, 100))
        _set(self, "fill_area", _flag("color.fill_area", self.fill_area))

    @property
    def rgb(self) -> np.ndarray:
        """The colour as float32 (3,) in [0, 1]."""
        return np.array([int(self.hex[i:i + 2], 16) for i in (1, 3, 5)], np.float32) / np.float32(255)


@dataclass(frozen=True)
class AdjustmentLayers:
    """Adjustments applied to the placed artwork, each like the Photoshop
    adjustment of the same name (0 or 100 for opacity leaves the image alone):

    brightness: -150..150 and contrast: -100..100, Photoshop's Brightness/Contrast
        (not "Use Legacy"); Photoshop's dialog stops contrast at -50, lower
        values continue the same curve.
    saturation: -100..100, Hue/Saturation's master saturation (-100: grey).
    vibrance: -100..100, Vibrance's vibrance (boosts dull colours more).
    opacity: 0..100 percent, the layer's opacity.
    blur: 0..100, Gaussian Blur radius in content pixels (Photoshop's radius is
        the Gaussian's standard deviation).
    """

    brightness: float = 0.0
    contrast: float = 0.0
    opacity: float = 100.0
    saturation: float = 0.0
    vibrance: float = 0.0
    blur: float = 0.0

    def __post_init__(self):
        for name, low, high in (("brightness", -150, 150), ("contrast", -100, 100), ("opacity", 0, 100),
                                ("saturation", -100, 100), ("vibrance", -100, 100), ("blur", 0, 100)):
            _set(self, name, _number(f"adjustment_layers.{name}", getattr(self, name), low, high))


@dataclass(frozen=True)
class PlacementOptions:
    """How artwork lands in a smart object's content (see the module docstring).

    fit: "fill" (or "stretch") stretches the artwork to the print area; "contain" fits it
        inside keeping its aspect (transparent elsewhere); "cover" fills the
        area keeping its aspect, cropping what overflows. Default "fill".
    rotate: -360..360 degrees, positive clockwise, about the placed box's centre.
    flip_horizontal / flip_vertical: mirror the artwork within its box.
    size: (w, h) 1..30000 content pixels: the placed box's size, overriding
        `fit` (the artwork is stretched to it).
    position: (x, y) -30000..30000: the placed box's top left in content
        pixels; default: centred in the print area. Not with `pattern`
        (whose `offset` moves the tiles).
    print_area: a `PrintAreaPreset`: the box `fit` fills and the placement is
        clipped to; default the whole content.
    pattern: a `Pattern` to tile the artwork; color: a `ColorOverlay`;
    adjustment_layers: `AdjustmentLayers`.
    """

    fit: str = "fill"
    rotate: float = 0.0
    flip_horizontal: bool = False
    flip_vertical: bool = False
    size: tuple[float, float] | None = None
    position: tuple[float, float] | None = None
    print_area: PrintAreaPreset | None = None
    pattern: Pattern | None = None
    color: ColorOverlay | None = None
    adjustment_layers: AdjustmentLayers = field(default_factory=AdjustmentLayers)

    def __post_init__(self):
        if self.fit == "stretch":  # Dynamic Mockups' name for fill
            _set(self, "fit", "fill")
        if self.fit not in FITS:
            raise InvalidOption("fit", f"must be one of {', '.join(FITS)}; got {self.fit!r}")
        _set(self, "rotate", _number("rotate", self.rotate, -360, 360))
        _set(self, "flip_horizontal", _flag("flip_horizontal", self.flip_horizontal))
        _set(self, "flip_vertical", _flag("flip_vertical", self.flip_vertical))
        if self.size is not None:
            _set(self, "size", _pair("size", self.size, 1, MAX_CONTENT_SIDE, ("width", "height")))
        if self.position is not None:
            _set(self, "position", _pair("position", self.position, -MAX_CONTENT_SIDE, MAX_CONTENT_SIDE))
        for name, cls in (("print_area", PrintAreaPreset), ("pattern", Pattern), ("color", ColorOverlay),
                          ("adjustment_layers", AdjustmentLayers)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, cls):
                raise InvalidOption(name, f"must be a {cls.__name__}, got {value!r}")
        if self.pattern is not None and self.position is not None:
            # A pattern has no single box to move: it would be silently ignored.
            raise InvalidOption("position", "cannot be combined with pattern; use pattern.offset to move the tiles")

    @classmethod
    def from_dict(cls, data: dict, presets=()) -> "PlacementOptions":
        """Options as the API receives them (JSON): nested objects as dicts,
        `color` as a hex string or {"hex", "blend_mode", "opacity"}, `pattern`
        as true or {"scale", "spacing", "offset"}, `print_area` as the name of
        one of `presets` (the template's `PrintAreaPreset`s)."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidOption("options", f"must be an object, got {data!r}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise InvalidOption(key, f"unknown option; expected one of {sorted(known)}")
        values = dict(data)
        position = values.get("position")
        if isinstance(position, dict) and set(position) == {"top", "left"}:
            values["position"] = (position["left"], position["top"])  # Dynamic Mockups' spelling
        if values.get("print_area") is not None:
            values["print_area"] = find_print_area(values["print_area"], presets)
        pattern = values.get("pattern")
        if pattern is True:
            values["pattern"] = Pattern()
        elif pattern is False:
            values["pattern"] = None
        elif pattern is not None:
            values["pattern"] = _from_mapping(Pattern, "pattern", pattern)
        color = values.get("color")
        if isinstance(color, str):
            values["color"] = ColorOverlay(color)
        elif color is not None:
            values["color"] = _from_mapping(ColorOverlay, "color", color)
        if values.get("adjustment_layers") is not None:
            values["adjustment_layers"] = _from_mapping(AdjustmentLayers, "adjustment_layers",
                                                        values["adjustment_layers"])
        else:
            values.pop("adjustment_layers", None)
        return cls(**values)


def find_print_area(name, presets) -> PrintAreaPreset:
    """The preset called `name` among a template's presets."""
    if isinstance(name, PrintAreaPreset):
        return name
    for preset in presets:
        if preset.name == name:
            return preset
    names = ", ".join(p.name for p in presets) or "none"
    raise InvalidOption("print_area", f"no print area named {name!r} in this template (it has: {names})")


# --- geometry ------------------------------------------------------------------------


def _check_content_size(content_size) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in content_size)
    except (TypeError, ValueError):
        raise InvalidOption("content_size", f"must be (width, height), got {content_size!r}") from None
    if not (1 <= width <= MAX_CONTENT_SIDE and 1 <= height <= MAX_CONTENT_SIDE) \
            or width * height > MAX_CONTENT_PIXELS:
        raise InvalidOption("content_size", f"{width}x{height} is outside 1..{MAX_CONTENT_SIDE} a side "
                                            f"or over {MAX_CONTENT_PIXELS} pixels")
    return width, height


def print_area_box(options: PlacementOptions, content_size) -> tuple[float, float, float, float]:
    """(x, y, w, h) of the print area in content pixels; a preset must lie inside the content."""
    width, height = _check_content_size(content_size)
    preset = options.print_area
    if preset is None:
        return 0.0, 0.0, float(width), float(height)
    (x, y), (w, h) = preset.position, preset.size
    if x + w > width + 1e-6 or y + h > height + 1e-6:
        raise InvalidOption("print_area", f"{preset.name!r} ({w:g}x{h:g} at {x:g},{y:g}) does not fit "
                                          f"in the {width}x{height} content")
    return x, y, w, h


def placed_box(artwork_size, options: PlacementOptions, content_size) -> tuple[float, float, float, float]:
    """(x, y, w, h) in content pixels of the box the artwork is scaled to
    (before rotation): `size`/`position` when given, else `fit` in the print area."""
    art_w, art_h = artwork_size
    area_x, area_y, area_w, area_h = print_area_box(options, content_size)
    if options.size is not None:
        w, h = options.size
    elif options.fit == "fill":
        w, h = area_w, area_h
    else:
        pick = min if options.fit == "contain" else max
        scale = pick(area_w / art_w, area_h / art_h)
        w, h = art_w * scale, art_h * scale
    if options.position is not None:
        x, y = options.position
    else:
        x, y = area_x + (area_w - w) / 2, area_y + (area_h - h) / 2
    return x, y, w, h


def required_artwork_size(content_size, options: PlacementOptions | None = None) -> tuple[int, int]:
    """The `target_size` to decode artwork at (see `artwork.load_artwork`):
    artwork whose sides are both at least this is never enlarged by the
    placement, whatever its aspect ratio."""
    options = options or PlacementOptions()
    _, _, area_w, area_h = print_area_box(options, content_size)
    w, h = options.size if options.size is not None else (area_w, area_h)
    if options.pattern is not None:
        w, h = w * options.pattern.scale, h * options.pattern.scale
    return max(1, math.ceil(w)), max(1, math.ceil(h))


# --- pixels ---------------------------------------------------------------------------


def unpremultiply_in_place(premultiplied: np.ndarray) -> np.ndarray:
    """Premultiplied float32 RGBA -> straight, in place; colour is 0 where
    there is no coverage."""
    alpha = np.ascontiguousarray(premultiplied[..., 3])
    if alpha.min() < 1:
        inverse = np.zeros_like(alpha)
        np.divide(np.float32(1), alpha, out=inverse, where=alpha > 1e-6)
        factor = cv2.merge([inverse, inverse, inverse, np.ones_like(inverse)])
        cv2.multiply(premultiplied, factor, dst=premultiplied)
    np.clip(premultiplied, 0, 1, out=premultiplied)
    return premultiplied


def resize_premultiplied(premultiplied: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize premultiplied float32 RGBA to (w, h): each axis with the area
    filter when it shrinks, bicubic when it grows (clipped: bicubic overshoots)."""
    width, height = size
    image = premultiplied
    # OpenCV's area weights sum to 1 only within float rounding: opaque artwork
    # would come out with alpha 0.9999999 here and there, and every later step
    # (unpremultiply, the render's premultiply) would then run for nothing.
    opaque = image.shape[:2] != (height, width) and bool(image[..., 3].min() >= 1)
    enlarged = False
    if image.shape[1] != width:
        enlarged |= width > image.shape[1]
        image = cv2.resize(image, (width, image.shape[0]),
                           interpolation=cv2.INTER_CUBIC if width > image.shape[1] else cv2.INTER_AREA)
    if image.shape[0] != height:
        enlarged |= height > image.shape[0]
        image = cv2.resize(image, (width, height),
                           interpolation=cv2.INTER_CUBIC if height > image.shape[0] else cv2.INTER_AREA)
    if enlarged:
        np.clip(image, 0, 1, out=image)
        np.minimum(image[..., :3], image[..., 3:4], out=image[..., :3])  # colour cannot exceed coverage
    if opaque:
        image[..., 3] = 1.0  # an average of ones is one
    return image


def _flipped(image: np.ndarray, options: PlacementOptions) -> np.ndarray:
    if options.flip_horizontal:
        image = image[:, ::-1]
    if options.flip_vertical:
        image = image[::-1]
    return np.ascontiguousarray(image)


def _rotation(degrees: float) -> np.ndarray:
    """2x2 matrix turning content vectors `degrees` clockwise on screen (y down)."""
    radians = math.radians(degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    return np.array([[cos, -sin], [sin, cos]])


def _quarter_turns(degrees: float) -> int | None:
    turns = degrees / 90
    return int(round(turns)) % 4 if abs(turns - round(turns)) < 1e-9 else None


def _place_once(tile: np.ndarray, box, rotate: float, content_size) -> np.ndarray:
    """Put a tile (already the box's size) centred on the box's centre, turned
    by `rotate`, onto a transparent content image (premultiplied)."""
    width, height = content_size
    x, y, w, h = box
    turns = _quarter_turns(rotate)
    if turns is not None:
        # Exact for quarter turns: no resampling at all when the box is on whole pixels.
        tile = np.ascontiguousarray(np.rot90(tile, k=-turns))  # rot90 turns anticlockwise
        rotate = 0.0
    tile_h, tile_w = tile.shape[:2]
    rotation = _rotation(rotate)
    # Pixel centres are at index + 0.5: tile point -> content point about the centres.
    tile_centre = np.array([tile_w / 2, tile_h / 2])
    box_centre = np.array([x + w / 2, y + h / 2])
    offset = rotation @ (np.array([0.5, 0.5]) - tile_centre) + box_centre - 0.5
    matrix = np.hstack([rotation, offset[:, None]]).astype(np.float64)
    return cv2.warpAffine(tile, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def _tile_pattern(tile: np.ndarray, pattern: Pattern, rotate: float, area, content_size) -> np.ndarray:
    """Repeat the tile (plus transparent spacing) over the content, grid anchored
    at the area's top left + offset, turned by `rotate` about the area's centre."""
    width, height = content_size
    gap_x, gap_y = (int(round(v)) for v in pattern.spacing)
    tile_h, tile_w = tile.shape[:2]
    cell = np.zeros((tile_h + gap_y, tile_w + gap_x, 4), np.float32)
    cell[:tile_h, :tile_w] = tile
    area_x, area_y, area_w, area_h = area
    centre = np.array([area_x + area_w / 2, area_y + area_h / 2])
    origin = np.array([area_x, area_y]) + np.array(pattern.offset)
    # content point p -> pattern point q = R^-1 (p - centre) + centre - origin, taken modulo the cell.
    inverse = _rotation(-rotate)
    offset = inverse @ (np.array([0.5, 0.5]) - centre) + centre - origin - 0.5
    matrix = np.hstack([inverse, offset[:, None]]).astype(np.float64)
    return cv2.warpAffine(cell, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_WRAP)


def _area_coverage(area, content_size) -> np.ndarray | None:
    """How much of each content pixel lies in the area, (h, w, 1); None: all of it."""
    width, height = content_size
    x, y, w, h = area
    if (x, y, w, h) == (0, 0, width, height):
        return None
    columns = np.arange(width, dtype=np.float32)
    rows = np.arange(height, dtype=np.float32)
    cover_x = np.clip(np.minimum(columns + 1, x + w) - np.maximum(columns, x), 0, 1)
    cover_y = np.clip(np.minimum(rows + 1, y + h) - np.maximum(rows, y), 0, 1)
    return (cover_y[:, None] * cover_x[None, :])[..., None].astype(np.float32)


def _artwork_pixels(artwork) -> np.ndarray | None:
    if artwork is None:
        return None
    pixels = artwork.rgba if isinstance(artwork, Artwork) else artwork
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 4 \
            or pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise InvalidOption("artwork", "must be an Artwork or a float32 (h, w, 4) RGBA array")
    return np.asarray(pixels, np.float32)


def _place(pixels: np.ndarray, options: PlacementOptions, content_size, area) -> np.ndarray:
    """Artwork -> premultiplied content image, before colour and adjustments."""
    box = placed_box((pixels.shape[1], pixels.shape[0]), options, content_size)
    scale = options.pattern.scale if options.pattern is not None else 1.0
    tile_size = (max(1, round(box[2] * scale)), max(1, round(box[3] * scale)))
    tile = resize_premultiplied(_flipped(premultiplied(pixels), options), tile_size)
    if options.pattern is not None:
        placed = _tile_pattern(tile, options.pattern, options.rotate, area, content_size)
    else:
        placed = _place_once(tile, box, options.rotate, content_size)
    coverage = _area_coverage(area, content_size)
    if coverage is not None:
        placed *= coverage
    return placed


def _apply_color(rgba: np.ndarray, color: ColorOverlay, has_artwork: bool, area, content_size) -> np.ndarray:
    """Color Overlay over the artwork, or a colour layer over the print area."""
    strength = np.float32(color.opacity / 100)
    if color.fill_area or not has_artwork:
        # A colour layer over the artwork, as Photoshop composites layers.
        coverage = _area_coverage(area, content_size)
        source_alpha = np.full(rgba.shape[:2] + (1,), strength, np.float32)
        if coverage is not None:
            source_alpha *= coverage
        source = np.broadcast_to(color.rgb, rgba.shape[:2] + (3,))
        rgba[..., :3], rgba[..., 3:4] = composite(color.blend_mode, rgba[..., :3], rgba[..., 3:4],
                                                  source, source_alpha)
        return rgba
    colour = rgba[..., :3]
    blended = blend(color.blend_mode, colour, np.broadcast_to(color.rgb, colour.shape))
    if color.blend_mode == "dissolve":
        strength = dissolve_alpha(np.full(colour.shape[:2] + (1,), strength, np.float32))
    colour += strength * (blended - colour)
    np.clip(colour, 0, 1, out=colour)
    return rgba


def _apply_adjustments(rgba: np.ndarray, layers: AdjustmentLayers) -> np.ndarray:
    steps = []
    if layers.brightness or layers.contrast:
        steps.append(BrightnessContrast(int(round(layers.brightness)), int(round(layers.contrast)), legacy=False))
    if layers.saturation:
        steps.append(HueSaturation(master=(0, int(round(layers.saturation)), 0), ranges=[]))
    if layers.vibrance:
        steps.append(Vibrance(vibrance=int(round(layers.vibrance)), saturation=0))
    for adjustment in steps:
        rgba[..., :3] = adjustment.apply(rgba[..., :3])
    return rgba


def _apply_blur(rgba: np.ndarray, radius: float) -> np.ndarray:
    if radius <= 0:
        return rgba
    # Outside the content is transparent: blurred edges fade out, as a layer's do.
    blurred = cv2.GaussianBlur(premultiplied(rgba), (0, 0), sigmaX=radius, sigmaY=radius,
                               borderType=cv2.BORDER_CONSTANT)
    return unpremultiply_in_place(blurred)


def place_artwork(artwork: Artwork | np.ndarray | None, content_size,
                  options: PlacementOptions | None = None) -> np.ndarray:
    """The smart object's new content: float32 straight RGBA (h, w, 4) for
    `content_size` (w, h), from artwork (an `Artwork` or float32 RGBA array)
    placed by `options`. `artwork` may be None when `options.color` is set: the
    print area is then filled with the colour."""
    options = options or PlacementOptions()
    width, height = _check_content_size(content_size)
    area = print_area_box(options, (width, height))
    pixels = _artwork_pixels(artwork)
    if pixels is None and options.color is None:
        raise InvalidOption("artwork", "nothing to place: give artwork, a color, or both")

    if pixels is not None:
        rgba = unpremultiply_in_place(_place(pixels, options, (width, height), area))
    else:
        rgba = np.zeros((height, width, 4), np.float32)
    if options.color is not None:
        rgba = _apply_color(rgba, options.color, pixels is not None, area, (width, height))
    layers = options.adjustment_layers
    rgba = _apply_adjustments(rgba, layers)
    rgba = _apply_blur(rgba, layers.blur)
    if layers.opacity < 100:
        rgba[..., 3] *= np.float32(layers.opacity / 100)
    return rgba


def place_artwork_bytes(data: bytes | None, content_size, options: PlacementOptions | None = None, *,
                       max_pixels: int = MAX_ARTWORK_PIXELS) -> np.ndarray:
    """The artwork -> content step of a render for one smart object: decode the
    artwork file no larger than this placement needs (cached per process, see
    `artwork.load_artwork`), then `place_artwork`. `data` may be None for a
    colour-only placement."""
    options = options or PlacementOptions()
    artwork = None
    if data is not None:
        target = required_artwork_size(content_size, options)
        artwork = load_artwork(data, target_size=target, max_pixels=max_pixels)
    return place_artwork(artwork, content_size, options)


def without_color(options: PlacementOptions) -> PlacementOptions:
    """The same placement with no colour overlay (print files leave it out)."""
    return replace(options, color=None)


def scaled_options(options: PlacementOptions, factor: float) -> PlacementOptions:
    """The same placement for content `factor` times larger on each side: every
    length in content pixels (size, position, print area, pattern spacing and
    offset, blur radius) scales; ratios and angles do not. Raises InvalidOption
    (naming the option) when a scaled length leaves its range."""
    def scale(pair):
        return None if pair is None else (pair[0] * factor, pair[1] * factor)

    area = options.print_area
    if area is not None:
        area = PrintAreaPreset(area.name, scale(area.size), scale(area.position))
    pattern = options.pattern
    if pattern is not None:
        pattern = replace(pattern, spacing=scale(pattern.spacing), offset=scale(pattern.offset))
    layers = replace(options.adjustment_layers, blur=options.adjustment_layers.blur * factor)
    return replace(options, size=scale(options.size), position=scale(options.position), print_area=area,
                   pattern=pattern, adjustment_layers=layers)
