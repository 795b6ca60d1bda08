"""Geometry of smart objects, with expectations worked out by hand."""

import numpy as np
import pytest

from compositor.smartobjects import SmartObject, SmartObjectError, build_warp_map, warp_content
from compositor.smartobjects.descriptor import WarpSpec, read_transforms, read_warp
from compositor.smartobjects.surface import BezierSurface, apply_homography, homography


def make_so(content_size, trnf, non_affine=None, warp=None, content=None, filters=()):
    return SmartObject(
        name="test",
        content_size=content_size,
        content=content,
        filetype="png",
        transform=tuple(float(v) for v in trnf),
        non_affine=tuple(float(v) for v in (non_affine or trnf)),
        warp=warp or WarpSpec(),
        smart_filters=list(filters),
    )


def test_homography_maps_the_four_corners():
    src = [(0, 0), (1, 0), (1, 1), (0, 1)]
    dst = [(10, 20), (30, 20), (40, 60), (0, 60)]
    h = homography(src, dst)
    x, y = apply_homography(h, [0, 1, 1, 0], [0, 0, 1, 1])
    np.testing.assert_allclose(np.stack([x, y], -1), dst, atol=1e-9)
    # By symmetry about x = 20 the denominator is w = 1 + c t; top (t = 0)
    # x = 10 + 20 s; bottom x = (20 s + b + 10) / (1 + c) = 40 s gives
    # c = -1/2, b = -10; y = (e t + 20) / w = 60 at t = 1 gives e = 10.
    # So at (s, t) = (0, 1/2): w = 3/4, x = 5 / w = 20/3, y = 25 / w = 100/3
    # (not the midpoint 40: perspective foreshortens).
    mx, my = apply_homography(h, 0, 0.5)
    assert my == pytest.approx(100 / 3)
    assert mx == pytest.approx(20 / 3)


def test_degenerate_quad_is_a_clear_error():
    with pytest.raises(SmartObjectError, match="degenerate"):
        homography([(0, 0), (1, 0), (1, 1), (0, 1)], [(0, 0), (1, 1), (2, 2), (3, 3)])


def test_scaled_placement_samples_every_second_content_pixel():
    # 200x100 content placed at (10, 20)-(110, 70): half size.
    so = make_so((200, 100), [10, 20, 110, 20, 110, 70, 10, 70])
    wm = build_warp_map(so, (200, 200))
    left, top, right, bottom = wm.box
    assert left <= 10 and top <= 20 and right >= 110 and bottom >= 70
    # canvas pixel (10 + i) has centre 10.5 + i -> content x = 2i + 1 (pixel
    # edges on integers) -> cv2.remap coordinate 2i + 0.5
    row = 30 - top
    for i in (0, 7, 99):
        assert wm.map_x[row, 10 + i - left] == pytest.approx(2 * i + 0.5, abs=1e-4)
    assert wm.map_y[row, 50 - left] == pytest.approx(2 * (30 - 20) + 0.5, abs=1e-4)
    assert wm.coverage[row, 10 - left] == pytest.approx(1.0)
    assert wm.coverage[row, 9 - left] == pytest.approx(0.0)
    assert wm.content_scale == pytest.approx((2.0, 2.0), rel=1e-3)


def test_slanted_edge_coverage_is_the_covered_fraction_of_the_pixel():
    # Left edge from (10.25, 0) to (20.25, 100): at row 50 (centre 50.5) it
    # crosses x = 15.3, so pixel 15's centre is 0.2 px right of it, 0.199 px
    # across the edge: coverage 0.5 + 0.199.
    so = make_so((100, 100), [10.25, 0, 110.25, 0, 120.25, 100, 20.25, 100])
    wm = build_warp_map(so, (200, 100))
    left, top = wm.box[:2]
    assert wm.coverage[50 - top, 15 - left] == pytest.approx(0.699, abs=2e-3)


def test_straight_vertical_and_horizontal_edges_sit_on_whole_pixels():
    # Photoshop draws axis-aligned edges on pixel boundaries, x.5 rounding up:
    # a left edge at 10.25 keeps pixel 10 whole, a right edge at 110.25 ends
    # after pixel 109, a top edge at 0.5 starts at row 1.
    so = make_so((100, 100), [10.25, 0.5, 110.25, 0.5, 110.25, 100, 10.25, 100])
    wm = build_warp_map(so, (200, 100))
    left, top = wm.box[:2]
    assert wm.coverage[50 - top, 10 - left] == pytest.approx(1.0)
    assert wm.coverage[50 - top, 110 - left] == pytest.approx(0.0)
    assert wm.coverage[0 - top, 50 - left] == pytest.approx(0.0)
    assert wm.coverage[1 - top, 50 - left] == pytest.approx(1.0)
    # The content is still mapped exactly: pixel 10's centre samples 0.25 px in.
    assert wm.map_x[50 - top, 10 - left] == pytest.approx(0.25 - 0.5 + 0.0, abs=1e-4)


