"""Placing artwork into smart-object content, option by option, checked by pixel."""

import io
import math

import numpy as np
import pytest
from psd_tools import PSDImage

from compositor.adjustments import BrightnessContrast, Vibrance
from compositor.errors import InvalidOption
from compositor.fixtures import build_demo_template, print_area_quad
from compositor.placement import (
    AdjustmentLayers,
    ColorOverlay,
    Pattern,
    PlacementOptions,
    PrintAreaPreset,
    find_print_area,
    place_artwork,
    place_artwork_bytes,
    placed_box,
    required_artwork_size,
    scaled_options,
)
from compositor.smartobjects import build_warp_map, read_smart_object, warp_content

RED = (1, 0, 0, 1)
GREEN = (0, 1, 0, 1)
BLUE = (0, 0, 1, 1)
CLEAR = (0, 0, 0, 0)


def solid(height, width, rgba=RED):
    image = np.empty((height, width, 4), np.float32)
    image[:] = rgba
    return image


def marked(size=4):
    """An opaque black square with one white pixel in its top-left corner."""
    image = solid(size, size, (0, 0, 0, 1))
    image[0, 0] = (1, 1, 1, 1)
    return image


def white_pixel(rgba):
    """(row, column) of the single white pixel."""
    rows, columns = np.nonzero(rgba[..., 0] > 0.5)
    assert len(rows) == 1, rgba[..., 0]
    return rows[0], columns[0]


# --- fit ------------------------------------------------------------------------------------


def test_contain_puts_a_wide_image_in_a_band_across_the_middle():
    out = place_artwork(solid(10, 20), (20, 20), PlacementOptions(fit="contain"))
    assert out.shape == (20, 20, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:5, :, 3], 0)  # transparent above
    np.testing.assert_allclose(out[5:15], solid(10, 20))  # red band, rows 5..14
    np.testing.assert_array_equal(out[15:, :, 3], 0)  # and below


def test_contain_a_tall_image_leaves_columns_at_the_sides():
    out = place_artwork(solid(40, 20), (40, 20), PlacementOptions(fit="contain"))  # 20 x 40 art into 40 x 20
    np.testing.assert_array_equal(out[:, :15, 3], 0)
    np.testing.assert_allclose(out[:, 15:25], solid(20, 10), atol=1e-6)  # shrunk by 2, centred
    np.testing.assert_array_equal(out[:, 25:, 3], 0)


def test_cover_fills_and_crops_the_overflow():
    art = np.empty((20, 40, 4), np.float32)
    art[:, :10] = BLUE
    art[:, 10:30] = GREEN
    art[:, 30:] = RED
    out = place_artwork(art, (20, 20), PlacementOptions(fit="cover"))
    # Scale 1, centred: columns 10..29 of the art are visible, all green.
    np.testing.assert_allclose(out, solid(20, 20, GREEN))


def test_fill_stretches_to_the_content():
    art = solid(10, 10)
    art[:, 5:] = BLUE
    out = place_artwork(art, (40, 20), PlacementOptions(fit="fill"))
    assert (out[..., 3] == 1).all()
    np.testing.assert_allclose(out[:, :17], solid(20, 17, RED), atol=1e-6)
    np.testing.assert_allclose(out[:, 23:], solid(20, 17, BLUE), atol=1e-6)


def test_shrinking_averages_areas():
    art = np.zeros((2, 8, 4), np.float32)
    art[..., 3] = 1
    art[:, ::2, :3] = 1  # alternate white and black columns
    out = place_artwork(art, (4, 1), PlacementOptions())
    np.testing.assert_allclose(out[..., :3], 0.5, atol=1e-6)  # every output pixel a white/black pair


@pytest.mark.parametrize("content_size", [(706, 942), (1440, 1920), (37, 23)])
def test_opaque_artwork_stays_exactly_opaque_at_any_scale(content_size):
    # OpenCV's area resize leaves alpha at 0.9999999 in places; the placement
    # must not, or the render premultiplies and divides for nothing.
    art = np.random.default_rng(1).random((1000, 1000, 4), dtype=np.float32)
    art[..., 3] = 1
    out = place_artwork(art, content_size)
    assert (out[..., 3] == 1).all()
    assert out.shape == (content_size[1], content_size[0], 4)


