"""Load users' artwork: image bytes in, float32 straight RGBA out.

`load_artwork(data, target_size=..., max_pixels=...)` is a pipeline of small
steps on a Pillow image, each cheap before the next:

    open (header only) -> refuse too many pixels -> decode, reduced when the
    artwork is far larger than where it lands -> convert the embedded ICC
    profile to sRGB -> apply the EXIF orientation -> float32 RGBA

Accepted formats are PNG, JPEG, WebP and GIF (first frame). 16-bit grey PNGs
keep their precision; 16-bit colour PNGs are read at 8 bits a channel (as
Pillow reads them), which is what every export format holds. Anything else,
truncated or corrupt data, a broken ICC profile or more pixels than the limit
raises `InvalidArtwork` with a message that says which.

Shrink on load. Artwork is often a 6000-px print file landing in a 1500-px
content box. When `target_size` (the size the placement needs, see
`placement.required_artwork_size`) allows, JPEG is decoded at 1/2, 1/4 or 1/8
scale by libjpeg's DCT scaling (`Image.draft`), which is several times faster
than a full decode; other formats (Pillow has no reduced decode for PNG, WebP or
GIF) are decoded fully and box-averaged by an integer factor (`Image.reduce`,
premultiplied for alpha). Either way the result keeps both sides at or above the
target, so the placement itself still resamples from more pixels than it needs.

Decoded artwork is cached per process (keyed by the bytes' SHA-256, the target
and the limit) up to `limits.ARTWORK_CACHE_BYTES`, so a worker rendering one
design onto many templates decodes it once. Cached arrays are read-only:
copy before changing one.
"""
from __future__ import annotations

import hashlib
import io
import math
import struct
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from compositor.errors import InvalidArtwork, InvalidOption
from compositor.limits import ARTWORK_CACHE_BYTES, MAX_ARTWORK_PIXELS

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")

# EXIF orientation -> the transposition that shows the image upright (the
# values are the TIFF/EXIF standard's; 1 means upright already).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Orientations whose stored pixels are the upright image turned on its side.
_SIDEWAYS = {5, 6, 7, 8}

# Photoshop's default conversion (Color Settings, "General Purpose"):
# relative colorimetric with black point compensation.
_INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
_FLAGS = ImageCms.Flags.BLACKPOINTCOMPENSATION
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

# ICC colour-space signatures the image modes can carry.
_PROFILE_SPACE = {"RGB": "RGB", "RGBA": "RGB", "L": "GRAY", "LA": "GRAY", "CMYK": "CMYK"}


@dataclass(frozen=True)
class Artwork:
    """Decoded artwork: `rgba` is float32 straight RGBA (h, w, 4) in [0, 1],
    upright and in sRGB, read-only (it may be shared through the cache)."""

    rgba: np.ndarray
    format: str  # "PNG", "JPEG", "WEBP" or "GIF"
    original_size: tuple[int, int]  # (w, h) at full resolution, upright
    reduced_by: int  # the decode's shrink factor on each side (1: full size)
    source_profile: str | None  # description of the ICC profile converted from

    @property
    def size(self) -> tuple[int, int]:
        """(w, h) of `rgba`."""
        return self.rgba.shape[1], self.rgba.shape[0]


def load_artwork(data: bytes, *, target_size: tuple[int, int] | None = None,
                 max_pixels: int = MAX_ARTWORK_PIXELS) -> Artwork:
    """Decode artwork bytes (see the module docstring).

    target_size: (w, h) the artwork must keep at least; the decode is reduced
    only while both sides stay at or above it. None decodes at full size.
    max_pixels: artwork whose header claims more pixels is refused unread.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise InvalidArtwork("artwork: expected the bytes of a PNG, JPEG, WebP or GIF file")
    data = bytes(data)
    target = _check_target(target_size)
    if not isinstance(max_pixels, int) or max_pixels < 1:
        raise InvalidOption("max_pixels", f"must be a positive integer, got {max_pixels!r}")
    key = (hashlib.sha256(data).digest(), target, max_pixels)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    artwork = _decode(data, target, max_pixels)
    _cache.put(key, artwork)
    return artwork


def clear_artwork_cache() -> None:
    """Forget every decoded artwork (tests, or a worker told to free memory)."""
    _cache.clear()


# --- the decode pipeline ------------------------------------------------------


def _decode(data: bytes, target, max_pixels: int) -> Artwork:
    image = _open(data, max_pixels)
    full_size = image.size  # as stored
    # Cameras' multi-picture JPEGs (MPO) are JPEGs: Pillow reads the first picture.
    fmt = "JPEG" if image.format == "MPO" else image.format

    if fmt == "JPEG" and target:
        # JPEG's EXIF comes before the pixels, so the orientation is known
        # before decoding: DCT scaling by 1/2, 1/4 or 1/8, never below the target.
        image.draft(None, _stored(target, _exif_orientation(image)))
    _load(image)
    orientation = _exif_orientation(image)  # PNG and WebP may keep EXIF after the pixels
    image = _plain_mode(image)
    image = _reduce(image, _stored(target, orientation))
    reduced_by = max(1, round(full_size[0] / image.size[0]))
    image, profile = _to_srgb(image)
    if orientation in _UPRIGHT:
        image = image.transpose(_UPRIGHT[orientation])
    rgba = _to_float_rgba(image)
    rgba.setflags(write=False)
    upright_size = full_size[::-1] if orientation in _SIDEWAYS else full_size
    return Artwork(rgba, fmt, tuple(upright_size), reduced_by, profile)


def _stored(target, orientation: int):
    """A target size for the upright image, as a size in the stored pixels."""
    return target[::-1] if target and orientation in _SIDEWAYS else target


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only, and refuse what we will not decode."""
    try:
        with warnings.catch_warnings():
            # We check the pixel count ourselves, against our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise InvalidArtwork(f"artwork: refused before decoding, more pixels than the limit "
                             f"of {max_pixels} ({exc})") from None
    except UnidentifiedImageError:
        raise InvalidArtwork("artwork: not a PNG, JPEG, WebP or GIF image") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InvalidArtwork(f"artwork: unreadable header ({exc})") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidArtwork(f"artwork: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise InvalidArtwork(f"artwork: {width}x{height} is {width * height} pixels, more than the "
                             f"limit of {max_pixels} (max_pixels); refused before decoding")
    return image


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (OSError, SyntaxError, ValueError, TypeError, struct.error):
        return 1  # unreadable EXIF: show the pixels as stored, as browsers do


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise InvalidArtwork(f"artwork: truncated or corrupt {image.format} data ({exc})") from None


