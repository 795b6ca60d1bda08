"""Adjustments against values worked out by hand from their formulas."""

import numpy as np
import pytest

from compositor.adjustments import (
    BlackAndWhite,
    BrightnessContrast,
    ChannelMixer,
    ColorBalance,
    Curves,
    Exposure,
    GradientMap,
    HueSaturation,
    Identity,
    Invert,
    Levels,
    PhotoFilter,
    Posterize,
    SelectiveColor,
    Threshold,
    Vibrance,
    lab_to_rgb,
    natural_cubic_spline,
    read_adjustment,
)
from compositor.blend import lum
from compositor.errors import UnsupportedFeature

IDENTITY_LEVEL = (0, 255, 1.0, 0, 255)


def px(*rgb):
    return np.array([rgb], np.float32)


def test_invert():
    np.testing.assert_allclose(Invert().apply(px(0.2, 0.5, 1.0)), px(0.8, 0.5, 0.0), atol=1e-6)


@pytest.mark.parametrize(
    "levels, value, expected",
    [
        # 4 levels: bands of 64 on the 0..255 scale -> 0, 1/3, 2/3, 1.
        (4, 10 / 255, 0.0),
        (4, 70 / 255, 1 / 3),
        (4, 150 / 255, 2 / 3),
        (4, 200 / 255, 1.0),
        (4, 1.0, 1.0),
        (2, 127 / 255, 0.0),
        (2, 128 / 255, 1.0),
    ],
)
def test_posterize(levels, value, expected):
    out = Posterize(levels).apply(px(value, value, value))
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_threshold_uses_luminosity():
    # Pure green: Lum 0.59 -> 150.45 -> 150: white at 150, black at 151.
    green = px(0.0, 1.0, 0.0)
    np.testing.assert_array_equal(Threshold(150).apply(green), px(1, 1, 1))
    np.testing.assert_array_equal(Threshold(151).apply(green), px(0, 0, 0))


def test_levels_input_range_gamma_and_output_range():
    # Master: inputs 50..150 -> 0..1; 100 is the middle (0.5); gamma 2 -> 0.5^(1/2);
    # output 0..255 unchanged.
    levels = Levels([(50, 150, 2.0, 0, 255)] + [IDENTITY_LEVEL] * 3)
    out = levels.apply(px(100 / 255, 40 / 255, 1.0))
    np.testing.assert_allclose(out, px(np.sqrt(0.5), 0.0, 1.0), atol=1e-5)
    # Red channel only: output range 55..255 squeezes red.
    levels = Levels([IDENTITY_LEVEL, (0, 255, 1.0, 55, 255), IDENTITY_LEVEL, IDENTITY_LEVEL])
    out = levels.apply(px(0.0, 0.0, 0.5))
    np.testing.assert_allclose(out, px(55 / 255, 0.0, 0.5), atol=1e-6)


def test_curves_pass_through_their_points_and_hold_flat_outside():
    curves = Curves({0: [(30, 10), (128, 160), (220, 255)]})
    out = curves.apply(px(30 / 255, 128 / 255, 220 / 255))
    np.testing.assert_allclose(out, px(10 / 255, 160 / 255, 1.0), atol=2e-3)
    # Below the first point the curve stays at its first output.
    np.testing.assert_allclose(curves.apply(px(0.0, 0.0, 0.0)), 10 / 255, atol=1e-3)


def test_curves_per_channel_then_master():
    # Red: invert; master: identity line.
    curves = Curves({1: [(0, 255), (255, 0)], 0: [(0, 0), (255, 255)]})
    np.testing.assert_allclose(curves.apply(px(0.25, 0.25, 0.25)), px(0.75, 0.25, 0.25), atol=2e-3)


