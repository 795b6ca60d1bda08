"""Pixel work of smart objects: remap, premultiplied sampling, coverage, filters, decoding."""

import io

import numpy as np
import pytest
from PIL import Image

from compositor.smartobjects import SmartObjectError, build_warp_map, warp_content
from compositor.smartobjects.content import decode_content
from compositor.smartobjects.descriptor import GAUSSIAN_BLUR_ID, SmartFilter

from .test_smartobjects_geometry import make_so


def test_identity_placement_reproduces_the_content():
    rng = np.random.default_rng(1)
    content = rng.random((20, 30, 4), dtype=np.float32)
    content[..., 3] = 1.0
    so = make_so((30, 20), [5, 5, 35, 5, 35, 25, 5, 25])
    wm = build_warp_map(so, (40, 30))
    out = warp_content(wm, content)
    left, top = wm.box[:2]
    np.testing.assert_allclose(out[5 - top : 25 - top, 5 - left : 35 - left], content, atol=1e-5)
    # the ring of pixels around it is empty
    assert out[4 - top, 10 - left, 3] == 0.0


def test_interpolation_is_premultiplied():
    # opaque red next to transparent "blue": half way between, colour stays red
    content = np.zeros((1, 2, 4), np.float32)
    content[0, 0] = (1, 0, 0, 1)
    content[0, 1] = (0, 0, 1, 0)
    # 2x1 content squeezed onto one canvas pixel column... instead shift by half
    # a pixel: canvas pixel 0 centre 0.5 -> content x = 1.0, between both pixels
    so = make_so((2, 1), [-0.5, 0, 1.5, 0, 1.5, 1, -0.5, 1])
    wm = build_warp_map(so, (2, 1))
    out = warp_content(wm, content)
    pixel = out[0, 0 - wm.box[0]]
    np.testing.assert_allclose(pixel[:3], [1, 0, 0], atol=1e-4)
    assert pixel[3] == pytest.approx(0.5, abs=1e-3)


def test_coverage_folds_into_alpha():
    # A slanted left edge (0.5, 0) -> (2.5, 10) crosses row 5 (centre 5.5)
    # at x = 1.6: pixel 1's coverage, not 1, is its alpha.
    content = np.ones((10, 10, 4), np.float32)
    so = make_so((10, 10), [0.5, 0, 10.5, 0, 12.5, 10, 2.5, 10])
    wm = build_warp_map(so, (20, 10))
    out = warp_content(wm, content)
    column = 1 - wm.box[0]
    # (times the little the sampling kernel loses at the content's edge)
    assert 0.9 * wm.coverage[5, column] < out[5, column, 3] <= wm.coverage[5, column] + 1e-4
    assert 0.2 < out[5, column, 3] < 0.6
    assert out[5, 5 - wm.box[0], 3] == pytest.approx(1.0)


def test_downscaled_artwork_is_area_averaged():
    # 1-pixel black/white stripes shrunk 4x average to grey, not aliased stripes
    content = np.ones((64, 64, 4), np.float32)
    content[:, ::2, :3] = 0.0
    so = make_so((64, 64), [0, 0, 16, 0, 16, 16, 0, 16])
    out = warp_content(build_warp_map(so, (16, 16)), content)
    assert np.abs(out[2:14, 2:14, 0] - 0.5).max() < 0.05


def test_gaussian_blur_smart_filter_grows_the_box_and_softens_the_edge():
    content = np.ones((40, 40, 4), np.float32)
    blur = SmartFilter("Gaussian Blur", GAUSSIAN_BLUR_ID, True, {"Rds": 2.0})
    so = make_so((40, 40), [20, 20, 60, 20, 60, 60, 20, 60], filters=[blur])
    wm = build_warp_map(so, (100, 100))
    assert wm.box[0] <= 20 - 6 and wm.box[2] >= 60 + 6
    out = warp_content(wm, content)
    left, top = wm.box[:2]
    row = 40 - top
    # the edge at x = 20 lies between pixels 19 and 20: by symmetry their
    # alphas sum to one, and the blur has spread alpha 2 sigma out
    assert out[row, 19 - left, 3] + out[row, 20 - left, 3] == pytest.approx(1.0, abs=1e-3)
    assert 0.0 < out[row, 16 - left, 3] < 0.05
    np.testing.assert_allclose(out[row, 40 - left], [1, 1, 1, 1], atol=1e-4)


def test_content_must_be_rgba():
    so = make_so((4, 4), [0, 0, 4, 0, 4, 4, 0, 4])
    with pytest.raises(SmartObjectError, match="RGBA"):
        warp_content(build_warp_map(so, (4, 4)), np.zeros((4, 4, 3), np.float32))


def _png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_png_rgba_and_16_bit_grey():
    rgba = Image.new("RGBA", (3, 2), (255, 0, 0, 128))
    out = decode_content("png", _png_bytes(rgba))
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [1, 0, 0, 128 / 255], atol=1e-6)
    grey16 = Image.fromarray(np.full((2, 2), 32768, np.uint16))
    out = decode_content("png", _png_bytes(grey16))
    np.testing.assert_allclose(out[0, 0], [32768 / 65535] * 3 + [1], atol=1e-6)


