"""Where Photoshop draws a warped content's edges, measured on the layer's cached pixels.

Some warped smart objects come out of Photoshop with the content's edges a
fraction of a content pixel beyond (or short of) the warp's own edges; the
exact mesh outline misses them by up to a canvas pixel. Measured in the
content's own pixels, each side's offset is the same from one end of the
side to the other however the warp stretches it (werps' 'distort' and
'perspective' quilts: 1.00 on the right and bottom; `mesh-transform`: 0.85
and 0.50; an `etikett` label moved 0.6 along x), so Photoshop places the
content's pixels differently inside the warp, before warping. Nothing we
read in the file tells how far (warp bounds, `Sz`, content size, `Trnf`
are alike in files that do and do not show it), but every file carries the
layer as Photoshop drew it from its own content. So at ingest each side's
offset is measured there, and the outline is drawn that far beyond (or
inside) the warp's edges, the warp extrapolated (warpmap.outline_bounds),
the content either moved with its edges or drawn out to them: four numbers
and a choice per layer, which hold for any artwork replacing the content.

The offsets are kept only when they bring the layer closer to Photoshop's
pixels than the warp alone does: a layer whose outline already matches, or
whose cached pixels do not show its edges (transparent content edges, smart
filters), keeps the exact warp.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import SmartObjectError

SIDES = ("left", "top", "right", "bottom")
# Sides measured closer than this (content pixels) are left where the warp puts them.
MIN_OFFSET = 0.1
# Further than this, the difference is not an edge placement (a smart filter,
# a different content): the layer keeps the exact warp.
MAX_OFFSET = 2.5
# Offsets are kept when they take at least this share off the layer's error.
MIN_GAIN = 0.05


def fit_edges(so, cached: np.ndarray, cached_box,
              keep_inversion: bool = False) -> tuple[tuple[float, float, float, float], bool] | None:
    """(edge_offsets, edges_move_content) for the smart object, or None to keep the exact warp.

    so: a warped smart object with its content; cached: Photoshop's layer
    pixels, straight RGBA (alpha last), over `cached_box` (its bbox, not
    cropped to the canvas). The offsets are measured on the outline; whether
    the content moves with them is then read from the pixels inside: both
    are drawn and the one closer to Photoshop's is kept (the werps quilts
    draw their edge pixels out by one, an `etikett` label is moved whole).
    `keep_inversion`: keep the warp's inversion on `so` (kept_inverse), for
    build_warp_map to crop instead of inverting the warp again.
    """
    from .fidelity import measure_outline, rendered_error
    from .warpmap import build_warp_map, kept_inversion, with_edges

    exact = dataclasses.replace(so, edge_offsets=None, edges_move_content=True)
    try:
        # One inversion of the warp, over the box the largest offsets could
        # reach; every candidate below is drawn from its parameters.
        reach = dataclasses.replace(exact, edge_offsets=(MAX_OFFSET,) * 4)
        inverted = build_warp_map(reach, None, keep_inverse=True)
        if not inverted.coverage.size:
            return None
        if keep_inversion:
            so.kept_inverse = kept_inversion(so, inverted)
        exact_map = with_edges(inverted, exact)
        exact_map.inverse = inverted.inverse
        measured = measure_outline(exact, exact_map, cached, tuple(cached_box), content_units=True)
        offsets = np.array([measured[side] or 0.0 for side in SIDES])
        offsets[np.abs(offsets) < MIN_OFFSET] = 0.0
        if not offsets.any() or np.any(np.abs(offsets) > MAX_OFFSET):
            return None  # most layers: the exact warp's outline is Photoshop's
        offsets = tuple(round(float(v), 3) for v in offsets)
        best, best_error = None, rendered_error(exact, cached, cached_box, exact_map) * (1.0 - MIN_GAIN)
        for moves in (True, False):
            candidate = dataclasses.replace(exact, edge_offsets=offsets, edges_move_content=moves)
            error = rendered_error(candidate, cached, cached_box, with_edges(inverted, candidate))
            if error < best_error:
                best, best_error = (offsets, moves), error
    except SmartObjectError:
        return None
    return best


def calibrates(so) -> bool:
    """Whether a smart object's edges are measured at ingest: a warped one with its own content."""
    from .warpmap import is_warped

    return so.content is not None and not any(f.enabled for f in so.smart_filters) and is_warped(so)

