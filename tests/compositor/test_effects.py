"""Layer effects on tiny shapes, with expectations worked out by hand."""

import math

import numpy as np
import pytest

from compositor import fills
from compositor.effects import (
    SIZE_TO_SIGMA,
    Effect,
    composite_with_effects,
    render_effects,
)


def straight(stops):
    """Effect.gradient_stops of [(location, (r, g, b), alpha)]: midpoints in the
    middle, no smoothness, so colour and alpha run straight between stops."""
    colour = [fills.GradientStop(location, 0.5, rgb) for location, rgb, _ in stops]
    opacity = [fills.GradientStop(location, 0.5, (alpha,)) for location, _, alpha in stops]
    return colour, opacity, 0.0


def sample_gradient(stops, position, method):
    colour, alpha = fills.sample_gradient(*straight(stops), method, position)
    return colour, alpha[..., 0]


def square(size=4, pad=0):
    """An opaque red square of `size` px, with `pad` transparent px around."""
    n = size + 2 * pad
    rgba = np.zeros((n, n, 4), np.float32)
    rgba[pad : pad + size, pad : pad + size] = (1, 0, 0, 1)
    return rgba


def over_transparency(stack):
    """The layer and its effects composited over a transparent backdrop:
    (colour, alpha, how far the stack's box reaches past the layer's)."""
    h, w = stack.layer_rgba.shape[:2]
    colour, alpha = composite_with_effects(stack, "normal", np.zeros((h, w, 3), np.float32),
                                           np.zeros((h, w, 1), np.float32))
    return colour, alpha, -stack.box[0]


def test_hard_drop_shadow_is_the_shape_moved_by_distance_away_from_the_light():
    # Light from 90 degrees (straight above): the shadow falls 3 px down.
    shadow = Effect("drop_shadow", color=(0, 0, 0), opacity=0.5, size=0, distance=3, angle=90)
    stack = render_effects(square(4), (10, 20, 14, 24), [shadow])
    reach = 20 - stack.box[1]
    assert stack.box == (10 - reach, 20 - reach, 14 + reach, 24 + reach)
    assert reach >= 3
    (part,) = stack.below
    alpha = part.alpha[..., 0]
    rows, cols = np.nonzero(alpha > 0.01)
    # Layer rows reach..reach+3 -> shadow rows reach+3..reach+6, same columns.
    assert (rows.min(), rows.max()) == (reach + 3, reach + 6)
    assert (cols.min(), cols.max()) == (reach, reach + 3)
    assert alpha.max() == pytest.approx(0.5)


def test_drop_shadow_angle_120_goes_down_and_right():
    # cos 120 = -1/2, sin 120 = sqrt(3)/2: offset (+d/2, +d*0.866).
    shadow = Effect("drop_shadow", size=0, distance=4, angle=120)
    stack = render_effects(square(1, pad=0), (0, 0, 1, 1), [shadow])
    alpha = stack.below[0].alpha[..., 0]
    ys, xs = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]]
    centre_x = (alpha * xs).sum() / alpha.sum()
    centre_y = (alpha * ys).sum() / alpha.sum()
    reach = -stack.box[0]
    assert centre_x - reach == pytest.approx(2.0, abs=1e-3)
    assert centre_y - reach == pytest.approx(4 * math.sin(math.radians(120)), abs=1e-3)


def test_drop_shadow_spread_grows_the_shape_before_the_blur():
    # Size 4, spread 100 %: a hard shape grown by 4 px, no blur.
    shadow = Effect("drop_shadow", size=4, spread=1.0, distance=0)
    stack = render_effects(square(4), (0, 0, 4, 4), [shadow])
    alpha = stack.below[0].alpha[..., 0]
    reach = -stack.box[0]
    row = alpha[reach + 1]  # a row through the square
    covered = np.nonzero(row > 0.5)[0]
    # 4 px of square plus 4 px each side.
    assert (covered.min(), covered.max()) == (reach - 4, reach + 7)


def test_drop_shadow_size_blurs_with_the_documented_sigma():
    # A blurred straight edge is a Gaussian CDF: at the edge 1/2, at one
    # sigma outside about 0.159.
    shadow = Effect("drop_shadow", size=10, spread=0.0, distance=0)
    big = square(60)
    stack = render_effects(big, (0, 0, 60, 60), [shadow])
    alpha = stack.below[0].alpha[..., 0]
    reach = -stack.box[0]
    row = alpha[reach + 30]
    sigma = 10 * SIZE_TO_SIGMA  # 4 px
    # Pixel centres: the last inside one at reach + 59.5 - the edge at reach + 60.
    assert row[reach + 60 + int(sigma)] == pytest.approx(0.159, abs=0.03)
    assert (row[reach + 59] + row[reach + 60]) / 2 == pytest.approx(0.5, abs=0.03)


def test_outside_stroke_is_a_ring_of_its_size():
    stroke = Effect("stroke", color=(0, 0, 1), size=2, position="outside")
    stack = render_effects(square(4), (0, 0, 4, 4), [stroke])
    assert not stack.above  # an outside stroke lies under the layer
    alpha = stack.below[0].alpha[..., 0]
    reach = -stack.box[0]
    row = alpha[reach + 1]
    assert list(np.round(row[reach - 3 : reach + 7])) == [0, 1, 1, 0, 0, 0, 0, 1, 1, 0]


def test_inside_and_center_strokes():
    inside = Effect("stroke", size=1, position="inside")
    stack = render_effects(square(4), (0, 0, 4, 4), [inside])
    reach = -stack.box[0]
    alpha = stack.above[0].alpha[reach : reach + 4, reach : reach + 4, 0]
    # Inside 1 px: the square's border pixels, not its 2x2 middle -- even
    # though the square fills its box.
    np.testing.assert_allclose(alpha, [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]])
    centre = Effect("stroke", size=2, position="center")
    stack = render_effects(square(4), (0, 0, 4, 4), [centre])
    alpha = stack.below[0].alpha[..., 0] + stack.above[0].alpha[..., 0]
    reach = -stack.box[0]
    row = np.round(alpha[reach + 1, reach - 2 : reach + 6])
    assert list(row) == [0, 1, 1, 0, 0, 1, 1, 0]


