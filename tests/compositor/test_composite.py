"""The layer-tree renderer on small hand-built trees, against values worked out by hand.

Layers carry their pixels directly (no PSD needed); colours are straight RGB in
[0, 1]. Expected values follow the W3C compositing equation Photoshop uses:
    ao = as + ab (1 - as);  co = [as((1 - ab) cs + ab B(cb, cs)) + (1 - as) ab cb] / ao
"""
from __future__ import annotations

import numpy as np
import pytest
from psd_tools.constants import BlendMode, ColorMode

from compositor.composite import Renderer, affected_box, intersect, paste, to_8bit
from compositor.model import LayerNode, RasterMask, Template, TemplateError

W, H = 4, 2
CANVAS = (0, 0, W, H)


def solid(rgb, alpha=1.0, box=CANVAS, name="layer", **fields) -> LayerNode:
    """A pixel layer of one colour and alpha over `box`."""
    h, w = box[3] - box[1], box[2] - box[0]
    color = np.broadcast_to(np.array(rgb, np.float32), (h, w, 3)).copy()
    alpha_values = np.full((h, w, 1), alpha, np.float32)
    defaults = dict(blend_mode=BlendMode.NORMAL, opacity=1.0, fill_opacity=1.0, visible=True,
                    clipping=False)
    defaults.update(fields)
    return LayerNode(name=name, kind="pixel", box=box, pixels=(color, alpha_values), **defaults)


def group(children, name="group", blend_mode=BlendMode.NORMAL, **fields) -> LayerNode:
    defaults = dict(opacity=1.0, fill_opacity=1.0, visible=True, clipping=False)
    defaults.update(fields)
    return LayerNode(name=name, kind="group", blend_mode=blend_mode, box=CANVAS,
                     children=list(children), **defaults)


def template(layers) -> Template:
    return Template(width=W, height=H, color_mode=ColorMode.RGB, depth=8, layers=list(layers),
                    unsupported=[], icc_profile=None, has_composite=True, psd=None, channels=3)


def rendered(layers, **kwargs):
    result = Renderer(template(layers)).render(**kwargs)
    return result.color, result.alpha


