"""Every corpus mockup with smart objects: the compiled fast path draws what the
generic renderer draws with the same replacement artwork (MAE <= 0.5 of 255),
at full size and at every reduced level the plan keeps (against the full
render downscaled the same way)."""
from __future__ import annotations

import numpy as np
import pytest

from compositor.composite import Renderer
from compositor.fidelity import corpus_dir
from compositor.model import TemplateError, load_template
from compositor.plan import SMART_OBJECT_MODE, _straight_uint8, compile_template, downscale
from compositor.render import render_level

pytestmark = [pytest.mark.corpus, pytest.mark.timeout(1800)]

MAX_MAE = 0.5


def _files_with_smart_objects() -> list[str]:
    manifest = corpus_dir() / "manifest.csv"
    if not manifest.is_file():
        return ["(corpus absent)"]
    import csv  # noqa: PLC0415
    with manifest.open(newline="") as handle:
        return [row["path"] for row in csv.DictReader(handle)
                if int(row["n_smartobject"] or 0) > 0 and not row["error"]]


def _artwork(width: int, height: int, seed: int) -> np.ndarray:
    """Replacement content: a gradient with a soft disc and a transparent corner,
    so both colour and alpha vary."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= max(width - 1, 1)
    y /= max(height - 1, 1)
    start, end = rng.uniform(0.05, 0.95, size=(2, 3)).astype(np.float32)
    t = (0.7 * x + 0.3 * y)[..., None]
    rgb = start * (1 - t) + end * t
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05)[..., None]
    rgb = np.where(disc, 1.0 - rgb, rgb)
    alpha = np.clip(1.5 - 2.0 * np.hypot(x - 1, y - 1), 0, 1)[..., None]
    return np.concatenate([rgb, alpha], axis=-1).astype(np.float32)


def as_rgba(pixels: np.ndarray) -> np.ndarray:
    """RGB (an opaque render) with its alpha of 255 made explicit."""
    if pixels.shape[2] == 4:
        return pixels
    return np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])


def _reference(renderer, contents, factor):
    result = renderer.render(artwork=contents)
    premultiplied = np.concatenate([result.color * result.alpha, result.alpha], axis=-1)
    return _straight_uint8(downscale(premultiplied, factor))


@pytest.mark.parametrize("path", _files_with_smart_objects())
def test_fast_path_equals_full_render(corpus, path):
    data = (corpus / path).read_bytes()
    template = load_template(data)
    if template.color_mode.name != "RGB":
        # Plans are for RGB documents: the refusal must say so.
        with pytest.raises(TemplateError, match="RGB documents"):
            compile_template(data)
        return
    plan = compile_template(data)
    # One renderer for every reference render: it keeps the objects' geometry,
    # which takes seconds to read for some warps.
    # The plan's mode: objects left without artwork below are drawn from
    # Photoshop's cache in both renders.
    renderer = Renderer(template, smart_objects=SMART_OBJECT_MODE)
    contents = {}
    for index, so in enumerate(plan.smart_objects):
        if so.content_size[0] > 0 and so.name not in contents:
            contents[so.name] = _artwork(*so.content_size, seed=index)
    # Objects the generic renderer itself cannot redraw with artwork (it raises,
    # naming why) are left out of both renders.
    for name in list(contents):
        try:
            renderer.render(region=plan.find(name).box, artwork={name: contents[name]})
        except TemplateError:
            del contents[name]
    if not contents:
        pytest.skip("no smart object here can be redrawn with artwork")
    for factor in plan.levels:
        ours = as_rgba(render_level(plan, contents, factor))
        theirs = _reference(renderer, contents, factor)
        mae = float(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).mean())
        methods = {so.name: so.method for so in plan.smart_objects}
        assert mae <= MAX_MAE, (factor, mae, methods)
    # Artwork for one object only: objects overlapping it keep their cached
    # pixels, so its own formula applies (not the generic fallback).
    for name in list(contents)[:3]:
        alone = {name: contents[name]}
        ours = as_rgba(render_level(plan, alone, 1))
        theirs = _reference(renderer, alone, 1)
        mae = float(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).mean())
        assert mae <= MAX_MAE, (name, mae, plan.find(name).method)


def test_an_object_with_effects_redraws_only_as_far_as_they_reach():
    # The phone case's PLACEHOLDER1 carries a gradient overlay (it reaches no
    # further than the layer): its renders redraw its own box, not the canvas.
    path = corpus_dir() / "aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/PSDNET-2565/iphone15snapcase(1).psd"
    if not path.is_file():
        pytest.skip("corpus absent")
    plan = compile_template(path.read_bytes())
    placeholder = plan.find("PLACEHOLDER1")
    assert placeholder.method == "fallback" and "GradientOverlay" in placeholder.reason
    left, top, right, bottom = placeholder.box
    assert (right - left) * (bottom - top) < 0.6 * plan.width * plan.height, placeholder.box
    assert placeholder.draw_region is None  # its box renders exactly as the whole canvas does there


def test_a_stored_plan_draws_fallback_objects_with_what_the_compile_measured(monkeypatch):
    # The etikett labels overlap, so given artwork together they are drawn by
    # the generic renderer; three of them have edge offsets measured on
    # Photoshop's pixels at compile. A worker loading the stored plan takes
    # them from the plan: measuring again would cost seconds on its first render.
    path = corpus_dir() / "aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/PSDNET-2395/etikett var 3d.psd"
    if not path.is_file():
        pytest.skip("corpus absent")
    compiled = compile_template(path.read_bytes())
    measured = [so.measured for so in compiled.smart_objects]
    assert all(entry is not None for entry in measured)
    assert sum(entry["edge_offsets"] is not None for entry in measured) >= 3
    contents = {so.name: _artwork(*so.content_size, seed=index) for index, so in enumerate(compiled.smart_objects)}
    expected = render_level(compiled, contents, 1)

    import compositor.smartobjects.calibrate as calibrate

    def no_measuring(*args, **kwargs):
        raise AssertionError("the edges were measured again")

    monkeypatch.setattr(calibrate, "fit_edges", no_measuring)
    from compositor.plan import RenderPlan

    stored = RenderPlan.from_bytes(compiled.to_bytes())
    assert [so.measured for so in stored.smart_objects] == measured
    assert any(so.overlaps for so in stored.smart_objects)
    ours = render_level(stored, contents, 1)
    assert np.array_equal(ours, expected)


def test_overlapping_objects_given_artwork_together_are_drawn_in_one_region(monkeypatch):
    # The phone case's two placeholders overlap: given artwork together they
    # are drawn by the generic renderer, once over the box around both (checked
    # at compile to render as the whole canvas does there), not once per box.
    path = corpus_dir() / "aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/PSDNET-2565/iphone15snapcase(1).psd"
    if not path.is_file():
        pytest.skip("corpus absent")
    plan = compile_template(path.read_bytes())
    first, second = plan.find("PLACEHOLDER2"), plan.find("PLACEHOLDER1")
    assert first.group_region is not None and first.group_region == second.group_region
    left, top, right, bottom = first.group_region
    assert left <= min(first.box[0], second.box[0]) and right >= max(first.box[2], second.box[2])
    contents = {"PLACEHOLDER2": _artwork(*first.content_size, seed=1),
                "PLACEHOLDER1": _artwork(*second.content_size, seed=2)}
    renderer = plan.renderer()
    regions = []
    draw = renderer.render
    monkeypatch.setattr(renderer, "render", lambda region=None, artwork=None: regions.append(region) or
                        draw(region=region, artwork=artwork))
    ours = as_rgba(render_level(plan, contents, 1))
    assert regions == [first.group_region]
    theirs = _reference(Renderer(load_template(path.read_bytes()), smart_objects=SMART_OBJECT_MODE), contents, 1)
    assert float(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).mean()) <= MAX_MAE