def test_enlarging_is_premultiplied_so_edges_do_not_fringe():
    art = np.array([[RED, (0, 1, 0, 0)]], np.float32)  # opaque red, then transparent "green"
    out = place_artwork(art, (20, 10), PlacementOptions())
    visible = out[..., 3] > 1e-3
    assert visible.any() and (~visible).any()
    assert out[visible][:, 1].max() < 1e-5  # no green anywhere it shows
    np.testing.assert_allclose(out[visible][:, 0], 1, atol=1e-5)


# --- rotation and flips ------------------------------------------------------------------------


@pytest.mark.parametrize("degrees, where", [
    (0, (0, 0)), (90, (0, 3)), (180, (3, 3)), (270, (3, 0)), (-90, (3, 0)), (360, (0, 0)), (-270, (0, 3)),
])
def test_rotate_quarter_turns_clockwise(degrees, where):
    out = place_artwork(marked(), (4, 4), PlacementOptions(rotate=degrees))
    assert white_pixel(out) == where
    assert (out[..., 3] == 1).all()  # exact: no resampling for quarter turns


def test_rotate_90_turns_a_wide_box_about_its_centre():
    # A 4 x 2 box centred in a 6 x 6 content turns into a 2 x 4 one, same centre.
    art = solid(2, 4, (0, 0, 0, 1))
    art[0, 0] = (1, 1, 1, 1)
    out = place_artwork(art, (6, 6), PlacementOptions(size=(4, 2), rotate=90))
    opaque = np.argwhere(out[..., 3] > 0.5)
    assert opaque.min(axis=0).tolist() == [1, 2] and opaque.max(axis=0).tolist() == [4, 3]
    assert white_pixel(out) == (1, 3)  # top-left corner -> top-right corner


def test_rotate_any_angle_is_clockwise_on_screen():
    # A horizontal bar turned +30 degrees: its right end goes down.
    out = place_artwork(solid(4, 24), (40, 40), PlacementOptions(size=(24, 4), rotate=30))
    dx, dy = 9 * math.cos(math.radians(30)), 9 * math.sin(math.radians(30))
    assert out[round(20 + dy - 0.5), round(20 + dx - 0.5), 3] > 0.9
    assert out[round(20 - dy - 0.5), round(20 + dx - 0.5), 3] < 0.1
    assert out[round(20 - dy - 0.5), round(20 - dx - 0.5), 3] > 0.9  # left end up


def test_rotate_45_makes_a_diamond():
    out = place_artwork(solid(10, 10), (20, 20), PlacementOptions(size=(10, 10), rotate=45))
    assert out[10, 10, 3] == pytest.approx(1)
    assert out[3, 9:11, 3].min() > 0.5  # the top vertex reaches 10 - 7.07 = 2.93
    assert out[4, 4, 3] == 0 and out[15, 15, 3] == 0  # where the square's corners were
    assert out[..., 3].sum() == pytest.approx(100, abs=1)  # area kept


def test_flips_mirror_within_the_box():
    assert white_pixel(place_artwork(marked(), (4, 4), PlacementOptions(flip_horizontal=True))) == (0, 3)
    assert white_pixel(place_artwork(marked(), (4, 4), PlacementOptions(flip_vertical=True))) == (3, 0)
    both = PlacementOptions(flip_horizontal=True, flip_vertical=True)
    assert white_pixel(place_artwork(marked(), (4, 4), both)) == (3, 3)
    # flip first, then rotate: mirrored to the top right, turned to the bottom right
    assert white_pixel(place_artwork(marked(), (4, 4), PlacementOptions(flip_horizontal=True, rotate=90))) == (3, 3)


# --- size, position, print areas ---------------------------------------------------------------------