def test_soft_dilation_reaches_radius_plus_each_pixels_alpha():
    from compositor.effects import soft_dilate

    alpha = np.zeros((1, 9), np.float32)
    alpha[0, 4] = 0.3
    # A lone 0.3 pixel, radius 2: clip(2 + 0.3 - distance) -> 1 at distance 1,
    # 0.3 at distance 2, 0 at 3; the pixel itself is covered.
    np.testing.assert_allclose(soft_dilate(alpha, 2)[0], [0, 0, 0.3, 1, 1, 1, 0.3, 0, 0], atol=1e-6)
    # Beside an opaque pixel the weaker one only matters where it reaches further.
    alpha[0, 5] = 1.0
    np.testing.assert_allclose(soft_dilate(alpha, 1)[0], [0, 0, 0, 0.3, 1, 1, 1, 0, 0], atol=1e-6)
    # Diagonal: distance sqrt(2) from an opaque pixel with radius 1 -> 2 - 1.414.
    square_alpha = np.zeros((5, 5), np.float32)
    square_alpha[2, 2] = 1
    assert soft_dilate(square_alpha, 1)[1, 1] == pytest.approx(2 - math.sqrt(2), abs=1e-5)


def test_stroke_distance_is_a_sixteen_sided_polygon():
    from compositor.effects import stroke_distance

    dy = np.float32([0, 1, 1, 1, 2, 0, 4])
    dx = np.float32([5, 1, 2, 3, 3, 0, 2])
    # Exact along (1, 0), (1, 1), (2, 1); in between, the straight facet:
    # (3, 1) = (2, 1) + (1, 0); (3, 2) = (2, 1) + (1, 1); (2, 4) = (1, 2) x 2.
    expected = [5, math.sqrt(2), math.sqrt(5), math.sqrt(5) + 1, math.sqrt(5) + math.sqrt(2), 0, 2 * math.sqrt(5)]
    np.testing.assert_allclose(stroke_distance(dy, dx), expected, rtol=1e-6)
    np.testing.assert_allclose(stroke_distance(-dx, dy), expected, rtol=1e-6)


def test_soft_dilation_matches_the_exhaustive_maximum():
    from compositor.effects import soft_dilate, stroke_distance

    rng = np.random.default_rng(3)
    alpha = np.zeros((24, 24), np.float32)
    alpha[6:18, 5:19] = rng.random((12, 14)) ** 2
    ys, xs = np.nonzero(alpha)
    for radius in (1, 3):
        exhaustive = np.zeros_like(alpha)
        for y in range(24):
            for x in range(24):
                reach = alpha[ys, xs] - stroke_distance((ys - y).astype(np.float32), (xs - x).astype(np.float32))
                exhaustive[y, x] = np.clip(radius + reach.max(), 0, 1)
        error = np.abs(soft_dilate(alpha, radius) - exhaustive)
        assert error.max() <= 1 / 32 and error.mean() < 1e-3


def test_outside_stroke_shares_a_half_transparent_pixel_with_the_layer():
    # A 0.6-alpha red pixel in a 3 px outside green stroke: Photoshop shows
    # 0.6 red + 0.4 green, fully covered (the stroke fills what the layer leaves).
    layer = np.zeros((1, 1, 4), np.float32)
    layer[0, 0] = (1, 0, 0, 0.6)
    stack = render_effects(layer, (0, 0, 1, 1), [Effect("stroke", color=(0, 1, 0), size=3)])
    colour, alpha, reach = over_transparency(stack)
    np.testing.assert_allclose(colour[reach, reach] * alpha[reach, reach], [0.6, 0.4, 0], atol=1e-5)
    assert alpha[reach, reach, 0] == pytest.approx(1)


def test_inside_stroke_recolours_a_half_transparent_layer_within_its_alpha():
    # A thin 0.5-alpha red layer inside a 2 px green stroke: all of it is
    # stroke, so it shows green at the layer's own alpha (over white: 0.5, 1, 0.5).
    layer = np.zeros((3, 3, 4), np.float32)
    layer[...] = (1, 0, 0, 0.5)
    stack = render_effects(layer, (0, 0, 3, 3), [Effect("stroke", color=(0, 1, 0), size=2, position="inside")])
    h, w = stack.layer_rgba.shape[:2]
    colour, alpha = composite_with_effects(stack, "normal", np.ones((h, w, 3), np.float32),
                                           np.ones((h, w, 1), np.float32))
    reach = -stack.box[0]
    np.testing.assert_allclose(colour[reach + 1, reach + 1], [0.5, 1, 0.5], atol=1e-5)


def test_two_strokes_form_rings_first_innermost():
    first = Effect("stroke", color=(1, 0, 0), size=1)
    second = Effect("stroke", color=(0, 0, 1), size=3)
    stack = render_effects(square(2), (0, 0, 2, 2), [first, second])
    a1, a2 = (part.alpha[..., 0] for part in stack.below)
    reach = -stack.box[0]
    row1, row2 = np.round(a1[reach]), np.round(a2[reach])
    # Columns reach-3 .. reach+4: square at reach, reach+1.
    assert list(row1[reach - 3 : reach + 5]) == [0, 0, 1, 0, 0, 1, 0, 0]
    assert list(row2[reach - 3 : reach + 5]) == [1, 1, 0, 0, 0, 0, 1, 1]


def test_colour_overlay_covers_the_layer_shape_and_blends_over_the_result():
    overlay = Effect("color_overlay", color=(0, 1, 0), opacity=0.5, mode="normal")
    layer = square(2, pad=1)
    stack = render_effects(layer, (0, 0, 4, 4), [overlay])
    np.testing.assert_allclose(stack.overlays[0].alpha[..., 0], layer[..., 3] * 0.5)
    backdrop = np.zeros((4, 4, 3), np.float32)
    colour, alpha = composite_with_effects(stack, "normal", backdrop, np.ones((4, 4, 1), np.float32))
    # Inside: red, then half green over it.
    np.testing.assert_allclose(colour[1, 1], [0.5, 0.5, 0], atol=1e-6)
    np.testing.assert_allclose(colour[0, 0], [0, 0, 0], atol=1e-6)