def _plain_mode(image: Image.Image) -> Image.Image:
    """Bring the rarer modes to the few the next steps handle:
    RGB, RGBA, L, LA, CMYK (8 bits a channel) and I (16-bit grey)."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK", "I"):
        return image
    if mode.startswith("I;16"):
        return image.convert("I")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode == "La":
        return image.convert("LA")
    if mode == "RGBa":
        return image.convert("RGBA")
    return image.convert("RGBA")


def _reduce(image: Image.Image, target) -> Image.Image:
    """Box-average by the largest integer factor that keeps both sides >= target."""
    if not target:
        return image
    factor = min(image.size[0] // target[0], image.size[1] // target[1])
    if factor < 2:
        return image
    return image.reduce(factor)  # premultiplies RGBA/LA itself


def _to_srgb(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Convert through the embedded ICC profile to sRGB; untagged RGB is taken
    as sRGB, untagged CMYK is converted with Pillow's naive formula."""
    profile_bytes = image.info.get("icc_profile")
    if not profile_bytes:
        return (image.convert("RGB"), None) if image.mode == "CMYK" else (image, None)
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(profile_bytes))
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError) as exc:
        raise InvalidArtwork(f"artwork: embedded ICC profile cannot be read ({exc})") from None
    space = profile.profile.xcolor_space.strip()
    if _PROFILE_SPACE.get(image.mode) != space:
        # A profile for another colour space (e.g. an RGB profile on a grey
        # PNG) does not describe these pixels: Photoshop ignores it too.
        return (image.convert("RGB"), None) if image.mode == "CMYK" else (image, None)
    description = (ImageCms.getProfileDescription(profile) or "").strip() or "unnamed profile"
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    colour = image.convert({"RGBA": "RGB", "LA": "L"}.get(image.mode, image.mode))
    try:
        converted = ImageCms.profileToProfile(colour, profile, _SRGB, renderingIntent=_INTENT,
                                              outputMode="RGB", flags=_FLAGS)
    except ImageCms.PyCMSError as exc:
        raise InvalidArtwork(f"artwork: cannot convert from the embedded ICC profile "
                             f"{description!r} ({exc})") from None
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, description


def _to_float_rgba(image: Image.Image) -> np.ndarray:
    """RGB, RGBA, L, LA (8-bit) or I (16-bit grey) -> float32 (h, w, 4) in [0, 1]."""
    width, height = image.size
    rgba = np.empty((height, width, 4), np.float32)
    if image.mode == "I":
        grey = np.asarray(image, np.float32) * np.float32(1 / 65535)
        rgba[..., :3] = np.clip(grey, 0, 1)[..., None]
        rgba[..., 3] = 1
        return rgba
    pixels = np.asarray(image, np.uint8)
    scale = np.float32(1 / 255)
    if image.mode == "RGBA":
        np.multiply(pixels, scale, out=rgba)
    elif image.mode == "RGB":
        np.multiply(pixels, scale, out=rgba[..., :3])
        rgba[..., 3] = 1
    elif image.mode == "LA":
        np.multiply(pixels[..., :1], scale, out=rgba[..., :1])
        rgba[..., 1:3] = rgba[..., :1]
        np.multiply(pixels[..., 1], scale, out=rgba[..., 3])
    elif image.mode == "L":
        np.multiply(pixels[..., None], scale, out=rgba[..., :1])
        rgba[..., 1:3] = rgba[..., :1]
        rgba[..., 3] = 1
    else:  # pragma: no cover - _plain_mode leaves no other mode
        raise InvalidArtwork(f"artwork: unexpected image mode {image.mode}")
    return rgba


def _check_target(target_size):
    if target_size is None:
        return None
    try:
        width, height = (math.ceil(float(v)) for v in target_size)
    except (TypeError, ValueError):
        raise InvalidOption("target_size", f"must be (width, height), got {target_size!r}") from None
    if width < 1 or height < 1:
        raise InvalidOption("target_size", f"must be positive, got {target_size!r}")
    return width, height


# --- the per-process cache ---------------------------------------------------------


class _ArtworkCache:
    """Least-recently-used artwork, bounded by the bytes of the decoded pixels."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            artwork = self._entries.get(key)
            if artwork is not None:
                self._entries.move_to_end(key)
            return artwork

    def put(self, key, artwork: Artwork) -> None:
        size = artwork.rgba.nbytes
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = artwork
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.rgba.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def total_bytes(self) -> int:
        return self._bytes


_cache = _ArtworkCache(ARTWORK_CACHE_BYTES)
