"""Content -> canvas geometry of a smart object (no pixels here).

A surface maps normalised content parameters (s, t) in [0, 1]^2, where
content pixel coordinates are (s * w, t * h) with pixel edges on integers,
to continuous canvas coordinates. Two kinds:

* ProjectiveSurface: Trnf / nonAffineTransform without a warp; exact
  closed-form inverse.
* BezierSurface: bicubic Bezier patches (a 4x4 mesh is one patch, a quilt
  mesh of n = 4 + 3k points per axis has k + 1 patches) whose control points
  are already in canvas coordinates.

How Photoshop composes them (measured on its cached layer pixels):
control points P (content pixels) are mapped by A, the homography from the
bounding box of P to Trnf, then by N, the homography from Trnf to
nonAffineTransform; the Bezier surface is evaluated over those canvas points.
"""

from __future__ import annotations

import numpy as np

from .errors import SmartObjectError


# ---------------------------------------------------------------- homographies
def homography(src, dst) -> np.ndarray:
    """3x3 H mapping 4 points src -> dst (arrays (4, 2)), solved in float64."""
    src = np.asarray(src, dtype=np.float64).reshape(4, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(4, 2)
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    try:
        h = np.linalg.solve(np.array(rows), np.array(rhs))
    except np.linalg.LinAlgError as exc:
        raise SmartObjectError(f"degenerate quadrilateral {dst.tolist()} (three corners in line)") from exc
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(h: np.ndarray, x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w


def corners_of(values) -> np.ndarray:
    """8 numbers (TL, TR, BR, BL) -> (4, 2)."""
    return np.asarray(values, dtype=np.float64).reshape(4, 2)


def rect_corners(left, top, right, bottom) -> np.ndarray:
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float64)


# ---------------------------------------------------------------- surfaces
class ProjectiveSurface:
    """(s, t) -> canvas through one homography."""

    def __init__(self, h_unit_to_canvas: np.ndarray):
        self.h = h_unit_to_canvas
        self.h_inv = np.linalg.inv(h_unit_to_canvas)

    def evaluate(self, s, t):
        """Canvas x, y and the Jacobian d(x, y)/d(s, t) as four arrays."""
        h = self.h
        s = np.asarray(s, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        w = h[2, 0] * s + h[2, 1] * t + h[2, 2]
        x = (h[0, 0] * s + h[0, 1] * t + h[0, 2]) / w
        y = (h[1, 0] * s + h[1, 1] * t + h[1, 2]) / w
        jac = (
            (h[0, 0] - x * h[2, 0]) / w,
            (h[0, 1] - x * h[2, 1]) / w,
            (h[1, 0] - y * h[2, 0]) / w,
            (h[1, 1] - y * h[2, 1]) / w,
        )
        return x, y, jac

    def inverse(self, x, y):
        return apply_homography(self.h_inv, x, y)


def _bernstein(t):
    """Cubic Bernstein basis and its derivative, each (N, 4)."""
    u = 1.0 - t
    basis = np.stack([u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t], axis=-1)
    deriv = np.stack([-3 * u * u, 3 * u * u - 6 * u * t, 6 * u * t - 3 * t * t, 3 * t * t], axis=-1)
    return basis, deriv


def _locate(param, knots):
    """Patch index, local parameter and d(local)/d(param) for global params.

    Outside [0, 1] the end patches are extrapolated (needed for antialiased
    edges just outside the surface).
    """
    n_patches = len(knots) - 1
    index = np.clip(np.searchsorted(knots, param, side="right") - 1, 0, n_patches - 1)
    start = knots[index]
    width = knots[index + 1] - start
    return index, (param - start) / width, 1.0 / width


class BezierSurface:
    """Bicubic Bezier patches over a control grid (rows, cols, 2) in canvas pixels."""

    def __init__(self, control: np.ndarray, knots_s=None, knots_t=None):
        control = np.asarray(control, dtype=np.float64)
        rows, cols = control.shape[:2]
        if (rows - 1) % 3 or (cols - 1) % 3 or rows < 4 or cols < 4:
            raise SmartObjectError(f"a Bezier mesh needs 4 + 3k points per axis, got {rows}x{cols}")
        self.control = control
        self.knots_s = _knots(knots_s, (cols - 1) // 3)
        self.knots_t = _knots(knots_t, (rows - 1) // 3)

    def evaluate(self, s, t):
        s = np.asarray(s, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        shape = np.broadcast(s, t).shape
        s = np.broadcast_to(s, shape).ravel()
        t = np.broadcast_to(t, shape).ravel()
        ps, ls, dls = _locate(s, self.knots_s)
        pt, lt, dlt = _locate(t, self.knots_t)
        bs, dbs = _bernstein(ls)
        bt, dbt = _bernstein(lt)
        n = len(s)
        point = np.empty((n, 2))
        d_s = np.empty((n, 2))
        d_t = np.empty((n, 2))
        # evaluate patch by patch with small matrix products (a quilt has few patches)
        patch = pt * len(self.knots_s) + ps
        for key in np.unique(patch):
            sel = np.nonzero(patch == key)[0]
            r0, c0 = 3 * pt[sel[0]], 3 * ps[sel[0]]
            block = self.control[r0 : r0 + 4, c0 : c0 + 4]  # (4, 4, 2)
            for k in range(2):
                rows = bt[sel] @ block[..., k]  # (n, 4): Bezier in t, per column
                point[sel, k] = np.einsum("nb,nb->n", rows, bs[sel])
                d_s[sel, k] = np.einsum("nb,nb->n", rows, dbs[sel])
                d_t[sel, k] = np.einsum("nb,nb->n", dbt[sel] @ block[..., k], bs[sel])
        d_s *= np.asarray(dls)[:, None]
        d_t *= np.asarray(dlt)[:, None]
        x = point[:, 0].reshape(shape)
        y = point[:, 1].reshape(shape)
        jac = tuple(a.reshape(shape) for a in (d_s[:, 0], d_t[:, 0], d_s[:, 1], d_t[:, 1]))
        return x, y, jac


# Photoshop does not render a warp's Bezier surface exactly: it subdivides
# each patch uniformly and draws each cell as two flat triangles, split
# along its top-left to bottom-right diagonal, between its corners (points
# on the true surface). The cells per patch, a power of two along s and
# along t, at most 16 each way, are the fewest that meet two tolerances:
# - every sub-patch's control net within FLATNESS_TOLERANCE canvas pixels
#   of the bilinear patch through its corners (both directions together);
# - in each direction, every iso-curve's piece in one cell within
#   SAG_TOLERANCE of its chord (so a patch bent more one way than the
#   other is cut more finely that way).
# Measured on cached layer pixels:
# - inflate and vertical squeeze come out 8 x 8 (16 cells was worse, 4
#   far worse), twist 16 x 16, horizontal squeeze 8 along s but 16 along t
#   (its sides bend 1.5x its top: chord sag 0.58 px at 8 cells where the
#   others have 0.39): MAE 0.35, 0.46, 0.92 and 0.84 (flatness alone gave
#   the horizontal squeeze 8 x 8: 1.29); every sag tolerance in [0.39, 0.58)
#   gives the same. The preset outlines match Photoshop's within 0.01 px.
# - flatness alone already gave custom and quilt meshes their cells (sag
#   alone misses a mesh whose handles only speed up or slow down along a
#   straight line: etikett 0.40 -> 1.81); without the cap of 16 the sag
#   cut one custom mesh 32 ways (smart_objects_transformed 0.25 -> 0.33).
# - the triangles place the artwork inside each cell: inflate 1.23 -> 0.35
#   MAE against bilinear cells (the other diagonal: 2.13).
FLATNESS_TOLERANCE = 1.0
SAG_TOLERANCE = 0.5
SUBDIVISION_MAX_DEPTH = 4
# Iso-curves per patch and points per cell at which the chord sag is measured.
SAG_CURVES = 17
SAG_SAMPLES = 8


def _restriction(a: float, b: float) -> np.ndarray:
    """4x4 matrix taking cubic Bezier control points to those of its piece over [a, b].

    Row i is the blossom at (a x (3 - i), b x i), evaluated on unit vectors.
    """
    out = np.zeros((4, 4))
    for i in range(4):
        params = [a] * (3 - i) + [b] * i
        for k in range(4):
            pts = np.eye(4)[k]
            for u in params:
                pts = (1 - u) * pts[:-1] + u * pts[1:]
            out[i, k] = pts[0]
    return out


def net_flatness(net: np.ndarray) -> float:
    """Largest distance of a 4x4 control net from the bilinear patch through its corners.

    net: (4, 4, 2), or (..., 4, 4, 2) for many nets at once (the largest over all).
    """
    net = np.asarray(net, dtype=np.float64)
    u = np.arange(4) / 3.0
    uu, vv = np.meshgrid(u, u)
    weights = [((1 - uu) * (1 - vv))[..., None], (uu * (1 - vv))[..., None],
               ((1 - uu) * vv)[..., None], (uu * vv)[..., None]]
    corners = [net[..., 0:1, 0:1, :], net[..., 0:1, 3:4, :], net[..., 3:4, 0:1, :], net[..., 3:4, 3:4, :]]
    bilinear = sum(w * c for w, c in zip(weights, corners))
    return float(np.max(np.hypot(net[..., 0] - bilinear[..., 0], net[..., 1] - bilinear[..., 1])))


def subdivision_depth(net: np.ndarray, tolerance=FLATNESS_TOLERANCE, max_depth=SUBDIVISION_MAX_DEPTH) -> int:
    """Halvings needed before every sub-patch of a 4x4 net is flat within `tolerance`."""
    net = np.asarray(net, dtype=np.float64)
    for depth in range(max_depth + 1):
        n = 1 << depth
        pieces = np.stack([_restriction(i / n, (i + 1) / n) for i in range(n)])  # (n, 4, 4)
        # every sub-net at once: rows restricted by piece p, columns by piece q
        nets = np.einsum("pra,abk,qcb->pqrck", pieces, net, pieces)
        if net_flatness(nets) <= tolerance:
            return depth
    return max_depth


def chord_sag(net: np.ndarray, cells: int, along: str) -> float:
    """Largest distance (canvas pixels) of a 4x4 patch's iso-curves from their chords.

    The patch is cut into `cells` equal pieces along `along` ('s', the
    net's columns, or 't', its rows); each piece of each iso-curve in that
    direction is compared with the straight segment between its ends.
    """
    return surface_chord_sag(BezierSurface(net), cells, along)


def surface_chord_sag(surface, cells: int, along: str) -> float:
    """chord_sag of any surface over the unit square (its evaluate gives canvas points)."""
    u = np.linspace(0.0, 1.0, cells * SAG_SAMPLES + 1)
    other = np.linspace(0.0, 1.0, SAG_CURVES)
    a, b = np.meshgrid(u, other)  # (curves, points along the direction)
    x, y, _ = surface.evaluate(a, b) if along == "s" else surface.evaluate(b, a)
    return _pieces_sag(np.stack([x, y], axis=-1), cells)


def _pieces_sag(points: np.ndarray, cells: int) -> float:
    """points (curves, cells * SAG_SAMPLES + 1, 2): largest distance of a cell's piece from its chord."""
    pieces = np.stack([points[:, k * SAG_SAMPLES : (k + 1) * SAG_SAMPLES + 1] for k in range(cells)], axis=1)
    start, end = pieces[:, :, :1], pieces[:, :, -1:]
    chord = end - start
    length = np.hypot(chord[..., 0], chord[..., 1])
    offset = pieces - start
    cross = np.abs(chord[..., 0] * offset[..., 1] - chord[..., 1] * offset[..., 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(length > 1e-9, cross / length, np.hypot(offset[..., 0], offset[..., 1]))
    return float(distance.max())


def _sag_depths(surface, start: int, sag_tolerance: float, max_depth: int) -> tuple[int, int]:
    """(halvings along s, along t), from `start`, until every cell's iso-curves lie
    within `sag_tolerance` of their chords (or `max_depth`)."""
    depths = []
    for along in ("s", "t"):
        depth = start
        while depth < max_depth and surface_chord_sag(surface, 1 << depth, along) > sag_tolerance:
            depth += 1
        depths.append(depth)
    return depths[0], depths[1]


def subdivision_depths(net: np.ndarray, sag_tolerance=SAG_TOLERANCE, flatness_tolerance=FLATNESS_TOLERANCE,
                       max_depth=SUBDIVISION_MAX_DEPTH):
    """(halvings along s, halvings along t) of a 4x4 net as Photoshop subdivides it (see SAG_TOLERANCE)."""
    flat = subdivision_depth(net, flatness_tolerance, max_depth)
    return _sag_depths(BezierSurface(net), flat, sag_tolerance, max_depth)


def surface_subdivision_depths(surface, sag_tolerance=SAG_TOLERANCE, max_depth=SUBDIVISION_MAX_DEPTH):
    """(halvings along s, halvings along t) of a surface over the unit square, by the chord sag alone."""
    return _sag_depths(surface, 0, sag_tolerance, max_depth)


class SubdividedSurface:
    """A surface as Photoshop draws it: a uniform subdivision per patch, each cell two flat triangles.

    A BezierSurface is cut patch by patch (subdivision_depths); any other
    surface over the unit square (the cylinder preset) as one patch, by the
    chord sag alone.
    """

    def __init__(self, exact):
        self.exact = exact
        self.control = getattr(exact, "control", None)
        bezier = isinstance(exact, BezierSurface)
        if bezier:
            self.knots_s, self.knots_t = exact.knots_s, exact.knots_t
        else:
            self.knots_s = self.knots_t = np.array([0.0, 1.0])
        # (patch row, patch col) -> (cells along s, cells along t, grid (nt + 1, ns + 1, 2))
        self.grids = {}
        for pt in range(len(self.knots_t) - 1):
            for ps in range(len(self.knots_s) - 1):
                if bezier:
                    depth_s, depth_t = subdivision_depths(self.control[3 * pt : 3 * pt + 4, 3 * ps : 3 * ps + 4])
                else:
                    depth_s, depth_t = surface_subdivision_depths(exact)
                ns, nt = 1 << depth_s, 1 << depth_t
                s = np.linspace(self.knots_s[ps], self.knots_s[ps + 1], ns + 1)
                t = np.linspace(self.knots_t[pt], self.knots_t[pt + 1], nt + 1)
                gs, gt = np.meshgrid(s, t)
                x, y, _ = exact.evaluate(gs, gt)
                self.grids[pt, ps] = (ns, nt, np.stack([x, y], axis=-1))

    def evaluate(self, s, t):
        s = np.asarray(s, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        shape = np.broadcast(s, t).shape
        s = np.broadcast_to(s, shape).ravel()
        t = np.broadcast_to(t, shape).ravel()
        ps, ls, dls = _locate(s, self.knots_s)
        pt, lt, dlt = _locate(t, self.knots_t)
        point = np.empty((len(s), 2))
        d_s = np.empty((len(s), 2))
        d_t = np.empty((len(s), 2))
        patch = pt * len(self.knots_s) + ps
        for key in np.unique(patch):
            sel = np.nonzero(patch == key)[0]
            ns, nt, grid = self.grids[int(pt[sel[0]]), int(ps[sel[0]])]
            # cells are extrapolated beyond the patch edges, like the surface itself
            fs, ft = ls[sel] * ns, lt[sel] * nt
            i = np.clip(np.floor(fs).astype(int), 0, ns - 1)
            j = np.clip(np.floor(ft).astype(int), 0, nt - 1)
            u, v = (fs - i)[:, None], (ft - j)[:, None]
            p00, p01 = grid[j, i], grid[j, i + 1]
            p10, p11 = grid[j + 1, i], grid[j + 1, i + 1]
            # two triangles split along the cell's top-left to bottom-right
            # diagonal: (p00, p01, p11) where u >= v, (p00, p10, p11) below
            upper = u >= v
            along_u = np.where(upper, p01 - p00, p11 - p10)
            along_v = np.where(upper, p11 - p01, p10 - p00)
            point[sel] = p00 + u * along_u + v * along_v
            d_s[sel] = along_u * ns
            d_t[sel] = along_v * nt
        d_s *= np.asarray(dls)[:, None]
        d_t *= np.asarray(dlt)[:, None]
        x = point[:, 0].reshape(shape)
        y = point[:, 1].reshape(shape)
        jac = tuple(a.reshape(shape) for a in (d_s[:, 0], d_t[:, 0], d_s[:, 1], d_t[:, 1]))
        return x, y, jac


def _knots(slices, n_patches):
    if slices is None or len(slices) != n_patches + 1:
        return np.linspace(0.0, 1.0, n_patches + 1)
    k = np.asarray(slices, dtype=np.float64)
    if k[-1] == k[0]:
        raise SmartObjectError("quilt slices span no width")
    k = (k - k[0]) / (k[-1] - k[0])
    if np.any(np.diff(k) <= 0):
        raise SmartObjectError(f"quilt slices are not increasing: {list(slices)}")
    return k


# ---------------------------------------------------------------- from a smart object
def regular_mesh(bounds, rows=4, cols=4):
    left, top, right, bottom = bounds
    xs = np.linspace(left, right, cols)
    ys = np.linspace(top, bottom, rows)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], axis=-1)


def is_regular_mesh(points: np.ndarray, tol: float = 1e-3) -> bool:
    """True when the mesh is the undeformed grid over its bounding box.

    A quilt grid with uneven slices is still an identity mapping as long as
    each axis line is straight and its points follow the slices; we test the
    common case (points on an evenly spaced grid per patch) by comparing
    against the grid implied by the first row and column.
    """
    xs = points[0, :, 0]
    ys = points[:, 0, 1]
    expected = np.stack(np.meshgrid(xs, ys), axis=-1)
    scale = max(np.ptp(points[..., 0]), np.ptp(points[..., 1]), 1.0)
    if np.max(np.abs(points - expected)) > tol * scale:
        return False
    # inner Bezier handles must sit at thirds of each patch, else the grid is
    # straight but the spacing (hence the mapping) is not linear
    for axis_values in (xs, ys):
        n = (len(axis_values) - 1) // 3
        for p in range(n):
            a, d = axis_values[3 * p], axis_values[3 * p + 3]
            thirds = [a + (d - a) / 3, a + 2 * (d - a) / 3]
            if np.max(np.abs(np.array(axis_values[3 * p + 1 : 3 * p + 3]) - thirds)) > tol * scale:
                return False
    return True


# Preset styles that are not Bezier meshes and have an exact surface here.
ANALYTIC_STYLES = {"cylinder"}


def cylinder_surface(so):
    """The cylinder preset: its rim depth from `warpValues`, framed by Trnf.

    warpValues holds the bounds (left, bottom, right, top) and three shape
    numbers; the fifth, times half the bounds' width, is the rim's height
    (0.5 in the corpus file: rim 68 px for a 272 px wide cylinder, as
    measured on Photoshop's pixels), and the bounds' height is the height
    of every column (420 px there, in a Trnf 489 px high: Photoshop's
    columns measure 420.04 px; filling Trnf below the rim made them 421 and
    put the whole bottom edge a pixel low, layer MAE 0.90 -> 0.63).
    """
    values = so.warp.values
    if not values or len(values) < 5:
        raise SmartObjectError(f"cylinder warp of {so.name!r} has no warpValues")
    left, bottom, right, top = values[:4]
    width, height = abs(right - left), abs(bottom - top)
    if width <= 0 or height <= 0:
        raise SmartObjectError(f"cylinder warp of {so.name!r} has empty bounds {values[:4]}")
    # (deriving the rim from Trnf's extra height instead measured worse: 1.08 vs 0.90)
    rim = values[4] * width / 2
    # Trnf may be a pixel taller than rim + bounds (489 for 68 + 420 in the
    # corpus file); Photoshop's columns are as tall as the bounds, not the
    # rest of Trnf: the bottom edge sits on the rim plus the bounds' height.
    trnf = corners_of(so.transform)
    frame_height = float(np.hypot(*(trnf[3] - trnf[0])))
    if frame_height <= 0:
        raise SmartObjectError(f"cylinder warp of {so.name!r} has an empty transform")
    depth = rim / frame_height
    column = min(height / frame_height, 1.0 - depth)
    unit_to_canvas = homography(trnf, corners_of(so.non_affine)) @ homography(rect_corners(0, 0, 1, 1), trnf)
    # drawn like the mesh warps, in flat cells: Photoshop's rims are chords
    # (straight runs of constant slope in its cached edge pixels); layer MAE
    # 0.63 -> 0.48 (16 cells along s; 8: 0.76, 32: 0.59, exact curve: 0.63)
    return SubdividedSurface(MappedSurface(CylinderSurface(depth, column), unit_to_canvas))


def surface_for(so, mesh_points: np.ndarray | None = None, slices=(None, None), frame=None):
    """The content->canvas surface of a smart object.

    mesh_points: (rows, cols, 2) control points in content pixels, or None for
    no warp. frame: the content rectangle (left, top, right, bottom) mapped
    onto Trnf; default the bounding box of the mesh points. A preset's net
    is framed by the box of the net in its own order (presets.py), which a
    quadratic net elevated to cubic no longer spans. The cylinder preset has
    its own surface; presets without a formula a mesh fitted at ingest (fit.py).
    """
    trnf = corners_of(so.transform)
    non_affine = corners_of(so.non_affine)
    n = homography(trnf, non_affine)
    w, h = so.content_size
    # A flat custom mesh is a plain placement (Trnf, then nonAffineTransform
    # as one homography). A quilt (split) warp is always drawn as a mesh,
    # even flat: under a distort or perspective its control points move and
    # the artwork follows the Bezier surface over them, in flat triangles,
    # not the homography (werps 'distort' 0.69 -> 0.52, 'perspective' 0.78
    # -> 0.55; a flat custom mesh under perspective drawn so: 0.47 -> 2.24).
    flat = mesh_points is None or (so.warp.style != "quilt" and is_regular_mesh(mesh_points))
    if flat:
        if mesh_points is None:
            box = (0.0, 0.0, float(w), float(h))
        elif frame is not None:
            box = frame
        else:
            box = (mesh_points[..., 0].min(), mesh_points[..., 1].min(),
                   mesh_points[..., 0].max(), mesh_points[..., 1].max())
        a = homography(rect_corners(*box), trnf)
        unit_to_box = homography(rect_corners(0, 0, 1, 1), rect_corners(*box))
        return ProjectiveSurface(n @ a @ unit_to_box)
    if frame is None:
        frame = (mesh_points[..., 0].min(), mesh_points[..., 1].min(),
                 mesh_points[..., 0].max(), mesh_points[..., 1].max())
    left, top, right, bottom = frame
    if right - left <= 0 or bottom - top <= 0:
        raise SmartObjectError("warp mesh has no area")
    a = homography(rect_corners(left, top, right, bottom), trnf)
    x, y = apply_homography(n @ a, mesh_points[..., 0], mesh_points[..., 1])
    return SubdividedSurface(BezierSurface(np.stack([x, y], axis=-1), slices[0], slices[1]))


class MappedSurface:
    """An inner surface followed by a homography (chain rule for the Jacobian)."""

    def __init__(self, inner, h: np.ndarray):
        self.inner = inner
        self.h = h

    def evaluate(self, s, t):
        u, v, (us, ut, vs, vt) = self.inner.evaluate(s, t)
        h = self.h
        w = h[2, 0] * u + h[2, 1] * v + h[2, 2]
        x = (h[0, 0] * u + h[0, 1] * v + h[0, 2]) / w
        y = (h[1, 0] * u + h[1, 1] * v + h[1, 2]) / w
        xu, xv = (h[0, 0] - x * h[2, 0]) / w, (h[0, 1] - x * h[2, 1]) / w
        yu, yv = (h[1, 0] - y * h[2, 0]) / w, (h[1, 1] - y * h[2, 1]) / w
        return x, y, (xu * us + xv * vs, xu * ut + xv * vt, yu * us + yv * vs, yu * ut + yv * vt)


class CylinderSurface:
    """Photoshop's cylinder warp in its own unit frame (bounding box [0, 1]^2).

    Measured on a corpus file: the artwork wraps half a cylinder seen from
    the front; columns sit at x = (1 - cos(pi s)) / 2 (orthographic view of
    equal angles) and every column is shifted down by the front rim,
    depth * sin(pi s), so top and bottom edges are half ellipses; the top
    touches the bounding box at the sides. `depth` is the rim's height and
    `column` each column's height, as fractions of the bounding-box height
    (column 1 - depth: the bottom edge touches the box at the centre).
    """

    def __init__(self, depth: float, column: float | None = None):
        if not 0 <= depth < 1:
            raise SmartObjectError(f"cylinder rim depth must be in [0, 1), got {depth}")
        self.depth = depth
        # each column's height; the rest of the frame below the rim by default
        self.column = 1.0 - depth if column is None else column
        if not 0 < self.column <= 1.0 - depth + 1e-12:
            raise SmartObjectError(f"cylinder column height {self.column} does not fit below rim {depth}")

    def evaluate(self, s, t):
        s = np.asarray(s, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        d = self.depth
        x = (1.0 - np.cos(np.pi * s)) / 2
        y = d * np.sin(np.pi * s) + t * self.column
        xs = np.pi / 2 * np.sin(np.pi * s)
        ys = d * np.pi * np.cos(np.pi * s)
        zeros = np.zeros_like(x)
        return x, y, (xs, zeros, ys, np.full_like(x, self.column))
