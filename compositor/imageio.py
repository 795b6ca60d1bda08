"""Decoding users' artwork and encoding renders, with Pillow.

Inside the compositor pixels are float32 in [0, 1], straight (non-premultiplied)
RGBA; these functions are the only way in and out.
"""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Artwork larger than this is refused before it is decoded (decompression bombs).
DEFAULT_MAX_PIXELS = 100_000_000


class ImageDecodeError(ValueError):
    """The bytes are not an image we can use; the message says why."""


def decode_rgba(source: bytes | str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file (PNG, JPEG, WebP, TIFF...) as float32 straight RGBA (H, W, 4).

    The EXIF orientation is applied, palette and grayscale images are expanded,
    16-bit images keep their precision.
    """
    label = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except OSError as exc:
        raise ImageDecodeError(f"{label}: cannot open ({exc.strerror or exc})") from None
    with handle:
        try:
            image = Image.open(handle)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(f"{label}: {width}x{height} pixels is more than the "
                                       f"limit of {max_pixels}")
            image.load()
        except ImageDecodeError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                Image.DecompressionBombError) as exc:
            raise ImageDecodeError(f"{label}: not a readable image ({exc})") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: keep the precision, no alpha.
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        rgba = np.empty(gray.shape + (4,), np.float32)
        rgba[..., :3] = gray[..., None]
        rgba[..., 3] = 1.0
        return rgba
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded (not truncated)."""
    return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_image(image: Image.Image, format: str = "PNG", **options) -> bytes:
    """A PIL image as file bytes (PNG keeps alpha; JPEG is flattened over white)."""
    format = format.upper()
    if format in ("JPEG", "JPG"):
        format = "JPEG"
        if image.mode in ("RGBA", "LA", "P"):
            background = Image.new("RGB", image.size, (255, 255, 255))
            rgba = image.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        elif image.mode != "RGB":
            image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def format_for_path(path: str | os.PathLike) -> str:
    """The image format a file name asks for (PNG when unknown)."""
    suffix = os.path.splitext(str(path))[1].lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
            ".tiff": "TIFF"}.get(suffix, "PNG")
