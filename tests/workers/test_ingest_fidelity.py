"""The ingest's fidelity report gives the figures `compositor.fidelity` gives.

The ingest measures from what the compile already made (the plan's base
image, its smart objects and warp maps) instead of rendering and reading
them again; the numbers must not change for it.
"""
from __future__ import annotations

import dataclasses

import psd_tools
import pytest

from compositor.composite import Renderer, to_pil
from compositor.fidelity import _json_number, check_file, flatten_rgb8, psnr
from compositor.fixtures.demo import build_demo_template
from compositor.model import load_template
from compositor.plan import compile_template
from compositor.smartobjects import layer_fidelity
from workers.ingest import build_template_assets, measure_fidelity

MOCKUP = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("fidelity") / "demo.psd"
    path.write_bytes(build_demo_template(600))
    return path


def test_the_ingest_report_has_the_figures_of_the_fidelity_module(demo_path):
    assets = build_template_assets(demo_path.read_bytes(), MOCKUP)
    report = assets.fidelity
    assert report["skipped"] == []

    # The document: the plan's base is the render with Photoshop's cached
    # smart-object pixels, so the reference is the fidelity check in that mode.
    expected = check_file(demo_path, smart_objects="cached")
    assert expected.error is None
    assert report["document_psnr"] == _json_number(expected.document_psnr)

    # Each smart object: re-rendered from its content against Photoshop's cache,
    # as the fidelity module does reading everything itself.
    rows = layer_fidelity(psd_tools.PSDImage.open(demo_path))
    assert report["smart_objects"] == [
        {"name": row["name"], "mae": _json_number(row["mae"]), "psnr": _json_number(row["psnr"]),
         "skipped": row["skipped"], "cause": row["cause"], "edges": row["edges"]} for row in rows]
    assert all(row["mae"] > 0 for row in rows)


def test_the_report_reuses_the_geometry_the_compile_read(demo_path):
    template = load_template(demo_path.read_bytes())
    assert all(compile_template(template).compiled_geometry(node.layer) is None
               for node in template.smart_objects)  # kept only when asked for
    plan = compile_template(template, keep_geometry=True)
    layers = [node.layer for node in template.smart_objects]
    assert layers and all(plan.compiled_geometry(layer) is not None for layer in layers)
    # Another reading of the file has other layer objects: nothing is shared with it.
    other = psd_tools.PSDImage.open(demo_path)
    assert all(plan.compiled_geometry(layer) is None for layer in other.descendants())

    # A warp map that is not the layer's own changes the figures: the report uses what it is given.
    shared = measure_fidelity(template, plan)
    so, warp_map = plan.compiled_geometry(layers[0])
    shifted = dataclasses.replace(warp_map, map_x=warp_map.map_x + 3.0)
    plan._geometry = {id(layers[0]): (layers[0], so, shifted)}
    assert measure_fidelity(template, plan)["smart_objects"][0]["mae"] > shared["smart_objects"][0]["mae"]


def test_a_document_that_differs_from_its_composite_gets_the_same_psnr(demo_path):
    # A layer drawn differently from what Photoshop saved: a PSNR of two different pictures.
    template = load_template(demo_path.read_bytes())
    layers = [dataclasses.replace(node, opacity=node.opacity * 0.5) if node.name == "Glass glare" else node
              for node in template.layers]
    changed = dataclasses.replace(template, layers=layers)
    report = measure_fidelity(changed, compile_template(changed, keep_geometry=True))
    ours = to_pil(changed, Renderer(changed, "cached").render())
    expected = psnr(flatten_rgb8(template.psd.topil()), flatten_rgb8(ours))
    assert 20 < expected < 80
    assert report["document_psnr"] == pytest.approx(_json_number(expected), abs=1e-3)
