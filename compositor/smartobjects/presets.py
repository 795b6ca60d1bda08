"""Preset warp styles as Bezier control meshes, by formula.

Photoshop stores a preset warp (inflate, squeeze, twist, ...) as its style,
bend (`warpValue`, percent), orientation, the two distortions and the
orders of its patch (`uOrder`, `vOrder`), not as control points. Each
preset is a Bezier patch over the warp bounds whose control net is a
simple function of the bend; with the net in content pixels, the surface
is built exactly as for a custom warp (control points mapped from their
bounding box to Trnf, then Trnf to nonAffineTransform; see surface.py).

Formulas here were checked against the pixels Photoshop cached for layers
of each style (the mesh fitted to those pixels agrees with the formula to
a few canvas pixels, within the fit's own noise), at bend 50:

* inflate (`uOrder` = `vOrder` = 3, a biquadratic patch): the four
  edge-midpoint handles of the 3x3 net move outwards, perpendicular to
  their edge, by bend/200 of the size across that edge (at bend 50, a
  quarter of the height above the top and below the bottom, a quarter of
  the width beyond the sides); corners and centre stay.
* squeeze (biquadratic): the same handles, but the side handles move
  inwards, so the patch narrows while the top and bottom bulge out.
  Vertical orientation exchanges the roles of the axes (the sides bulge,
  top and bottom pinch).
* twist (bicubic, 4x4): the four inner handles circulate: top-left moves
  right by bend/100 of the width, top-right down by bend/100 of the
  height, bottom-right left, bottom-left up (clockwise on screen; a
  negative bend circulates the other way, starting with top-left moving
  down).

Only bend 50 is in the corpus: linearity in the bend and the negative
twist are assumptions. At ingest (model.py) a formula that does not
reproduce the cached layer within MAE 1.0 is compared with a mesh fitted
to those pixels, so a wrong assumption costs accuracy only where the fit
also fails.

Styles without a formula here (arc, flag, fisheye, ...), distortions other
than zero, and nets whose stored orders disagree with the formula's are
left to the fit at ingest (fit.py).
"""

from __future__ import annotations

import numpy as np

# Degree elevation of a quadratic Bezier (3 control points) to a cubic (4).
_ELEVATE = np.array([[1.0, 0.0, 0.0], [1 / 3, 2 / 3, 0.0], [0.0, 2 / 3, 1 / 3], [0.0, 0.0, 1.0]])

# Preset styles with a formula, and the patch orders (uOrder, vOrder)
# Photoshop stores with them.
FORMULA_ORDERS = {"inflate": 3, "squeeze": 3, "twist": 4}


def elevate_quadratic(net: np.ndarray) -> np.ndarray:
    """(3, 3, 2) biquadratic control net -> the same surface as a (4, 4, 2) bicubic net."""
    net = np.asarray(net, dtype=np.float64)
    return np.einsum("ra,ab...,cb->rc...", _ELEVATE, net, _ELEVATE)


def _grid(left, top, right, bottom, n):
    xs = np.linspace(left, right, n)
    ys = np.linspace(top, bottom, n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], axis=-1)


def _box(net):
    return (float(net[..., 0].min()), float(net[..., 1].min()), float(net[..., 0].max()), float(net[..., 1].max()))


def preset_net(style: str, bend: float, vertical: bool, bounds):
    """(net, frame) of a preset over `bounds`, or None without a formula.

    net: (4, 4, 2) bicubic control points in content pixels; frame: the
    bounding box of the net in the preset's own order (the rectangle mapped
    onto Trnf). bend in percent (-100..100); bounds (left, top, right,
    bottom) is the warp's `bounds` rectangle in content pixels.
    """
    left, top, right, bottom = (float(v) for v in bounds)
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        return None
    b = float(np.clip(bend, -100.0, 100.0)) / 100.0
    if style in ("inflate", "squeeze"):
        net = _grid(left, top, right, bottom, 3)
        # outward shifts of the top/bottom handles (along y) and side handles (along x)
        out_y = height * b / 2
        out_x = width * b / 2
        if style == "squeeze":
            if vertical:
                out_y = -out_y
            else:
                out_x = -out_x
        net[0, 1, 1] -= out_y
        net[2, 1, 1] += out_y
        net[1, 0, 0] -= out_x
        net[1, 2, 0] += out_x
        return elevate_quadratic(net), _box(net)
    if style == "twist":
        net = _grid(left, top, right, bottom, 4)
        dx, dy = width * abs(b), height * abs(b)
        if b > 0:  # clockwise on screen (y down)
            net[1, 1, 0] += dx
            net[1, 2, 1] += dy
            net[2, 2, 0] -= dx
            net[2, 1, 1] -= dy
        elif b < 0:
            net[1, 1, 1] += dy
            net[2, 1, 0] += dx
            net[2, 2, 1] -= dy
            net[1, 2, 0] -= dx
        return net, _box(net)
    return None


def preset_mesh(warp, content_size):
    """(net, frame) of a preset WarpSpec (see preset_net), or None without a formula."""
    order = FORMULA_ORDERS.get(warp.style)
    if order is None:
        return None
    if warp.perspective or warp.perspective_other:
        return None  # distortions: no formula established
    if (warp.mesh_cols, warp.mesh_rows) != (order, order):
        return None  # stored orders say this is not the patch the formula builds
    if warp.style == "twist" and warp.rotate == "vertical":
        return None  # only the horizontal twist is established
    bounds = warp.bounds or (0.0, 0.0, float(content_size[0]), float(content_size[1]))
    return preset_net(warp.style, warp.value, warp.rotate == "vertical", bounds)
