"""Warped content whose edges Photoshop draws off the warp's own (calibrate.py), by hand."""

import dataclasses

import numpy as np
import pytest

from compositor.smartobjects import SmartObject, build_warp_map, warp_content
from compositor.smartobjects.calibrate import fit_edges
from compositor.smartobjects.descriptor import WarpSpec


def flat_quilt_so(content=None, size=(20, 20), trnf=(10, 10, 50, 10, 50, 50, 10, 50)):
    """20x20 content on (10, 10)-(50, 50) through a flat quilt: canvas x = 10 + 2 * content x,
    drawn by the mesh renderer (a quilt is never a plain placement)."""
    w, h = size
    xs = [0.0, w / 3, 2 * w / 3, float(w)]
    ys = [0.0, h / 3, 2 * h / 3, float(h)]
    warp = WarpSpec(style="quilt", mesh_rows=4, mesh_cols=4,
                    mesh_x=[x for _ in ys for x in xs], mesh_y=[y for y in ys for _ in xs],
                    slices_x=[0.0, float(w)], slices_y=[0.0, float(h)])
    return SmartObject(name="label", content_size=size, content=content, filetype="png",
                       transform=tuple(float(v) for v in trnf), non_affine=tuple(float(v) for v in trnf), warp=warp)


def test_edges_drawn_out_keep_the_content_where_the_warp_puts_it():
    # One content pixel on the right (two canvas pixels at this 2x scale):
    # the outline moves from x = 50 to 52, columns 50 and 51 repeat the
    # content's last column, and the content is sampled where it was.
    exact = flat_quilt_so()
    grown = dataclasses.replace(exact, edge_offsets=(0.0, 0.0, 1.0, 0.0), edges_move_content=False)
    a, b = build_warp_map(exact, (80, 80)), build_warp_map(grown, (80, 80))
    assert b.box[2] >= 53 and b.box[:2] == a.box[:2]  # the box holds the grown outline

    def at(wm, values, x, y=30):
        return values[y - wm.box[1], x - wm.box[0]]

    assert at(a, a.coverage, 49) == pytest.approx(1.0)
    assert at(a, a.coverage, 50) == pytest.approx(0.0)
    assert at(b, b.coverage, 50) == pytest.approx(1.0)
    assert at(b, b.coverage, 51) == pytest.approx(1.0)  # centre 51.5, half a pixel inside x = 52
    assert at(b, b.coverage, 52) == pytest.approx(0.0)
    width = a.box[2] - a.box[0]
    np.testing.assert_allclose(b.map_x[:, :width], a.map_x, atol=1e-4)
    assert at(b, b.map_x, 51) == pytest.approx(19.5)  # the last content column, drawn out
    # the left side was not moved
    np.testing.assert_allclose(b.coverage[:, :4], a.coverage[:, :4], atol=1e-6)


def test_edges_moving_the_content_stretch_it_over_the_extended_warp():
    # Right edge one content pixel out with the content: 20 content pixels
    # over 21 pixels' worth of the warp, 42 canvas pixels from x = 10 to 52.
    # Canvas centre 40.5 is content (40.5 - 10) * 20 / 42.
    moved = dataclasses.replace(flat_quilt_so(), edge_offsets=(0.0, 0.0, 1.0, 0.0), edges_move_content=True)
    wm = build_warp_map(moved, (80, 80))
    left, top = wm.box[:2]
    row = 30 - top
    assert wm.map_x[row, 40 - left] == pytest.approx(30.5 * 20 / 42 - 0.5, abs=1e-3)
    assert wm.coverage[row, 51 - left] == pytest.approx(1.0)
    assert wm.coverage[row, 52 - left] == pytest.approx(0.0)


def _textured(w=20, h=20):
    yy, xx = np.mgrid[0:h, 0:w]
    content = np.ones((h, w, 4), np.float32)
    content[..., 0] = ((xx // 3 + yy // 3) % 2).astype(np.float32)
    content[..., 1] = xx / w
    content[..., 2] = yy / h
    return content


def calibration_so():
    """40x40 textured content at 1:1 on a flat quilt, its edges off the pixel grid."""
    return flat_quilt_so(_textured(40, 40), size=(40, 40), trnf=(10.3, 10.4, 50.3, 10.4, 50.3, 50.4, 10.3, 50.4))


def _photoshop_pixels(so):
    """A stand-in for the layer Photoshop cached: the content drawn with known edge offsets."""
    wm = build_warp_map(so, None)
    return warp_content(wm, so.content), wm.box


@pytest.mark.parametrize("offsets, moves", [
    ((0.0, 0.0, 1.0, 0.5), False),  # drawn out on the right and bottom (the werps quilts)
    ((-0.6, 0.0, 0.6, 0.0), True),  # the content moved right as a whole (an etikett label)
])
def test_fit_reads_the_offsets_and_whether_the_content_moved(offsets, moves):
    exact = calibration_so()
    cached, box = _photoshop_pixels(dataclasses.replace(exact, edge_offsets=offsets, edges_move_content=moves))
    fitted = fit_edges(exact, cached, box)
    assert fitted is not None
    np.testing.assert_allclose(fitted[0], offsets, atol=0.1)
    assert fitted[1] is moves


def test_fit_keeps_the_exact_warp_when_photoshop_drew_it():
    exact = calibration_so()
    cached, box = _photoshop_pixels(exact)
    assert fit_edges(exact, cached, box) is None


def test_fit_keeps_the_exact_warp_when_the_cached_pixels_are_another_picture():
    # A cached layer that is not this content's edges (a smart filter, an
    # edited placeholder) must not move the outline by its whole difference.
    exact = calibration_so()
    cached, box = _photoshop_pixels(exact)
    shifted = np.zeros_like(cached)
    shifted[:, 4:] = cached[:, :-4]  # the layer 4 pixels further right
    assert fit_edges(exact, shifted, box) is None


def test_the_map_is_cropped_from_the_inversion_the_measurement_made(monkeypatch):
    import compositor.smartobjects.warpmap as warpmap

    exact = calibration_so()
    cached, box = _photoshop_pixels(dataclasses.replace(exact, edge_offsets=(0.0, 0.0, 1.0, 0.5),
                                                        edges_move_content=False))
    measured = dataclasses.replace(exact)
    fitted = fit_edges(measured, cached, box, keep_inversion=True)
    measured.edge_offsets, measured.edges_move_content = fitted
    inverted_again = build_warp_map(dataclasses.replace(measured, kept_inverse=None), (80, 80))

    def no_inversion(*args, **kwargs):
        raise AssertionError("the warp was inverted again")

    monkeypatch.setattr(warpmap, "_invert_grid", no_inversion)
    cropped = build_warp_map(measured, (80, 80))
    assert cropped.box == inverted_again.box
    np.testing.assert_array_equal(cropped.coverage, inverted_again.coverage)
    covered = cropped.coverage > 0
    np.testing.assert_allclose(cropped.map_x[covered], inverted_again.map_x[covered], atol=1e-4)
    # another geometry (the placement moved) does not take it
    moved = dataclasses.replace(measured, transform=tuple(v + 1 for v in measured.transform))
    with pytest.raises(AssertionError, match="inverted again"):
        build_warp_map(moved, (80, 80))