def test_a_flat_quilt_keeps_its_exact_straight_edges():
    # The same placement as a quilt warp left flat (mesh on the content's
    # thirds): drawn by the mesh renderer, not snapped. The left edge at
    # 10.25 covers pixel 10 from 10.25 to 11 (centre 0.25 px inside the
    # edge: 0.5 + 0.25 = 0.75); the top edge at 0.5 halves row 0.
    thirds = [0.0, 100 / 3, 200 / 3, 100.0]
    warp = WarpSpec(style="quilt", mesh_rows=4, mesh_cols=4,
                    mesh_x=[x for _ in thirds for x in thirds], mesh_y=[y for y in thirds for _ in thirds],
                    slices_x=[0.0, 100.0], slices_y=[0.0, 100.0])
    so = make_so((100, 100), [10.25, 0.5, 110.25, 0.5, 110.25, 100, 10.25, 100], warp=warp)
    wm = build_warp_map(so, (200, 100))
    left, top = wm.box[:2]
    assert wm.coverage[50 - top, 10 - left] == pytest.approx(0.75, abs=1e-3)
    assert wm.coverage[50 - top, 110 - left] == pytest.approx(0.25, abs=1e-3)
    assert wm.coverage[0 - top, 50 - left] == pytest.approx(0.5, abs=1e-3)


def test_perspective_corners_land_where_nonaffine_says():
    trnf = [0, 0, 100, 0, 100, 100, 0, 100]
    quad = [0, 0, 100, 20, 100, 80, 0, 100]  # right edge shrunk: perspective
    so = make_so((100, 100), trnf, quad)
    wm = build_warp_map(so, (100, 100))
    # canvas column 99 (centre 99.5) is near the right edge; at the middle
    # row the content y must be the middle too (symmetry about y = 50)
    left, top = wm.box[:2]
    assert wm.map_y[50 - top, 99 - left] == pytest.approx(50.0 - 0.5 + 0.5, abs=0.6)
    # outside the trapezoid (top right corner) nothing is covered
    assert wm.coverage[5 - top, 99 - left] == 0.0


def test_bezier_surface_with_clustered_handles_is_a_smoothstep():
    # x control points 0, 0, W, W along each row give x(s) = W (3s^2 - 2s^3)
    w = 90.0
    xs = np.array([0, 0, w, w])
    ys = np.array([0, 30, 60, 90])
    control = np.stack(np.meshgrid(xs, ys), axis=-1)
    surface = BezierSurface(control)
    x, y, _ = surface.evaluate(np.array([0.5, 0.25]), np.array([0.5, 1 / 3]))
    assert x[0] == pytest.approx(45.0)
    assert x[1] == pytest.approx(w * (3 / 16 - 2 / 64))
    assert y[1] == pytest.approx(30.0)


def test_custom_mesh_is_inverted_on_its_subdivided_cells():
    w = h = 90
    xs = [0, 0, w, w]
    ys = [0, 30, 60, 90]
    gx, gy = np.meshgrid(xs, ys)
    warp = WarpSpec(style="custom", mesh_x=list(gx.ravel().astype(float)), mesh_y=list(gy.ravel().astype(float)))
    so = make_so((w, h), [0, 0, w, 0, w, h, 0, h], warp=warp)
    wm = build_warp_map(so, (w, h))
    left, top = wm.box[:2]
    # x(s) = 90 (3s^2 - 2s^3), drawn as Photoshop does: 16 straight cells
    # (subdivision depth 4: the first piece of 1/8, x(1/8) = 3.87, has its
    # handle 1.29 px from the third of its chord, over the 1 px tolerance;
    # of 1/16, x(1/16) = 1.01, 0.34 px). Canvas pixel 44 has centre 44.5,
    # inside the cell s in [7/16, 8/16], x from x(7/16) = 36.61 to 45.
    def x(s):
        return 90 * (3 * s * s - 2 * s**3)

    s = 7 / 16 + (44.5 - x(7 / 16)) / (x(8 / 16) - x(7 / 16)) / 16
    assert wm.map_x[40 - top, 44 - left] == pytest.approx(s * w - 0.5, abs=1e-3)
    # (the exact Bezier surface would give 44.1667)
    assert abs(wm.map_x[40 - top, 44 - left] - 44.1667) > 1e-3
    # rows are not warped: content y equals canvas y
    assert wm.map_y[40 - top, 44 - left] == pytest.approx(40.0, abs=1e-3)


def test_quilt_patches_follow_their_slices():
    # 7 columns = 2 patches; slices 0 | 100 | 400: the first patch is a quarter
    # of the parameter range
    xs = [0, 100 / 3, 200 / 3, 100, 200, 300, 400]
    ys = [0, 100 / 3, 200 / 3, 100]
    control = np.stack(np.meshgrid(xs, ys), axis=-1)
    surface = BezierSurface(control, knots_s=[0, 100, 400])
    x, _, _ = surface.evaluate(np.array([0.25, 0.625, 0.125]), np.zeros(3))
    np.testing.assert_allclose(x, [100, 250, 50])