def test_size_and_position_place_the_box_exactly():
    out = place_artwork(solid(3, 3), (10, 8), PlacementOptions(size=(4, 2), position=(5, 1)))
    expected = np.zeros((8, 10, 4), np.float32)
    expected[1:3, 5:9] = RED
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_size_alone_is_centred_and_position_alone_keeps_the_fit():
    out = place_artwork(solid(2, 2), (10, 10), PlacementOptions(size=(4, 6)))
    assert np.argwhere(out[..., 3] > 0.5).min(axis=0).tolist() == [2, 3]
    out = place_artwork(solid(5, 10), (10, 10), PlacementOptions(fit="contain", position=(0, 0)))
    np.testing.assert_allclose(out[:5], solid(5, 10))
    assert (out[5:, :, 3] == 0).all()


def test_box_partly_outside_the_content_is_cut():
    out = place_artwork(marked(), (4, 4), PlacementOptions(size=(4, 4), position=(-2, -2)))
    np.testing.assert_array_equal(out[:2, :2, 3], 1)
    assert (out[2:, :, 3] == 0).all() and (out[:, 2:, 3] == 0).all()


def test_fractional_positions_cover_pixels_partly():
    out = place_artwork(solid(2, 2), (6, 2), PlacementOptions(size=(2, 2), position=(1.5, 0)))
    np.testing.assert_allclose(out[0, :, 3], [0, 0.5, 1, 0.5, 0, 0], atol=1 / 32)


def test_print_area_preset_is_where_fit_happens_and_clips():
    chest = PrintAreaPreset("chest", size=(10, 11), position=(20, 5))
    out = place_artwork(solid(10, 20), (40, 30), PlacementOptions(fit="contain", print_area=chest))
    expected = np.zeros((30, 40, 4), np.float32)
    expected[8:13, 20:30] = RED  # a 10 x 5 band in the middle of the 10 x 11 area
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # cover makes it 22 x 11, overflowing the area sideways: clipped to the area, not the content
    out = place_artwork(solid(10, 20), (40, 30), PlacementOptions(fit="cover", print_area=chest))
    expected[5:16, 20:30] = RED
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_print_area_lookup_and_checks():
    presets = [PrintAreaPreset("chest", (10, 10), (0, 0)), PrintAreaPreset("sleeve", (4, 8), (30, 2))]
    assert find_print_area("sleeve", presets) is presets[1]
    with pytest.raises(InvalidOption, match="print_area: no print area named 'back'.*chest, sleeve"):
        PlacementOptions.from_dict({"print_area": "back"}, presets)
    too_big = PlacementOptions(print_area=PrintAreaPreset("wide", (50, 10), (0, 0)))
    with pytest.raises(InvalidOption, match="print_area"):
        place_artwork(solid(2, 2), (40, 30), too_big)


# --- pattern ------------------------------------------------------------------------------------------


def test_pattern_repeats_with_spacing():
    options = PlacementOptions(size=(2, 2), pattern=Pattern(spacing=1))
    out = place_artwork(solid(2, 2), (10, 7), options)
    period = np.array([1, 1, 0] * 4)
    expected = period[:7, None] * period[None, :10]
    np.testing.assert_array_equal(out[..., 3], expected)
    assert (out[expected == 1] == RED).all()


def test_pattern_offset_and_separate_spacings():
    options = PlacementOptions(size=(2, 2), pattern=Pattern(spacing=(2, 0), offset=(1, 0)))
    out = place_artwork(solid(2, 2), (9, 2), options)
    # columns: the grid starts at x = 1 and repeats every 4 (2 of tile, 2 of gap)
    np.testing.assert_array_equal(out[0, :, 3], [0, 1, 1, 0, 0, 1, 1, 0, 0])


def test_pattern_scale_tiles_the_whole_artwork():
    art = np.empty((4, 4, 4), np.float32)
    art[:2, :2], art[:2, 2:], art[2:, :2], art[2:, 2:] = RED, GREEN, BLUE, (1, 1, 1, 1)
    out = place_artwork(art, (8, 8), PlacementOptions(pattern=Pattern(scale=0.5)))
    np.testing.assert_allclose(out, np.tile(art, (2, 2, 1)))  # 2 x 2 copies at the art's own size


