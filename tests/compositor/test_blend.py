"""Blend modes against values worked out by hand from the formulas.

Each row is (Cb, Cs, expected B) for one channel; the arithmetic is in the
comment where it is not obvious.
"""

import numpy as np
import pytest
from psd_tools.constants import BlendMode

from compositor.blend import (
    BLEND_MODES,
    FROM_PSD_TOOLS,
    blend,
    composite,
    dissolve_alpha,
    mode_name,
)
from compositor.errors import UnsupportedFeature

SEPARABLE_CASES = {
    "normal": [(0.2, 0.7, 0.7), (1.0, 0.0, 0.0)],
    "dissolve": [(0.2, 0.7, 0.7)],
    "darken": [(0.2, 0.7, 0.2), (0.9, 0.4, 0.4)],
    "lighten": [(0.2, 0.7, 0.7), (0.9, 0.4, 0.9)],
    "multiply": [(0.5, 0.5, 0.25), (0.8, 0.0, 0.0), (0.8, 1.0, 0.8)],
    "screen": [(0.5, 0.5, 0.75), (0.8, 0.0, 0.8), (0.3, 1.0, 1.0)],
    # 1 - (1 - 0.5)/0.8 = 0.375; Cb = 1 wins over Cs = 0; Cs = 0 gives 0.
    "color_burn": [(0.5, 0.8, 0.375), (1.0, 0.0, 1.0), (0.6, 0.0, 0.0), (0.2, 0.5, 0.0)],
    # 0.3 / (1 - 0.4) = 0.5; Cb = 0 wins over Cs = 1; Cs = 1 gives 1.
    "color_dodge": [(0.3, 0.4, 0.5), (0.0, 1.0, 0.0), (0.2, 1.0, 1.0), (0.6, 0.5, 1.0)],
    "linear_burn": [(0.5, 0.75, 0.25), (0.2, 0.3, 0.0), (1.0, 0.0, 0.0)],
    "linear_dodge": [(0.5, 0.25, 0.75), (0.7, 0.6, 1.0), (0.0, 0.0, 0.0)],
    # overlay = hard light with the operands swapped: Cb = 0.25 <= 1/2 so
    # 2 * 0.25 * 0.6 = 0.3; Cb = 0.75: screen(0.6, 0.5) = 0.8.
    "overlay": [(0.25, 0.6, 0.3), (0.75, 0.6, 0.8), (0.0, 1.0, 0.0), (1.0, 0.0, 1.0)],
    # Cs = 0.25: 2 * 0.6 * 0.25 = 0.3; Cs = 0.75: screen(0.6, 0.5) = 0.8.
    "hard_light": [(0.6, 0.25, 0.3), (0.6, 0.75, 0.8), (0.5, 0.5, 0.5), (0.3, 1.0, 1.0)],
    # Cs = 0.25: 0.5 - 0.5 * 0.5 * 0.5 = 0.375.
    # Cs = 0.75, Cb = 0.64 > 1/4: D = 0.8, 0.64 + 0.5 * 0.16 = 0.72.
    # Cs = 1, Cb = 0.125 <= 1/4: D = ((2 - 12) * 0.125 + 4) * 0.125 = 0.34375.
    "soft_light": [(0.5, 0.25, 0.375), (0.64, 0.75, 0.72), (0.125, 1.0, 0.34375),
                   (0.3, 0.5, 0.3)],
    # Cs = 0.25: burn with 2Cs = 0.5: 1 - 0.4 / 0.5 = 0.2.
    # Cs = 0.75: dodge with 2(1 - Cs) = 0.5: 0.2 / 0.5 = 0.4.
    # The source extremes win: Cs = 0 -> 0 even on white, Cs = 1 -> 1 on black.
    "vivid_light": [(0.6, 0.25, 0.2), (0.2, 0.75, 0.4), (1.0, 0.0, 0.0), (0.0, 1.0, 1.0)],
    # clamp(Cb + 2Cs - 1)
    "linear_light": [(0.5, 0.6, 0.7), (0.2, 0.3, 0.0), (0.8, 0.9, 1.0)],
    # Cs <= 1/2: min(Cb, 2Cs); else max(Cb, 2Cs - 1)
    "pin_light": [(0.6, 0.25, 0.5), (0.3, 0.25, 0.3), (0.2, 0.75, 0.5), (0.7, 0.75, 0.7)],
    # 1 when Cb + Cs > 1; on the tie = 1 only where Cb > 1/2.
    "hard_mix": [(0.6, 0.5, 1.0), (0.4, 0.5, 0.0), (0.75, 0.25, 1.0), (0.25, 0.75, 0.0)],
    "difference": [(0.2, 0.7, 0.5), (0.9, 0.4, 0.5), (1.0, 1.0, 0.0)],
    # 0.5 + 0.5 - 2 * 0.25
    "exclusion": [(0.5, 0.5, 0.5), (1.0, 0.25, 0.75), (0.0, 0.3, 0.3)],
    "subtract": [(0.7, 0.2, 0.5), (0.2, 0.7, 0.0)],
    # 0.25 / 0.5; clamp; divide by zero: 1 above black, 0/0 = 0.
    "divide": [(0.25, 0.5, 0.5), (0.8, 0.4, 1.0), (0.3, 0.0, 1.0), (0.0, 0.0, 0.0)],
}


