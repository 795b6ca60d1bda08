"""Splitting a shape's cached pixels into fill and vector stroke (compositor.shapes)."""
from __future__ import annotations

import numpy as np
import pytest

from compositor.shapes import split_vector_stroke

RED = np.array([1.0, 0.0, 0.0], np.float32)
BLUE = np.array([0.0, 0.0, 1.0], np.float32)


def pixels(stroke: float, fill: float):
    """Straight colour and alpha of a blue stroke (coverage `stroke`) over a red fill (`fill`)."""
    alpha = stroke + (1 - stroke) * fill
    premultiplied = stroke * BLUE + (1 - stroke) * fill * RED
    colour = premultiplied / alpha if alpha > 0 else np.zeros(3, np.float32)
    return colour.reshape(1, 1, 3).astype(np.float32), np.full((1, 1, 1), alpha, np.float32)


@pytest.mark.parametrize("stroke, fill", [(0.5, 1.0), (0.25, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 0.3)])
def test_the_stroke_coverage_is_recovered_from_the_merged_pixels(stroke, fill):
    colour, alpha = pixels(stroke, fill)
    split = split_vector_stroke(colour, alpha, np.full((1, 1, 1), fill, np.float32), BLUE, RED)
    assert split.stroke_alpha[0, 0, 0] == pytest.approx(stroke, abs=1e-5)
    assert split.fill_alpha[0, 0, 0] == pytest.approx(fill)
    assert split.stroke_colour[0, 0] == pytest.approx(BLUE) and split.fill_colour[0, 0] == pytest.approx(RED)


def test_with_the_fill_off_the_pixels_are_the_stroke():
    colour, alpha = pixels(0.75, 0.0)
    split = split_vector_stroke(colour, alpha, np.ones((1, 1, 1), np.float32), BLUE, None)
    assert split.stroke_alpha[0, 0, 0] == pytest.approx(0.75)
    assert split.fill_alpha[0, 0, 0] == 0.0


def test_a_stroke_in_the_fill_colour_cannot_be_split():
    colour, alpha = pixels(0.5, 1.0)
    assert split_vector_stroke(colour, alpha, np.ones((1, 1, 1), np.float32), RED, RED) is None


def test_dash_pattern_cuts_a_line_into_dashes_and_gaps():
    from compositor.shapes import _dashes
    pieces = _dashes(np.array([[0.0, 0.0], [13.0, 0.0]]), False, [4.0, 2.0], 0.0)
    assert [(p[0, 0], p[-1, 0]) for p in pieces] == [(0.0, 4.0), (6.0, 10.0), (12.0, 13.0)]
    # An offset starts the pattern part-way: 1 px of the first dash is skipped.
    pieces = _dashes(np.array([[0.0, 0.0], [10.0, 0.0]]), False, [4.0, 2.0], 1.0)
    assert [(p[0, 0], p[-1, 0]) for p in pieces] == [(0.0, 3.0), (5.0, 9.0)]


def test_dashes_run_on_round_a_corner():
    from compositor.shapes import _dashes
    pieces = _dashes(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 3.0]]), False, [4.0, 2.0], 0.0)
    assert len(pieces) == 1 and pieces[0].tolist() == [[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]]


def test_pen_paints_butt_ended_segments_of_its_width():
    from compositor.shapes import _draw_pen
    canvas = np.zeros((6, 12), np.uint8)
    # A 2-wide pen along y = 3 from x = 2 to x = 8: pixels x 2..7, rows 2 and 3.
    _draw_pen(canvas, np.array([[2.0, 3.0], [8.0, 3.0]]), 2.0)
    painted = canvas > 0
    assert painted[2:4, 3:7].all()
    assert not painted[:1].any() and not painted[5:].any()
    assert not painted[:, :1].any() and not painted[:, 10:].any()


def test_an_inside_strokes_dashes_start_half_a_period_later():
    from compositor.shapes import dash_pattern
    stroke = {b"strokeStyleLineDashSet": [4.0, 2.0], b"strokeStyleLineDashOffset": 0.0}
    # Lengths in widths: [4, 2] at width 1.5 is 6 px on, 3 off.
    assert dash_pattern(stroke, 1.5, b"strokeStyleAlignCenter") == ([6.0, 3.0], 0.0)
    assert dash_pattern(stroke, 1.5, b"strokeStyleAlignInside") == ([6.0, 3.0], 4.5)
    # An odd pattern repeats with on and off swapped: [3] is 3 on, 3 off.
    assert dash_pattern({b"strokeStyleLineDashSet": [3.0]}, 1.0, b"strokeStyleAlignInside") == ([3.0], 3.0)
    assert dash_pattern({}, 2.0, b"strokeStyleAlignInside") == ([], 0.0)
