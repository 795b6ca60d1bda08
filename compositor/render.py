"""The fast render path: a compiled `RenderPlan` plus artwork in, image bytes out.

    render(plan, {"Design": ArtworkInput(png_bytes, options)}, ExportOptions(...)) -> bytes

Artwork names its smart object by layer name or by index among the plan's
smart objects; linked instances of one smart object (a design and its
reflection) all show it, as in Photoshop (`compositor.model.artwork_targets`).

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
from compositor.model import ArtworkKey
from compositor.placement import PlacementOptions, place_artwork_bytes, scaled_options
from compositor.plan import RenderPlan, SmartObjectPlan, downscale, level_box, level_size
from compositor.smartobjects import warpmap


@dataclass
class ArtworkInput:
    """What goes into one smart object: artwork file bytes (None for a colour
    fill only) and how to place it."""

    data: bytes | None
    options: PlacementOptions = field(default_factory=PlacementOptions)


@dataclass
class ExportOptions:
    """How the render is written (see `export.export_image`); checked on
    construction, a bad value raising InvalidOption that names the field."""

    format: str = "jpg"
    image_size: int | None = None  # output width in pixels; None: the template's width
    quality: int = 90
    background: str = "#FFFFFF"  # what JPEG flattens transparency over

    def __post_init__(self):
        from compositor.export import _check_background, _check_format, _check_quality  # noqa: PLC0415
        _check_format(self.format)
        _check_quality(self.quality)
        _check_background(self.background)


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


def render_level(plan: RenderPlan, contents: dict[ArtworkKey, np.ndarray], factor: int) -> np.ndarray:
    """The mockup at pyramid level `factor`: straight uint8, RGB when the plan
    is opaque, else RGBA.

    `contents` maps smart objects, by name or index (see
    `compositor.model.artwork_targets`: linked instances share content), to
    their new content: float32 straight RGBA, any size (the object's geometry
    is kept, as `Renderer` does). Objects not reached keep their own content
    (the base image).
    """
    if factor not in plan.base:
        raise InvalidOption("level", f"must be one of {plan.levels}, got {factor!r}")
    by_index = {index: contents[key] for index, key in plan.artwork_targets(contents).items()}
    image = plan.base[factor].copy()
    given = set(by_index)
    fallback = []
    for index in sorted(given):
        so = plan.smart_objects[index]
        if so.method == "hidden":
            continue
        if so.method == "fallback" or given.intersection(so.overlaps):
            # Its formula holds only while the objects overlapping it show
            # their cached pixels.
            fallback.append(so)
            continue
        _paste(image, level_box(so.box, factor), _render_object(so, by_index[index], factor))
    if fallback:
        _render_fallback(plan, by_index, fallback, factor, image)
    return image


def _paste(image: np.ndarray, box, pixels: np.ndarray) -> None:
    """Put uint8 pixels (RGB or RGBA) over `box` of an RGB or RGBA image."""
    window = image[box[1]:box[3], box[0]:box[2]]
    window[..., :3] = pixels[..., :3]
    if image.shape[2] == 4:
        window[..., 3] = pixels[..., 3] if pixels.shape[2] == 4 else 255


def _render_object(so: SmartObjectPlan, content: np.ndarray, factor: int) -> np.ndarray:
    arrays = so.levels[factor]
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[2] != 4:
        raise InvalidOption("artwork", f"content for {so.name!r} must be (h, w, 4) RGBA, got {content.shape}")
    warped = warp_premultiplied(so, arrays, content, factor)
    a = warped[..., 3:4]
    p = warped[..., :3]
    out_p, out_a = _apply(arrays, p, a)
    return _to_uint8(out_p, out_a)


def warp_premultiplied(so: SmartObjectPlan, arrays: dict[str, np.ndarray], content: np.ndarray,
                       factor: int) -> np.ndarray:
    """`smartobjects.warp_content` through the level's maps, stopping before it
    unpremultiplies (the formula wants premultiplied colour: a divide and a
    multiply saved over the whole box). The resampling is
    `warpmap.resample_content`, the same function `warp_content` uses; the full-size equality tests hold
    it to `warp_content`'s pixels."""
    bh, bw = arrays["map_x"].shape
    h, w = content.shape[:2]
    if max(bh, bw, h, w) >= warpmap.REMAP_LIMIT:
        raise InvalidOption("artwork", f"content {w}x{h} for {so.name!r} exceeds "
                                       f"{warpmap.REMAP_LIMIT - 1} pixels a side")
    # the level's maps address the full-size content; content pixels per level pixel
    cw, ch = so.content_size
    scale = (so.content_scale[0] * factor, so.content_scale[1] * factor)
    # users' artwork is always an image file (see warpmap.resample_content)
    warped = warpmap.resample_content(content, arrays["map_x"], arrays["map_y"], (cw, ch), scale, so.affine,
                                      arrays.get("mip_lod"), raster_file=True)
    coverage = arrays["coverage"]
    cv2.multiply(warped, cv2.merge([coverage] * 4), dst=warped)
    return warped


