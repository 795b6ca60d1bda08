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