def test_unsupported_content_is_named():
    with pytest.raises(SmartObjectError, match="pdf"):
        decode_content("pdf", b"%PDF-1.4")
    with pytest.raises(SmartObjectError, match="png"):
        decode_content("png", b"not a png")


def test_decode_lab_content_through_a_colour_transform():
    # L = 100, a = b = 0 is white; PIL stores a and b offset by 128
    lab = Image.new("LAB", (2, 2), (255, 128, 128))
    buffer = io.BytesIO()
    lab.save(buffer, format="TIFF")
    out = decode_content("tiff", buffer.getvalue())
    np.testing.assert_allclose(out[0, 0], [1, 1, 1, 1], atol=0.02)


def test_warp_map_round_trips_through_a_file():
    from compositor.smartobjects import load_warp_map, save_warp_map

    blur = SmartFilter("Gaussian Blur", GAUSSIAN_BLUR_ID, True, {"Rds": 1.5})
    so = make_so((30, 20), [5.5, 5, 35, 7, 33, 25, 4, 24], filters=[blur])
    wm = build_warp_map(so, (40, 30))
    buffer = io.BytesIO()
    save_warp_map(wm, buffer)
    buffer.seek(0)
    back = load_warp_map(buffer)
    assert back.box == wm.box and back.content_size == wm.content_size and back.affine == wm.affine
    np.testing.assert_array_equal(back.map_x, wm.map_x)
    np.testing.assert_array_equal(back.coverage, wm.coverage)
    assert back.smart_filters == wm.smart_filters
    content = np.random.default_rng(0).random((20, 30, 4), dtype=np.float32)
    np.testing.assert_array_equal(warp_content(back, content), warp_content(wm, content))


def test_shrunk_affine_placement_softens_its_outermost_pixels():
    # Photoshop's shrinking kernel reaches past the content into transparency:
    # a placement whose edges fall on whole canvas pixels keeps slightly less
    # than full alpha in its outermost pixels, full alpha inside.
    content = np.ones((120, 120, 4), np.float32)
    so = make_so((120, 120), [10, 10, 50, 10, 50, 50, 10, 50])
    wm = build_warp_map(so, (60, 60))
    alpha = warp_content(wm, content)[..., 3]
    left, top = wm.box[:2]
    outermost = alpha[30 - top, 10 - left]
    assert 0.85 < outermost < 0.99
    assert alpha[30 - top, 12 - left] == pytest.approx(1.0, abs=0.01)
    assert alpha[30 - top, 9 - left] == pytest.approx(0.0, abs=1e-6)


def _checkerboard(w, h):
    board = ((np.arange(w)[None, :] + np.arange(h)[:, None]) % 2).astype(np.float32)
    return np.dstack([board, board, board, np.ones_like(board)])


def test_mip_level_follows_the_maps_local_scale():
    from compositor.smartobjects.warpmap import mip_lod

    cols, rows = np.meshgrid(np.arange(16, dtype=np.float32), np.arange(8, dtype=np.float32))
    # 4 content pixels per output pixel along x, 2 along y: the longer one counts
    lod = mip_lod(cols * 4, rows * 2)
    np.testing.assert_allclose(lod, 2.0, atol=1e-6)
    # pixels the content does not cover take the level of those it does
    coverage = np.ones_like(cols)
    coverage[:, :4] = 0.0
    map_x = cols * 4
    map_x[:, :4] = 1e6
    lod = mip_lod(map_x, rows, coverage)
    np.testing.assert_allclose(lod[:, 6:], 2.0, atol=1e-6)
    np.testing.assert_allclose(lod[:, :4], 2.0, atol=1e-6)


