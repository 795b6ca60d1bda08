"""Rendering real templates with new artwork (needs the corpus; skipped without it)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from compositor.cli import render_command
from compositor.composite import Renderer, affected_box, render_update
from compositor.fidelity import corpus_dir
from compositor.model import TemplateError, load_template

pytestmark = pytest.mark.corpus


def _smallest_file_with_a_visible_smart_object():
    corpus = corpus_dir()
    if not (corpus / "manifest.csv").is_file():
        pytest.skip(f"Photoshop corpus not found at {corpus}")
    with (corpus / "manifest.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if int(r["n_smartobject"] or 0) > 0 and r["color_mode"] == "RGB" and r["depth"] == "8"
                and int(r["so_nonaffine"] or 0) == 0 and not r["so_warp_styles"]
                and int(r["so_smart_filters"] or 0) == 0 and int(r["n_effects_layers"] or 0) == 0]
    for row in sorted(rows, key=lambda r: int(r["width"]) * int(r["height"])):
        template = load_template(corpus / row["path"])
        visible = [n for n in template.smart_objects if n.layer.is_visible()]
        if visible:
            return corpus / row["path"], template, visible[0]
    pytest.skip("no suitable smart object in the corpus")


def _flat_artwork(rgb, size=(64, 48)) -> np.ndarray:
    art = np.ones((size[1], size[0], 4), np.float32)
    art[..., :3] = rgb
    return art


def test_new_artwork_changes_only_the_box_it_can_reach():
    _, template, node = _smallest_file_with_a_visible_smart_object()
    renderer = Renderer(template, "cached")
    base = renderer.render()
    full = renderer.render(artwork={node.name: _flat_artwork((1.0, 0.0, 1.0))})
    box = affected_box(template, node.name)
    changed = np.abs(full.color - base.color).max(axis=-1) + np.abs(full.alpha - base.alpha)[..., 0]
    ys, xs = np.nonzero(changed > 1e-6)
    assert len(ys) > 0, "the new artwork left no trace"
    assert box[0] <= xs.min() and xs.max() < box[2] and box[1] <= ys.min() and ys.max() < box[3]


def test_region_update_equals_the_full_render():
    _, template, node = _smallest_file_with_a_visible_smart_object()
    renderer = Renderer(template, "cached")
    artwork = {node.name: _flat_artwork((0.0, 0.5, 1.0))}
    full = renderer.render(artwork=artwork)
    updated = render_update(renderer, renderer.render(), artwork)
    np.testing.assert_allclose(updated.color * updated.alpha, full.color * full.alpha, atol=1e-5)
    np.testing.assert_allclose(updated.alpha, full.alpha, atol=1e-5)


def test_artwork_for_a_missing_smart_object_is_an_error():
    _, template, _ = _smallest_file_with_a_visible_smart_object()
    with pytest.raises(TemplateError, match="no smart object named"):
        Renderer(template).render(artwork={"no such layer": _flat_artwork((0, 0, 0))})


def test_render_command_writes_the_mockup(tmp_path):
    path, template, node = _smallest_file_with_a_visible_smart_object()
    design = tmp_path / "design.png"
    Image.new("RGB", (40, 30), (255, 0, 255)).save(design)
    out = tmp_path / "out.png"
    result = CliRunner().invoke(render_command, [str(path), "--art", f"{node.name}={design}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.size == (template.width, template.height)
    assert (255, 0, 255) in {pixel[:3] for pixel in image.convert("RGBA").getdata()}


def test_render_command_names_an_unreadable_design(tmp_path):
    path, _, node = _smallest_file_with_a_visible_smart_object()
    design = tmp_path / "design.png"
    design.write_bytes(b"not a png")
    result = CliRunner().invoke(render_command, [str(path), "--art", f"{node.name}={design}",
                                                 "-o", str(tmp_path / "out.png")])
    assert result.exit_code != 0
    assert "not a readable image" in result.output