def test_overlay_in_difference_acts_on_the_blended_result():
    # Layer 0.6 in Difference over 0.2 -> 0.4; overlay 0.1 in Difference -> 0.3.
    overlay = Effect("color_overlay", color=(0.1, 0.1, 0.1), mode="difference")
    layer = np.ones((1, 1, 4), np.float32)
    layer[..., :3] = 0.6
    stack = render_effects(layer, (0, 0, 1, 1), [overlay])
    backdrop = np.full((1, 1, 3), 0.2, np.float32)
    colour, _ = composite_with_effects(stack, "difference", backdrop, np.ones((1, 1, 1), np.float32))
    np.testing.assert_allclose(colour, 0.3, atol=1e-6)


def test_overlay_and_layer_share_a_soft_edges_coverage():
    # A 0.5-alpha grey (0.4) pixel under a white 100 % overlay, over black:
    # the overlay replaces the layer's colour, so 0.5 white over black = 0.5
    # (drawn one over the other the grey would show: 0.2 + 0.5 * 0.8 = 0.6).
    layer = np.zeros((1, 1, 4), np.float32)
    layer[0, 0] = (0.4, 0.4, 0.4, 0.5)
    backdrop = np.zeros((1, 1, 3), np.float32)
    opaque = np.ones((1, 1, 1), np.float32)
    stack = render_effects(layer, (0, 0, 1, 1), [Effect("color_overlay", color=(1, 1, 1))])
    colour, alpha = composite_with_effects(stack, "normal", backdrop, opaque)
    np.testing.assert_allclose(colour[0, 0], 0.5, atol=1e-6)
    # At 50 %: grey and white mix to 0.7 inside, mixed in by the coverage: 0.35.
    stack = render_effects(layer, (0, 0, 1, 1), [Effect("color_overlay", color=(1, 1, 1), opacity=0.5)])
    colour, alpha = composite_with_effects(stack, "normal", backdrop, opaque)
    np.testing.assert_allclose(colour[0, 0], 0.35, atol=1e-6)
    # Over transparency the pixel keeps the layer's alpha and shows the overlay.
    colour, alpha = composite_with_effects(stack, "normal", backdrop, np.zeros((1, 1, 1), np.float32))
    np.testing.assert_allclose(alpha[0, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(colour[0, 0], 0.7, atol=1e-6)


def test_fill_fades_the_layer_but_not_its_effects():
    overlay = Effect("color_overlay", color=(0, 0, 1), opacity=1.0)
    layer = square(2)
    stack = render_effects(layer, (0, 0, 2, 2), [overlay])
    backdrop = np.zeros((2, 2, 3), np.float32)
    colour, alpha = composite_with_effects(stack, "normal", backdrop, np.zeros((2, 2, 1), np.float32), fill=0.0)
    np.testing.assert_allclose(colour, np.broadcast_to([0, 0, 1], (2, 2, 3)), atol=1e-6)
    np.testing.assert_allclose(alpha, 1.0, atol=1e-6)


def test_inner_shadow_stays_inside_on_the_side_away_from_the_light():
    shadow = Effect("inner_shadow", size=0, distance=1, angle=90)  # light from above
    stack = render_effects(square(4), (0, 0, 4, 4), [shadow])
    reach = -stack.box[0]
    alpha = stack.above[0].alpha[reach : reach + 4, reach : reach + 4, 0]
    assert stack.above[0].alpha.sum() == pytest.approx(alpha.sum())
    # The edge that the light hits (top row) is in shadow, nothing else.
    np.testing.assert_allclose(alpha[0], 1)
    np.testing.assert_allclose(alpha[1:], 0)


def test_linear_gradient_overlay_runs_across_the_layer_box():
    stops = [(0.0, (0.0, 0.0, 0.0), 1.0), (1.0, (1.0, 1.0, 1.0), 1.0)]
    gradient = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_angle=0)  # left to right
    stack = render_effects(np.ones((2, 10, 4), np.float32), (0, 0, 10, 2), [gradient])
    colour = stack.overlays[0].colour[0, :, 0]
    # Pixel centres at 0.5 .. 9.5 over a 10 px span.
    np.testing.assert_allclose(colour, (np.arange(10) + 0.5) / 10, atol=2e-3)


def test_perceptual_gradient_mixes_through_oklab():
    stops = [(0.0, (1.0, 0.0, 0.0), 1.0), (1.0, (0.0, 0.0, 1.0), 1.0)]
    classic, _ = sample_gradient(stops, np.array([0.5]), "classic")
    perceptual, _ = sample_gradient(stops, np.array([0.5]), "perceptual")
    np.testing.assert_allclose(classic[0], [0.5, 0, 0.5], atol=2e-3)
    # Oklab midpoint of red and blue is a brighter purple than the sRGB mean.
    assert perceptual[0, 0] > 0.5 and perceptual[0, 2] > 0.5
    ends, _ = sample_gradient(stops, np.array([0.0, 1.0]), "perceptual")
    np.testing.assert_allclose(ends, [[1, 0, 0], [0, 0, 1]], atol=2e-3)


def test_bad_layer_pixels_are_a_clear_error():
    with pytest.raises(ValueError, match="RGBA"):
        render_effects(np.zeros((2, 2, 3), np.float32), (0, 0, 2, 2), [])
    with pytest.raises(ValueError, match="does not match"):
        render_effects(np.zeros((2, 2, 4), np.float32), (0, 0, 3, 2), [])


def test_pattern_overlay_tiles_from_the_layer_corner():
    # A 2x2 tile: red, green / blue, white; linked to a layer at (10, 20).
    tile = np.ones((2, 2, 4), np.float32)
    tile[0, 0, :3], tile[0, 1, :3], tile[1, 0, :3] = (1, 0, 0), (0, 1, 0), (0, 0, 1)
    overlay = Effect("pattern_overlay", pattern=tile, pattern_linked=True)
    stack = render_effects(np.ones((3, 3, 4), np.float32), (10, 20, 13, 23), [overlay])
    colour = stack.overlays[0].colour
    np.testing.assert_allclose(colour[0, 0], [1, 0, 0])
    np.testing.assert_allclose(colour[0, 1], [0, 1, 0])
    np.testing.assert_allclose(colour[1, 0], [0, 0, 1])
    np.testing.assert_allclose(colour[2, 2], [1, 0, 0])
    # Not linked: tiles start at the canvas origin, (10, 20) is even -> same here;
    # a layer at (11, 20) starts on the tile's second column.
    unlinked = Effect("pattern_overlay", pattern=tile, pattern_linked=False)
    stack = render_effects(np.ones((3, 3, 4), np.float32), (11, 20, 14, 23), [unlinked])
    np.testing.assert_allclose(stack.overlays[0].colour[0, 0], [0, 1, 0])


def test_reflected_and_angle_gradients():
    stops = [(0.0, (0.0, 0.0, 0.0), 1.0), (1.0, (1.0, 1.0, 1.0), 1.0)]
    reflected = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_type="reflected", gradient_angle=0)
    stack = render_effects(np.ones((1, 10, 4), np.float32), (0, 0, 10, 1), [reflected])
    row = stack.overlays[0].colour[0, :, 0]
    # Centre black, both ends white: |x - 5| / 5 at pixel centres.
    np.testing.assert_allclose(row, np.abs(np.arange(10) + 0.5 - 5) / 5, atol=2e-3)
    angle = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_type="angle", gradient_angle=0)
    stack = render_effects(np.ones((2, 2, 4), np.float32), (0, 0, 2, 2), [angle])
    colour = stack.overlays[0].colour[..., 0]
    # Pixel (1, 0) is up-right of the centre: 45 degrees -> 1/8 of the sweep.
    assert colour[0, 1] == pytest.approx(0.125, abs=2e-3)
    assert colour[1, 0] == pytest.approx(0.625, abs=2e-3)