def test_rotate_turns_the_whole_pattern():
    # 1-px columns, one on, one off; turned a quarter: 1-px rows.
    options = PlacementOptions(size=(1, 6), pattern=Pattern(spacing=(1, 0)), rotate=90)
    alpha = place_artwork(solid(6, 1), (6, 6), options)[..., 3]
    np.testing.assert_array_equal(alpha, np.repeat(alpha[:, :1], 6, axis=1))  # each row uniform
    assert sorted(alpha[:, 0].tolist()) == [0, 0, 0, 1, 1, 1]
    assert (np.abs(np.diff(alpha[:, 0])) == 1).all()  # alternating


def test_pattern_clipped_to_the_print_area():
    area = PrintAreaPreset("band", size=(6, 2), position=(2, 1))
    options = PlacementOptions(size=(1, 1), print_area=area, pattern=Pattern())
    out = place_artwork(solid(1, 1), (10, 4), options)
    expected = np.zeros((4, 10))
    expected[1:3, 2:8] = 1
    np.testing.assert_array_equal(out[..., 3], expected)


# --- colour ---------------------------------------------------------------------------------------------


def test_color_multiply_on_mid_grey():
    grey = solid(4, 4, (0.5, 0.5, 0.5, 1))
    out = place_artwork(grey, (4, 4), PlacementOptions(color=ColorOverlay("#FF8000", "multiply")))
    np.testing.assert_allclose(out[..., :3], np.broadcast_to([0.5, 0.5 * 128 / 255, 0], (4, 4, 3)), atol=1e-6)
    np.testing.assert_array_equal(out[..., 3], 1)


def test_color_over_artwork_keeps_its_alpha_and_mixes_by_opacity():
    art = solid(2, 2, (1, 1, 1, 1))
    art[1] = (1, 1, 1, 0.25)
    art[:, 1, 3] = 0
    out = place_artwork(art, (2, 2), PlacementOptions(color=ColorOverlay("0000ff", "normal", opacity=50)))
    np.testing.assert_allclose(out[..., 3], art[..., 3])
    np.testing.assert_allclose(out[0, 0], (0.5, 0.5, 1, 1), atol=1e-6)


def test_color_alone_is_a_solid_fill():
    out = place_artwork(None, (3, 2), PlacementOptions(color=ColorOverlay("#336699", "multiply")))
    np.testing.assert_allclose(out, np.broadcast_to([0x33 / 255, 0x66 / 255, 0x99 / 255, 1], (2, 3, 4)), atol=1e-6)
    area = PrintAreaPreset("left", size=(1, 2), position=(0, 0))
    out = place_artwork(None, (3, 2), PlacementOptions(print_area=area, color=ColorOverlay("336699", opacity=40)))
    np.testing.assert_allclose(out[..., 3], [[0.4, 0, 0], [0.4, 0, 0]], atol=1e-6)


def test_color_filling_the_area_blends_with_the_artwork_and_fills_around_it():
    art = solid(2, 4, (0.5, 0.5, 0.5, 1))
    art[:, 2:] = CLEAR  # right half: no artwork
    color = ColorOverlay("#FF8000", "multiply", fill_area=True)
    out = place_artwork(art, (4, 2), PlacementOptions(color=color))
    np.testing.assert_allclose(out[:, :2], np.broadcast_to([0.5, 0.5 * 128 / 255, 0, 1], (2, 2, 4)), atol=1e-6)
    np.testing.assert_allclose(out[:, 2:], np.broadcast_to([1, 128 / 255, 0, 1], (2, 2, 4)), atol=1e-6)
    # at 50 % over a transparent pixel: the colour at half coverage
    half = ColorOverlay("#FF8000", "multiply", opacity=50, fill_area=True)
    out = place_artwork(art, (4, 2), PlacementOptions(color=half))
    np.testing.assert_allclose(out[0, 3], [1, 128 / 255, 0, 0.5], atol=1e-6)
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5 * (1 + 128 / 255) / 2, 0.25, 1], atol=1e-6)


