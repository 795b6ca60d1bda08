"""Decode a smart object's embedded content to float32 straight RGBA in [0, 1]."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .errors import SmartObjectError

# Embedded file types we can rasterise: Photoshop documents and raster images.
PSD_FILETYPES = {"8bps", "8bpb"}
RASTER_FILETYPES = {"png", "jpeg", "jpg", "tiff", "tif", "gif", "bmp", "webp"}


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
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(rgba)


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK -> sRGB through the embedded ICC profile when there is one."""
    profile = image.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
        except Exception:  # a broken profile: fall back to the naive formula
            pass
    return image.convert("RGB")


def decode_content(filetype: str, data: bytes) -> np.ndarray:
    """Embedded file bytes -> float32 straight RGBA. Raises SmartObjectError."""
    filetype = (filetype or "").strip().lower()
    if filetype in PSD_FILETYPES:
        return _decode_psd(data)
    if filetype in RASTER_FILETYPES:
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as exc:
            raise SmartObjectError(f"embedded {filetype} content cannot be decoded: {exc}") from exc
        return pil_to_rgba(image)
    raise SmartObjectError(f"embedded {filetype or 'unknown'} content is not supported")


def _decode_psd(data: bytes) -> np.ndarray:
    from psd_tools import PSDImage

    try:
        document = PSDImage.open(io.BytesIO(data))
    except Exception as exc:
        raise SmartObjectError(f"embedded PSD/PSB content cannot be read: {exc}") from exc
    # Photoshop's own merged image is what it rendered the smart object from;
    # only documents saved without "maximize compatibility" lack it.
    if document.has_preview():
        image = document.topil(apply_icc=True)
    else:
        image = document.composite(apply_icc=True)
    if image is None:
        raise SmartObjectError("embedded PSD/PSB content has no pixels")
    rgba = pil_to_rgba(image)
    if image.mode in ("RGB", "L", "CMYK", "I;16", "I") and _has_transparency(document):
        # The merged image of a document with transparent areas carries its
        # alpha as the first extra channel; psd-tools keeps it in numpy().
        alpha = document.numpy(channel="alpha") if hasattr(document, "numpy") else None
        if alpha is not None and alpha.shape[:2] == rgba.shape[:2]:
            rgba[..., 3] = np.asarray(alpha, dtype=np.float32).reshape(rgba.shape[:2])
    return rgba


def _has_transparency(document) -> bool:
    try:
        return bool(document.has_transparency()) if hasattr(document, "has_transparency") else False
    except Exception:
        return False