def _apply(arrays: dict[str, np.ndarray], p: np.ndarray, a: np.ndarray):
    """`plan.apply_coefficients` with OpenCV's element-wise operations (about
    twice numpy's speed here: no broadcasting temporaries). `p` (h, w, 3) and
    `a` (h, w) or (h, w, 1); returns out_p (h, w, 3) and out_a (h, w) or None
    when the result is opaque."""
    a = np.ascontiguousarray(a.reshape(a.shape[:2]))
    p = np.ascontiguousarray(p)
    a3 = cv2.merge([a, a, a])
    if "WM" in arrays:
        den = cv2.add(cv2.multiply(_plane(arrays["Uc"]), a), _plane(arrays["Vc"]))
        # Uc + Vc = 1, so den = 0 only where a = 0: the ratio is then 0.
        ratio = cv2.divide(a, cv2.max(den, 1e-6))
        out_p = cv2.multiply(arrays["WM"], p)
        cv2.add(out_p, cv2.multiply(arrays["WN"], a3), dst=out_p)
        cv2.add(out_p, arrays["WK"], dst=out_p)
        cv2.multiply(out_p, cv2.merge([ratio, ratio, ratio]), dst=out_p)
    else:
        out_p = cv2.multiply(arrays["W"], p)
    cv2.add(out_p, cv2.multiply(arrays["Z"], a3), dst=out_p)
    cv2.add(out_p, arrays["Sp"], dst=out_p)
    out_a = None
    if "Y" in arrays:
        out_a = cv2.add(cv2.multiply(_plane(arrays["Y"]), a), _plane(arrays["Sa"]))
    return out_p, out_a


def _plane(values: np.ndarray) -> np.ndarray:
    """(h, w, 1) -> (h, w) without a copy."""
    return values.reshape(values.shape[:2])


def _to_uint8(out_p: np.ndarray, out_a: np.ndarray | None) -> np.ndarray:
    """Premultiplied colour and alpha (None: opaque) -> straight uint8, rounded
    like the exporter: RGB when opaque, else RGBA."""
    if out_a is None:
        return cv2.convertScaleAbs(out_p, alpha=255.0)  # rounds and saturates, as to_uint8
    out_a = out_a.reshape(out_a.shape[:2] + (1,))
    color = np.divide(out_p, out_a, out=np.zeros_like(out_p), where=out_a > 1e-6)
    rgba = np.concatenate([color, out_a], axis=-1)
    return cv2.convertScaleAbs(np.clip(rgba, 0.0, 1.0), alpha=255.0)


