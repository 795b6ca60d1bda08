"""Gradient fill layers (compositor.fills) against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from compositor.fills import Gradient, GradientStop, draw_gradient, eased, gradient_position, read_gradient_fill


def gradient(style="linear", angle=0.0, scale=1.0, smoothness=0.0, **fields) -> Gradient:
    values = dict(style=style, angle=angle, scale=scale, reverse=False, align_with_layer=True,
                  offset=(0.0, 0.0), smoothness=smoothness, method="classic",
                  colour_stops=[GradientStop(0.0, 0.5, (0.0, 0.0, 0.0)), GradientStop(1.0, 0.5, (1.0, 1.0, 1.0))],
                  opacity_stops=[GradientStop(0.0, 0.5, (1.0,)), GradientStop(1.0, 0.5, (1.0,))])
    values.update(fields)
    return Gradient(**values)


def test_eased_without_smoothness_is_linear_then_bent_by_the_midpoint():
    u = np.array([0.0, 0.25, 0.5, 1.0])
    assert eased(u, 0.5, 0.0) == pytest.approx(u)
    # Midpoint at a quarter: half-way there, then linear to the end.
    assert eased(np.array([0.125, 0.25, 0.625]), 0.25, 0.0) == pytest.approx([0.25, 0.5, 0.75])


def test_full_smoothness_mixes_half_of_the_smooth_cubic():
    # 3u^2 - 2u^3 at 1/4 is 0.15625; half of it plus half of 0.25.
    assert eased(np.array([0.25]), 0.5, 1.0) == pytest.approx([0.203125])
    assert eased(np.array([0.5]), 0.5, 1.0) == pytest.approx([0.5])


def test_linear_at_90_degrees_runs_bottom_to_top_across_the_box():
    # Box 10 high, centre y = 5, reach 5: position = 0.5 - (y - 5) / 10.
    position = gradient_position(gradient(angle=90.0), (0, 0, 4, 10), (0, 0, 4, 10))
    assert position[[0, 5, 9], 0] == pytest.approx([1.0, 0.5, 0.1])


def test_linear_scale_halves_the_reach():
    position = gradient_position(gradient(angle=90.0, scale=0.5), (0, 0, 4, 10), (0, 0, 4, 10))
    # Reach 2.5: y = 4 is 1 above the centre -> 0.5 + 1 / 5.
    assert position[4, 0] == pytest.approx(0.7)
    assert position[0, 0] == 1.0 and position[9, 0] == 0.0


def test_radial_reaches_the_box_edge():
    position = gradient_position(gradient("radial"), (0, 0, 10, 10), (0, 0, 10, 10))
    assert position[5, 5] == 0.0
    assert position[5, 8] == pytest.approx(0.6)
    assert position[0, 5] == pytest.approx(1.0)


def test_angle_sweeps_clockwise_on_screen_from_its_angle():
    position = gradient_position(gradient("angle"), (0, 0, 10, 10), (0, 0, 10, 10))
    assert position[9, 5] == pytest.approx(0.25)  # a quarter turn clockwise: straight down
    assert position[1, 5] == pytest.approx(0.75)  # straight up


def test_reflected_mirrors_about_the_centre_line():
    position = gradient_position(gradient("reflected"), (0, 0, 10, 2), (0, 0, 10, 2))
    assert position[0, 2] == pytest.approx(position[0, 8]) == pytest.approx(0.6)


def test_draw_gradient_colours_and_offset_of_the_viewport():
    # Box 11 wide from x = 0, drawn on a viewport starting at x = 5.
    colour, alpha = draw_gradient(gradient(), (0, 0, 11, 1), (5, 0, 7, 1))
    expected = (np.array([5.0, 6.0]) - 5.5) / 11 + 0.5
    assert colour[0, :, 0] == pytest.approx(expected, abs=1 / 4096)
    assert alpha.shape == (1, 2, 1) and np.all(alpha == 1.0)


def test_transparency_stops_give_alpha():
    faded = gradient(opacity_stops=[GradientStop(0.0, 0.5, (1.0,)), GradientStop(1.0, 0.5, (0.0,))])
    _, alpha = draw_gradient(faded, (0, 0, 11, 1), (0, 0, 11, 1))
    assert alpha[0, 0, 0] == pytest.approx(1.0) and alpha[0, 10, 0] == pytest.approx(1 - 10 / 11, abs=1e-3)


def test_read_gradient_fill_defaults_and_midpoints():
    descriptor = {
        b"Type": b"Rdl ",
        b"Grad": {
            b"Clrs": [
                {b"Clr ": {b"Rd  ": 255.0, b"Grn ": 0.0, b"Bl  ": 0.0}, b"Lctn": 0, b"Mdpn": 50},
                {b"Clr ": {b"Rd  ": 0.0, b"Grn ": 0.0, b"Bl  ": 255.0}, b"Lctn": 4096, b"Mdpn": 25},
            ],
        },
    }
    read = read_gradient_fill(descriptor)
    assert read.style == "radial"
    assert read.angle == 0.0 and read.scale == 1.0 and read.smoothness == 1.0 and read.method == "classic"
    assert read.align_with_layer and not read.reverse
    assert [s.midpoint for s in read.colour_stops] == [0.5, 0.25]
    assert read.colour_stops[1].value == (0.0, 0.0, 1.0)
    assert [s.value for s in read.opacity_stops] == [(1.0,), (1.0,)]


def test_sample_gradient_bends_by_the_midpoint_of_the_stop_a_segment_ends_at():
    from compositor.fills import sample_gradient
    colour_stops = [GradientStop(0.0, 0.5, (0.0, 0.0, 0.0)), GradientStop(1.0, 0.25, (1.0, 1.0, 1.0))]
    opacity_stops = [GradientStop(0.0, 0.5, (1.0,)), GradientStop(1.0, 0.5, (1.0,))]
    colour, alpha = sample_gradient(colour_stops, opacity_stops, 0.0, "classic", np.array([0.25, 0.625]))
    assert colour[:, 0] == pytest.approx([0.5, 0.75], abs=1e-3)
    assert alpha[:, 0] == pytest.approx([1.0, 1.0])


def test_noise_gradients_are_recognised():
    from compositor.fills import is_noise_gradient
    assert is_noise_gradient({b"GrdF": b"ClNs"})
    assert not is_noise_gradient({b"GrdF": b"CstS"})
    assert not is_noise_gradient(None)