def test_warped_shrink_samples_the_mip_level_of_each_pixel():
    from compositor.smartobjects.warpmap import mip_lod, sample_mip

    content = _checkerboard(64, 8)
    content[..., :3] *= content[..., 3:4]
    # one output row: the left 8 pixels sample content 1:1, the right 8 shrink it 4x
    x = np.concatenate([np.arange(8, dtype=np.float32), 8 + 4 * np.arange(8, dtype=np.float32) + 1.5])
    map_x = np.tile(x, (4, 1))
    map_y = np.tile(np.arange(4, dtype=np.float32)[:, None] + 2, (1, 16))
    lod = mip_lod(map_x, map_y)
    out = sample_mip(content, map_x, map_y, lod)
    # 1:1 keeps the checkerboard; 4x samples 4x4 block averages: flat grey
    np.testing.assert_allclose(out[1:3, :6, 0], content[3:5, :6, 0], atol=1e-6)
    np.testing.assert_allclose(out[1:3, 10:, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(out[..., 3], 1.0, atol=1e-6)


def test_perspective_shrink_varies_its_level_and_averages_detail():
    # a perspective placement shrinking its artwork: its mip level differs
    # from pixel to pixel
    so = make_so((200, 100), [10, 10, 60, 20, 60, 40, 10, 50])
    wm = build_warp_map(so, (80, 60))
    assert not wm.affine
    lod = wm.lod[wm.coverage > 0]
    assert lod.max() - lod.min() > 0.3
    content = _checkerboard(200, 100)
    out = warp_content(wm, content)
    inside = wm.coverage > 0.99
    # a 1-pixel checkerboard shrunk 2.5-5x averages to grey, without aliasing
    assert abs(float(out[..., 0][inside].mean()) - 0.5) < 0.05
    assert float(out[..., 0][inside].std()) < 0.1


def test_shrink_shift_by_factor():
    from compositor.smartobjects.warpmap import shrink_shift

    # shrunk more than 4x by a fraction: half a content pixel; else none
    assert shrink_shift(5.5) == 0.5
    assert shrink_shift(8.47) == 0.5
    assert shrink_shift(3.9) == 0.0
    assert shrink_shift(4.0) == 0.0
    assert shrink_shift(16.0) == 0.0
    assert shrink_shift(16.0004) == 0.0  # float noise in a whole-number factor


def _ramps(w, h):
    # red rises along x, green along y: value = pixel centre / size
    red = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / w
    green = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
    return np.dstack([np.broadcast_to(red, (h, w)), np.broadcast_to(green, (h, w)),
                      np.zeros((h, w), np.float32), np.ones((h, w), np.float32)])


@pytest.mark.parametrize("content_size, expected_red, expected_green", [
    # 110x66 -> 20x12, 5.5x: canvas pixel 10 reads content x = 10.5 * 5.5 - 0.5
    # - 0.5 (the shift) = 56.75, whose value is (56.75 + 0.5) / 110; row 6
    # reads y = 6.5 * 5.5 - 1 = 34.75, (34.75 + 0.5) / 66
    ((110, 66), 57.25 / 110, 35.25 / 66),
    # 70x42 -> 20x12, 3.5x: centred, x = 10.5 * 3.5 - 0.5 = 36.25 -> 36.75 / 70
    ((70, 42), 36.75 / 70, 22.75 / 42),
    # 320x192 -> 20x12, 16x exactly: centred, 168 / 320 and 104 / 192
    ((320, 192), 168 / 320, 104 / 192),
])
def test_shrunk_affine_placement_is_shifted_only_for_large_fractional_factors(
        content_size, expected_red, expected_green):
    # Linear ramps survive the (symmetric, normalised) prefilter and bilinear
    # sampling unchanged, so each pixel shows the ramp where it samples.
    w, h = content_size
    so = make_so((w, h), [10, 10, 30, 10, 30, 22, 10, 22])
    wm = build_warp_map(so, (40, 32))
    assert wm.affine
    out = warp_content(wm, _ramps(w, h))
    left, top = wm.box[:2]
    pixel = out[10 + 6 - top, 10 + 10 - left]
    assert pixel[0] == pytest.approx(expected_red, abs=1e-4)
    assert pixel[1] == pytest.approx(expected_green, abs=1e-4)
    assert pixel[3] == pytest.approx(1.0, abs=1e-5)


def _red_beside_transparent_black(w, h):
    content = np.zeros((h, w, 4), np.float32)
    content[:, : w // 2] = (1.0, 0.0, 0.0, 1.0)
    return content


def test_shrunk_image_file_resamples_its_colour_over_white():
    # Each output pixel is a weighted sum of content pixels, weights summing
    # to 1. Straight colour with white under the transparency: a pixel whose
    # weights on the red half sum to alpha has red 1 and green
    # alpha * 0 + (1 - alpha) * 1 = 1 - alpha, whatever the kernel.
    so = make_so((40, 20), [10, 10, 30, 10, 30, 20, 10, 20])  # 2x smaller
    wm = build_warp_map(so, (40, 30))
    content = _red_beside_transparent_black(40, 20)
    out = warp_content(wm, content, raster_file=True)
    alpha = out[..., 3]
    edge = (alpha > 0.05) & (alpha < 0.95)
    assert edge.sum() >= 8  # the column across the red half's edge
    np.testing.assert_allclose(out[..., 0][edge], 1.0, atol=1e-5)
    np.testing.assert_allclose(out[..., 1][edge], 1.0 - alpha[edge], atol=1e-5)
    np.testing.assert_allclose(out[..., 2][edge], 1.0 - alpha[edge], atol=1e-5)
    # an embedded Photoshop document is resampled premultiplied: pure red
    out = warp_content(wm, content, raster_file=False)
    edge = (out[..., 3] > 0.05) & (out[..., 3] < 0.95)
    np.testing.assert_allclose(out[..., :3][edge], np.broadcast_to([1.0, 0.0, 0.0], (edge.sum(), 3)), atol=1e-5)


def test_enlarged_image_file_stays_premultiplied():
    so = make_so((20, 10), [5, 5, 45, 5, 45, 25, 5, 25])  # 2x larger
    wm = build_warp_map(so, (50, 30))
    out = warp_content(wm, _red_beside_transparent_black(20, 10), raster_file=True)
    edge = (out[..., 3] > 0.05) & (out[..., 3] < 0.95) & (wm.coverage > 0.99)
    assert edge.sum() >= 8
    np.testing.assert_allclose(out[..., 1][edge], 0.0, atol=1e-5)
