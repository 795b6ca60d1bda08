"""Photoshop's preset warp styles as 4x4 Bezier meshes.

Adobe documents no formulas. A preset whose formula we have not established
is fitted to the layer's cached pixels at ingest (`fit.fit_preset_mesh`).
"""

from __future__ import annotations

import numpy as np

# Styles with a formula below (mesh builders).
PRESET_STYLES: dict = {}
# Styles with an exact surface of their own in surface.py (not a Bezier mesh).
ANALYTIC_STYLES = {"cylinder"}


def preset_mesh(warp, content_size):
    """(4, 4, 2) control points in content pixels, or None when unknown."""
    build = PRESET_STYLES.get(warp.style)
    if build is None:
        return None
    w, h = content_size
    return build(warp, w, h)
