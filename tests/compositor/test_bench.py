"""The benchmark's pieces: the naive baseline really swaps the artwork in, and the report is complete."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from compositor import bench
from compositor.fixtures import build_demo_artwork, build_demo_template
from compositor.model import load_template
from compositor.placement import PlacementOptions, place_artwork_bytes
from compositor.smartobjects import build_warp_map, read_smart_object, warp_content


def test_the_naive_baseline_composites_the_new_artwork():
    template = load_template(build_demo_template(200))
    before = np.asarray(template.psd.composite(force=True).convert("RGB"), np.int16)
    node = template.find("Design")
    so = read_smart_object(node.layer, template.psd)
    red = place_artwork_bytes(None, so.content_size, PlacementOptions.from_dict({"color": "#FF0000"}))
    warp_map = build_warp_map(so, (template.width, template.height))
    bench._swap_pixels(node.layer, warp_map.box, warp_content(warp_map, red))
    after = np.asarray(template.psd.composite(force=True).convert("RGB"), np.int16)
    changed = np.any(after != before, axis=-1)
    left, top, right, bottom = warp_map.box
    assert changed[top:bottom, left:right].mean() > 0.5
    assert not changed[:top].any() and not changed[bottom:].any()
    centre = after[(top + bottom) // 2, (left + right) // 2]
    assert centre[0] > 2 * centre[1]  # red shows through the shading


def test_bench_command_reports_machine_and_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path / "bench")
    (tmp_path / "demo.psd").write_bytes(build_demo_template(200))
    (tmp_path / "art.png").write_bytes(build_demo_artwork(100))
    result = CliRunner().invoke(bench.bench_command, [str(tmp_path / "demo.psd"), "--art",
                                                      f"Design={tmp_path / 'art.png'}", "--runs", "2",
                                                      "--baseline-runs", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert {"cpu", "cores", "load_average", "python", "numpy", "opencv"} <= set(report["machine"])
    (figures,) = report["results"]
    for key in ("fast_1_thread", "fast_default_threads", "naive"):
        assert figures[key]["runs"] >= 1 and figures[key]["p50_ms"] > 0
    assert figures["speedup_1_thread"] > 0
    assert list((tmp_path / "bench").glob("plan-*.zip"))  # compiled once, kept
