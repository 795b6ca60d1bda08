"""A Photoshop file of the corpus through the real stack: upload, ingest, report, render.

Skipped when the corpus is absent (see tests/conftest.py's `corpus` fixture).
"""
from __future__ import annotations

import numpy as np
import pytest

from compositor.plan import compile_template
from compositor.render import ArtworkInput, ExportOptions, render
from tests.integration.helpers import get_mockup, upload_template, wait_for_mockup
from tests.integration.test_renders import _render_png, b64, pixels, solid_png

pytestmark = pytest.mark.integration

MESH = "Agamnentzar+ag-psd/test/read/mesh-transform/src.psd"


def test_a_warped_template_is_rendered_with_the_edges_measured_at_ingest(api_url, corpus):
    # Photoshop draws this mesh's right and bottom edges 0.85 and 0.5 content
    # pixels beyond the exact warp (see compositor/smartobjects/calibrate.py).
    # Ingest measures it, the mockup's fidelity report says so, and renders
    # through the API draw the artwork with it: the same pixels as the
    # compositor's own render of a plan compiled here.
    psd = (corpus / MESH).read_bytes()
    mockup = wait_for_mockup(api_url, upload_template(api_url, psd)["uuid"], timeout=60)
    assert mockup["status"] == "ready", mockup["error"]
    report = get_mockup(api_url, mockup["uuid"])["fidelity"]["smart_objects"]
    assert [row["name"] for row in report] == ["transform"]
    edges = report[0]["edges"]
    assert edges is not None and edges["content_moves"] is True
    assert (edges["right"], edges["bottom"]) == (pytest.approx(0.85, abs=0.1), pytest.approx(0.5, abs=0.1))
    assert report[0]["mae"] <= 1.0

    red = solid_png()
    ours = _render_png(api_url, mockup, [{"uuid": mockup["smart_objects"][0]["uuid"],
                                          "asset": {"base64": b64(red), "content_type": "image/png"}}])
    local = pixels(render(compile_template(psd), {"transform": ArtworkInput(red)}, ExportOptions(format="png")))
    assert ours.shape == local.shape
    assert np.abs(ours - local).max() <= 1
