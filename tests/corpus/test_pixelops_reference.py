"""Blend modes, adjustments and effects against Photoshop's own pixels.

Each test rebuilds a small flat stack -- the backdrop from layers' cached
pixels, then the layer under test through our functions -- and compares the
result with the merged composite Photoshop saved in the file, inside the
region the layer affects. The bounds are what we measured, with a little
headroom; errors are in 8-bit levels (1 = 1/255).

The corpus is located through MOCKFARM_CORPUS (default: ../shared/corpus next
to the repository); every test here is skipped when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from compositor.blend import FROM_PSD_TOOLS, composite

psd_tools = pytest.importorskip("psd_tools")
PSDImage = psd_tools.PSDImage

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MOCKFARM_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}"),
]


def open_psd(relative_path: str) -> PSDImage:
    path = CORPUS / relative_path
    if not path.is_file():
        pytest.skip(f"{relative_path} not in the corpus")
    return PSDImage.open(path)


# --- a flat stack -----------------------------------------------------------------


def photoshop_composite(psd: PSDImage) -> tuple[np.ndarray, np.ndarray]:
    """Photoshop's merged image as (colour, alpha) float32; opaque if no alpha."""
    merged = psd.numpy().astype(np.float32)
    channels = 1 if psd.color_mode == 1 else 3
    colour = merged[..., :channels]
    if merged.shape[-1] > channels:
        return colour, merged[..., channels : channels + 1]
    return colour, np.ones_like(merged[..., :1])