def test_quilt_with_uneven_slices_maps_content_linearly():
    xs = [0, 100 / 3, 200 / 3, 100, 200, 300, 400]
    ys = [0, 100 / 3, 200 / 3, 100]
    gx, gy = np.meshgrid(xs, ys)
    warp = WarpSpec(
        style="quilt", mesh_cols=7, mesh_rows=4,
        mesh_x=list(gx.ravel()), mesh_y=list(gy.ravel()),
        slices_x=[0, 100, 400], slices_y=[0, 100],
    )
    so = make_so((400, 100), [0, 0, 400, 0, 400, 100, 0, 100], warp=warp)
    wm = build_warp_map(so, (400, 100))
    assert wm.map_x[50, 250] == pytest.approx(250.0, abs=1e-3)
    assert wm.map_x[50, 30] == pytest.approx(30.0, abs=1e-3)


def test_other_content_size_keeps_the_geometry():
    so = make_so((200, 100), [10, 20, 110, 20, 110, 70, 10, 70])
    own = build_warp_map(so, (200, 200))
    bigger = build_warp_map(so, (200, 200), content_size=(400, 200))
    assert bigger.box == own.box
    np.testing.assert_allclose(bigger.map_x, (own.map_x + 0.5) * 2 - 0.5, atol=1e-3)
    np.testing.assert_allclose(bigger.coverage, own.coverage, atol=1e-6)


def test_bad_transform_is_reported():
    with pytest.raises(SmartObjectError, match="Trnf"):
        read_transforms({"Trnf": [0, 0, 1]})


def test_read_warp_prefers_quilt_and_keeps_slices():
    desc = {
        "warp": {"warpStyle": "warpNone", "bounds": {"Left": 0, "Top": 0, "Rght": 10, "Btom": 10}},
        "quiltWarp": {
            "warpStyle": "warpCustom", "deformNumRows": 4, "deformNumCols": 7,
            "bounds": {"Left": 0, "Top": 0, "Rght": 10, "Btom": 10},
            "customEnvelopeWarp": {
                "quiltSliceX": {"quiltSliceX": [0, 3, 10]}, "quiltSliceY": {"quiltSliceY": [0, 10]},
                "meshPoints": {"Hrzn": list(range(28)), "Vrtc": list(range(28))},
            },
        },
    }
    spec = read_warp(desc)
    assert spec.style == "quilt"
    assert (spec.mesh_rows, spec.mesh_cols) == (4, 7)
    assert spec.slices_x == [0, 3, 10]
    desc["quiltWarp"]["customEnvelopeWarp"]["meshPoints"]["Hrzn"] = list(range(27))
    with pytest.raises(SmartObjectError, match="mesh"):
        read_warp(desc)


def test_preset_style_is_read_without_prefix():
    spec = read_warp({"warp": {"warpStyle": "warpInflate", "warpValue": 50.0, "warpRotate": "Vrtc"}})
    assert (spec.style, spec.value, spec.rotate) == ("inflate", 50.0, "vertical")


def test_cylinder_wraps_half_a_cylinder_inside_trnf():
    # bounds 200 x 100, rim = 0.5 * 200 / 2 = 50, so the frame is 150 high
    # and the rim takes depth = 50 / 150 of it
    warp = WarpSpec(style="cylinder", values=[0, 100, 200, 0, 0.5, 0.5, 0.57])
    so = make_so((200, 100), [0, 0, 200, 0, 200, 150, 0, 150], warp=warp)
    from compositor.smartobjects.surface import cylinder_surface

    surface = cylinder_surface(so).exact  # the curved surface, before it is cut into flat cells
    x, y, _ = surface.evaluate(np.array([0.0, 0.5, 0.5, 1 / 3]), np.array([0.0, 0.0, 1.0, 0.0]))
    # left edge top at the frame's corner; the centre column starts one rim
    # lower and ends at the bottom; a third of the way round the cylinder
    # x = 100 (1 - cos 60deg) = 50, y = 50 sin 60deg
    np.testing.assert_allclose(x, [0, 100, 100, 50], atol=1e-9)
    np.testing.assert_allclose(y, [0, 50, 150, 50 * np.sqrt(3) / 2], atol=1e-9)
    wm = build_warp_map(so, (200, 150))
    # canvas pixel (99, 10) sits above the centre column's top (y = 50): empty
    assert wm.coverage[10 - wm.box[1], 99 - wm.box[0]] == 0.0
    # canvas pixel (99, 100): centre column, half way down its 100 px
    assert wm.map_y[100 - wm.box[1], 99 - wm.box[0]] == pytest.approx(50.5 - 0.5, abs=0.05)