def test_every_blend_mode_is_accepted_for_color():
    from compositor.blend import BLEND_MODES, blend

    grey = solid(2, 2, (0.25, 0.5, 0.75, 1))
    for mode in BLEND_MODES:
        out = place_artwork(grey, (2, 2), PlacementOptions(color=ColorOverlay("#CC3311", mode)))
        expected = blend(mode, grey[..., :3], np.broadcast_to(np.float32([0.8, 0.2, 1 / 15]), (2, 2, 3)))
        if mode != "dissolve":
            np.testing.assert_allclose(out[..., :3], np.clip(expected, 0, 1), atol=1e-6, err_msg=mode)


def test_nothing_to_place_is_an_error():
    with pytest.raises(InvalidOption, match="artwork"):
        place_artwork(None, (4, 4), PlacementOptions())


# --- adjustment layers ----------------------------------------------------------------------------------


def ramp():
    values = np.linspace(0, 1, 16, dtype=np.float32)
    image = np.ones((3, 16, 4), np.float32)
    image[0, :, :3] = values[:, None]
    image[1, :, :3] = np.stack([values, values[::-1], values * 0.5], axis=-1)
    image[2, :, :3] = (0.8, 0.4, 0.3)
    return image


def test_brightness_and_contrast_are_photoshops_adjustment():
    out = place_artwork(ramp(), (16, 3), PlacementOptions(adjustment_layers=AdjustmentLayers(brightness=40, contrast=-30)))
    expected = BrightnessContrast(40, -30, legacy=False).apply(ramp()[..., :3])
    np.testing.assert_allclose(out[..., :3], expected, atol=1e-6)
    assert out[0, 8, 0] > ramp()[0, 8, 0]  # brighter mid-tones
    assert out[0, 0, 0] == pytest.approx(0, abs=1e-6) and out[0, -1, 0] == pytest.approx(1, abs=1e-6)


def test_saturation_minus_100_is_grey():
    out = place_artwork(ramp(), (16, 3), PlacementOptions(adjustment_layers=AdjustmentLayers(saturation=-100)))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-6)
    # Hue/Saturation keeps HSL lightness: (max + min) / 2 of (0.8, 0.4, 0.3) is 0.55
    assert out[2, 0, 0] == pytest.approx(0.55, abs=1e-6)


def test_vibrance_is_photoshops_vibrance():
    out = place_artwork(ramp(), (16, 3), PlacementOptions(adjustment_layers=AdjustmentLayers(vibrance=60)))
    np.testing.assert_allclose(out[..., :3], Vibrance(60, 0).apply(ramp()[..., :3]), atol=1e-6)


def test_opacity_scales_alpha():
    out = place_artwork(solid(2, 2), (2, 2), PlacementOptions(adjustment_layers=AdjustmentLayers(opacity=25)))
    np.testing.assert_allclose(out[..., 3], 0.25)
    np.testing.assert_allclose(out[..., :3], np.broadcast_to([1, 0, 0], (2, 2, 3)))


def test_blur_is_a_gaussian_with_the_radius_as_sigma():
    art = np.zeros((41, 41, 4), np.float32)
    art[20, 20] = RED
    out = place_artwork(art, (41, 41), PlacementOptions(adjustment_layers=AdjustmentLayers(blur=2)))
    alpha = out[..., 3]
    assert alpha.sum() == pytest.approx(1, abs=1e-3)  # coverage spread, not lost
    assert alpha[20, 20] == pytest.approx(1 / (2 * math.pi * 4), rel=0.02)  # peak of a sigma-2 Gaussian
    assert alpha[20, 22] / alpha[20, 20] == pytest.approx(math.exp(-4 / 8), rel=0.02)  # one sigma away
    np.testing.assert_allclose(out[alpha > 1e-4][:, :3], np.broadcast_to([1, 0, 0], (int((alpha > 1e-4).sum()), 3)),
                               atol=1e-4)  # premultiplied: the colour stays red