def test_curves_are_tables_of_whole_levels():
    # Two points make a straight line: level 100 -> 100 * 128 / 255 = 50.2,
    # stored as level 50; the input 100.4 / 255 is read as level 100 first.
    curves = Curves({0: [(0, 0), (255, 128)]})
    np.testing.assert_array_equal(curves.apply(px(100 / 255, 100.4 / 255, 255 / 255)) * 255,
                                  px(50, 50, 128).astype(np.float32))
    # Channel table, then the master table on its whole-level output:
    # red 200 -> 100 (halving line), then 100 -> 50.
    curves = Curves({1: [(0, 0), (255, 127.5)], 0: [(0, 0), (255, 127.5)]})
    assert round(float(curves.apply(px(200 / 255, 0.0, 0.0))[0, 0] * 255)) == 50


def test_curves_on_cmyk_and_grayscale_channels():
    # CMYK as stored: channel 4 is the fourth value; the master curve acts on
    # all four. Grayscale stores its curve as channel 1.
    curves = Curves({4: [(0, 255), (255, 0)], 0: [(0, 0), (255, 255)]})
    cmyk = np.array([[0.2, 0.4, 0.6, 0.8]], np.float32)
    np.testing.assert_allclose(curves.apply(cmyk), [[0.2, 0.4, 0.6, 51 / 255]], atol=1e-6)
    gray = Curves({1: [(0, 0), (255, 127.5)]})
    np.testing.assert_allclose(gray.apply(np.array([[[200 / 255]]], np.float32)), [[[100 / 255]]], atol=1e-6)
    assert Curves.per_channel


def test_natural_spline_of_a_line_is_the_line():
    lut = natural_cubic_spline([0, 0.3, 1], [0, 0.3, 1], samples=11)
    np.testing.assert_allclose(lut, np.linspace(0, 1, 11), atol=1e-6)


def test_exposure_one_stop_doubles_linear_light():
    # 0.5 in gamma 2.2 is 0.5^2.2 linear; doubled; back: 0.5 * 2^(1/2.2).
    out = Exposure(1.0, 0.0, 1.0).apply(px(0.5, 0.2, 1.0))
    np.testing.assert_allclose(out[0, :2], [0.5 * 2 ** (1 / 2.2), 0.2 * 2 ** (1 / 2.2)], atol=1e-5)
    assert out[0, 2] == 1.0


def test_exposure_gamma_and_offset():
    # offset 0.1 on black: 0.1 linear -> 0.1^(1/2.2); gamma 2 on 0.25 linear -> 0.5 linear.
    np.testing.assert_allclose(Exposure(0.0, 0.1, 1.0).apply(px(0, 0, 0)), 0.1 ** (1 / 2.2), atol=1e-5)
    grey = 0.25 ** (1 / 2.2)
    np.testing.assert_allclose(Exposure(0.0, 0.0, 2.0).apply(px(grey, grey, grey)), 0.5 ** (1 / 2.2), atol=1e-5)


def test_legacy_brightness_contrast_is_linear():
    # Brightness +51 adds 0.2; contrast +50 doubles the distance from 127/255.
    bc = BrightnessContrast(brightness=51, contrast=0, legacy=True)
    np.testing.assert_allclose(bc.apply(px(0.1, 0.5, 0.9)), px(0.3, 0.7, 1.0), atol=1e-6)
    bc = BrightnessContrast(brightness=0, contrast=50, legacy=True)
    pivot = 127 / 255
    np.testing.assert_allclose(bc.apply(px(0.6, pivot, 0.3)), px(pivot + 2 * (0.6 - pivot), pivot, pivot + 2 * (0.3 - pivot)), atol=1e-5)
    assert not bc.approximate


