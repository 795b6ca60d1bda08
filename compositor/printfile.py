"""Print files: the artwork exactly as it lands in a smart object's content,
unwarped, at the resolution a printer asks for.

`make_print_file(artwork, content_size, options, content_dpi=..., dpi=...)`:

    size     the content's physical size is content pixels / content_dpi
             inches; at `dpi` that is content pixels * dpi / content_dpi
    place    `place_artwork` at that size, with every length in the options
             scaled by the same factor (so the artwork is resampled once, from
             the decoded artwork, never from a smaller render); the colour
             overlay is left out unless `include_color` (it tints the mockup,
             not the product)
    encode   PNG with alpha and the dpi in its pHYs chunk, or a one-page PDF

The PDF is written here rather than with Pillow, whose PDF writer stores RGB
as JPEG (lossy) and RGBA as JPEG 2000: ours holds the pixels losslessly
(Flate), tagged sRGB through an ICC-based colour space, with transparency
kept as a soft mask (PDF 1.4), and a page of exactly the print's size in
points (72 a inch).
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from compositor.errors import InvalidOption
from compositor.export import SRGB_PROFILE, to_uint8, export_image
from compositor.limits import MAX_CONTENT_PIXELS, MAX_CONTENT_SIDE, MAX_PRINT_DPI, MIN_PRINT_DPI
from compositor.placement import PlacementOptions, place_artwork, scaled_options, without_color

PRINT_FORMATS = ("png", "pdf")
POINTS_PER_INCH = 72


def print_size(content_size, content_dpi: float, dpi: float) -> tuple[int, int]:
    """(w, h) in pixels of a print file of the content at `dpi`."""
    content_dpi = _check_dpi("content_dpi", content_dpi, 1, 30000)
    dpi = _check_dpi("dpi", dpi, MIN_PRINT_DPI, MAX_PRINT_DPI)
    width, height = (max(1, round(v * dpi / content_dpi)) for v in content_size)
    if max(width, height) > MAX_CONTENT_SIDE or width * height > MAX_CONTENT_PIXELS:
        raise InvalidOption("dpi", f"{dpi:g} dpi makes a {width}x{height} print file, over the limit of "
                                   f"{MAX_CONTENT_SIDE} a side and {MAX_CONTENT_PIXELS} pixels")
    return width, height


def make_print_file(artwork, content_size, options: PlacementOptions | None = None, *,
                    content_dpi: float, dpi: float, format: str = "png",
                    include_color: bool = False) -> bytes:
    """PNG or PDF bytes of the placed artwork at `dpi` (see the module docstring).

    content_size: (w, h) of the smart object's content in pixels; content_dpi:
    its resolution (the embedded document's, e.g. 300), 1..30000; dpi: the
    requested print resolution, 1..2400; format: "png" or "pdf".
    """
    if not isinstance(format, str) or format.lower() not in PRINT_FORMATS:
        raise InvalidOption("format", f"must be png or pdf for a print file, got {format!r}")
    if not isinstance(include_color, bool):
        raise InvalidOption("include_color", f"must be true or false, got {include_color!r}")
    options = options or PlacementOptions()
    if not include_color:
        if artwork is None:
            raise InvalidOption("artwork", "a print file without the colour needs artwork")
        options = without_color(options)
    size = print_size(content_size, content_dpi, dpi)
    factor = size[0] / int(content_size[0])
    try:
        options = scaled_options(options, factor)
    except InvalidOption as exc:
        raise InvalidOption("dpi", f"at {dpi:g} dpi the placement's {exc}") from None
    rgba = place_artwork(artwork, size, options)
    if format.lower() == "png":
        return export_image(rgba, format="png", dpi=float(dpi))
    return encode_pdf(rgba, float(dpi))


def _check_dpi(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise InvalidOption(name, f"must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


# --- a one-image PDF ---------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _stream(dictionary: str, data: bytes) -> bytes:
    return f"<< {dictionary} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def encode_pdf(rgba: np.ndarray, dpi: float) -> bytes:
    """float32 straight RGBA (h, w, 4) -> a one-page PDF of w/dpi x h/dpi inches.

    Colour is sRGB (ICCBased), 8 bits, Flate-compressed; alpha, unless fully
    opaque, is the image's soft mask, so the page shows through where the
    artwork is transparent (white on paper)."""
    height, width = rgba.shape[:2]
    pixels = to_uint8(rgba)
    page_w, page_h = (_number(v * POINTS_PER_INCH / dpi) for v in (width, height))

    # Objects in order: 1 catalog, 2 pages, 3 page, 4 content, 5 ICC profile, 6 image, 7 soft mask.
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w} {page_h}] "
        f"/Resources << /XObject << /Im0 6 0 R >> >> /Contents 4 0 R >>".encode(),
        _stream("", f"q {page_w} 0 0 {page_h} 0 0 cm /Im0 Do Q".encode()),
        _stream("/N 3 /Filter /FlateDecode", zlib.compress(SRGB_PROFILE)),
    ]
    opaque = bool(pixels[..., 3].min() == 255)
    image_dict = (f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                  f"/ColorSpace [/ICCBased 5 0 R] /BitsPerComponent 8 /Filter /FlateDecode")
    if not opaque:
        image_dict += " /SMask 7 0 R"
    objects.append(_stream(image_dict, zlib.compress(np.ascontiguousarray(pixels[..., :3]).tobytes(), 6)))
    if not opaque:
        mask_dict = (f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                     f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode")
        objects.append(_stream(mask_dict, zlib.compress(np.ascontiguousarray(pixels[..., 3]).tobytes(), 6)))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
