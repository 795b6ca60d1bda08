"""Adjustment-type smart filters: read from their descriptor, applied through
the adjustment layers' own code, blended in the filter's mode and opacity."""

import io

import numpy as np
import pytest
from psd_tools.psd.descriptor import EnumeratedReference, Reference

from compositor.adjustments import BrightnessContrast, Curves
from compositor.smartobjects import build_warp_map, load_warp_map, save_warp_map, warp_content
from compositor.smartobjects.descriptor import GAUSSIAN_BLUR_ID, SmartFilter, plain
from compositor.smartobjects.filters import (
    BRIGHTNESS_CONTRAST_ID,
    CURVES_ID,
    INVERT_ID,
    LEVELS_ID,
    apply_smart_filters,
    filter_adjustment,
    unsupported_filters,
)

from .test_smartobjects_geometry import make_so


def _one_pixel(colour, alpha):
    """A 1x1 premultiplied RGBA image of a straight colour."""
    straight = np.array(colour, np.float32)
    return np.array([[[*(straight * alpha), alpha]]], np.float32)


def _curves_filter(curves, opacity=100.0, mode="Nrml"):
    adjs = [{"Chnl": [channel], "Crv": [{"Hrzn": x, "Vrtc": y} for x, y in points]}
            for channel, points in curves]
    return SmartFilter("Curves", CURVES_ID, True, {"Adjs": adjs}, opacity=opacity, blend_mode=mode)


def test_curves_filter_reads_each_channels_points():
    flt = _curves_filter([("Cmps", [(0, 0), (132, 196), (255, 255)]), ("Rd  ", [(255, 0), (0, 255)])])
    adjustment = filter_adjustment(flt)
    assert isinstance(adjustment, Curves)
    # channel ids as the adjustment layer's: 0 composite, 1 red; points sorted by input
    assert adjustment.points == {0: [(0.0, 0.0), (132.0, 196.0), (255.0, 255.0)], 1: [(0.0, 255.0), (255.0, 0.0)]}


def test_curves_filter_recolours_straight_colour_and_keeps_alpha():
    # red curve (0 -> 255, 255 -> 0) inverts red: 0.2 -> 0.8; green and blue stay.
    flt = _curves_filter([("Rd  ", [(0, 255), (255, 0)])])
    out = apply_smart_filters(_one_pixel((0.2, 0.4, 0.6), 0.5), [flt])
    np.testing.assert_allclose(out[0, 0], [0.8 * 0.5, 0.4 * 0.5, 0.6 * 0.5, 0.5], atol=1e-5)


def test_filter_opacity_mixes_the_result_with_the_layer_before_it():
    # half opacity: red half way between 0.2 and the inverted 0.8 -> 0.5
    flt = _curves_filter([("Rd  ", [(0, 255), (255, 0)])], opacity=50.0)
    out = apply_smart_filters(_one_pixel((0.2, 0.4, 0.6), 1.0), [flt])
    np.testing.assert_allclose(out[0, 0], [0.5, 0.4, 0.6, 1.0], atol=1e-5)


def test_filter_blend_mode_blends_the_result_over_the_layer_before_it():
    # Invert in Multiply: c * (1 - c) -> 0.2 * 0.8, 0.5 * 0.5, 0.9 * 0.1
    flt = SmartFilter("Invert", INVERT_ID, True, {}, blend_mode="Mltp")
    out = apply_smart_filters(_one_pixel((0.2, 0.5, 0.9), 1.0), [flt])
    np.testing.assert_allclose(out[0, 0], [0.16, 0.25, 0.09, 1.0], atol=1e-5)


def test_levels_filter_uses_input_and_output_ranges():
    # composite input 0..200: 100 -> 0.5; then output 55..255: 55 + 0.5 * 200 = 155
    adjs = [{"Chnl": ["Cmps"], "Inpt": [0, 200], "Otpt": [55, 255], "Gmm": 1.0}]
    flt = SmartFilter("Levels", LEVELS_ID, True, {"Adjs": adjs})
    out = apply_smart_filters(_one_pixel((100 / 255, 0, 1), 1.0), [flt])
    np.testing.assert_allclose(out[0, 0, :3] * 255, [155, 55, 255], atol=1e-3)


def test_legacy_brightness_contrast_filter_shifts_by_the_brightness():
    flt = SmartFilter("Brightness/Contrast", BRIGHTNESS_CONTRAST_ID, True,
                      {"Brgh": 20, "Cntr": 0, "useLegacy": True})
    adjustment = filter_adjustment(flt)
    assert adjustment == BrightnessContrast(brightness=20, contrast=0, legacy=True)
    out = apply_smart_filters(_one_pixel((100 / 255, 0, 1), 1.0), [flt])
    np.testing.assert_allclose(out[0, 0, :3] * 255, [120, 20, 255], atol=1e-3)


def test_disabled_filter_changes_nothing():
    flt = SmartFilter("Invert", INVERT_ID, False, {})
    pixel = _one_pixel((0.2, 0.5, 0.9), 1.0)
    np.testing.assert_array_equal(apply_smart_filters(pixel, [flt]), pixel)


def test_filters_we_cannot_reproduce_are_named():
    mapping = SmartFilter("Curves", CURVES_ID, True, {"Adjs": [{"Chnl": ["Cmps"], "Mpng": list(range(256))}]})
    unknown = SmartFilter("Add Noise", int.from_bytes(b"AdNs", "big"), True, {})
    odd_mode = SmartFilter("Gaussian Blur", GAUSSIAN_BLUR_ID, True, {"Rds": 1.0}, blend_mode="unknownMode")
    modern = SmartFilter("Brightness/Contrast", BRIGHTNESS_CONTRAST_ID, True, {"Brgh": 20, "Cntr": 10})
    supported = [_curves_filter([("Cmps", [(0, 0), (255, 255)])]), SmartFilter("Invert", INVERT_ID, True, {})]
    notes = unsupported_filters([mapping, unknown, odd_mode, *supported])
    assert len(notes) == 3
    assert "mapping" in notes[0] and notes[1] == "smart filter: Add Noise" and "unknownMode" in notes[2]
    # an approximated adjustment is named as such
    assert (modern.name in unsupported_filters([modern])[0]) == BrightnessContrast(20, 10, False).approximate


def test_channel_reference_reads_as_its_enum():
    # Photoshop stores Curves' channel as a reference list holding one enum.
    reference = Reference([EnumeratedReference(name="", classID=b"Chnl", typeID=b"Chnl", enum=b"Grn ")])
    assert plain({b"Chnl": reference}) == {"Chnl": ["Grn "]}


def test_warp_map_with_a_curves_filter_round_trips_through_a_file():
    flt = _curves_filter([("Cmps", [(0, 0), (132, 196), (255, 255)])])
    so = make_so((30, 20), [5, 5, 35, 5, 35, 25, 5, 25], filters=[flt])
    wm = build_warp_map(so, (40, 30))
    buffer = io.BytesIO()
    save_warp_map(wm, buffer)
    buffer.seek(0)
    back = load_warp_map(buffer)
    content = np.random.default_rng(0).random((20, 30, 4), dtype=np.float32)
    np.testing.assert_array_equal(warp_content(back, content), warp_content(wm, content))
    # the curve lifts mid-grey: 132 -> 196
    grey = np.full((20, 30, 4), 132 / 255, np.float32)
    grey[..., 3] = 1
    out = warp_content(wm, grey)
    assert out[10, 15, 0] * 255 == pytest.approx(196, abs=0.5)