def test_legacy_brightness_goes_before_a_steepening_contrast_and_after_a_flattening_one():
    # Contrast +57 (slope 1 / 0.43), brightness +20: 100 -> (100 + 20 - 127) / 0.43 + 127 = 110.72.
    bc = BrightnessContrast(brightness=20, contrast=57, legacy=True)
    np.testing.assert_allclose(bc.apply(px(100 / 255, 0, 1))[0, 0] * 255, 110.72, atol=0.01)
    # Contrast -26 (slope 0.74), brightness -23: 3 -> (3 - 127) * 0.74 + 127 - 23 = 12.24,
    # and mid-grey moves by the whole brightness: 127 -> 104.
    bc = BrightnessContrast(brightness=-23, contrast=-26, legacy=True)
    np.testing.assert_allclose(bc.apply(px(3 / 255, 127 / 255, 238 / 255))[0] * 255, [12.24, 104, 186.14], atol=0.01)


def test_brightness_contrast_maps_any_number_of_channels():
    # One curve per channel: a grey channel or four CMYK channels work alike.
    bc = BrightnessContrast(brightness=-23, contrast=-26, legacy=True)
    grey = np.array([[[3 / 255]]], np.float32)
    np.testing.assert_allclose(bc.apply(grey)[0, 0, 0] * 255, 12.24, atol=0.01)
    cmyk = np.full((1, 1, 4), 3 / 255, np.float32)
    np.testing.assert_allclose(bc.apply(cmyk)[0, 0] * 255, [12.24] * 4, atol=0.01)
    assert bc.per_channel and not Invert().per_channel


def test_modern_brightness_keeps_black_and_white_and_brightens():
    bc = BrightnessContrast(brightness=80, contrast=0, legacy=False)
    out = bc.apply(px(0.0, 0.5, 1.0))
    assert out[0, 0] == pytest.approx(0, abs=1e-3) and out[0, 2] == pytest.approx(1, abs=1e-3)
    assert out[0, 1] > 0.55
    assert bc.approximate


def test_hue_saturation_master_hue_rotates_red_to_green():
    hs = HueSaturation(master=(120, 0, 0), ranges=[])
    np.testing.assert_allclose(hs.apply(px(1.0, 0.0, 0.0)), px(0.0, 1.0, 0.0), atol=1e-5)


def test_hue_saturation_master_saturation_and_lightness():
    # Saturation -100 gives grey at the HSL lightness: (1 + 0.2) / 2 = 0.6.
    hs = HueSaturation(master=(0, -100, 0), ranges=[])
    np.testing.assert_allclose(hs.apply(px(1.0, 0.2, 0.2)), px(0.6, 0.6, 0.6), atol=1e-5)
    # Lightness +50 moves half way to white; -50 half way to black.
    np.testing.assert_allclose(HueSaturation((0, 0, 50), []).apply(px(0.2, 0.4, 0.6)), px(0.6, 0.7, 0.8), atol=1e-5)
    np.testing.assert_allclose(HueSaturation((0, 0, -50), []).apply(px(0.2, 0.4, 0.6)), px(0.1, 0.2, 0.3), atol=1e-5)


def test_hue_saturation_range_lightness_lifts_to_the_maximum():
    # Reds range at full weight for hue 0; +100 -> grey at max; other hues untouched.
    reds = ((315, 345, 15, 45), (0, 0, 100))
    hs = HueSaturation(master=(0, 0, 0), ranges=[reds])
    np.testing.assert_allclose(hs.apply(px(0.8, 0.2, 0.2)), px(0.8, 0.8, 0.8), atol=1e-5)
    np.testing.assert_allclose(hs.apply(px(0.2, 0.2, 0.8)), px(0.2, 0.2, 0.8), atol=1e-5)
    # Half way up the ramp (hue 330 between 315 and 345): half the effect.
    magenta_red = px(1.0, 0.0, 0.5)  # hue 330
    np.testing.assert_allclose(hs.apply(magenta_red), px(1.0, 0.5, 0.75), atol=1e-5)


def test_hue_saturation_colorize():
    # HSL lightness of (0.8, 0.2, 0.4) is 0.5; hue 240, saturation 100 -> blue.
    hs = HueSaturation(master=(0, 0, 0), ranges=[], colorize=(240, 100, 0))
    np.testing.assert_allclose(hs.apply(px(0.8, 0.2, 0.4)), px(0.0, 0.0, 1.0), atol=1e-5)