@pytest.mark.parametrize("name, value, check", [
    ("brightness", 150, lambda before, after: (after[0, 1:-1, 0] > before[0, 1:-1, 0]).all()),
    ("brightness", -150, lambda before, after: (after[0, 1:-1, 0] < before[0, 1:-1, 0]).all()),
    # Contrast pushes values away from the middle (or, negative, towards it).
    ("contrast", 100, lambda before, after: np.ptp(after[2, 0, :3]) > np.ptp(before[2, 0, :3])),
    ("contrast", -100, lambda before, after: np.ptp(after[2, 0, :3]) < np.ptp(before[2, 0, :3])),
    ("saturation", 100, lambda before, after: np.ptp(after[2, 0, :3]) > np.ptp(before[2, 0, :3])),
    ("vibrance", -100, lambda before, after: np.ptp(after[2, 0, :3]) < np.ptp(before[2, 0, :3])),
    ("vibrance", 100, lambda before, after: np.ptp(after[2, 0, :3]) > np.ptp(before[2, 0, :3])),
    ("opacity", 0, lambda before, after: (after[..., 3] == 0).all()),
    # A blur of radius 100 on a 16-px ramp leaves it nearly flat.
    ("blur", 100, lambda before, after: np.ptp(after[0, :, 0]) < 0.2 * np.ptp(before[0, :, 0])),
])
def test_each_adjustment_at_the_end_of_its_range_changes_the_pixels(name, value, check):
    before = ramp()
    after = place_artwork(before, (16, 3), PlacementOptions(adjustment_layers=AdjustmentLayers(**{name: value})))
    assert check(before, after), (name, value)
    assert np.isfinite(after).all() and after.min() >= 0 and after.max() <= 1


@pytest.mark.parametrize("name, low, high", [
    ("brightness", -150, 150), ("contrast", -100, 100), ("opacity", 0, 100),
    ("saturation", -100, 100), ("vibrance", -100, 100), ("blur", 0, 100),
])
def test_adjustment_ranges_are_inclusive_and_checked_at_both_ends(name, low, high):
    for value in (low, high):
        assert getattr(AdjustmentLayers(**{name: value}), name) == value
    for value in (low - 0.5, high + 0.5):
        with pytest.raises(InvalidOption) as error:
            AdjustmentLayers(**{name: value})
        assert error.value.field == f"adjustment_layers.{name}"


@pytest.mark.parametrize("degrees", [-360, 360])
def test_rotate_accepts_a_whole_turn_either_way(degrees):
    out = place_artwork(marked(), (4, 4), PlacementOptions(rotate=degrees))
    assert white_pixel(out) == (0, 0)


