"""Encode a render: float32 straight RGBA in, image file bytes out.

`export_image(rgba, format=..., image_size=..., quality=..., background=...)`:

    validate options -> resize to the requested width (premultiplied; area
    filter to shrink, bicubic to enlarge) -> flatten over the background
    (JPEG only) -> round to 8 bits -> encode with Pillow

PNG and WebP keep transparency; JPEG has none, so it is composited over
`background` (white by default). Every file is tagged with an sRGB ICC
profile, the colour space the compositor works in.

Pillow encodes JPEG from uint8 RGB in about 14 ms for 2000 x 2000 at quality
90, OpenCV in about 19 ms (it needs a BGR copy first; the bytes are identical,
both use libjpeg-turbo): Pillow it is, and it also writes DPI and ICC tags.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageCms

from compositor.errors import InvalidOption
from compositor.limits import MAX_OUTPUT_PIXELS, MAX_OUTPUT_WIDTH, MIN_OUTPUT_WIDTH
from compositor.placement import ColorOverlay, resize_premultiplied, unpremultiply_in_place
from compositor.smartobjects.warpmap import premultiplied

FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# zlib level for PNG: 3 is several times faster than Pillow's default 6 for a
# file a few percent larger.
PNG_COMPRESS_LEVEL = 3

SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def export_image(rgba: np.ndarray, *, format: str = "jpg", image_size: int | None = None,
                 quality: int = 90, background: str = "#FFFFFF", dpi: float | None = None) -> bytes:
    """Encode float32 straight RGBA (h, w, 4) in [0, 1].

    format: "jpg" (or "jpeg"), "png" or "webp".
    image_size: output width in pixels, 100..10000; the height follows the
        aspect ratio (rounded, at least 1). None keeps the render's size.
    quality: 1..100, JPEG and WebP quality (PNG is lossless and ignores it).
    background: hex colour JPEG is flattened over ("#RRGGBB" or "RRGGBB").
    dpi: written into the file's resolution tag when given (print files).
    """
    pillow_format = _check_format(format)
    quality = _check_quality(quality)
    background_rgb = _check_background(background)
    rgba = _check_pixels(rgba)
    size = output_size((rgba.shape[1], rgba.shape[0]), image_size)

    rgba = _resized(rgba, size)
    if pillow_format == "JPEG":
        pixels = to_uint8(_flatten(rgba, background_rgb))
    else:
        pixels = to_uint8(rgba)
        if pixels[..., 3].min() == 255:
            pixels = pixels[..., :3]  # opaque: no alpha channel, a smaller file
    return _encode(np.ascontiguousarray(pixels), pillow_format, quality, dpi)


def encode_pixels(pixels: np.ndarray, *, format: str = "jpg", quality: int = 90) -> bytes:
    """Encode 8-bit pixels that are already final: uint8 (h, w, 3) RGB, or
    (h, w, 4) RGBA for PNG and WebP. The render path's shortcut when its
    image needs no resize and no flattening (no float pass over the image)."""
    pillow_format = _check_format(format)
    quality = _check_quality(quality)
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 \
            or pixels.shape[2] not in (3, 4) or (pixels.shape[2] == 4 and pillow_format == "JPEG"):
        raise InvalidOption("pixels", f"must be uint8 (h, w, 3) RGB (or RGBA for png/webp), got "
                                      f"{getattr(pixels, 'dtype', type(pixels).__name__)} "
                                      f"{getattr(pixels, 'shape', '')}")
    return _encode(np.ascontiguousarray(pixels), pillow_format, quality, None)


def output_size(render_size: tuple[int, int], image_size: int | None) -> tuple[int, int]:
    """(w, h) of the exported file for a render of `render_size` and a requested width."""
    width, height = render_size
    if image_size is None:
        return width, height
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or not MIN_OUTPUT_WIDTH <= image_size <= MAX_OUTPUT_WIDTH:
        raise InvalidOption("image_size", f"must be a width in pixels from {MIN_OUTPUT_WIDTH} to "
                                          f"{MAX_OUTPUT_WIDTH}, got {image_size!r}")
    out_height = max(1, round(height * int(image_size) / width))
    if int(image_size) * out_height > MAX_OUTPUT_PIXELS:
        raise InvalidOption("image_size", f"{image_size}x{out_height} is more than {MAX_OUTPUT_PIXELS} pixels")
    return int(image_size), out_height


# --- steps ----------------------------------------------------------------------------


def _check_format(format) -> str:
    key = format.lower().lstrip(".") if isinstance(format, str) else None
    if key not in FORMATS:
        raise InvalidOption("format", f"must be one of jpg, png, webp; got {format!r}")
    return FORMATS[key]


def _check_quality(quality) -> int:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise InvalidOption("quality", f"must be an integer from 1 to 100, got {quality!r}")
    return int(quality)


def _check_background(background) -> np.ndarray:
    try:
        return ColorOverlay(background).rgb
    except InvalidOption:
        raise InvalidOption("background", f"must be a hex colour #RRGGBB or RRGGBB, got {background!r}") from None


def _check_pixels(rgba) -> np.ndarray:
    if not isinstance(rgba, np.ndarray) or rgba.ndim != 3 or rgba.shape[2] != 4 \
            or rgba.shape[0] < 1 or rgba.shape[1] < 1:
        raise InvalidOption("rgba", f"must be a float32 (h, w, 4) array, got "
                                    f"{getattr(rgba, 'shape', type(rgba).__name__)}")
    if rgba.shape[0] * rgba.shape[1] > MAX_OUTPUT_PIXELS:
        raise InvalidOption("rgba", f"{rgba.shape[1]}x{rgba.shape[0]} is more than {MAX_OUTPUT_PIXELS} pixels")
    return rgba


def _resized(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgba.shape[1], rgba.shape[0]) == size:
        return rgba
    return unpremultiply_in_place(resize_premultiplied(premultiplied(rgba), size))


def _flatten(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Straight RGBA over an opaque colour -> RGB (float32)."""
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha + background * (np.float32(1) - alpha)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8, rounded to nearest."""
    scaled = np.multiply(values, np.float32(255), dtype=np.float32)
    scaled += np.float32(0.5)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def _encode(pixels: np.ndarray, pillow_format: str, quality: int, dpi: float | None) -> bytes:
    image = Image.fromarray(pixels)
    options = {"icc_profile": SRGB_PROFILE}
    if dpi is not None:
        if not (isinstance(dpi, (int, float)) and math.isfinite(dpi) and dpi > 0):
            raise InvalidOption("dpi", f"must be a positive number, got {dpi!r}")
        options["dpi"] = (float(dpi), float(dpi))
    if pillow_format == "JPEG":
        options.update(quality=quality, optimize=False)
    elif pillow_format == "WEBP":
        options.update(quality=quality, method=4)
    else:
        options.update(compress_level=PNG_COMPRESS_LEVEL)
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format, **options)
    return buffer.getvalue()