@pytest.mark.parametrize(
    "mode, cb, cs, expected",
    [(mode, *case) for mode, cases in SEPARABLE_CASES.items() for case in cases],
)
def test_separable_modes_match_hand_computed_values(mode, cb, cs, expected):
    # The same value in three channels, plus a one-channel document.
    rgb = blend(mode, np.full((1, 3), cb, np.float32), np.full((1, 3), cs, np.float32))
    gray = blend(mode, np.full((2, 2, 1), cb, np.float32), np.full((2, 2, 1), cs, np.float32))
    assert rgb.dtype == np.float32
    np.testing.assert_allclose(rgb, expected, atol=1e-6)
    np.testing.assert_allclose(gray, expected, atol=1e-6)


def test_every_mode_has_a_hand_computed_case():
    non_separable = {"hue", "saturation", "color", "luminosity", "darker_color",
                     "lighter_color", "pass_through"}
    assert set(BLEND_MODES) == set(SEPARABLE_CASES) | non_separable


def test_every_psd_tools_blend_mode_has_a_name():
    for psd_tools_mode in BlendMode:
        assert mode_name(psd_tools_mode) in BLEND_MODES
    assert len(FROM_PSD_TOOLS) == len(BLEND_MODES) == 28


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown blend mode 'glow'"):
        blend("glow", np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32))


# Non-separable modes. Lum = 0.3R + 0.59G + 0.11B.
RED = [1.0, 0.0, 0.0]       # Lum 0.3, Sat 1
GRAY = [0.5, 0.5, 0.5]      # Lum 0.5, Sat 0
DARK_BLUE = [0.0, 0.0, 0.5]  # Lum 0.055, Sat 0.5


@pytest.mark.parametrize(
    "mode, cb, cs, expected",
    [
        # Colour of red, luminosity 0.5 of gray: red + 0.2 = (1.2, 0.2, 0.2)
        # clips above 1: L + (C - L)(1 - L)/(max - L) = 0.5 + (C - 0.5) * 0.5/0.7.
        ("color", GRAY, RED, [0.5 + 0.7 * 0.5 / 0.7, 0.5 - 0.3 * 0.5 / 0.7, 0.5 - 0.3 * 0.5 / 0.7]),
        # Luminosity of gray (0.5) onto dark blue (Lum 0.055): + 0.445 each,
        # (0.445, 0.445, 0.945) is in range.
        ("luminosity", DARK_BLUE, GRAY, [0.445, 0.445, 0.945]),
        # Hue of red with gray's saturation 0 -> gray of gray's luminosity.
        ("hue", GRAY, RED, GRAY),
        # Saturation of gray (0) on red -> gray at red's luminosity 0.3.
        ("saturation", RED, GRAY, [0.3, 0.3, 0.3]),
        # Hue of dark blue onto red: SetSat(blue, 1) = (0, 0, 1), Lum 0.11;
        # SetLum to 0.3: (0.19, 0.19, 1.19) clips: 0.3 + (C - 0.3) * 0.7/0.89.
        ("hue", RED, DARK_BLUE, [0.3 - 0.11 * 0.7 / 0.89, 0.3 - 0.11 * 0.7 / 0.89, 1.0]),
        ("darker_color", GRAY, RED, RED),
        ("darker_color", DARK_BLUE, RED, DARK_BLUE),
        ("lighter_color", GRAY, RED, GRAY),
        ("lighter_color", DARK_BLUE, RED, RED),
    ],
)
def test_non_separable_modes_match_hand_computed_values(mode, cb, cs, expected):
    result = blend(mode, np.array([cb], np.float32), np.array([cs], np.float32))
    np.testing.assert_allclose(result[0], expected, atol=1e-5)