def test_vibrance_leaves_grey_and_saturates_dull_colours_more():
    vibrance = Vibrance(vibrance=50, saturation=0)
    np.testing.assert_allclose(vibrance.apply(px(0.5, 0.5, 0.5)), px(0.5, 0.5, 0.5), atol=1e-6)
    dull, vivid = px(0.55, 0.45, 0.45), px(0.95, 0.05, 0.05)
    gain_dull = np.ptp(vibrance.apply(dull)) / np.ptp(dull)
    gain_vivid = np.ptp(vibrance.apply(vivid)) / np.ptp(vivid)
    assert gain_dull > gain_vivid >= 1


def test_color_balance_midtones_are_a_gamma_per_channel():
    # +100 red: red ** 0.5; -100 blue: blue ** 2; black and white stay put.
    balance = ColorBalance((0, 0, 0), (100, 0, -100), (0, 0, 0), preserve_luminosity=False)
    np.testing.assert_allclose(balance.apply(px(0.25, 0.25, 0.5)), px(0.5, 0.25, 0.25), atol=1e-5)
    np.testing.assert_allclose(balance.apply(px(0.0, 1.0, 1.0)), px(0.0, 1.0, 1.0), atol=1e-5)


def test_color_balance_preserving_luminosity_keeps_hsl_lightness():
    balance = ColorBalance((0, 0, 0), (60, -30, 10), (0, 0, 0), preserve_luminosity=True)
    before = px(0.3, 0.5, 0.7)
    after = balance.apply(before)
    lightness = lambda c: (c.max() + c.min()) / 2  # noqa: E731
    assert lightness(after) == pytest.approx(lightness(before), abs=1e-5)


def test_black_and_white_weights_primaries_and_secondaries():
    default = BlackAndWhite(weights=(40, 60, 40, 60, 20, 80))
    np.testing.assert_allclose(default.apply(px(1.0, 0.0, 0.0)), px(0.4, 0.4, 0.4), atol=1e-6)
    np.testing.assert_allclose(default.apply(px(1.0, 1.0, 0.0)), px(0.6, 0.6, 0.6), atol=1e-6)
    # (0.2, 0.6, 1.0): low 0.2 + (0.6 - 0.2) * cyans 0.6 + (1.0 - 0.6) * blues 0.2 = 0.52
    np.testing.assert_allclose(default.apply(px(0.2, 0.6, 1.0)), px(0.52, 0.52, 0.52), atol=1e-6)
    np.testing.assert_allclose(default.apply(px(0.3, 0.3, 0.3)), px(0.3, 0.3, 0.3), atol=1e-6)


def test_black_and_white_tint_keeps_the_grey_luminosity():
    tinted = BlackAndWhite(weights=(40, 60, 40, 60, 20, 80), tint=(1.0, 0.5, 0.0))
    out = tinted.apply(px(1.0, 0.0, 0.0))
    assert lum(out)[0, 0] == pytest.approx(0.4, abs=1e-5)
    assert out[0, 0] > out[0, 1] > out[0, 2]


def test_lab_to_rgb_white_black_and_a_known_red():
    np.testing.assert_allclose(lab_to_rgb(100, 0, 0), [1, 1, 1], atol=2e-3)
    np.testing.assert_allclose(lab_to_rgb(0, 0, 0), [0, 0, 0], atol=1e-6)
    # sRGB red is about L 54.3, a 80.8, b 69.9 in D50.
    np.testing.assert_allclose(lab_to_rgb(54.29, 80.80, 69.89), [1, 0, 0], atol=1e-2)


def test_photo_filter_density_without_luminosity():
    # Half density of a pure-red filter: green and blue halve.
    photo = PhotoFilter(color=(1.0, 0.0, 0.0), density=0.5, preserve_luminosity=False)
    np.testing.assert_allclose(photo.apply(px(0.8, 0.8, 0.8)), px(0.8, 0.4, 0.4), atol=1e-6)