RED, GREEN, BLUE, WHITE, GRAY = (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (0.5, 0.5, 0.5)


def test_normal_half_opacity_over_opaque_mixes_colours():
    color, alpha = rendered([solid(RED), solid(BLUE, opacity=0.5)])
    np.testing.assert_allclose(color[0, 0], [0.5, 0, 0.5], atol=1e-6)
    np.testing.assert_allclose(alpha[0, 0], [1.0])


def test_half_transparent_layers_over_nothing():
    # as = 0.5 over ab = 0.5: ao = 0.75; co = (0.5·blue + 0.5·0.5·red) / 0.75
    color, alpha = rendered([solid(RED, alpha=0.5), solid(BLUE, alpha=0.5)])
    np.testing.assert_allclose(alpha[0, 0], [0.75], atol=1e-6)
    np.testing.assert_allclose(color[0, 0], [0.25 / 0.75, 0, 0.5 / 0.75], atol=1e-6)


def test_multiply_over_gray_and_over_transparent():
    color, _ = rendered([solid(GRAY), solid((0.5, 1.0, 0.0), blend_mode=BlendMode.MULTIPLY)])
    np.testing.assert_allclose(color[0, 0], [0.25, 0.5, 0.0], atol=1e-6)
    # Over a transparent backdrop the blend mode has nothing to act on: cs shows.
    color, _ = rendered([solid((0.5, 1.0, 0.0), blend_mode=BlendMode.MULTIPLY)])
    np.testing.assert_allclose(color[0, 0], [0.5, 1.0, 0.0], atol=1e-6)


def test_opacity_and_fill_scale_a_plain_layer_alike():
    by_opacity, _ = rendered([solid(WHITE), solid(BLUE, opacity=0.25)])
    by_fill, _ = rendered([solid(WHITE), solid(BLUE, fill_opacity=0.25)])
    np.testing.assert_allclose(by_opacity, by_fill, atol=1e-6)
    np.testing.assert_allclose(by_fill[0, 0], [0.75, 0.75, 1.0], atol=1e-6)


def test_hidden_layer_is_not_drawn():
    color, _ = rendered([solid(RED), solid(BLUE, visible=False)])
    np.testing.assert_allclose(color[0, 0], RED)


def test_isolated_group_keeps_multiply_inside_the_group():
    # The multiply child has only transparency below it inside a normal group,
    # so the group is plain green, composited normally over red.
    layers = [solid(RED), group([solid(GREEN, blend_mode=BlendMode.MULTIPLY)])]
    color, _ = rendered(layers)
    np.testing.assert_allclose(color[0, 0], GREEN, atol=1e-6)


def test_pass_through_group_lets_multiply_reach_the_backdrop():
    layers = [solid(GRAY), group([solid((0.5, 1.0, 0.0), blend_mode=BlendMode.MULTIPLY)],
                                 blend_mode=BlendMode.PASS_THROUGH)]
    color, _ = rendered(layers)
    np.testing.assert_allclose(color[0, 0], [0.25, 0.5, 0.0], atol=1e-6)


def test_nested_pass_through_at_half_opacity():
    # Red background, pass-through group at 50 % holding a 50 % blue layer:
    # blue at 25 % over red = (0.75, 0, 0.25) -> (191, 0, 64) in 8 bits.
    layers = [solid(RED), group([group([solid(BLUE, opacity=0.5)], blend_mode=BlendMode.PASS_THROUGH)],
                                blend_mode=BlendMode.PASS_THROUGH, opacity=0.5)]
    color, _ = rendered(layers)
    np.testing.assert_array_equal(to_8bit(color[0, 0], 8), [191, 0, 64])


def test_group_opacity_applies_to_the_group_as_one_layer():
    # Two opaque children at 50 % group opacity: the top child hides the one below,
    # then the group shows at 50 % over white (not 25 % + 25 %).
    layers = [solid(WHITE), group([solid(RED), solid(BLUE)], opacity=0.5)]
    color, _ = rendered(layers)
    np.testing.assert_allclose(color[0, 0], [0.5, 0.5, 1.0], atol=1e-6)


def test_clipped_layer_is_drawn_inside_its_base_alpha():
    base = solid(GREEN, alpha=0.5, box=(0, 0, 2, 2), name="base")
    base.clip_layers = [solid(RED, name="clipped", clipping=True)]
    color, alpha = rendered([base])
    np.testing.assert_allclose(color[0, 0], RED, atol=1e-6)
    np.testing.assert_allclose(alpha[0, 0], [0.5], atol=1e-6)
    np.testing.assert_allclose(alpha[0, 3], [0.0], atol=1e-6)  # outside the base: nothing


def test_base_opacity_applies_to_the_whole_clipping_group():
    base = solid(GREEN, opacity=0.5, name="base")
    base.clip_layers = [solid(BLUE, name="clipped", clipping=True)]
    color, _ = rendered([solid(WHITE), base])
    np.testing.assert_allclose(color[0, 0], [0.5, 0.5, 1.0], atol=1e-6)


def test_raster_mask_hides_and_density_weakens_it():
    def masked(density):
        layer = solid(BLUE)
        layer.mask = RasterMask(box=(0, 0, 2, 2), background=1.0, density=density, feather=0.0,
                                disabled=False)
        layer.mask_pixels = np.zeros((2, 2, 1), np.float32)  # hides the left half
        return rendered([solid(WHITE), layer])[0]

    color = masked(1.0)
    np.testing.assert_allclose(color[0, 0], WHITE)  # hidden
    np.testing.assert_allclose(color[0, 3], BLUE)  # outside the mask box: background 1 shows
    color = masked(0.25)  # mask only 25 % effective: layer at 75 %
    np.testing.assert_allclose(color[0, 0], [0.25, 0.25, 1.0], atol=1e-6)


def test_disabled_mask_is_ignored():
    layer = solid(BLUE)
    layer.mask = RasterMask(box=CANVAS, background=0.0, density=1.0, feather=0.0, disabled=True)
    layer.mask_pixels = np.zeros((H, W, 1), np.float32)
    color, _ = rendered([solid(WHITE), layer])
    np.testing.assert_allclose(color[0, 0], BLUE)


def test_knockout_shows_the_groups_starting_backdrop():
    # Inside an isolated group a shallow-knockout layer punches through its
    # siblings to the group's (transparent) start: only it remains.
    knocking = solid(BLUE, opacity=0.5, knockout=1)
    layers = [solid(WHITE), group([solid(RED), knocking])]
    color, _ = rendered(layers)
    # The group is blue at 50 % alpha over white.
    np.testing.assert_allclose(color[0, 0], [0.5, 0.5, 1.0], atol=1e-6)


def test_region_render_matches_the_full_render_inside_it():
    layers = [solid(RED), solid(BLUE, alpha=0.5, box=(1, 0, 3, 2))]
    full_color, _ = rendered(layers)
    part = Renderer(template(layers)).render(region=(1, 0, 3, 1))
    np.testing.assert_allclose(part.color, full_color[0:1, 1:3])


def test_empty_region_is_an_error():
    with pytest.raises(TemplateError, match="empty"):
        Renderer(template([solid(RED)])).render(region=(10, 10, 20, 20))


def test_unknown_artwork_name_is_an_error_naming_the_smart_objects():
    with pytest.raises(TemplateError, match="no smart object named 'Print'"):
        Renderer(template([solid(RED)])).render(artwork={"Print": np.zeros((2, 2, 4), np.float32)})


def test_affected_box_of_an_unknown_layer_is_an_error():
    with pytest.raises(TemplateError):
        affected_box(template([solid(RED)]), "nope")


def test_paste_and_intersect():
    assert intersect((0, 0, 4, 4), (2, 2, 6, 6)) == (2, 2, 4, 4)
    assert intersect((0, 0, 1, 1), (2, 2, 3, 3)) == (0, 0, 0, 0)
    values = np.arange(4, dtype=np.float32).reshape(2, 2, 1)
    out = paste((0, 0, 3, 3), (1, 1, 3, 3), values, background=-1)
    assert out[0, 0, 0] == -1 and out[1, 1, 0] == 0 and out[2, 2, 0] == 3


def test_8bit_quantisation_follows_the_document_depth():
    # 8-bit documents round; 16-bit ones drop the low byte of the 16-bit value
    # (0.998 -> 65404 -> 255); 32-bit ones take floor(x * 256), clipped.
    values = np.array([0.998, 1.0, 0.0], np.float32)
    np.testing.assert_array_equal(to_8bit(values, 8), [254, 255, 0])
    np.testing.assert_array_equal(to_8bit(values, 16), [255, 255, 0])
    np.testing.assert_array_equal(to_8bit(np.array([0.5, 2.0, -1.0], np.float32), 32), [128, 255, 0])


def test_feathered_mask_softens_its_edge_symmetrically():
    layer = solid(BLUE, box=(0, 0, 4, 2))
    # Hides x < 2 (reaching well beyond the canvas so only the vertical edge
    # at x = 2 is blurred), shows x >= 2.
    layer.mask = RasterMask(box=(-20, -20, 2, 22), background=1.0, density=1.0, feather=2.0,
                            disabled=False)
    layer.mask_pixels = np.zeros((42, 22, 1), np.float32)
    renderer = Renderer(template([layer]))
    coverage = renderer._mask(layer, CANVAS)[0, :, 0]
    # A blurred step: soft on both sides of the edge, symmetric about it.
    assert 0 < coverage[1] < 0.5 < coverage[2] < 1
    assert coverage[1] + coverage[2] == pytest.approx(1.0, abs=1e-5)


def _screen_base_with_multiply_clip(as_group: bool) -> LayerNode:
    base = solid(GREEN, box=(0, 0, 2, 2), name="base", blend_mode=BlendMode.SCREEN)
    base.blend_clipped_as_group = as_group
    base.clip_layers = [solid(RED, name="clipped", clipping=True, blend_mode=BlendMode.MULTIPLY)]
    return base


def test_clipping_group_blends_as_one_layer_in_the_base_mode():
    # Group colour = multiply(green, red) = black, then screened onto gray: gray.
    color, _ = rendered([solid(GRAY), _screen_base_with_multiply_clip(as_group=True)])
    np.testing.assert_allclose(color[0, 0], GRAY, atol=1e-6)
    np.testing.assert_allclose(color[0, 3], GRAY, atol=1e-6)


def test_clipped_layers_blend_on_their_own_when_not_as_group():
    # Base screened onto gray: (0.5, 1, 0.5); then red multiplied inside the
    # base's shape: (0.5, 0, 0). Outside the base nothing changes.
    color, _ = rendered([solid(GRAY), _screen_base_with_multiply_clip(as_group=False)])
    np.testing.assert_allclose(color[0, 0], [0.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(color[0, 3], GRAY, atol=1e-6)


# --- drawing a layer over its own box -------------------------------------------------------


def test_a_small_layer_drawn_over_its_box_leaves_a_groups_starting_backdrop_alone():
    from compositor.composite import Canvas, _blend_function  # noqa: PLC0415

    normal = _blend_function(BlendMode.NORMAL, ColorMode.RGB)
    below = Canvas.blank((0, 0, 8, 6), 3)
    below.put(np.full((6, 8, 3), RED, np.float32), np.ones((6, 8, 1), np.float32), normal)
    inner = below.seeded()
    start = inner.knockout_backdrop.color.copy()
    part = inner.view((2, 1, 5, 3))
    part.put(np.full((2, 3, 3), BLUE, np.float32), np.ones((2, 3, 1), np.float32), normal)
    np.testing.assert_array_equal(inner.color[1:3, 2:5], np.broadcast_to(BLUE, (2, 3, 3)))
    inner.color[1:3, 2:5] = RED  # the rest of the inner canvas is untouched
    np.testing.assert_array_equal(inner.color, start)
    np.testing.assert_array_equal(inner.knockout_backdrop.color, start)  # the group's start, kept
    np.testing.assert_array_equal(below.color, start)  # and the canvas it was seeded from
    assert inner.coverage[1:3, 2:5].min() == 1 and inner.coverage.sum() == 6


def test_layers_drawn_over_their_own_boxes_equal_layers_drawn_over_the_canvas(monkeypatch):
    from compositor.fixtures import build_demo_template  # noqa: PLC0415
    from compositor.model import load_template  # noqa: PLC0415

    demo = load_template(build_demo_template(300))
    ours = Renderer(demo).render()
    monkeypatch.setattr(Renderer, "_pixels_box", lambda self, node, canvas: None)
    whole = Renderer(demo).render()
    np.testing.assert_allclose(ours.alpha, whole.alpha, atol=1e-6)
    np.testing.assert_allclose(ours.color * ours.alpha, whole.color * whole.alpha, atol=1e-6)


def test_type_layer_edges_blend_with_the_text_gamma():
    # Photoshop blends text colours with gamma 1.45 (its default colour
    # setting): black text at coverage 0.533 over white shows 156, not 119,
    # and red text at 0.8 over white keeps 88 in green, not 51.
    layer = solid((1, 0, 0), alpha=204 / 255, name="text")
    layer.kind = "type"
    color, alpha = rendered([solid(WHITE), layer])
    assert round(float(color[0, 0, 1]) * 255) == 88
    assert float(color[0, 0, 0]) == pytest.approx(1.0, abs=1e-5)
    layer = solid((0, 0, 0), alpha=136 / 255, name="text")
    layer.kind = "type"
    color, _ = rendered([solid(WHITE), layer])
    assert round(float(color[0, 0, 0]) * 255) == 156


def test_type_layer_over_nothing_keeps_its_colour_and_coverage():
    layer = solid((0.2, 0.4, 0.6), alpha=0.5, name="text")
    layer.kind = "type"
    color, alpha = rendered([layer])
    np.testing.assert_allclose(color[0, 0], [0.2, 0.4, 0.6], atol=1e-5)
    np.testing.assert_allclose(alpha[0, 0], [0.5], atol=1e-6)


def test_pixel_layers_keep_plain_blending():
    color, _ = rendered([solid(WHITE), solid((0, 0, 0), alpha=136 / 255)])
    assert round(float(color[0, 0, 0]) * 255) == 119


class _FakeLayer:
    """Just what the vector-mask rule reads of a psd-tools layer."""

    def __init__(self, has_pixels: bool, tags=(), mask=None):
        self._has_pixels = has_pixels
        self.tagged_blocks = {tag: None for tag in tags}
        self.mask = mask

    def has_pixels(self) -> bool:
        return self._has_pixels


def test_vector_mask_cuts_pixel_layer_without_raster_mask():
    # Photoshop stores a pixel layer's pixels uncut and applies its path when
    # compositing, also when the layer has no raster mask at all.
    assert Renderer._vector_mask_not_in_pixels(_FakeLayer(has_pixels=True))


def test_vector_mask_already_in_shape_layer_pixels():
    from psd_tools.constants import Tag
    shape_layer = _FakeLayer(has_pixels=True, tags=[Tag.SOLID_COLOR_SHEET_SETTING])
    assert not Renderer._vector_mask_not_in_pixels(shape_layer)
    # Without cached pixels the fill is drawn here, so the path must cut it.
    assert Renderer._vector_mask_not_in_pixels(_FakeLayer(has_pixels=False, tags=[Tag.SOLID_COLOR_SHEET_SETTING]))


def _shape_with_path(density, feather):
    from types import SimpleNamespace

    from psd_tools.constants import Tag
    layer = _FakeLayer(has_pixels=True, tags=[Tag.SOLID_COLOR_SHEET_SETTING],
                       mask=SimpleNamespace(parameters=SimpleNamespace(vector_mask_density=density,
                                                                       vector_mask_feather=feather)))
    layer.vector_mask = SimpleNamespace(disabled=False)
    return layer


def test_softened_path_of_a_shape_layer_is_applied_at_composite_time():
    # The cached pixels carry the path sharp and at full density; a path
    # with a density below 100 % or a feather is applied by the renderer.
    assert not Renderer._vector_mask_not_in_pixels(_shape_with_path(density=None, feather=None))
    assert not Renderer._vector_mask_not_in_pixels(_shape_with_path(density=255, feather=0.0))
    assert Renderer._vector_mask_not_in_pixels(_shape_with_path(density=204, feather=None))
    assert Renderer._vector_mask_not_in_pixels(_shape_with_path(density=None, feather=2.0))


def test_effects_of_a_shape_with_its_fill_off_trace_what_it_shows():
    # Fill off: the layer shows its vector stroke, or nothing (then its
    # effects follow its path); Photoshop's effects trace that, after the mask.
    from types import SimpleNamespace

    from compositor.model import _fill_off, traces_path_for_effects

    from psd_tools.constants import Tag

    def shape(stroke_on: bool, fill_on: bool, fill_opacities=None):
        blocks = {}
        if fill_opacities is not None:
            blocks[Tag.GRADIENT_FILL_SETTING] = {b"Grad": {b"Trns": [{b"Opct": o} for o in fill_opacities]}}
        return SimpleNamespace(stroke=SimpleNamespace(enabled=stroke_on, _data={b"fillEnabled": fill_on}),
                               vector_mask=object(), tagged_blocks=SimpleNamespace(get_data=blocks.get))

    assert _fill_off(shape(stroke_on=True, fill_on=False))
    assert not _fill_off(shape(stroke_on=True, fill_on=True))
    assert not _fill_off(SimpleNamespace(stroke=None))
    assert traces_path_for_effects(shape(stroke_on=False, fill_on=False))
    assert not traces_path_for_effects(shape(stroke_on=True, fill_on=False))
    assert not traces_path_for_effects(shape(stroke_on=False, fill_on=True))
    # A gradient fill fading out: its pixels' alpha is not the outline, the path is.
    assert traces_path_for_effects(shape(stroke_on=False, fill_on=True, fill_opacities=[100.0, 0.0]))
    assert not traces_path_for_effects(shape(stroke_on=False, fill_on=True, fill_opacities=[100.0, 100.0]))
    assert not traces_path_for_effects(shape(stroke_on=True, fill_on=True, fill_opacities=[100.0, 0.0]))


def test_unmatting_white_recovers_the_colour_under_the_alpha():
    # Stored matted over white: x = c·a + 255·(1 − a). At a = 128:
    # (200 + 128 − 255)·255/128 = 145.4 -> 145; 255 stays 255; 128 -> 1.99 -> 1
    # (truncated, as the composite's reader does); a = 0 keeps the colour.
    from PIL import Image

    from compositor.composite import _unmatte_white

    pixels = np.array([[[200, 255, 128, 128], [90, 40, 30, 0]]], np.uint8)
    out = np.asarray(_unmatte_white(Image.fromarray(pixels, "RGBA")))
    assert out[0, 0].tolist() == [145, 255, 1, 128]
    assert out[0, 1].tolist() == [90, 40, 30, 0]
    # Grey with alpha the same way: (221 + 34 − 255)·255/34 = 0.
    grey = np.asarray(_unmatte_white(Image.fromarray(np.array([[[221, 34]]], np.uint8), "LA")))
    assert grey[0, 0].tolist() == [0, 34]


def test_clipped_layer_keeps_its_own_weight_on_a_soft_edge_of_its_base():
    # Base: red at alpha 0.5 over white; clipped: blue at 40 % opacity. The
    # clipped layer is drawn over the base as if it were opaque (60 % red +
    # 40 % blue), then the base's alpha applies once:
    # 0.5 * (0.6, 0, 0.4) + 0.5 * white = (0.8, 0.5, 0.7).
    # (Drawn over the half-transparent base it would take 0.4 / 0.7 of the
    # colour instead of 0.4: (0.71, 0.5, 0.79).)
    base = solid(RED, alpha=0.5, name="base")
    base.clip_layers = [solid(BLUE, opacity=0.4, name="clipped", clipping=True)]
    color, _ = rendered([solid(WHITE), base])
    np.testing.assert_allclose(color[0, 0], [0.8, 0.5, 0.7], atol=1e-6)


def test_feather_radius_is_the_gaussian_sigma():
    # Measured on Photoshop's composite of a 6 px feathered mask: the edge
    # profile is a step blurred by a Gaussian whose sigma equals the feather
    # radius. Pixel centres sit 0.5 and 1.5 px inside the edge, so a step
    # blurred with sigma 2 reads Phi(0.25) = 0.599 and Phi(0.75) = 0.773.
    layer = solid(BLUE, box=(0, 0, 4, 2))
    layer.mask = RasterMask(box=(-20, -20, 2, 22), background=1.0, density=1.0, feather=2.0,
                            disabled=False)
    layer.mask_pixels = np.zeros((42, 22, 1), np.float32)
    coverage = Renderer(template([layer]))._mask(layer, CANVAS)[0, :, 0]
    assert coverage[2] == pytest.approx(0.599, abs=0.01)
    assert coverage[3] == pytest.approx(0.773, abs=0.01)