def test_lighter_color_compares_luminosity_not_channel_sum():
    # Green (0, 1, 0): Lum 0.59, sum 1. Orange (0.9, 0.5, 0): Lum 0.565, sum 1.4.
    green = np.array([[0.0, 1.0, 0.0]], np.float32)
    orange = np.array([[0.9, 0.5, 0.0]], np.float32)
    np.testing.assert_allclose(blend("lighter_color", green, orange), green)
    np.testing.assert_allclose(blend("darker_color", green, orange), orange)


def test_non_separable_modes_on_gray_documents():
    cb = np.array([[0.3]], np.float32)
    cs = np.array([[0.8]], np.float32)
    assert blend("hue", cb, cs)[0, 0] == pytest.approx(0.3)
    assert blend("color", cb, cs)[0, 0] == pytest.approx(0.3)
    assert blend("saturation", cb, cs)[0, 0] == pytest.approx(0.3)
    assert blend("luminosity", cb, cs)[0, 0] == pytest.approx(0.8)
    assert blend("darker_color", cb, cs)[0, 0] == pytest.approx(0.3)
    assert blend("lighter_color", cb, cs)[0, 0] == pytest.approx(0.8)


def test_non_separable_modes_on_cmyk_are_reported():
    cmyk = np.zeros((1, 4), np.float32)
    with pytest.raises(UnsupportedFeature, match="hue blend mode on a 4-channel"):
        blend("hue", cmyk, cmyk)


def test_mismatched_channels_are_a_clear_error():
    with pytest.raises(ValueError, match="3 channels but source has 1"):
        blend("multiply", np.zeros((1, 3), np.float32), np.zeros((1, 1), np.float32))


def _one(value):
    return np.array([[value]], np.float32)


def test_composite_opaque_backdrop_half_source_multiply():
    # ab = 1: Cs' = B = 0.8 * 0.5 = 0.4; ao = 1; Co = 0.5 * 0.4 + 0.5 * 0.8 = 0.6
    co, ao = composite("multiply", _one(0.8), _one(1.0), _one(0.5), _one(0.5))
    assert ao[0, 0] == pytest.approx(1.0)
    assert co[0, 0] == pytest.approx(0.6)


def test_composite_over_transparent_backdrop_ignores_the_mode():
    # ab = 0: Cs' = Cs, the mode has no backdrop to act on.
    co, ao = composite("difference", _one(0.9), _one(0.0), _one(0.3), _one(0.4))
    assert ao[0, 0] == pytest.approx(0.4)
    assert co[0, 0] == pytest.approx(0.3)


def test_composite_half_backdrop_half_source_screen():
    # B = screen(0.2, 0.6) = 0.68; Cs' = 0.5 * 0.6 + 0.5 * 0.68 = 0.64
    # ao = 0.5 + 0.5 * 0.5 = 0.75
    # Co = (0.5 * 0.64 + 0.5 * 0.5 * 0.2) / 0.75 = 0.37 / 0.75
    co, ao = composite("screen", _one(0.2), _one(0.5), _one(0.6), _one(0.5))
    assert ao[0, 0] == pytest.approx(0.75)
    assert co[0, 0] == pytest.approx(0.37 / 0.75)


def test_composite_both_transparent_gives_zero_not_nan():
    co, ao = composite("normal", _one(0.5), _one(0.0), _one(0.5), _one(0.0))
    assert ao[0, 0] == 0 and co[0, 0] == 0


def test_dissolve_is_all_or_nothing_deterministic_and_weighted_by_alpha():
    alpha = np.full((200, 200, 1), 0.3, np.float32)
    first, second = dissolve_alpha(alpha), dissolve_alpha(alpha)
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert first.mean() == pytest.approx(0.3, abs=0.01)
    co, ao = composite("dissolve", np.zeros((200, 200, 3), np.float32), np.ones_like(alpha),
                       np.ones((200, 200, 3), np.float32), alpha)
    assert set(np.unique(co)) <= {0.0, 1.0}
    assert co.mean() == pytest.approx(0.3, abs=0.01)


def test_psd_tools_blend_modes_are_accepted_directly():
    cb = np.array([[0.5, 0.2, 0.8]], np.float32)
    cs = np.array([[0.4, 0.9, 0.1]], np.float32)
    np.testing.assert_array_equal(blend(BlendMode.MULTIPLY, cb, cs), blend("multiply", cb, cs))
    co, _ = composite(BlendMode.SCREEN, cb, np.ones((1, 1), np.float32), cs, np.ones((1, 1), np.float32))
    np.testing.assert_allclose(co, blend("screen", cb, cs))