def test_channel_mixer_rows_and_monochrome():
    swap = ChannelMixer(rows=[(0, 100, 0, 0), (100, 0, 0, 0), (0, 0, 50, 10)])
    np.testing.assert_allclose(swap.apply(px(0.2, 0.6, 0.8)), px(0.6, 0.2, 0.5), atol=1e-6)
    mono = ChannelMixer(rows=[(30, 60, 10, 0)], monochrome=True)
    np.testing.assert_allclose(mono.apply(px(1.0, 0.5, 0.0)), px(0.6, 0.6, 0.6), atol=1e-6)


def test_gradient_map_maps_luminosity_through_the_stops():
    gradient = GradientMap(stops=[(0.0, 0.5, (0.0, 0.0, 1.0)), (1.0, 0.5, (1.0, 1.0, 0.0))])
    np.testing.assert_allclose(gradient.apply(px(0, 0, 0)), px(0, 0, 1), atol=1e-6)
    np.testing.assert_allclose(gradient.apply(px(1, 1, 1)), px(1, 1, 0), atol=1e-6)
    np.testing.assert_allclose(gradient.apply(px(0.5, 0.5, 0.5)), px(0.5, 0.5, 0.5), atol=2e-3)
    # A midpoint at 25 %: half-way colour already at a quarter.
    early = GradientMap(stops=[(0.0, 0.25, (0.0, 0.0, 0.0)), (1.0, 0.5, (1.0, 1.0, 1.0))])
    np.testing.assert_allclose(early.apply(px(0.25, 0.25, 0.25)), px(0.5, 0.5, 0.5), atol=2e-3)


def test_selective_color_only_touches_its_class():
    # Absolute +100 % cyan on reds removes all red from a pure red; blue is untouched.
    settings = {name: (0, 0, 0, 0) for name in
                ("reds", "yellows", "greens", "cyans", "blues", "magentas", "whites", "neutrals", "blacks")}
    settings["reds"] = (100, 0, 0, 0)
    selective = SelectiveColor(settings=settings, absolute=True)
    np.testing.assert_allclose(selective.apply(px(1.0, 0.0, 0.0)), px(0.0, 0.0, 0.0), atol=1e-6)
    np.testing.assert_allclose(selective.apply(px(0.0, 0.0, 1.0)), px(0.0, 0.0, 1.0), atol=1e-6)


def test_identity():
    np.testing.assert_array_equal(Identity().apply(px(0.1, 0.2, 0.3)), px(0.1, 0.2, 0.3))


def test_composite_as_a_layer_mixes_by_strength_and_keeps_alpha():
    cb = np.full((1, 1, 3), 0.2, np.float32)
    ab = np.full((1, 1, 1), 0.5, np.float32)
    colour, alpha = Invert().composite("normal", cb, ab, 0.25)
    np.testing.assert_allclose(colour, 0.2 + 0.25 * (0.8 - 0.2), atol=1e-6)
    assert alpha is ab
    # In multiply: B = 0.2 * 0.8 = 0.16, full strength.
    colour, _ = Invert().composite("multiply", cb, ab, 1.0)
    np.testing.assert_allclose(colour, 0.16, atol=1e-6)


def test_four_channel_input_is_reported():
    with pytest.raises(UnsupportedFeature, match="4-channel"):
        Invert().apply(np.zeros((1, 4), np.float32))


def test_reading_a_non_adjustment_layer_is_a_clear_error():
    class NoBlocks(dict):
        def get_data(self, key):
            return None

    class FakeLayer:
        name = "Background"
        tagged_blocks = NoBlocks()

    with pytest.raises(ValueError, match="'Background' is not an adjustment layer"):
        read_adjustment(FakeLayer())