def _render_fallback(plan: RenderPlan, contents, objects: list[SmartObjectPlan], factor: int,
                     image: np.ndarray) -> None:
    """Objects the plan could not reduce: the generic renderer inside their boxes, at full size."""
    from compositor.plan import _straight_uint8  # noqa: PLC0415

    renderer = plan.renderer()
    # By index: the plan's smart objects are the template's, in the same order.
    artwork = {index: np.asarray(content, np.float32) for index, content in contents.items()}
    drawn = {}
    # Overlapping objects drawn together: their group's region once, not each box.
    groups = [so.group_region for so in objects if so.group_region is not None and so.draw_region is None]
    for so in objects:
        region = so.draw_region or so.box
        if so.draw_region is None and so.group_region is not None and groups.count(so.group_region) > 1:
            region = so.group_region
        if region not in drawn:
            drawn[region] = renderer.render(region=region, artwork=artwork)
        result = drawn[region]
        window = (slice(so.box[1] - region[1], so.box[3] - region[1]),
                  slice(so.box[0] - region[0], so.box[2] - region[0]))
        premultiplied = np.concatenate([result.color * result.alpha, result.alpha], axis=-1)[window]
        level = downscale(premultiplied, factor)
        box = level_box(so.box, factor)
        _paste(image, box, _straight_uint8(level))


# --- bytes in, bytes out ----------------------------------------------------------------


def place_for_level(so: SmartObjectPlan, artwork: ArtworkInput, factor: int) -> np.ndarray:
    """The object's new content, placed at the size the level needs.

    At reduced levels the content is placed smaller (every length option
    scaled with it) instead of placed at full size and shrunk.
    """
    size, scale = _placed_size(so, factor)
    if scale == 1.0:
        return place_artwork_bytes(artwork.data, size, artwork.options)
    return place_artwork_bytes(artwork.data, size, scaled_options(artwork.options, scale))


def _placed_size(so: SmartObjectPlan, factor: int) -> tuple[tuple[int, int], float]:
    """(content size to place the artwork at, its scale from the object's content size)."""
    cw, ch = so.content_size
    shrink = 1.0
    if factor > 1 and so.method in ("affine", "clipped") and not so.overlaps:
        shrink = max(1.0, min(so.content_scale) * factor)
    if shrink <= 1.0:
        return (cw, ch), 1.0
    size = (max(1, round(cw / shrink)), max(1, round(ch / shrink)))
    return size, size[0] / cw


def render_pixels(plan: RenderPlan, artwork: dict[ArtworkKey, ArtworkInput],
                  image_size: int | None = None) -> np.ndarray:
    """Straight uint8 (RGB or RGBA, see `render_level`) at the level chosen
    for `image_size` (not yet resized to it). Each smart object the artwork
    reaches gets it placed for its own content size; linked instances (same
    content size) share one placement."""
    factor = choose_level(plan, image_size)
    for key, item in artwork.items():
        if not isinstance(item, ArtworkInput):
            raise InvalidOption(f"artwork.{key}", f"must be an ArtworkInput, got {type(item).__name__}")
    contents, placed = {}, {}
    for index, key in plan.artwork_targets(artwork).items():
        so = plan.smart_objects[index]
        once = (key, _placed_size(so, factor))
        if once not in placed:
            placed[once] = place_for_level(so, artwork[key], factor)
        contents[index] = placed[once]
    return render_level(plan, contents, factor)


def render(plan: RenderPlan, artwork: dict[ArtworkKey, ArtworkInput], export: ExportOptions | None = None) -> bytes:
    """The mockup as image file bytes: what the render worker calls per job."""
    from compositor.export import encode_pixels, export_image, output_size  # noqa: PLC0415

    export = export or ExportOptions()
    size = output_size((plan.width, plan.height), export.image_size)  # validates image_size
    pixels = render_pixels(plan, artwork, export.image_size)
    if pixels.shape[2] == 4 and pixels[..., 3].min() == 255:
        pixels = pixels[..., :3]
    if pixels.shape[2] == 3 and (pixels.shape[1], pixels.shape[0]) == size:
        # Straight to the encoder: no float pass over the whole image.
        return encode_pixels(np.ascontiguousarray(pixels), format=export.format, quality=export.quality)
    if pixels.shape[2] == 3 and size[0] <= pixels.shape[1] and size[1] <= pixels.shape[0]:
        rgb = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)
        return encode_pixels(rgb, format=export.format, quality=export.quality)
    if pixels.shape[2] == 3:
        pixels = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
    rgba = pixels.astype(np.float32) / np.float32(255)
    return export_image(rgba, format=export.format, image_size=export.image_size, quality=export.quality,
                        background=export.background)