def test_gradient_stroke_runs_across_the_strokes_outer_box():
    stops = [(0.0, (0.0, 0.0, 0.0), 1.0), (1.0, (1.0, 1.0, 1.0), 1.0)]
    stroke = Effect("stroke", size=2, position="outside", gradient_stops=straight(stops), gradient_angle=0)
    stack = render_effects(square(4), (0, 0, 4, 4), [stroke])
    part = stack.below[0]
    reach = -stack.box[0]
    row = part.colour[reach + 1, :, 0]
    # The stroke's outer box is 8 px wide starting 2 px left of the square.
    assert row[reach - 2] == pytest.approx(0.5 / 8, abs=2e-3)
    assert row[reach + 5] == pytest.approx(7.5 / 8, abs=2e-3)


def test_effects_reach_is_the_margin_render_effects_adds():
    from compositor.effects import effects_reach

    effects = [Effect("drop_shadow", size=10, distance=5), Effect("stroke", size=3)]
    stack = render_effects(square(4), (0, 0, 4, 4), effects)
    assert effects_reach(effects) == -stack.box[0] == 17
    assert effects_reach([]) == 0


def test_gradient_overlay_spans_the_layer_bounds_not_the_drawn_region():
    # The renderer passes pixels covering the canvas (0..20); the layer itself
    # spans x = 5..15: its gradient runs black to white across those 10 px.
    stops = [(0.0, (0.0, 0.0, 0.0), 1.0), (1.0, (1.0, 1.0, 1.0), 1.0)]
    gradient = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_angle=0)
    pixels = np.zeros((1, 20, 4), np.float32)
    pixels[:, 5:15] = 1.0
    stack = render_effects(pixels, (0, 0, 20, 1), [gradient], bounds=(5, 0, 15, 1))
    row = stack.overlays[0].colour[0, 5:15, 0]
    np.testing.assert_allclose(row, (np.arange(10) + 0.5) / 10, atol=2e-3)
    # Not aligned with the layer: it spans the document instead.
    loose = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_angle=0, gradient_align=False)
    stack = render_effects(pixels, (0, 0, 20, 1), [loose], bounds=(5, 0, 15, 1), document=(0, 0, 20, 1))
    np.testing.assert_allclose(stack.overlays[0].colour[0, :, 0], (np.arange(20) + 0.5) / 20, atol=2e-3)


def test_gradient_offset_moves_its_centre_by_a_share_of_the_box():
    stops = [(0.0, (0.0, 0.0, 0.0), 1.0), (1.0, (1.0, 1.0, 1.0), 1.0)]
    shifted = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_angle=0, gradient_offset=(0.2, 0.0))
    stack = render_effects(np.ones((1, 10, 4), np.float32), (0, 0, 10, 1), [shifted])
    row = stack.overlays[0].colour[0, :, 0]
    # Centre moved from 5 to 7: black until x = 2, white from x = 12.
    np.testing.assert_allclose(row, np.clip((np.arange(10) + 0.5 - 2) / 10, 0, 1), atol=2e-3)


def test_slanted_linear_gradient_ends_where_its_line_leaves_the_box():
    # 45 degrees on a 10 x 40 box: the line from the centre (5, 20) leaves
    # through the right edge 7.07 px away, so pixel (9, 15) -- 6.36 px along
    # the gradient -- sits at 0.5 + 6.36 / 14.14 = 0.95, nearly white.
    stops = [(0.0, (0.0, 0.0, 0.0), 1.0), (1.0, (1.0, 1.0, 1.0), 1.0)]
    slanted = Effect("gradient_overlay", gradient_stops=straight(stops), gradient_angle=45)
    stack = render_effects(np.ones((40, 10, 4), np.float32), (0, 0, 10, 40), [slanted])
    colour = stack.overlays[0].colour[..., 0]
    assert colour[15, 9] == pytest.approx(0.95, abs=5e-3)
    assert colour[24, 0] == pytest.approx(0.05, abs=5e-3)