def test_preset_without_a_fitted_mesh_is_a_clear_error():
    so = make_so((10, 10), [0, 0, 10, 0, 10, 10, 0, 10], warp=WarpSpec(style="flag", value=50))
    with pytest.raises(SmartObjectError, match="flag.*fitted"):
        build_warp_map(so, (10, 10))


def test_fit_recovers_a_known_bezier_warp():
    from compositor.smartobjects.fit import fit_preset_mesh, initial_control

    # textured content: a checkerboard with a gradient, so every area is distinctive
    h = w = 96
    yy, xx = np.mgrid[0:h, 0:w]
    content = np.ones((h, w, 4), np.float32)
    content[..., 0] = ((xx // 12 + yy // 12) % 2).astype(np.float32)
    content[..., 1] = xx / w
    content[..., 2] = yy / h
    trnf = [20, 20, 116, 20, 116, 116, 20, 116]
    so = make_so((w, h), trnf, warp=WarpSpec(style="inflate", value=50), content=content)
    truth = initial_control(so)
    truth[1:3, 1:3] += [[[-4, -3], [3, -4]], [[-3, 4], [4, 3]]]  # bulge the inner points
    truth[0, 1:3, 1] -= 5  # and lift the top edge
    so.fitted_control = truth
    wm = build_warp_map(so, (140, 140))
    rendered = warp_content(wm, content)  # a stand-in for Photoshop's cached layer
    so.fitted_control = None
    fitted = fit_preset_mesh(so, rendered, wm.box)
    # corner and edge points fix the outline; all should come back within a fraction of a pixel
    np.testing.assert_allclose(fitted, truth, atol=0.35)


def test_coarse_to_fine_inversion_matches_the_direct_one(monkeypatch):
    import compositor.smartobjects.warpmap as warpmap

    w = h = 90
    g = np.linspace(0, w, 4)
    gx, gy = np.meshgrid(g, g)
    gx[1:3, 1:3] += 12
    gy[0, 1:3] -= 9
    warp = WarpSpec(style="custom", mesh_x=list(gx.ravel()), mesh_y=list(gy.ravel()))
    so = make_so((w, h), [5, 5, 125, 5, 125, 125, 5, 125], warp=warp)
    monkeypatch.setattr(warpmap, "COARSE_ABOVE", 1 << 40)
    direct = build_warp_map(so, (130, 130))
    monkeypatch.setattr(warpmap, "COARSE_ABOVE", 100)
    coarse = build_warp_map(so, (130, 130))
    np.testing.assert_allclose(coarse.coverage, direct.coverage, atol=1e-4)
    # where the content is drawn; beyond it the piecewise-flat surface's
    # extrapolation has kinks and either solution is as good (coverage 0)
    covered = direct.coverage > 0
    np.testing.assert_allclose(coarse.map_x[covered], direct.map_x[covered], atol=1e-3)
    np.testing.assert_allclose(coarse.map_y[covered], direct.map_y[covered], atol=1e-3)


def test_cylinder_side_column_is_solid_with_coarse_to_fine_inversion():
    # x(s) = x(-s) at the cylinder's sides: Newton seeded from coarse points
    # beyond the edge may land on the mirror solution s < 0 (uncovered),
    # which left the first column inside the side dotted. The box is large
    # enough (272 x 488) to be inverted coarse-to-fine.
    w, h, rim = 272, 420, 68
    warp = WarpSpec(style="cylinder", values=[105, 143 + h, 105 + w, 143, 0.5, 0.5, 0.57])
    so = make_so((w, h), [105, 108, 105 + w, 108, 105 + w, 108 + h + rim, 105, 108 + h + rim], warp=warp)
    wm = build_warp_map(so, (400, 620))
    rows = slice(108 + rim + 5 - wm.box[1], 108 + h - 5 - wm.box[1])  # between the rims
    # the side is at x = 105.0: column 105 fully covered, column 104 empty
    assert wm.coverage[rows, 105 - wm.box[0]].min() > 0.99
    assert wm.coverage[rows, 104 - wm.box[0]].max() == 0.0


# ---------------------------------------------------------------- preset formulas
def test_inflate_net_pushes_the_edge_handles_out_by_a_quarter_at_bend_50():
    from compositor.smartobjects.presets import preset_net

    net, frame = preset_net("inflate", 50, False, (0, 0, 120, 60))
    # biquadratic net: edge midpoints pushed out by bend/200 of the size across,
    # 60 * 0.25 = 15 above and below, 120 * 0.25 = 30 beside; the frame is
    # the box of that 3x3 net
    assert frame == (-30.0, -15.0, 150.0, 75.0)
    # elevated to cubic, top edge: (0,0), (40,-10), (80,-10), (120,0) since
    # the cubic handles sit at (Q0 + 2 Q1) / 3 and (2 Q1 + Q2) / 3
    np.testing.assert_allclose(net[0], [[0, 0], [40, -10], [80, -10], [120, 0]])
    # left column at rows 1, 2: (-20, 20), (-20, 40)
    np.testing.assert_allclose(net[1:3, 0], [[-20, 20], [-20, 40]])
    # inner handle (1, 1): rows elevated first, (Q_row0 + 2 Q_row1) / 3 =
    # [(-20, 20), (60, 15), (140, 20)], then along u (R0 + 2 R1) / 3 = (100/3, 50/3)
    np.testing.assert_allclose(net[1, 1], [100 / 3, 50 / 3])


def test_squeeze_pinches_the_sides_and_vertical_swaps_the_roles():
    from compositor.smartobjects.presets import preset_net

    net, frame = preset_net("squeeze", 50, False, (0, 0, 100, 100))
    assert frame == (0.0, -25.0, 100.0, 125.0)  # top and bottom bulge, sides do not
    np.testing.assert_allclose(net[1, 0], [50 / 3, 100 / 3])  # left handle pulled in: 2 * 25 / 3
    net_v, frame_v = preset_net("squeeze", 50, True, (0, 0, 100, 100))
    assert frame_v == (-25.0, 0.0, 125.0, 100.0)
    np.testing.assert_allclose(net_v[0, 1], [100 / 3, 50 / 3])  # top handle pushed down
    # the same surface mirrored about the diagonal
    np.testing.assert_allclose(net_v, net.transpose(1, 0, 2)[..., ::-1])


def test_twist_circulates_the_inner_handles():
    from compositor.smartobjects.presets import preset_net

    net, frame = preset_net("twist", 50, False, (0, 0, 300, 300))
    assert frame == (0.0, 0.0, 300.0, 300.0)
    # bend 50: each inner handle moves half the size, clockwise on screen
    np.testing.assert_allclose(net[1, 1], [250, 100])  # top-left -> right
    np.testing.assert_allclose(net[1, 2], [200, 250])  # top-right -> down
    np.testing.assert_allclose(net[2, 2], [50, 200])  # bottom-right -> left
    np.testing.assert_allclose(net[2, 1], [100, 50])  # bottom-left -> up
    np.testing.assert_allclose(net[0], [[0, 0], [100, 0], [200, 0], [300, 0]])  # border unchanged


def test_preset_formula_needs_matching_orders_and_no_distortion():
    from compositor.smartobjects.presets import preset_mesh

    inflate = WarpSpec(style="inflate", value=50, mesh_cols=3, mesh_rows=3, bounds=(0, 0, 10, 10))
    assert preset_mesh(inflate, (10, 10)) is not None
    assert preset_mesh(WarpSpec(style="inflate", value=50, bounds=(0, 0, 10, 10)), (10, 10)) is None  # 4x4
    distorted = WarpSpec(style="inflate", value=50, perspective=20, mesh_cols=3, mesh_rows=3)
    assert preset_mesh(distorted, (10, 10)) is None
    assert preset_mesh(WarpSpec(style="flag", value=50), (10, 10)) is None


def test_inflate_preset_frames_its_quadratic_net_on_trnf():
    # content 100x100 on Trnf 0..300: the 3x3 net spans -25..125 (bend 50),
    # so content corners land at 300 * 25 / 150 = 50 and the top edge's
    # middle at 50 - 300 * 12.5 / 150 = 25 (a quadratic's apex is half its
    # handle's offset)
    warp = WarpSpec(style="inflate", value=50, mesh_cols=3, mesh_rows=3, bounds=(0, 0, 100, 100))
    so = make_so((100, 100), [0, 0, 300, 0, 300, 300, 0, 300], warp=warp)
    wm = build_warp_map(so, (300, 300))
    left, top = wm.box[:2]
    # the apex is a vertex of the subdivided cells, so exact: pixel 25
    # (centre 25.5) is covered, pixel 24 (centre 24.5) is not; likewise the
    # left edge's apex at x = 25 on the middle row
    column = wm.coverage[:, 150 - left]
    assert np.argmax(column > 0.5) + top == 25
    row = wm.coverage[150 - top]
    assert np.argmax(row > 0.5) + left == 25
    # and the content's corners are not pushed out: nothing left of x = 50 on row 50
    assert wm.coverage[50 - top, : 49 - left].max() == 0.0


# ---------------------------------------------------------------- subdivision
def test_subdivision_depth_follows_the_flatness_tolerance():
    from compositor.smartobjects.surface import net_flatness, subdivision_depth

    # one bent edge: the top middle handles 8 px up; bilinear corners give
    # them y = 0, so flatness 8. Halving a cubic's handle offset... the
    # sub-nets' deviation falls about 4x per halving: 8 -> 2 -> 0.5
    net = np.stack(np.meshgrid(np.linspace(0, 90, 4), np.linspace(0, 90, 4)), axis=-1)
    net[0, 1:3, 1] -= 8
    assert net_flatness(net) == pytest.approx(8)
    assert subdivision_depth(net, tolerance=1.0) == 2
    assert subdivision_depth(net, tolerance=8.0) == 0
    flat = np.stack(np.meshgrid(np.linspace(0, 90, 4), np.linspace(0, 30, 4)), axis=-1)
    assert subdivision_depth(flat) == 0


def test_chord_sag_of_a_bent_edge_and_the_cells_it_asks_for():
    from compositor.smartobjects.surface import chord_sag, subdivision_depths

    # Top middle handles 8 px up on a 90 px grid: the top edge is
    # x = 90 s, y = -8 (3 (1-s)^2 s + 3 (1-s) s^2) = -24 s (1 - s); lower
    # iso-curves bend less, columns stay straight (x fixed). One cell: the
    # chord is y = 0, sag 6 (at s = 1/2). Two cells: the parabola strays
    # 24 h^2 / 4 = 1.5 from each half's chord vertically, times the cosine
    # of the chord's slope 6/45: 1.5 * 45 / sqrt(45^2 + 6^2) = 1.4868.
    # Four cells: 0.375 vertically, the flattest chords (next to s = 1/2)
    # rise 1.5 over 22.5: 0.375 * 22.5 / sqrt(22.5^2 + 1.5^2) = 0.3742.
    net = np.stack(np.meshgrid(np.linspace(0, 90, 4), np.linspace(0, 90, 4)), axis=-1)
    net[0, 1:3, 1] -= 8
    assert chord_sag(net, 1, "s") == pytest.approx(6.0, abs=1e-9)
    assert chord_sag(net, 2, "s") == pytest.approx(1.4868, abs=1e-4)
    assert chord_sag(net, 4, "s") == pytest.approx(0.3742, abs=1e-4)
    assert chord_sag(net, 1, "t") == pytest.approx(0.0, abs=1e-9)
    # sag alone (flatness tolerance out of the way): 4 cells along s, 1 along t
    assert subdivision_depths(net, sag_tolerance=0.5, flatness_tolerance=100.0) == (2, 0)
    assert subdivision_depths(net, sag_tolerance=0.5, flatness_tolerance=100.0, max_depth=1) == (1, 0)
    # the flatness rule (2 halvings at 1 px, above) applies to both directions
    assert subdivision_depths(net, sag_tolerance=100.0, flatness_tolerance=1.0) == (2, 2)


def _textured(w, h):
    yy, xx = np.mgrid[0:h, 0:w]
    content = np.ones((h, w, 4), np.float32)
    content[..., 0] = ((xx // 12 + yy // 12) % 2).astype(np.float32)
    content[..., 1] = xx / w
    content[..., 2] = yy / h
    return content


def test_ingest_keeps_the_formula_or_the_fit_whichever_matches_the_cached_layer(monkeypatch):
    from types import SimpleNamespace

    import compositor.smartobjects.fidelity as fidelity
    from compositor.smartobjects.model import _fit_preset

    content = _textured(96, 96)
    trnf = [20, 20, 116, 20, 116, 116, 20, 116]

    def inflate(value):
        warp = WarpSpec(style="inflate", value=value, mesh_cols=3, mesh_rows=3, bounds=(0, 0, 96, 96))
        return make_so((96, 96), trnf, warp=warp, content=content)

    def cached_by(so):
        wm = build_warp_map(so, (140, 140))
        pixels = warp_content(wm, content)
        monkeypatch.setattr(fidelity, "cached_layer_rgba", lambda layer: pixels)
        return SimpleNamespace(bbox=wm.box)

    # cached pixels drawn by the formula itself: kept, nothing fitted
    so = inflate(50)
    _fit_preset(so, cached_by(inflate(50)))
    assert so.fitted_control is None
    # cached pixels of a stronger bend than the descriptor says: the
    # formula misses them by far, so a mesh is fitted and kept
    layer = cached_by(inflate(80))
    _fit_preset(so, layer)
    assert so.fitted_control is not None
    cached = fidelity.cached_layer_rgba(layer)
    fitted_error = fidelity.rendered_error(so, cached, layer.bbox)
    so.fitted_control = None
    assert fitted_error < fidelity.rendered_error(so, cached, layer.bbox) / 2


def test_cylinder_columns_are_as_tall_as_the_bounds():
    # bounds 200 x 100, rim 50, but Trnf 152 high (two pixels more than rim
    # + bounds): the columns stay 100 high, the spare height stays empty
    warp = WarpSpec(style="cylinder", values=[0, 100, 200, 0, 0.5, 0.5, 0.57])
    so = make_so((200, 100), [0, 0, 200, 0, 200, 152, 0, 152], warp=warp)
    from compositor.smartobjects.surface import cylinder_surface

    surface = cylinder_surface(so)
    x, y, _ = surface.evaluate(np.array([0.0, 0.0, 0.5, 0.5]), np.array([0.0, 1.0, 0.0, 1.0]))
    # side column: 0 -> 100; centre column: one rim (50) lower, 50 -> 150
    np.testing.assert_allclose(x, [0, 0, 100, 100], atol=1e-9)
    np.testing.assert_allclose(y, [0, 100, 50, 150], atol=1e-9)


def test_subdivided_cells_are_two_flat_triangles():
    # A net that is exactly the bilinear patch through its corners (handles
    # at thirds) is flat: one cell, corners p00 (0, 0), p01 (30, 0),
    # p10 (0, 30), p11 (60, 60). Photoshop splits it along p00-p11 and maps
    # each triangle affinely:
    #   (u, v) = (0.5, 0.25), u >= v: p00 + u (p01 - p00) + v (p11 - p01) = (22.5, 15)
    #   (u, v) = (0.25, 0.5), u < v:  p00 + u (p11 - p10) + v (p10 - p00) = (15, 22.5)
    # (the bilinear cell would give (18.75, 11.25) and (11.25, 18.75)).
    from compositor.smartobjects.surface import SubdividedSurface

    corners = {(0, 0): (0.0, 0.0), (0, 1): (30.0, 0.0), (1, 0): (0.0, 30.0), (1, 1): (60.0, 60.0)}
    net = np.zeros((4, 4, 2))
    for r in range(4):
        for c in range(4):
            u, v = c / 3, r / 3
            net[r, c] = ((1 - v) * ((1 - u) * np.array(corners[0, 0]) + u * np.array(corners[0, 1]))
                         + v * ((1 - u) * np.array(corners[1, 0]) + u * np.array(corners[1, 1])))
    surface = SubdividedSurface(BezierSurface(net))
    x, y, (xs, xt, ys, yt) = surface.evaluate(np.array([0.5, 0.25]), np.array([0.25, 0.5]))
    np.testing.assert_allclose(x, [22.5, 15.0], atol=1e-9)
    np.testing.assert_allclose(y, [15.0, 22.5], atol=1e-9)
    # constant derivatives per triangle: d/du = p01 - p00 and p11 - p10
    np.testing.assert_allclose(xs, [30.0, 60.0], atol=1e-9)
    np.testing.assert_allclose(ys, [0.0, 30.0], atol=1e-9)


def test_cylinder_is_drawn_in_flat_cells_along_its_rims():
    # The cylinder above (rims: half ellipses 100 wide, 50 deep). Along s a
    # rim piece over 1/n of the half turn strays from its chord by about
    # (arc length)^2 / (8 x radius of curvature); at the centre the radius is
    # 100^2 / 50 = 200 and the arc 100 pi / n: n = 8 gives 0.96 px, n = 16
    # 0.24 px, within the 0.5 px tolerance. Columns are straight: one cell.
    from compositor.smartobjects.surface import cylinder_surface, surface_subdivision_depths

    warp = WarpSpec(style="cylinder", values=[0, 100, 200, 0, 0.5, 0.5, 0.57])
    so = make_so((200, 100), [0, 0, 200, 0, 200, 150, 0, 150], warp=warp)
    drawn = cylinder_surface(so)
    assert surface_subdivision_depths(drawn.exact) == (4, 0)
    # halfway through the first of 16 cells the top rim is on the chord from
    # (0, 0) to the exact point at s = 1/16:
    # (100 (1 - cos(pi/16)), 50 sin(pi/16)) = (1.92147, 9.75452)
    x, y, _ = drawn.evaluate(np.array([1 / 32]), np.array([0.0]))
    assert (x[0], y[0]) == (pytest.approx(1.92147 / 2, abs=1e-4), pytest.approx(9.75452 / 2, abs=1e-4))


def test_outline_distances_of_a_placement_count_from_its_drawn_edges():
    from compositor.smartobjects.warpmap import outline_distances

    # 10x10 content scaled 2x onto (10.2, 20) - (30.2, 40): the vertical
    # edges are drawn on whole pixels (x = 10 and x = 30), so the pixel
    # centred at x = 15.5 is 5.5 px from the left side and 14.5 from the
    # right; the centre y = 25.5 is 5.5 below the top, 14.5 above the bottom.
    so = make_so((10, 10), [10.2, 20, 30.2, 20, 30.2, 40, 10.2, 40])
    box = (8, 18, 33, 43)
    d = outline_distances(so, box)
    row, col = 25 - box[1], 15 - box[0]
    assert d["left"][row, col] == pytest.approx(5.5, abs=1e-6)
    assert d["right"][row, col] == pytest.approx(14.5, abs=1e-6)
    assert d["top"][row, col] == pytest.approx(5.5, abs=1e-6)
    assert d["bottom"][row, col] == pytest.approx(14.5, abs=1e-6)
    # outside the left edge the distance is negative: centre 8.5 is 1.5 px out
    assert d["left"][row, 8 - box[0]] == pytest.approx(-1.5, abs=1e-6)


def _edge_rows(edge, width=12, rows=30):
    """Distances (right side at x = 6 for `outline_offsets`) and an alpha whose right edge is at `edge`.

    Pixel x spans [x, x + 1]; its centre is (x + 0.5) from the left. The
    right side of "our" outline is at x = 6; Photoshop's at `edge`.
    """
    centres = np.arange(width) + 0.5
    right = np.tile(6.0 - centres, (rows, 1))
    far = np.full_like(right, 50.0)  # the other sides far away
    distances = {"left": far, "top": far, "bottom": far, "right": right}
    cached = np.tile(np.clip(edge - np.arange(width), 0.0, 1.0), (rows, 1))
    return distances, cached


def test_outline_offset_is_how_far_photoshops_edge_lies_beyond_ours():
    from compositor.smartobjects.fidelity import outline_offsets

    # Photoshop's edge at x = 6.4: pixel 6 (centre 6.5, 0.5 px outside
    # ours, our coverage 0) is 0.4 covered: 0.4 - 0.5 - (-0.5) = +0.4.
    distances, cached = _edge_rows(6.4)
    offsets = outline_offsets(distances, np.ones_like(cached), cached)
    assert offsets["right"] == pytest.approx(0.4)
    # the other sides have no edge pixels: nothing measured
    assert offsets["left"] is None and offsets["top"] is None
    # an edge 0.3 px inside ours: pixel 5 (centre 5.5, 0.5 inside) is 0.7
    # covered: 0.7 - 0.5 - 0.5 = -0.3
    distances, cached = _edge_rows(5.7)
    assert outline_offsets(distances, np.ones_like(cached), cached)["right"] == pytest.approx(-0.3)
    # transparent content tells nothing about the outline
    assert outline_offsets(distances, np.zeros_like(cached), cached)["right"] is None


def test_outline_cause_names_grown_and_displaced_layers():
    from compositor.smartobjects.fidelity import outline_cause

    assert outline_cause({"left": 0.01, "top": -0.05, "right": 0.1, "bottom": None}) is None
    grown = outline_cause({"left": 0.0, "top": 0.08, "right": 0.86, "bottom": 0.37})
    assert "right +0.86 px, bottom +0.37 px" in grown and "right and bottom only" in grown
    displaced = outline_cause({"left": 0.25, "top": -0.04, "right": -0.23, "bottom": -0.08})
    assert "left +0.25 px, right -0.23 px" in displaced and "displaced as a whole" in displaced
    # sides left unmeasured are named only when they were measured off
    partial = outline_cause({"left": -0.58, "top": None, "right": None, "bottom": 0.35})
    assert "left -0.58 px, bottom +0.35 px" in partial
    assert "displaced" not in partial and "only" not in partial


def test_rendered_error_counts_the_layer_left_of_and_above_the_canvas():
    import compositor.smartobjects.fidelity as fidelity

    # 4x4 opaque white content placed at unit scale on (-2, -2)-(2, 2): three
    # quarters of it lie left of or above the canvas origin, where Photoshop
    # keeps the cached pixels too (box (-2, -2, 2, 2)).
    white = np.ones((4, 4, 4), np.float32)
    so = make_so((4, 4), [-2, -2, 2, -2, 2, 2, -2, 2], content=white)
    # Without a canvas the map covers the whole outline: pixel (-2, -2)
    # (centre -1.5, -1.5) samples content pixel (0, 0) (remap coordinate 0).
    wm = build_warp_map(so, None)
    left, top = wm.box[:2]
    assert left <= -2 and top <= -2
    assert wm.map_x[-2 - top, -2 - left] == pytest.approx(0.0, abs=1e-4)
    assert wm.map_y[-2 - top, -2 - left] == pytest.approx(0.0, abs=1e-4)
    assert wm.coverage[-2 - top, -2 - left] == pytest.approx(1.0)
    # Rendered exactly, so no error. Clipped at the origin as a document's
    # canvas clips it, only the 2x2 quarter inside would be drawn: the 12
    # cached pixels outside it, 1.0 in all four channels, would count as
    # 12 * 4 * 255 / (25 pixels * 4 channels) = 122.4 over the union box
    # (-2, -2, 3, 3).
    assert fidelity.rendered_error(so, white, (-2, -2, 2, 2)) == pytest.approx(0.0, abs=0.01)
    clipped = build_warp_map(so, (10, 10))
    assert clipped.box[:2] == (0, 0)
    ours = warp_content(clipped, white)
    assert fidelity.compare_boxes(ours, clipped.box, white, (-2, -2, 2, 2))[0] == pytest.approx(122.4, abs=0.01)
