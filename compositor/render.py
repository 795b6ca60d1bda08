"""The fast render path: a compiled `RenderPlan` plus artwork in, image bytes out.

    render(plan, {"Design": ArtworkInput(png_bytes, options)}, ExportOptions(...)) -> bytes

Per render and per smart object, at the pyramid level closest above the
requested width: place the artwork (shrunk for the level), warp it with the
plan's maps (one `cv2.remap`), apply the plan's per-pixel formula
(`compositor.plan`), and paste the box into a copy of the base image. Nothing
reads the PSD, except objects the plan could not reduce ("fallback"), which
the generic renderer draws inside their box.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from compositor.errors import InvalidOption
from compositor.placement import PlacementOptions, place_artwork_bytes, scaled_options
from compositor.plan import RenderPlan, SmartObjectPlan, downscale, level_box, level_size
from compositor.smartobjects.warpmap import WarpMap, warp_content


@dataclass
class ArtworkInput:
    """What goes into one smart object: artwork file bytes (None for a colour
    fill only) and how to place it."""

    data: bytes | None
    options: PlacementOptions = field(default_factory=PlacementOptions)


@dataclass
class ExportOptions:
    format: str = "jpg"
    image_size: int | None = None  # output width in pixels; None: the template's width
    quality: int = 90
    background: str = "#FFFFFF"


# --- level choice ----------------------------------------------------------------------


def choose_level(plan: RenderPlan, image_size: int | None) -> int:
    """The smallest level at least `image_size` wide (full size when None).

    Rendering smaller and enlarging would blur the template's own pixels.
    """
    if image_size is None:
        return min(plan.levels)
    best = min(plan.levels)
    for factor in plan.levels:
        if level_size((plan.width, plan.height), factor)[0] >= image_size and factor > best:
            best = factor
    return best


# --- pixels -----------------------------------------------------------------------------


def render_level(plan: RenderPlan, contents: dict[str, np.ndarray], factor: int) -> np.ndarray:
    """The mockup at pyramid level `factor` as straight RGBA uint8.

    `contents` maps smart-object names to their new content: float32 straight
    RGBA, any size (the object's geometry is kept, as `Renderer` does).
    Objects not named keep their own content (the base image).
    """
    if factor not in plan.base:
        raise InvalidOption("level", f"must be one of {plan.levels}, got {factor!r}")
    for name in contents:
        plan.find(name)  # raises naming the known objects
    image = plan.base[factor].copy()
    fallback = {}
    for so in plan.smart_objects:
        if so.name not in contents:
            continue
        if so.method == "fallback":
            fallback[so.name] = so
            continue
        box = level_box(so.box, factor)
        image[box[1]:box[3], box[0]:box[2]] = _render_object(so, contents[so.name], factor)
    if fallback:
        _render_fallback(plan, contents, fallback, factor, image)
    return image


def _render_object(so: SmartObjectPlan, content: np.ndarray, factor: int) -> np.ndarray:
    arrays = so.levels[factor]
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[2] != 4:
        raise InvalidOption("artwork", f"content for {so.name!r} must be (h, w, 4) RGBA, got {content.shape}")
    # The level's maps as a warp map of their own: the smart-object code
    # resamples exactly as the generic renderer does, with `factor` times
    # more content pixels per (level) pixel.
    level_map = WarpMap(box=level_box(so.box, factor), map_x=arrays["map_x"], map_y=arrays["map_y"],
                        coverage=arrays["coverage"], content_size=so.content_size,
                        content_scale=(so.content_scale[0] * factor, so.content_scale[1] * factor),
                        affine=so.affine)
    warped = warp_content(level_map, content)
    a = warped[..., 3:4]
    p = warped[..., :3]
    p *= a
    out_p, out_a = _apply(arrays, p, a)
    return _to_straight_uint8(out_p, out_a)


def _apply(arrays: dict[str, np.ndarray], p: np.ndarray, a: np.ndarray):
    """`plan.apply_coefficients`, in fewer passes (same arithmetic)."""
    if "WM" in arrays:
        den = arrays["Uc"] * a
        den += arrays["Vc"]
        ratio = np.divide(a, den, out=np.zeros_like(a), where=den > 1e-6)
        inner = arrays["WM"] * p
        inner += arrays["WN"] * a
        inner += arrays["WK"]
        inner *= ratio
        out_p = inner
    else:
        out_p = arrays["W"] * p
    out_p += arrays["Z"] * a
    out_p += arrays["Sp"]
    out_a = None
    if "Y" in arrays:
        out_a = arrays["Y"] * a
        out_a += arrays["Sa"]
    return out_p, out_a


def _to_straight_uint8(out_p: np.ndarray, out_a: np.ndarray | None) -> np.ndarray:
    """Premultiplied colour and alpha (None: opaque) -> straight RGBA uint8, rounded like the exporter."""
    if out_a is None:
        rgb = cv2.convertScaleAbs(out_p, alpha=255.0)  # rounds and saturates, as to_uint8
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    color = np.divide(out_p, out_a, out=np.zeros_like(out_p), where=out_a > 1e-6)
    rgba = np.concatenate([color, out_a], axis=-1)
    return cv2.convertScaleAbs(np.clip(rgba, 0.0, 1.0), alpha=255.0)


def _render_fallback(plan: RenderPlan, contents, objects: dict[str, SmartObjectPlan], factor: int,
                     image: np.ndarray) -> None:
    """Objects the plan could not reduce: the generic renderer inside their boxes, at full size."""
    from compositor.plan import _straight_uint8  # noqa: PLC0415

    renderer = plan.renderer()
    artwork = {name: np.asarray(content, np.float32) for name, content in contents.items()}
    for so in objects.values():
        result = renderer.render(region=so.box, artwork=artwork)
        level = downscale(np.concatenate([result.color * result.alpha, result.alpha], axis=-1), factor)
        box = level_box(so.box, factor)
        image[box[1]:box[3], box[0]:box[2]] = _straight_uint8(level)


# --- bytes in, bytes out ----------------------------------------------------------------


def place_for_level(so: SmartObjectPlan, artwork: ArtworkInput, factor: int) -> np.ndarray:
    """The object's new content, placed at the size the level needs.

    At reduced levels the content is placed smaller (every length option
    scaled with it) instead of placed at full size and shrunk.
    """
    cw, ch = so.content_size
    shrink = 1.0
    if factor > 1 and so.method != "fallback":
        shrink = max(1.0, min(so.content_scale) * factor)
    if shrink <= 1.0:
        return place_artwork_bytes(artwork.data, (cw, ch), artwork.options)
    size = (max(1, round(cw / shrink)), max(1, round(ch / shrink)))
    return place_artwork_bytes(artwork.data, size, scaled_options(artwork.options, size[0] / cw))


def render_pixels(plan: RenderPlan, artwork: dict[str, ArtworkInput], image_size: int | None = None) -> np.ndarray:
    """Straight RGBA uint8 at the level chosen for `image_size` (not yet resized to it)."""
    factor = choose_level(plan, image_size)
    contents = {}
    for name, item in artwork.items():
        if not isinstance(item, ArtworkInput):
            raise InvalidOption(f"artwork.{name}", f"must be an ArtworkInput, got {type(item).__name__}")
        contents[name] = place_for_level(plan.find(name), item, factor)
    return render_level(plan, contents, factor)


def render(plan: RenderPlan, artwork: dict[str, ArtworkInput], export: ExportOptions | None = None) -> bytes:
    """The mockup as image file bytes: what the render worker calls per job."""
    from compositor.export import encode_pixels, export_image, output_size  # noqa: PLC0415

    export = export or ExportOptions()
    size = output_size((plan.width, plan.height), export.image_size)  # validates image_size
    pixels = render_pixels(plan, artwork, export.image_size)
    opaque = bool(pixels[..., 3].min() == 255)
    if opaque and (pixels.shape[1], pixels.shape[0]) == size:
        # Straight to the encoder: no float pass over the whole image.
        return encode_pixels(np.ascontiguousarray(pixels[..., :3]), format=export.format, quality=export.quality)
    if opaque and size[0] <= pixels.shape[1] and size[1] <= pixels.shape[0]:
        rgb = cv2.resize(np.ascontiguousarray(pixels[..., :3]), size, interpolation=cv2.INTER_AREA)
        return encode_pixels(rgb, format=export.format, quality=export.quality)
    rgba = pixels.astype(np.float32) / np.float32(255)
    return export_image(rgba, format=export.format, image_size=export.image_size, quality=export.quality,
                        background=export.background)