@pytest.mark.parametrize(
    "adjustment",
    [
        Invert(), Posterize(4), Threshold(128),
        Levels([(10, 240, 1.2, 0, 255)] + [IDENTITY_LEVEL] * 3),
        Curves({0: [(0, 0), (128, 160), (255, 255)], 1: [(0, 10), (255, 250)]}),
        Exposure(0.5, 0.01, 1.1), BrightnessContrast(30, 20, False), BrightnessContrast(30, 20, True),
        HueSaturation((10, 20, 5), [((315, 345, 15, 45), (5, 10, 30))]),
        HueSaturation((0, 0, 0), [], colorize=(30, 50, 10)), Vibrance(30, 10),
        ColorBalance((5, 5, 5), (10, -10, 10), (3, 3, 3), True),
        BlackAndWhite((40, 60, 40, 60, 20, 80), (1, 0.5, 0)), PhotoFilter((1, 0.5, 0), 0.3, True),
        ChannelMixer([(100, 0, 0, 0), (0, 100, 0, 0), (0, 0, 100, 0)]),
        GradientMap([(0, 0.5, (0, 0, 1)), (1, 0.5, (1, 1, 0))]),
        SelectiveColor({"reds": (10, 0, 0, 0)}, absolute=False), Identity(),
    ],
    ids=lambda adjustment: type(adjustment).__name__,
)
def test_every_adjustment_keeps_float32_shape_and_range(adjustment):
    image = np.random.default_rng(0).random((8, 9, 3), dtype=np.float32)
    out = adjustment.apply(image)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0 and out.max() <= 1


def test_only_measured_colour_balance_settings_claim_accuracy():
    assert not ColorBalance((0, 0, 0), (10, 0, 0), (0, 0, 0), False).approximate
    assert ColorBalance((0, 0, 0), (10, 0, 0), (0, 0, 0), True).approximate
    assert ColorBalance((5, 0, 0), (0, 0, 0), (0, 0, 0), False).approximate


def test_gradient_map_mixes_in_the_files_colour_space():
    stops = [(0.0, 0.5, (1.0, 0.0, 0.0)), (1.0, 0.5, (0.0, 0.0, 1.0))]
    classic = GradientMap(stops=stops).apply(px(0.5, 0.5, 0.5))
    perceptual = GradientMap(stops=stops, method="perceptual").apply(px(0.5, 0.5, 0.5))
    np.testing.assert_allclose(classic, px(0.5, 0.0, 0.5), atol=3e-3)
    # Oklab keeps the middle brighter than the sRGB average.
    assert perceptual[0, 0] > classic[0, 0] + 0.03 and perceptual[0, 2] > classic[0, 2] + 0.03
    np.testing.assert_allclose(GradientMap(stops=stops, method="perceptual").apply(px(0, 0, 0)), px(1, 0, 0), atol=2e-3)


def test_color_lookup_identity_cube_and_a_channel_swap():
    from compositor.adjustments import ColorLookup, parse_cube

    grid = np.linspace(0, 1, 3)
    # Red fastest, then green, then blue.
    lines = [f"{r} {g} {b}" for b in grid for g in grid for r in grid]
    identity = parse_cube("TITLE \"id\"\nLUT_3D_SIZE 3\n" + "\n".join(lines))
    image = np.random.default_rng(1).random((5, 3), dtype=np.float32)
    np.testing.assert_allclose(ColorLookup(identity).apply(image), image, atol=1e-6)
    swapped = parse_cube("LUT_3D_SIZE 3\n" + "\n".join(f"{b} {g} {r}" for b in grid for g in grid for r in grid))
    np.testing.assert_allclose(ColorLookup(swapped).apply(px(0.2, 0.5, 0.9)), px(0.9, 0.5, 0.2), atol=1e-6)


def test_malformed_cube_is_reported():
    from compositor.adjustments import parse_cube

    with pytest.raises(UnsupportedFeature, match="malformed"):
        parse_cube("LUT_3D_SIZE 3\n0 0 0\n")