def test_color_alone_in_any_blend_mode_fills_the_area():
    # Over nothing, a blend mode has no backdrop to mix with: the colour itself.
    from compositor.blend import BLEND_MODES

    for mode in BLEND_MODES:
        if mode == "dissolve":
            continue
        out = place_artwork(None, (3, 2), PlacementOptions(color=ColorOverlay("#CC3311", mode)))
        np.testing.assert_allclose(out, np.broadcast_to(np.float32([0.8, 0.2, 1 / 15, 1]), (2, 3, 4)),
                                   atol=1e-6, err_msg=mode)


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, field", [
    (lambda: PlacementOptions(fit="squash"), "fit"),
    (lambda: ColorOverlay("#FFFFFF", fill_area="yes"), "color.fill_area"),
    (lambda: PlacementOptions(rotate=361), "rotate"),
    (lambda: PlacementOptions(rotate=-360.5), "rotate"),
    (lambda: PlacementOptions(rotate=float("nan")), "rotate"),
    (lambda: PlacementOptions(rotate="90"), "rotate"),
    (lambda: PlacementOptions(flip_horizontal="yes"), "flip_horizontal"),
    (lambda: PlacementOptions(flip_vertical=1), "flip_vertical"),
    (lambda: PlacementOptions(size=(0, 10)), "size.width"),
    (lambda: PlacementOptions(size=(10,)), "size"),
    (lambda: PlacementOptions(position=(0, 1e9)), "position.y"),
    (lambda: PlacementOptions(pattern=Pattern(scale=0)), "pattern.scale"),
    (lambda: PlacementOptions(pattern=Pattern(), position=(1, 1)), "position"),
    (lambda: PlacementOptions(pattern=Pattern(spacing=-1)), "pattern.spacing.x"),
    (lambda: PlacementOptions(pattern=Pattern(offset=(0, "a"))), "pattern.offset.y"),
    (lambda: ColorOverlay("#GG0000"), "color"),
    (lambda: ColorOverlay("#FFF"), "color"),
    (lambda: ColorOverlay("#FFFFFF", "plus"), "color.blend_mode"),
    (lambda: ColorOverlay("#FFFFFF", opacity=101), "color.opacity"),
    (lambda: AdjustmentLayers(brightness=151), "adjustment_layers.brightness"),
    (lambda: AdjustmentLayers(contrast=-101), "adjustment_layers.contrast"),
    (lambda: AdjustmentLayers(opacity=-1), "adjustment_layers.opacity"),
    (lambda: AdjustmentLayers(saturation=100.5), "adjustment_layers.saturation"),
    (lambda: AdjustmentLayers(vibrance=-200), "adjustment_layers.vibrance"),
    (lambda: AdjustmentLayers(blur=101), "adjustment_layers.blur"),
    (lambda: PrintAreaPreset("", (1, 1)), "print_area.name"),
    (lambda: PlacementOptions.from_dict({"rotation": 5}), "rotation"),
    (lambda: PlacementOptions.from_dict({"adjustment_layers": {"gamma": 2}}), "adjustment_layers.gamma"),
    (lambda: PlacementOptions.from_dict({"color": {"hex": "#000000", "mode": "multiply"}}), "color.mode"),
    (lambda: place_artwork(solid(2, 2), (0, 5)), "content_size"),
    (lambda: place_artwork(np.zeros((2, 2, 3), np.float32), (4, 4)), "artwork"),
])
def test_bad_values_name_the_field(make, field):
    with pytest.raises(InvalidOption) as error:
        make()
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}:")


def test_options_from_json():
    options = PlacementOptions.from_dict({
        "fit": "cover", "rotate": -15, "flip_vertical": True, "size": {"width": 100, "height": 50},
        "position": [3, 4],
        "color": {"hex": "ff0000", "blend_mode": "multiply"}, "adjustment_layers": {"blur": 1.5},
    })
    assert options.size == (100, 50) and options.position == (3, 4)
    patterned = PlacementOptions.from_dict({"pattern": {"scale": 0.5, "spacing": 4}})
    assert patterned.pattern == Pattern(scale=0.5, spacing=(4, 4))
    assert options.color.hex == "#FF0000" and options.color.blend_mode == "multiply"
    assert options.adjustment_layers.blur == 1.5 and options.adjustment_layers.opacity == 100
    assert PlacementOptions.from_dict({"color": "#00ff00"}).color == ColorOverlay("#00FF00")
    assert PlacementOptions.from_dict({"pattern": True}).pattern == Pattern()
    # Dynamic Mockups' spellings
    assert PlacementOptions.from_dict({"fit": "stretch"}).fit == "fill"
    assert PlacementOptions.from_dict({"position": {"top": 7, "left": 3}}).position == (3, 7)


# --- sizes for decoding and print files -----------------------------------------------------------------------


def test_required_artwork_size():
    assert required_artwork_size((300, 200)) == (300, 200)
    assert required_artwork_size((300, 200), PlacementOptions(size=(120.2, 80))) == (121, 80)
    assert required_artwork_size((300, 200), PlacementOptions(pattern=Pattern(scale=0.25))) == (75, 50)
    area = PrintAreaPreset("a", (100, 50), (10, 10))
    assert required_artwork_size((300, 200), PlacementOptions(print_area=area)) == (100, 50)