def layer_on_canvas(layer, canvas_size, channels=3) -> np.ndarray:
    """The layer's cached pixels (colour + alpha) placed on a transparent canvas."""
    width, height = canvas_size
    pixels = layer.numpy().astype(np.float32)
    if pixels.shape[-1] == channels:
        pixels = np.concatenate([pixels, np.ones_like(pixels[..., :1])], axis=-1)
    canvas = np.zeros((height, width, channels + 1), np.float32)
    left, top, right, bottom = layer.bbox
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(right, width), min(bottom, height)
    canvas[y0:y1, x0:x1] = pixels[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas


def flat_stack(psd: PSDImage, layers, channels=3):
    """Composite `layers` bottom to top with our blend modes and opacity."""
    width, height = psd.size
    colour = np.zeros((height, width, channels), np.float32)
    alpha = np.zeros((height, width, 1), np.float32)
    for layer in layers:
        pixels = layer_on_canvas(layer, psd.size, channels)
        opacity = layer.opacity / 255
        colour, alpha = composite(
            FROM_PSD_TOOLS[layer.blend_mode],
            colour,
            alpha,
            pixels[..., :channels],
            pixels[..., channels:] * opacity,
        )
    return colour, alpha


def error_levels(ours: np.ndarray, reference: np.ndarray, box=None) -> np.ndarray:
    """Absolute error in 8-bit levels inside box (left, top, right, bottom)."""
    if box is not None:
        left, top, right, bottom = box
        ours = ours[top:bottom, left:right]
        reference = reference[top:bottom, left:right]
    return np.abs(ours - reference) * 255


# --- blend modes --------------------------------------------------------------------

BLEND_DIR = "psd-tools+psd-tools/tests/psd_files/blend-modes"

# Every mode over a photo (a rubber duck) and a rainbow, both ways round, in
# one group per mode: [backdrop, layer in the mode]. Mean and 99th percentile
# error in 8-bit levels. The discontinuous modes flip on a handful of pixels
# where 8-bit rounding decides the branch, so their maximum is not bounded;
# their 99th percentile is.
RGB_MODE_BOUNDS = {
    # mode group name: (mean, p99) measured as max over both artboards + headroom
    "Normal": (0.2, 1.5),
    "Multiply": (0.2, 1.5),
    "Screen": (0.2, 1.5),
    "Overlay": (0.25, 2.5),
    "Darken": (0.15, 1.5),
    "Lighten": (0.15, 1.5),
    "ColorDodge": (0.25, 2.0),
    "ColorBurn": (0.2, 2.0),
    "HardLight": (0.35, 2.5),
    "SoftLight": (0.25, 2.5),
    "Difference": (0.2, 1.5),
    "Exclusion": (0.25, 2.0),
    "Hue": (0.6, 3.0),
    "Saturation": (0.6, 2.5),
    "Color": (0.6, 3.0),
    "Luminosity": (0.6, 3.0),
    "Subtract": (0.15, 1.5),
    "LinearDodge": (0.15, 1.5),
    "LinearBurn": (0.15, 1.5),
    "VividLight": (0.25, 3.0),
    "LinearLight": (0.4, 3.5),
    "PinLight": (0.2, 2.5),
    "HardMix": (0.25, 1.5),
    "Divide": (0.25, 2.0),
    "DarkerColor": (0.35, 1.5),
    "LigherColor": (0.35, 1.5),  # sic: the group's name in the file
}


def _mode_groups(psd):
    for artboard in psd:
        for group in artboard:
            yield artboard.name, group


@pytest.fixture(scope="module")
def rgb_blend_modes():
    psd = open_psd(f"{BLEND_DIR}/rgb-blend-modes.psd")
    return psd, photoshop_composite(psd)[0]


@pytest.mark.parametrize("group_name", sorted(RGB_MODE_BOUNDS))
def test_blend_mode_matches_photoshop(rgb_blend_modes, group_name):
    psd, reference = rgb_blend_modes
    mean_bound, p99_bound = RGB_MODE_BOUNDS[group_name]
    groups = [(art, g) for art, g in _mode_groups(psd) if g.name == group_name]
    assert len(groups) == 2, "one group per artboard"
    for artboard_name, group in groups:
        colour, _ = flat_stack(psd, list(group))
        # The groups overlap their neighbours by one pixel: stay inside.
        left, top, right, bottom = group.bbox
        errors = error_levels(colour, reference, (left + 1, top + 1, right - 1, bottom - 1))
        assert errors.mean() <= mean_bound, artboard_name
        assert np.percentile(errors, 99) <= p99_bound, artboard_name


def test_dissolve_shows_the_layer_in_proportion_to_its_alpha(rgb_blend_modes):
    # Photoshop's noise pattern is its own; compare how much of the source
    # shows, not where. Source: the rainbow (opaque) over the duck.
    psd, reference = rgb_blend_modes
    for artboard_name, group in _mode_groups(psd):
        if group.name != "Dissolve":
            continue
        colour, _ = flat_stack(psd, list(group))
        left, top, right, bottom = group.bbox
        errors = error_levels(colour, reference, (left + 1, top + 1, right - 1, bottom - 1))
        assert errors.mean() <= 3.0, artboard_name


# Three overlapping ellipses at 50 % opacity over transparency, one file per
# mode: exercises the alpha terms of the compositing equation.
ELLIPSE_FILES = sorted(
    name
    for name in (
        "color-burn color-dodge color darken darker-color difference divide "
        "exclusion hard-light hard-mix hue lighten lighter-color linear-burn "
        "linear-dodge linear-light luminosity multiply normal overlay pin-light "
        "saturation screen soft-light subtract vivid-light"
    ).split()
)


@pytest.mark.parametrize("name", ELLIPSE_FILES)
def test_half_opaque_layers_over_transparency_match_photoshop(name):
    psd = open_psd(f"{BLEND_DIR}/{name}.psd")
    reference_colour, reference_alpha = photoshop_composite(psd)
    colour, alpha = flat_stack(psd, [layer for layer in psd.descendants()])
    # Premultiplied: colour under zero alpha is meaningless.
    colour_errors = error_levels(colour * alpha, reference_colour * reference_alpha)
    alpha_errors = error_levels(alpha, reference_alpha)
    # Measured: max 1.5 levels (2.4 for Color), mean <= 0.3, alpha max 0.71.
    assert colour_errors.max() <= 3.0
    assert colour_errors.mean() <= 0.4
    assert alpha_errors.max() <= 1.0


# --- adjustments -------------------------------------------------------------------------

ADJUSTMENT_DIR = "psd-tools+psd-tools/tests/psd_files/adjustments"


def mask_on_canvas(layer, canvas_size) -> np.ndarray:
    """The layer's raster mask (1 where there is none) as (H, W, 1) in [0, 1]."""
    width, height = canvas_size
    mask = np.ones((height, width, 1), np.float32)
    if not layer.has_mask():
        return mask
    mask[:] = layer.mask.background_color / 255
    left, top, right, bottom = layer.mask.bbox
    if right > left and bottom > top:
        values = np.asarray(layer.mask.topil(), np.float32) / 255
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(right, width), min(bottom, height)
        mask[y0:y1, x0:x1, 0] = values[y0 - top : y1 - top, x0 - left : x1 - left]
    return mask


def adjusted_strips(relative_path):
    """These files hold a photo and colour swatches, then adjustment layers
    whose masks cover vertical strips. Returns our render, Photoshop's, and
    per adjustment layer (its name, the pixels only it covers)."""
    from compositor.adjustments import read_adjustment

    psd = open_psd(relative_path)
    reference, _ = photoshop_composite(psd)
    pixel_layers = [
        layer for layer in psd.descendants()
        if layer.kind == "pixel" and layer.visible and layer.bbox != (0, 0, 0, 0)
    ]
    colour, alpha = flat_stack(psd, pixel_layers)
    coverage = []
    for layer in psd.descendants():
        if layer in pixel_layers or layer.is_group() or not layer.visible:
            continue
        try:
            adjustment = read_adjustment(layer)
        except ValueError:  # an empty pixel layer (the files keep a few)
            continue
        mask = mask_on_canvas(layer, psd.size) * (layer.opacity / 255)
        colour, alpha = adjustment.composite(FROM_PSD_TOOLS[layer.blend_mode], colour, alpha, mask)
        coverage.append((layer.name, mask[..., 0] > 0))
    regions = []
    for name, covered in coverage:
        only_this = covered.copy()
        for other_name, other in coverage:
            if other_name != name:
                only_this &= ~other
        regions.append((name, only_this))
    return colour, reference, regions


# file -> {layer name: (mean, p99)} in levels; measured + headroom.
ADJUSTMENT_BOUNDS = {
    "brightnesscontrast_legacy_rgb.psd": {"Brightness/Contrast 1": (0.3, 1.0)},
    "curves_rgb.psd": {f"Curves {i}": (0.5, 1.5) for i in range(1, 5)},
    "exposure_rgb.psd": {f"Exposure {i}": (0.4, 1.0) for i in range(1, 5)},
    "levels_rgb.psd": {"Levels 1": (0.5, 1.5), "Levels 2": (0.6, 2.0),
                       "Levels 3": (0.6, 2.0), "Levels 4": (0.5, 5.0)},
    "invert_rgb.psd": {"Invert 1": (0.1, 0.5)},
    "posterize_rgb.psd": {f"Posterize {i}": (0.5, 1.0) for i in range(1, 5)},
    "threshold_rgb.psd": {f"Threshold {i}": (0.1, 0.5) for i in range(1, 5)},
    "huesaturation_colorize_rgb.psd": {f"Hue/Saturation {i}": (0.8, 3.0) for i in range(1, 5)},
    # Ranges: one active colour range each except where noted in
    # HueSaturation.approximate (overlapping ranges: larger bounds).
    "huesaturation_lightness_rgb.psd": {"Hue/Saturation 1": (0.9, 10.0), "Hue/Saturation 2": (0.5, 2.0),
                                        "Hue/Saturation 3": (3.5, 40.0), "Hue/Saturation 4": (1.0, 8.0)},
    "huesaturation_rgb.psd": {"Hue/Saturation 1": (0.6, 3.0), "Hue/Saturation 2": (5.0, 45.0),
                              "Hue/Saturation 3": (4.5, 60.0), "Hue/Saturation 4": (1.5, 18.0)},
    "huesaturation_saturation_rgb.psd": {"Hue/Saturation 3": (0.6, 2.0),
                                         "Hue/Saturation 2 copy": (5.0, 35.0),
                                         "Hue/Saturation 4": (7.0, 60.0),
                                         "Hue/Saturation 2": (22.0, 110.0)},
    # Non-legacy Brightness/Contrast is a model (flagged approximate).
    "brightnesscontrast_rgb.psd": {"Brightness/Contrast 1": (12.0, 62.0), "Brightness/Contrast 2": (12.5, 20.0),
                                   "Brightness/Contrast 3": (14.5, 26.0), "Brightness/Contrast 4": (30.0, 50.0)},
}


@pytest.mark.parametrize("file_name", sorted(ADJUSTMENT_BOUNDS))
def test_adjustment_matches_photoshop(file_name):
    colour, reference, regions = adjusted_strips(f"{ADJUSTMENT_DIR}/{file_name}")
    errors = np.abs(colour - reference) * 255
    bounds = ADJUSTMENT_BOUNDS[file_name]
    checked = set()
    for name, region in regions:
        if name not in bounds or not region.any():
            continue
        mean_bound, p99_bound = bounds[name]
        inside = errors[region]
        assert inside.mean() <= mean_bound, name
        assert np.percentile(inside, 99) <= p99_bound, name
        checked.add(name)
    assert checked == set(bounds), "every adjustment layer was found and checked"


def test_color_lookup_with_a_table_is_reported():
    from compositor.adjustments import read_adjustment
    from compositor.errors import UnsupportedFeature

    psd = open_psd("Agamnentzar+ag-psd/test/read-write/adjustments/src.psd")
    layer = next(layer for layer in psd.descendants() if layer.kind == "colorlookup")
    with pytest.raises(UnsupportedFeature, match="Color Lookup"):
        read_adjustment(layer)
