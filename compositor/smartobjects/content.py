"""Decode a smart object's embedded content to float32 straight RGBA in [0, 1]."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .errors import SmartObjectError

# Embedded file types we can rasterise: Photoshop documents and raster images.
PSD_FILETYPES = {"8bps", "8bpb"}
RASTER_FILETYPES = {"png", "jpeg", "jpg", "tiff", "tif", "gif", "bmp", "webp"}


def is_raster_file(filetype) -> bool:
    """Whether a smart object's embedded file type is an image file (PNG, JPEG...)."""
    if isinstance(filetype, bytes):
        filetype = filetype.decode("latin-1")
    return (filetype or "").strip().lower() in RASTER_FILETYPES


def pil_to_rgba(image: Image.Image) -> np.ndarray:
    """PIL image of any mode and depth -> float32 straight RGBA (h, w, 4)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: PIL's RGBA conversion would clip, scale by hand.
        grey = np.asarray(image, dtype=np.float32)
        grey /= 65535.0 if image.mode.startswith("I;16") or grey.max() > 255 else 255.0
        alpha = np.ones_like(grey)
        return np.ascontiguousarray(np.dstack([grey, grey, grey, alpha]))
    if image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
        return np.ascontiguousarray(np.dstack([grey, grey, grey, np.ones_like(grey)]))
    if image.mode == "CMYK":
        image = _cmyk_to_rgb(image)
    if image.mode == "LAB":  # PIL's own RGBA conversion of Lab is meaningless
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        image = ImageCms.applyTransform(image, transform)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(rgba)


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK -> sRGB through the embedded ICC profile when there is one."""
    converted = convert_profile(image, image.info.get("icc_profile"), None, "RGB")
    return converted if converted is not None else image.convert("RGB")


def convert_profile(image: Image.Image, source_icc, target_icc, output_mode=None):
    """Colour-convert `image` from one ICC profile to another (None = sRGB).

    Returns None when there is nothing to do or a profile is unusable. Photoshop
    converts tagged placed content into the document's profile (relative
    colorimetric with black point compensation, its default); untagged content
    is taken as already in the document's space.
    """
    if not source_icc or (target_icc and source_icc == target_icc):
        return None
    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(source_icc))
        dst = ImageCms.ImageCmsProfile(io.BytesIO(target_icc)) if target_icc else ImageCms.createProfile("sRGB")
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        base = image.convert("RGB") if image.mode in ("RGBA", "P") else image.convert("L") if image.mode == "LA" else image
        mode = output_mode or ("RGB" if base.mode in ("RGB", "CMYK") else base.mode)
        out = ImageCms.profileToProfile(
            base, src, dst, outputMode=mode,
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
    except Exception:  # broken or mismatched profile: keep the raw values
        return None
    if alpha is not None:
        out = out.convert("RGBA")
        out.putalpha(alpha)
    return out


def decode_content(filetype: str, data: bytes, target_icc: bytes | None = None) -> np.ndarray:
    """Embedded file bytes -> float32 straight RGBA in the document's colour space.

    target_icc: the host document's ICC profile (None: sRGB). Raises SmartObjectError.
    """
    filetype = (filetype or "").strip().lower()
    if filetype in PSD_FILETYPES:
        return _decode_psd(data, target_icc)
    if filetype in RASTER_FILETYPES:
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as exc:
            raise SmartObjectError(f"embedded {filetype} content cannot be decoded: {exc}") from exc
        if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
            converted = convert_profile(image, image.info.get("icc_profile"), target_icc)
            image = converted if converted is not None else image
        return pil_to_rgba(image)
    raise SmartObjectError(f"embedded {filetype or 'unknown'} content is not supported")


def _decode_psd(data: bytes, target_icc: bytes | None = None) -> np.ndarray:
    from psd_tools import PSDImage
    from psd_tools.constants import Resource

    try:
        document = PSDImage.open(io.BytesIO(data))
    except Exception as exc:
        raise SmartObjectError(f"embedded PSD/PSB content cannot be read: {exc}") from exc
    image = document.topil(apply_icc=False) if _merged_image_is_valid(document) else None
    if image is None:
        # No trustworthy merged image: render the embedded layers instead.
        image = document.composite(ignore_preview=True, apply_icc=False)
    if image is None:
        raise SmartObjectError("embedded PSD/PSB content has no pixels")
    resources = document.image_resources
    source_icc = resources.get_data(Resource.ICC_PROFILE) if resources else None
    if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        converted = convert_profile(image, source_icc, target_icc)
        if converted is not None:
            image = converted
    return pil_to_rgba(image)


def _merged_image_is_valid(document) -> bool:
    """Whether the embedded document's merged image is what Photoshop rendered.

    Photoshop writes the merged image only with "maximize compatibility" and
    says so in its version-info resource; files without that resource (other
    writers) may hold a blank merged image next to real layers.
    """
    from psd_tools.constants import Resource

    if not document.has_preview():
        return False
    info = document.image_resources.get_data(Resource.VERSION_INFO) if document.image_resources else None
    if info is not None:
        return bool(info.has_composite)
    return len(document) == 0  # no layers: the merged image is all there is