def test_artwork_of_the_required_size_is_never_enlarged():
    # decode a 4:1 artwork to at least the required size: cover only ever shrinks it
    content = (300, 200)
    need = required_artwork_size(content, PlacementOptions(fit="cover"))
    art_w, art_h = max(need[0], need[1] * 4), max(need[1], need[0] // 4)
    _, _, w, h = placed_box((art_w, art_h), PlacementOptions(fit="cover"), content)
    assert w <= art_w and h <= art_h


def test_scaled_options_scale_lengths_only():
    options = PlacementOptions(rotate=30, size=(10, 20), position=(1, 2),
                               print_area=PrintAreaPreset("a", (30, 40), (5, 6)),
                               adjustment_layers=AdjustmentLayers(blur=1.5, brightness=20))
    twice = scaled_options(options, 2)
    assert twice.size == (20, 40) and twice.position == (2, 4) and twice.rotate == 30
    assert twice.print_area.size == (60, 80) and twice.print_area.position == (10, 12)
    assert twice.adjustment_layers.blur == 3 and twice.adjustment_layers.brightness == 20
    tiled = scaled_options(PlacementOptions(pattern=Pattern(scale=0.5, spacing=(2, 3), offset=(4, 5))), 2)
    assert tiled.pattern.spacing == (4, 6) and tiled.pattern.offset == (8, 10) and tiled.pattern.scale == 0.5


def test_placing_artwork_bytes_decodes_only_what_the_placement_needs():
    from PIL import Image

    from compositor.artwork import clear_artwork_cache, load_artwork

    pixels = np.zeros((400, 800, 3), np.uint8)
    pixels[:, :400] = (255, 0, 0)
    pixels[:, 400:] = (0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    clear_artwork_cache()
    options = PlacementOptions(fit="contain")
    out = place_artwork_bytes(buffer.getvalue(), (100, 100), options)
    # decoded once, at 1/4 (200 x 100, both sides >= the 100 x 100 the placement needs)
    from compositor.artwork import _cache
    assert _cache.total_bytes == 200 * 100 * 16
    assert load_artwork(buffer.getvalue(), target_size=(100, 100)).size == (200, 100)
    assert (out[:25, :, 3] == 0).all() and (out[75:, :, 3] == 0).all()
    np.testing.assert_allclose(out[25:75, :49], solid(50, 49, RED), atol=1e-6)
    np.testing.assert_allclose(out[25:75, 51:], solid(50, 49, BLUE), atol=1e-6)
    colour_only = place_artwork_bytes(None, (3, 3), PlacementOptions(color=ColorOverlay("#00FF00")))
    np.testing.assert_allclose(colour_only, solid(3, 3, GREEN))


# --- into the smart object ----------------------------------------------------------------------------------


def test_placed_artwork_warps_onto_the_demo_print_area():
    psd = PSDImage.open(io.BytesIO(build_demo_template(400)))
    layer = next(layer for layer in psd.descendants() if layer.kind == "smartobject")
    smart_object = read_smart_object(layer, psd)
    content_size = smart_object.content_size
    warp_map = build_warp_map(smart_object, (400, 400))

    # A white design with a red top-left corner and a blue bottom-right one.
    art = solid(60, 45, (1, 1, 1, 1))
    art[:15, :12] = RED
    art[-15:, -12:] = BLUE
    content = place_artwork(art, content_size, PlacementOptions(fit="fill"))
    assert content.shape[:2] == (content_size[1], content_size[0])
    canvas = warp_content(warp_map, content)
    left, top = warp_map.box[:2]

    def at(x, y):
        return canvas[int(y) - top, int(x) - left]

    quad = print_area_quad(400)  # TL, TR, BR, BL on the canvas
    centre = quad.mean(axis=0)
    inside = {name: corner + 0.06 * (centre - corner) for name, corner in zip(("tl", "tr", "br", "bl"), quad)}
    np.testing.assert_allclose(at(*inside["tl"]), RED, atol=0.02)
    np.testing.assert_allclose(at(*inside["br"]), BLUE, atol=0.02)
    np.testing.assert_allclose(at(*inside["tr"]), (1, 1, 1, 1), atol=0.02)
    np.testing.assert_allclose(at(*inside["bl"]), (1, 1, 1, 1), atol=0.02)
    outside = quad[0] - 0.06 * (centre - quad[0])
    assert at(*outside)[3] == 0