def _effects_block(**entries):
    """A layer whose effects block lists `entries` (classID -> extra keys)."""
    from types import SimpleNamespace

    from psd_tools.constants import Tag
    from psd_tools.psd.descriptor import Descriptor

    block = Descriptor(classID=b"null")
    block[b"masterFXSwitch"] = True
    for class_id, keys in entries.items():
        entry = Descriptor(classID=class_id.encode())
        entry[b"enab"] = True
        for key, value in keys.items():
            entry[key] = value
        block[class_id.encode()] = entry
    blocks = SimpleNamespace(get_data=lambda tag, default=None:
                             block if tag == Tag.OBJECT_BASED_EFFECTS_LAYER_INFO else default)
    return SimpleNamespace(tagged_blocks=blocks, _psd=None)


def test_effects_without_a_present_flag_are_listed():
    # Older Photoshop writes no `present` key: every listed effect counts.
    from compositor.effects import layer_effects, psd_tools_lists_effects

    old = _effects_block(DrSh={}, SoFi={})
    assert sorted(type(e).__name__ for e in layer_effects(old)) == ["ColorOverlay", "DropShadow"]
    assert not psd_tools_lists_effects(old)
    # Newer files mark each entry; one not present is left out.
    new = _effects_block(DrSh={b"present": True}, SoFi={b"present": False})
    assert [type(e).__name__ for e in layer_effects(new)] == ["DropShadow"]
    assert psd_tools_lists_effects(new)


def test_slanted_linear_gradient_overlays_are_reported_as_approximated():
    from compositor.effects import _slanted_band

    assert _slanted_band(Effect("gradient_overlay", gradient_angle=-162.0))
    assert _slanted_band(Effect("gradient_overlay", gradient_angle=45.0, gradient_type="reflected"))
    assert not _slanted_band(Effect("gradient_overlay", gradient_angle=90.0))
    assert not _slanted_band(Effect("gradient_overlay", gradient_angle=-180.0))
    assert not _slanted_band(Effect("gradient_overlay", gradient_angle=-162.0, gradient_type="radial"))
    assert not _slanted_band(Effect("color_overlay", gradient_angle=-162.0))


def test_shrunk_pattern_averages_its_pixels():
    # A 3x3 tile with one white column in three, at a third of its size: one
    # pixel of the average, 1/3 (a point sample would pick 0 or 1).
    from compositor.effects import _tiled_pattern

    tile = np.zeros((3, 3, 4), np.float32)
    tile[..., 3] = 1
    tile[:, 0, :3] = 1
    pattern = Effect("pattern_overlay", pattern=tile, pattern_scale=1 / 3)
    tiled = _tiled_pattern(pattern, (2, 2), (0, 0))
    np.testing.assert_allclose(tiled[..., 0], 1 / 3, atol=1e-6)
    np.testing.assert_allclose(tiled[..., 3], 1, atol=1e-6)


def test_stroke_traced_from_a_path_covers_what_the_fill_leaves_transparent():
    # A shape whose effects follow its path (1 on the left 2 columns, 0.5 on
    # the third) but whose fill shows nothing (fill switched off): a 1 px
    # outside stroke covers the half of the third column the path leaves
    # free -- 0.5, not the whole pixel -- and nothing inside the path.
    path = np.zeros((3, 3, 4), np.float32)
    path[:, :2, 3] = 1.0
    path[:, 2, 3] = 0.5
    shown = np.zeros((3, 3, 1), np.float32)
    stack = render_effects(path, (0, 0, 3, 3), [Effect("stroke", color=(0, 1, 0), size=1)], shown=shown)
    colour, alpha, reach = over_transparency(stack)
    assert alpha[reach + 1, reach + 2, 0] == pytest.approx(0.5)
    assert alpha[reach + 1, reach + 1, 0] == pytest.approx(0.0)
    # The path ends half-way across the third column: 1 px further is half-way
    # across the fourth.
    assert alpha[reach + 1, reach + 3, 0] == pytest.approx(0.5)
    assert alpha[reach + 1, reach + 4, 0] == pytest.approx(0.0)


def test_inside_stroke_traced_from_a_path_is_opaque_over_a_transparent_fill():
    # A path covering 3x3 px filled at alpha 0.25 (a transparent gradient):
    # a 1 px inside stroke covers the path's outer ring whatever the fill
    # shows (Photoshop's stroke is opaque there); the centre keeps the fill.
    path = np.zeros((3, 3, 4), np.float32)
    path[...] = (1, 0, 0, 1)
    shown = np.full((3, 3, 1), 0.25, np.float32)
    stack = render_effects(path, (0, 0, 3, 3), [Effect("stroke", color=(0, 1, 0), size=1, position="inside")],
                           shown=shown)
    colour, alpha, reach = over_transparency(stack)
    assert alpha[reach, reach, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(colour[reach, reach], [0, 1, 0], atol=1e-6)
    assert alpha[reach + 1, reach + 1, 0] == pytest.approx(0.25)
    np.testing.assert_allclose(colour[reach + 1, reach + 1], [1, 0, 0], atol=1e-6)


def test_inside_stroke_traced_from_a_path_takes_its_area_from_a_transparent_fill():
    # The path's edge runs half-way across column 0 (coverage 0.5); the fill
    # shows alpha 0.5 (shown: 0.25 there, 0.5 inside). A 1 px inside stroke
    # covers [0.5, 1.5]: all of column 0's path, half of column 1. Each
    # stroke takes its area from the fill without overlapping it:
    # column 0 shows the stroke alone at 0.5; column 1 shows 0.5 stroke +
    # the fill's 0.5 x 0.5 on the rest (alpha 0.75).
    path = np.zeros((7, 7, 4), np.float32)
    path[..., :3] = (1, 0, 0)
    path[:, 0, 3] = 0.5
    path[:, 1:, 3] = 1.0
    shown = path[..., 3:] * 0.5
    stack = render_effects(path, (0, 0, 7, 7), [Effect("stroke", color=(0, 1, 0), size=1, position="inside")],
                           shown=shown)
    colour, alpha, reach = over_transparency(stack)
    row = reach + 3
    assert alpha[row, reach, 0] == pytest.approx(0.5)
    np.testing.assert_allclose(colour[row, reach], [0, 1, 0], atol=1e-6)
    assert alpha[row, reach + 1, 0] == pytest.approx(0.75)
    np.testing.assert_allclose(colour[row, reach + 1] * alpha[row, reach + 1, 0], [0.25, 0.5, 0], atol=1e-6)
    assert alpha[row, reach + 3, 0] == pytest.approx(0.5)  # the fill alone


def test_two_strokes_share_the_pixel_between_their_rings_by_area():
    # The layer's edge runs half-way across column 2, so a 1 px red ring
    # covers [2.5, 3.5] and a 2 px blue one [3.5, 4.5]: column 3 is half red,
    # half blue -- not blue composited over half red (0.25 red).
    layer = np.zeros((5, 3, 4), np.float32)
    layer[..., :3] = 1.0
    layer[:, :2, 3] = 1.0
    layer[:, 2, 3] = 0.5
    first = Effect("stroke", color=(1, 0, 0), size=1)
    second = Effect("stroke", color=(0, 0, 1), size=2)
    stack = render_effects(layer, (0, 0, 3, 5), [first, second])
    colour, alpha, reach = over_transparency(stack)
    row = reach + 2
    assert alpha[row, reach + 3, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(colour[row, reach + 3], [0.5, 0, 0.5], atol=1e-6)


# --- bevel & emboss ------------------------------------------------------------------------
# A chisel (hard) bevel's height map is a straight ramp of the distance to the
# edge, so its slope is the same everywhere on the bevel: BEVEL_SLOPE x depth
# (the surface rises BEVEL_SLOPE x depth x size over the size). The light at
# (angle, altitude) is L = (cos a cos e, -sin a cos e, sin e), y down; a face
# of slope t rising away from the light, n = (0, -t, 1) / sqrt(1 + t^2) for a
# light from above, receives (t cos e + sin e) / sqrt(1 + t^2), a flat one
# sin e. Highlight = (lit - sin e) / (1 - sin e), shadow = (sin e - lit) / sin e.


def chisel(style="inner", size=4, depth=0.5, **settings):
    values = dict(color=(1, 1, 1), opacity=1.0, mode="screen", shadow_color=(0, 0, 0),
                  shadow_opacity=1.0, shadow_mode="multiply", angle=90, altitude=30)
    values.update(settings)
    return Effect("bevel_emboss", size=size, depth=depth, bevel_style=style, bevel_technique="chisel_hard",
                  **values)


def lit_from_above(slope, altitude=30):
    """What a face sloping by `slope` toward (+) or away from (-) a light
    straight above the image's top receives, and a flat face."""
    e = math.radians(altitude)
    return (slope * math.cos(e) + math.sin(e)) / math.sqrt(1 + slope * slope), math.sin(e)


def test_inner_chisel_bevel_lights_the_top_side_and_shades_the_bottom_by_lamberts_law():
    from compositor.effects import BEVEL_SLOPE, bevel_shading

    alpha = square(20, pad=6)[..., 3]
    highlight, shadow = bevel_shading(alpha, chisel(depth=0.5))
    slope = BEVEL_SLOPE * 0.5
    facing, flat = lit_from_above(slope)
    away, _ = lit_from_above(-slope)
    # Rows 1 and 2 of the square (7 and 8 of the array) lie on the ramp with
    # both neighbours on it too: the central difference is the ramp's slope.
    for row in (7, 8):
        assert highlight[row, 16] == pytest.approx((facing - flat) / (1 - flat), abs=1e-5)
        assert shadow[row, 16] == 0
        assert shadow[6 + 19 - (row - 6), 16] == pytest.approx((flat - away) / flat, abs=1e-5)
        assert highlight[6 + 19 - (row - 6), 16] == 0
    # By hand, slope 1/2 and altitude 30: facing (0.433 + 0.5) / 1.118 = 0.835,
    # away (-0.433 + 0.5) / 1.118 = 0.060, flat 0.5.
    assert BEVEL_SLOPE == 1.0
    assert highlight[7, 16] == pytest.approx(0.669, abs=1e-3)
    assert shadow[24, 16] == pytest.approx(0.880, abs=1e-3)


def test_inner_bevel_leaves_the_flat_inside_and_the_outside_alone():
    from compositor.effects import bevel_shading

    alpha = square(20, pad=6)[..., 3]
    for technique in ("chisel_hard", "smooth"):
        effect = chisel(size=3)
        effect.bevel_technique = technique
        highlight, shadow = bevel_shading(alpha, effect)
        outside = alpha == 0
        assert highlight[outside].max() == 0 and shadow[outside].max() == 0
        # More than the ramp and its blur away from the edge: flat, untouched.
        assert highlight[14:18, 14:18].max() < 1e-3 and shadow[14:18, 14:18].max() < 1e-3
        # The lit side is the top one, the shaded side the bottom one.
        assert highlight[6:9, 16].max() > 0.3 and shadow[6:9, 16].max() == 0
        assert shadow[23:26, 16].max() > 0.3 and highlight[23:26, 16].max() == 0


def test_emboss_reaches_outside_the_shape_and_an_inner_bevel_does_not():
    from compositor.effects import bevel_shading

    alpha = square(20, pad=6)[..., 3]
    inner_highlight, _ = bevel_shading(alpha, chisel("inner", size=4))
    emboss_highlight, emboss_shadow = bevel_shading(alpha, chisel("emboss", size=4))
    # The row just above the square: outside.
    assert inner_highlight[5, 16] == 0
    assert emboss_highlight[5, 16] > 0.3
    # The emboss's ramp runs half outside, half inside: 2 px on each side.
    assert emboss_highlight[2, 16] == 0
    assert emboss_shadow[27, 16] > 0.3


def test_pillow_emboss_lights_the_outside_the_other_way():
    from compositor.effects import bevel_shading

    alpha = square(20, pad=6)[..., 3]
    emboss_highlight, emboss_shadow = bevel_shading(alpha, chisel("emboss", size=4))
    pillow_highlight, pillow_shadow = bevel_shading(alpha, chisel("pillow", size=4))
    inside, outside = alpha == 1, alpha == 0
    assert np.array_equal(pillow_highlight[inside], emboss_highlight[inside])
    assert np.array_equal(pillow_highlight[outside], emboss_shadow[outside])
    assert np.array_equal(pillow_shadow[outside], emboss_highlight[outside])


def test_direction_down_swaps_the_lit_and_the_shaded_sides():
    from compositor.effects import bevel_shading

    alpha = square(20, pad=6)[..., 3]
    up_highlight, up_shadow = bevel_shading(alpha, chisel(direction_up=True))
    down_highlight, down_shadow = bevel_shading(alpha, chisel(direction_up=False))
    # The square is symmetric: sunk in, its bottom side faces the light.
    np.testing.assert_allclose(down_highlight, np.flipud(up_highlight), atol=1e-6)
    np.testing.assert_allclose(down_shadow, np.flipud(up_shadow), atol=1e-6)
    assert down_shadow[7, 16] > 0.3 and down_highlight[7, 16] == 0


def test_light_angle_turns_the_lit_side():
    from compositor.effects import bevel_shading

    alpha = square(20, pad=6)[..., 3]
    # Light from 0 degrees: from the right.
    highlight, shadow = bevel_shading(alpha, chisel(angle=0))
    assert highlight[16, 24] > 0.3 and shadow[16, 24] == 0
    assert shadow[16, 7] > 0.3 and highlight[16, 7] == 0


def test_bevel_parts_composite_as_screen_and_multiply_above_the_layer():
    from compositor.effects import BEVEL_SLOPE

    layer = square(20, pad=6)
    layer[..., :3] = (0.4, 0.4, 0.4)
    layer[..., 3] = np.where(layer[..., 3] > 0, 1, 0)
    effect = chisel(depth=0.5, opacity=0.5, shadow_opacity=0.75)
    stack = render_effects(layer, (0, 0, 32, 32), [effect])
    r = (stack.box[2] - stack.box[0] - 32) // 2
    backdrop = np.ones((32 + 2 * r, 32 + 2 * r, 3), np.float32)
    colour, _ = composite_with_effects(stack, "normal", backdrop, np.ones_like(backdrop[..., :1]))
    facing, flat = lit_from_above(BEVEL_SLOPE * 0.5)
    away, _ = lit_from_above(-BEVEL_SLOPE * 0.5)
    highlight = (facing - flat) / (1 - flat)
    shadow = (flat - away) / flat
    # Screen with white at 50 % x highlight; multiply with black at 75 % x shadow.
    assert colour[r + 7, r + 16, 0] == pytest.approx(0.4 + 0.5 * highlight * 0.6, abs=1e-5)
    assert colour[r + 24, r + 16, 0] == pytest.approx(0.4 * (1 - 0.75 * shadow), abs=1e-5)
    assert colour[r + 16, r + 16, 0] == pytest.approx(0.4, abs=1e-5)  # the flat inside
    assert colour[r + 2, r + 16, 0] == pytest.approx(1.0)  # the backdrop outside


def test_bevel_in_linear_dodge_adds_its_faded_colour_and_clips():
    # Photoshop fades the colour toward black by the highlight's strength, then
    # adds it: a channel clips at 1 where mixing the clipped sum would not.
    from compositor.effects import bevel_shading

    layer = square(20, pad=6)
    layer[..., :3] = (0.9, 0.2, 0.2)
    effect = chisel(depth=0.5, mode="linear_dodge", color=(0.5, 0.5, 0.5), opacity=1.0, shadow_opacity=0.0)
    strength = bevel_shading(layer[..., 3], effect)[0][7, 16]
    stack = render_effects(layer, (0, 0, 32, 32), [effect])
    r = (stack.box[2] - stack.box[0] - 32) // 2
    backdrop = np.ones((32 + 2 * r, 32 + 2 * r, 3), np.float32)
    colour, _ = composite_with_effects(stack, "normal", backdrop, np.ones_like(backdrop[..., :1]))
    assert strength > 0.4
    np.testing.assert_allclose(colour[r + 7, r + 16], [1.0, 0.2 + 0.5 * strength, 0.2 + 0.5 * strength], atol=1e-5)
    np.testing.assert_allclose(colour[r + 16, r + 16], [0.9, 0.2, 0.2], atol=1e-5)


def test_bevel_at_opacity_zero_draws_nothing():
    layer = square(20, pad=6)
    effect = chisel(opacity=0.0, shadow_opacity=0.0)
    stack = render_effects(layer, (0, 0, 32, 32), [effect])
    backdrop = np.full((stack.box[3] - stack.box[1], stack.box[2] - stack.box[0], 3), 0.3, np.float32)
    backdrop_alpha = np.ones_like(backdrop[..., :1])
    with_bevel = composite_with_effects(stack, "normal", backdrop, backdrop_alpha)
    plain = composite_with_effects(render_effects(layer, (0, 0, 32, 32), []), "normal",
                                   backdrop[: 32, : 32], backdrop_alpha[: 32, : 32])
    r = (stack.box[2] - stack.box[0] - 32) // 2
    assert all(part.alpha.max() == 0 for part in stack.above)
    np.testing.assert_allclose(with_bevel[0][r : r + 32, r : r + 32], plain[0], atol=1e-6)


def test_smooth_bevel_slope_at_the_edge_follows_the_blurred_alpha():
    # Smooth: height = alpha blurred with sigma = SMOOTH_BEVEL_SIGMA x size,
    # whose slope across a long straight edge, at d px from it, is the
    # Gaussian's density there; lit as above.
    from compositor.effects import BEVEL_SLOPE, SMOOTH_BEVEL_SIGMA, bevel_shading

    size = 10
    alpha = np.zeros((120, 120), np.float32)
    alpha[40:, :] = 1  # a wide shape whose top edge runs along row 40
    effect = chisel(size=size, depth=1.0)
    effect.bevel_technique = "smooth"
    highlight, shadow = bevel_shading(alpha, effect)
    sigma = SMOOTH_BEVEL_SIGMA * size
    for d in (0.5, 2.5, 5.5):  # pixel centres 0.5, 2.5, 5.5 px inside the edge
        density = math.exp(-d * d / (2 * sigma * sigma)) / (sigma * math.sqrt(2 * math.pi))
        facing, flat = lit_from_above(BEVEL_SLOPE * size * density)
        assert highlight[40 + int(d), 60] == pytest.approx((facing - flat) / (1 - flat), rel=0.03)
    assert shadow[40:50, 60].max() == 0


def test_bevel_in_linear_dodge_over_transparency_shows_its_colour_at_its_strength():
    # Outside the shape an emboss lights a transparent backdrop: nothing to
    # add to, so the highlight shows its own colour at alpha = its strength.
    from compositor.effects import bevel_shading

    layer = square(20, pad=6)
    effect = chisel("emboss", size=4, depth=0.5, mode="linear_dodge", color=(0.5, 0.25, 1.0),
                    shadow_opacity=0.0)
    strength = bevel_shading(layer[..., 3], effect)[0][5, 16]  # the row above the square
    stack = render_effects(layer, (0, 0, 32, 32), [effect])
    r = (stack.box[2] - stack.box[0] - 32) // 2
    backdrop = np.zeros((32 + 2 * r, 32 + 2 * r, 3), np.float32)
    colour, alpha = composite_with_effects(stack, "normal", backdrop, np.zeros_like(backdrop[..., :1]))
    assert strength > 0.3
    assert alpha[r + 5, r + 16, 0] == pytest.approx(strength, abs=1e-5)
    np.testing.assert_allclose(colour[r + 5, r + 16], [0.5, 0.25, 1.0], atol=1e-5)


# --- satin ---------------------------------------------------------------------------------
# With no blur (size 0) and a whole-pixel distance d, the satin of a square is
# the difference of two copies shifted by +-d: 0 where both cover the pixel,
# 1 in the bands of width d along the two edges the angle points across.


def satin(**settings):
    base = dict(color=(0, 0, 0), mode="multiply", opacity=0.5, size=0, distance=2, angle=0, invert=False)
    base.update(settings)
    return Effect("satin", **base)


def satin_share(effect, layer=None):
    """The satin part's alpha over the layer's own box (10 x 10 square)."""
    layer = square(10) if layer is None else layer
    stack = render_effects(layer, (0, 0, 10, 10), [effect])
    (part,) = stack.overlays
    r = -stack.box[0]
    assert part.name == "satin"
    return part.alpha[..., 0], r


def test_satin_paints_bands_of_the_distance_along_the_edges_across_its_angle():
    alpha, r = satin_share(satin())
    inside = alpha[r : r + 10, r : r + 10]
    # Angle 0: copies shifted 2 px left and right; columns 0-1 and 8-9 are
    # covered by one copy only.
    np.testing.assert_allclose(inside[:, [0, 1, 8, 9]], 0.5, atol=1e-6)
    np.testing.assert_allclose(inside[:, 2:8], 0, atol=1e-6)
    # Nothing outside the layer, though the shifted copies reach there.
    assert alpha.sum() == pytest.approx(inside.sum())


def test_satin_at_90_degrees_bands_the_top_and_bottom_and_180_is_the_same_as_0():
    alpha, r = satin_share(satin(angle=90))
    inside = alpha[r : r + 10, r : r + 10]
    np.testing.assert_allclose(inside[[0, 1, 8, 9], :], 0.5, atol=1e-6)
    np.testing.assert_allclose(inside[2:8, :], 0, atol=1e-6)
    np.testing.assert_allclose(satin_share(satin(angle=180))[0], satin_share(satin(angle=0))[0], atol=1e-6)


def test_inverted_satin_swaps_the_bands_and_the_middle():
    alpha, r = satin_share(satin(invert=True))
    inside = alpha[r : r + 10, r : r + 10]
    np.testing.assert_allclose(inside[:, [0, 1, 8, 9]], 0, atol=1e-6)
    np.testing.assert_allclose(inside[:, 2:8], 0.5, atol=1e-6)
    assert alpha.sum() == pytest.approx(inside.sum())


def test_satin_contour_maps_the_difference():
    # A contour from (0, 0) to (1, 0.4): the bands reach 0.4 x the opacity.
    alpha, r = satin_share(satin(contour=((0.0, 0.0), (1.0, 0.4))))
    np.testing.assert_allclose(alpha[r : r + 10, r : r + 10][:, [0, 9]], 0.2, atol=1e-6)


def test_satin_is_blended_in_its_mode_over_the_layer_and_opacity_zero_draws_nothing():
    layer = square(10)
    backdrop = np.ones((10, 10, 3), np.float32)

    def draw(effect):
        stack = render_effects(layer, (0, 0, 10, 10), [effect])
        r = -stack.box[0]
        cb = np.ones(stack.layer_rgba.shape[:2] + (3,), np.float32)
        colour, _ = composite_with_effects(stack, "normal", cb, np.ones_like(cb[..., :1]))
        return colour[r : r + 10, r : r + 10]

    # Grey in multiply at 100 % over red: half red in the bands (normal would
    # give grey), red elsewhere.
    colour = draw(satin(color=(0.5, 0.5, 0.5), opacity=1.0))
    np.testing.assert_allclose(colour[5, 0], [0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(colour[5, 5], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(draw(satin(opacity=0.0)), np.broadcast_to([1, 0, 0], backdrop.shape), atol=1e-6)


def test_satin_blur_uses_its_sigma_and_reach_covers_it():
    from compositor.effects import SATIN_SIGMA, effects_reach

    effect = satin(size=10, distance=3)
    assert effects_reach([effect]) >= 3 + 3 * SATIN_SIGMA * 10
    # A half-plane's edge (column 20 of a wide layer): the blurred alpha is
    # Phi(x / sigma); the difference of copies shifted +-3 at the layer's
    # edge pixel centre 0.5 px inside is Phi((3.5) / s) - Phi((-2.5) / s).
    layer = np.zeros((40, 40, 4), np.float32)
    layer[:, 20:] = (1, 0, 0, 1)
    stack = render_effects(layer, (0, 0, 40, 40), [effect])
    r = -stack.box[0]
    sigma = SATIN_SIGMA * 10
    phi = lambda x: 0.5 * (1 + math.erf(x / (sigma * math.sqrt(2))))  # noqa: E731
    expected = 0.5 * (phi(3.5) - phi(-2.5))
    assert stack.overlays[0].alpha[r + 20, r + 20, 0] == pytest.approx(expected, abs=0.01)
