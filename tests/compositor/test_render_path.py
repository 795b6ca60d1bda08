"""The fast render path (compiled plan) draws the same pixels as the generic renderer.

Reference: `Renderer(template, "rerender")` with the same content, premultiplied,
downscaled by `plan.downscale` for the smaller levels, rounded to 8 bits as the
exporter rounds.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile
import zlib

import cv2
import numpy as np
import pytest
import zstandard
from PIL import Image
from psd_tools.constants import BlendMode

from compositor.composite import Renderer
from compositor.errors import InvalidOption
from compositor.fixtures import build_demo_artwork, build_demo_template
from compositor.model import TemplateError, load_template
from compositor.placement import PlacementOptions, place_artwork_bytes
from compositor.plan import PLAN_VERSION, RenderPlan, _straight_uint8, compile_template, downscale
from compositor.render import ArtworkInput, ExportOptions, choose_level, render, render_level, render_pixels

SIZE = 400


@pytest.fixture(scope="module")
def demo_psd() -> bytes:
    return build_demo_template(SIZE)


@pytest.fixture(scope="module")
def demo_plan(demo_psd) -> RenderPlan:
    # Levels down to 100 px, so this small demo exercises all three.
    return compile_template(demo_psd, min_level_side=100)


@pytest.fixture(scope="module")
def artwork_png() -> bytes:
    return build_demo_artwork(300)


def reference(template, contents, factor) -> np.ndarray:
    result = Renderer(template, smart_objects="rerender").render(artwork=contents)
    premultiplied = np.concatenate([result.color * result.alpha, result.alpha], axis=-1)
    return _straight_uint8(downscale(premultiplied, factor))


def as_rgba(pixels: np.ndarray) -> np.ndarray:
    """RGB (an opaque render) with its alpha of 255 made explicit."""
    if pixels.shape[2] == 4:
        return pixels
    return np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])


def difference(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    a, b = as_rgba(a), as_rgba(b)
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff.mean()), int(diff.max())


def test_demo_compiles_to_the_clipped_formula(demo_plan):
    (design,) = demo_plan.smart_objects
    assert design.name == "Design"
    assert design.method == "clipped", design.reason
    assert demo_plan.opaque
    assert demo_plan.psd is None  # nothing falls back: a render never needs the PSD


@pytest.mark.parametrize("content_size", [None, (77, 131)], ids=["content size", "another size"])
def test_fast_path_equals_the_generic_renderer_at_every_level(demo_psd, demo_plan, artwork_png, content_size):
    design = demo_plan.find("Design")
    content = place_artwork_bytes(artwork_png, content_size or design.content_size)
    template = load_template(demo_psd)
    for factor in demo_plan.levels:
        ours = render_level(demo_plan, {"Design": content}, factor)
        theirs = reference(template, {"Design": content}, factor)
        mae, worst = difference(ours, theirs)
        if factor == 1:
            # Same arithmetic in another order: at most one 8-bit step, rarely.
            assert worst <= 1 and mae < 0.01, (factor, mae, worst)
        else:
            # Smaller levels warp shrunk artwork instead of averaging the full render.
            assert mae <= 0.5, (factor, mae, worst)


def test_an_object_whose_box_renders_differently_alone_is_probed_over_the_canvas(demo_psd, artwork_png,
                                                                                   monkeypatch):
    # Layers whose effects reach into the box from outside it draw differently
    # when only the box is drawn; the region check then sends the probes (run
    # first over the box alone) over the whole canvas again.
    import compositor.plan as plan_module  # noqa: PLC0415

    checked = []

    def box_differs(renderer, base_render, box):
        checked.append(box)
        return False

    monkeypatch.setattr(plan_module, "_region_render_is_exact", box_differs)
    drawn = []
    probe_render = plan_module._probe_render

    def recording_probe(template, node, box, color, alpha, keep_clipped, region=None, shared=None):
        drawn.append(region)
        return probe_render(template, node, box, color, alpha, keep_clipped, region, shared)

    monkeypatch.setattr(plan_module, "_probe_render", recording_probe)
    plan = compile_template(demo_psd, min_level_side=100)
    design = plan.find("Design")
    assert checked == [design.box]
    canvas = (0, 0, plan.width, plan.height)
    assert design.draw_region == canvas and design.method == "clipped"
    assert drawn[:4].count(None) == 4 and drawn[4:] == [canvas] * 4  # over the box, then again
    content = place_artwork_bytes(artwork_png, design.content_size)
    mae, worst = difference(render_level(plan, {"Design": content}, 1),
                            reference(load_template(demo_psd), {"Design": content}, 1))
    assert worst <= 1 and mae < 0.01, (mae, worst)


def test_artwork_changes_the_render(demo_plan, artwork_png):
    design = demo_plan.find("Design")
    red = np.zeros(design.content_size[::-1] + (4,), np.float32)
    red[..., 0] = red[..., 3] = 1.0
    with_art = render_level(demo_plan, {"Design": place_artwork_bytes(artwork_png, design.content_size)}, 1)
    with_red = render_level(demo_plan, {"Design": red}, 1)
    changed = np.any(with_art != with_red, axis=-1)
    box = design.box
    assert changed.any()
    assert not changed[:box[1]].any() and not changed[box[3]:].any()
    assert not changed[:, :box[0]].any() and not changed[:, box[2]:].any()


def test_a_plan_survives_serialisation(demo_plan, artwork_png):
    loaded = RenderPlan.from_bytes(demo_plan.to_bytes())
    assert loaded.manifest() == demo_plan.manifest()
    content = place_artwork_bytes(artwork_png, demo_plan.find("Design").content_size)
    for factor in demo_plan.levels:
        mae, worst = difference(render_level(loaded, {"Design": content}, factor),
                                render_level(demo_plan, {"Design": content}, factor))
        # Coefficients are stored as float16.
        assert worst <= 1 and mae < 0.05, (factor, mae, worst)


def test_only_rgb_documents_compile(demo_psd):
    template = load_template(demo_psd)
    from psd_tools.constants import ColorMode  # noqa: PLC0415
    with pytest.raises(TemplateError, match="RGB documents; this one is CMYK"):
        compile_template(dataclasses.replace(template, color_mode=ColorMode.CMYK))


def test_not_a_plan_is_a_clear_error():
    with pytest.raises(TemplateError, match="not a render plan"):
        RenderPlan.from_bytes(b"PK not really")


def _rewritten(plan_bytes: bytes, member) -> bytes:
    """The plan's zip with every member passed through member(name, data) -> (name, data, compression)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plan_bytes)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            new_name, data, compression = member(name, source.read(name))
            target.writestr(new_name, data, compress_type=compression)
    return out.getvalue()


def _as_version(version: int):
    """A member rewriter turning a current plan into one of an older version:
    6 kept each array as a plain .npy deflated by the zip itself, 7 as a
    zlib-compressed .npy (`.npy.zlib`)."""
    def member(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            assert manifest["version"] == PLAN_VERSION
            manifest["version"] = version
            for entry in manifest["smart_objects"]:  # derived from the maps on loading
                entry["arrays"] = [key for key in entry["arrays"] if key != "mip_lod"]
            return name, json.dumps(manifest), zipfile.ZIP_DEFLATED
        if name.endswith(".npy.zst"):
            if version == 8:
                return name, data, zipfile.ZIP_STORED
            npy = zstandard.ZstdDecompressor().decompress(data)
            if version == 6:
                return name[:-len(".zst")], npy, zipfile.ZIP_DEFLATED
            return name[:-len(".zst")] + ".zlib", zlib.compress(npy, 1), zipfile.ZIP_STORED
        return name, data, zipfile.ZIP_DEFLATED
    return member


@pytest.mark.parametrize("version", [6, 7, 8])
def test_an_older_plan_still_loads(demo_plan, version):
    current = demo_plan.to_bytes()
    old = RenderPlan.from_bytes(_rewritten(current, _as_version(version)))
    new = RenderPlan.from_bytes(current)
    assert old.manifest() == new.manifest()
    for factor in new.levels:
        assert np.array_equal(old.base[factor], new.base[factor])
        for ours, theirs in zip(old.smart_objects, new.smart_objects):
            assert ours.levels[factor].keys() == theirs.levels[factor].keys()
            # mip_lod, derived on loading, is checked by the version 8 test below.
            assert all(np.array_equal(ours.levels[factor][k], v) for k, v in theirs.levels[factor].items()
                       if k != "mip_lod")


def test_a_plan_round_trips_its_arrays(demo_plan):
    # Exactly, but for coefficients kept as float16 (maps and base exact).
    loaded = RenderPlan.from_bytes(demo_plan.to_bytes())
    assert loaded.manifest() == demo_plan.manifest()
    for factor in demo_plan.levels:
        assert np.array_equal(loaded.base[factor], demo_plan.base[factor])
        for ours, theirs in zip(loaded.smart_objects, demo_plan.smart_objects):
            for key, values in theirs.levels[factor].items():
                expected = values if key.startswith("map_") else values.astype(np.float16).astype(np.float32)
                assert ours.levels[factor][key].dtype == expected.dtype
                assert np.array_equal(ours.levels[factor][key], expected)


def test_a_damaged_plan_is_a_clear_error(demo_plan):
    def damaged(name, data):
        return name, (data[:len(data) // 2] if name.endswith(".npy.zst") else data), zipfile.ZIP_STORED

    with pytest.raises(TemplateError, match="not a render plan"):
        RenderPlan.from_bytes(_rewritten(demo_plan.to_bytes(), damaged))


def test_a_layer_that_is_not_affine_falls_back_and_still_matches(demo_psd, artwork_png):
    template = load_template(demo_psd)
    # Overlay above the object is not affine in the backdrop: the probe check must see it.
    layers = [dataclasses.replace(node, blend_mode=BlendMode.OVERLAY) if node.name == "Glass glare" else node
              for node in template.layers]
    changed = dataclasses.replace(template, layers=layers)
    plan = compile_template(changed, min_level_side=100)
    design = plan.find("Design")
    assert design.method == "fallback"
    assert "not affine" in design.reason
    content = place_artwork_bytes(artwork_png, design.content_size)
    for factor in (1, 2):
        mae, worst = difference(render_level(plan, {"Design": content}, factor),
                                reference(changed, {"Design": content}, factor))
        assert worst == 0, (factor, mae, worst)


def _png(rgb, size) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), rgb, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def two_objects_psd() -> bytes:
    """Two smart objects side by side, one in perspective, both holding mid grey."""
    from compositor.fixtures.psd_writer import Document, PixelLayer, SmartObjectLayer, write_psd  # noqa: PLC0415

    background = np.zeros((200, 300, 4), np.uint8)
    background[...] = (240, 235, 225, 255)
    grey = _png((128, 128, 128), (100, 100))
    return write_psd(Document(width=300, height=200, layers=[
        PixelLayer("Background", background),
        SmartObjectLayer("Left", grey, quad=((20, 50), (120, 50), (120, 150), (20, 150))),
        SmartObjectLayer("Right", grey, quad=((180, 40), (280, 60), (280, 160), (180, 140))),
    ]))


def test_two_smart_objects_get_their_own_artwork_in_one_render(two_objects_psd):
    plan = compile_template(two_objects_psd)
    assert [so.method for so in plan.smart_objects] == ["affine", "affine"]
    red, blue = _png((255, 0, 0), (60, 60)), _png((0, 0, 255), (80, 40))
    both = render_pixels(plan, {"Left": ArtworkInput(red), "Right": ArtworkInput(blue)})
    assert np.abs(both[60:140, 30:110].astype(int) - (255, 0, 0)).max() <= 1
    assert np.abs(both[80:120, 200:260].astype(int) - (0, 0, 255)).max() <= 1
    assert np.array_equal(both[:40], plan.base[1][:40])  # above both objects: the template
    # The generic renderer draws the same with both contents at once.
    template = load_template(two_objects_psd)
    contents = {name: place_artwork_bytes(data, plan.find(name).content_size)
                for name, data in (("Left", red), ("Right", blue))}
    mae, worst = difference(as_rgba(both), reference(template, contents, 1))
    assert worst <= 1 and mae < 0.05, (mae, worst)


def test_a_smart_object_given_nothing_keeps_its_own_content(two_objects_psd):
    plan = compile_template(two_objects_psd)
    only_left = render_pixels(plan, {"Left": ArtworkInput(_png((255, 0, 0), (60, 60)))})
    right = plan.find("Right").box
    window = (slice(right[1], right[3]), slice(right[0], right[2]))
    assert np.array_equal(only_left[window], plan.base[1][window])
    assert np.abs(only_left[100, 200:260].astype(int) - 128).max() <= 2  # still the grey it holds
    assert np.abs(only_left[60:140, 30:110].astype(int) - (255, 0, 0)).max() <= 1


@pytest.fixture(scope="module")
def linked_psd() -> bytes:
    """A design and a second instance of the same smart object (Photoshop's
    duplicate, sharing one embedded file), plus an independent object that
    shares the design's name."""
    from compositor.fixtures.psd_writer import Document, PixelLayer, SmartObjectLayer, write_psd  # noqa: PLC0415

    background = np.zeros((200, 400, 4), np.uint8)
    background[...] = (240, 235, 225, 255)
    grey = _png((128, 128, 128), (100, 100))
    shared = "5a1c0d3e-0000-4000-8000-00000000beef"
    return write_psd(Document(width=400, height=200, layers=[
        PixelLayer("Background", background),
        SmartObjectLayer("Design", grey, quad=((20, 50), (120, 50), (120, 150), (20, 150)), unique_id=shared),
        # The reflection: the same content, mirrored (corners swapped left-right).
        SmartObjectLayer("Reflection", grey, quad=((250, 50), (150, 50), (150, 150), (250, 150)), unique_id=shared),
        SmartObjectLayer("Design", grey, quad=((280, 50), (380, 50), (380, 150), (280, 150))),
    ]))


def _colour_at(pixels, box) -> np.ndarray:
    left, top, right, bottom = box
    return pixels[top + 20:bottom - 20, left + 20:right - 20].reshape(-1, pixels.shape[2])[:, :3].astype(int)


def test_linked_instances_show_the_artwork_given_to_one_of_them(linked_psd):
    # Photoshop: replacing the content of one instance replaces it in all.
    plan = compile_template(linked_psd)
    design, reflection, other = ((20, 50, 120, 150), (150, 50, 250, 150), (280, 50, 380, 150))
    red, blue = _png((255, 0, 0), (60, 60)), _png((0, 0, 255), (60, 60))
    by_index = render_pixels(plan, {0: ArtworkInput(red)})
    assert np.abs(_colour_at(by_index, design) - (255, 0, 0)).max() <= 1
    assert np.abs(_colour_at(by_index, reflection) - (255, 0, 0)).max() <= 1
    assert np.abs(_colour_at(by_index, other) - 128).max() <= 2  # not linked: keeps its grey
    # Through the reflection too; and an instance given its own artwork keeps it.
    assert np.array_equal(render_pixels(plan, {"Reflection": ArtworkInput(red)}), by_index)
    own = render_pixels(plan, {0: ArtworkInput(red), "Reflection": ArtworkInput(blue)})
    assert np.abs(_colour_at(own, design) - (255, 0, 0)).max() <= 1
    assert np.abs(_colour_at(own, reflection) - (0, 0, 255)).max() <= 1
    # The generic renderer follows the same rule.
    template = load_template(linked_psd)
    content = place_artwork_bytes(red, plan.smart_objects[0].content_size)
    mae, worst = difference(as_rgba(by_index), reference(template, {0: content}, 1))
    assert worst <= 1 and mae < 0.05, (mae, worst)


def test_objects_sharing_a_name_are_told_apart_by_index(linked_psd):
    plan = compile_template(linked_psd)
    design, other = (20, 50, 120, 150), (280, 50, 380, 150)
    red, blue = _png((255, 0, 0), (60, 60)), _png((0, 0, 255), (60, 60))
    apart = render_pixels(plan, {0: ArtworkInput(red), 2: ArtworkInput(blue)})
    assert np.abs(_colour_at(apart, design) - (255, 0, 0)).max() <= 1
    assert np.abs(_colour_at(apart, other) - (0, 0, 255)).max() <= 1
    by_name = render_pixels(plan, {"Design": ArtworkInput(red)})  # a name reaches every object called so
    assert np.abs(_colour_at(by_name, other) - (255, 0, 0)).max() <= 1
    with pytest.raises(TemplateError, match="no smart object number 3"):
        render_pixels(plan, {3: ArtworkInput(red)})


def test_small_templates_keep_only_full_size(demo_psd):
    assert compile_template(demo_psd).levels == (1,)  # 400 px: under MIN_LEVEL_SIDE at 1/2


def test_level_choice_never_enlarges_the_template(demo_plan):
    assert demo_plan.levels == (1, 2, 4)
    assert choose_level(demo_plan, None) == 1
    assert choose_level(demo_plan, SIZE) == 1
    assert choose_level(demo_plan, SIZE // 2) == 2
    assert choose_level(demo_plan, SIZE // 2 + 1) == 1
    assert choose_level(demo_plan, SIZE // 4) == 4
    assert choose_level(demo_plan, 10) == 4


def test_render_bytes_png_is_the_level_image(demo_plan, artwork_png):
    art = {"Design": ArtworkInput(artwork_png, PlacementOptions(fit="cover"))}
    data = render(demo_plan, art, ExportOptions(format="png", image_size=SIZE // 2))
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    expected = render_pixels(demo_plan, art, SIZE // 2)[..., :3]
    assert decoded.shape == (SIZE // 2, SIZE // 2, 3)
    assert np.array_equal(decoded, expected)


def test_render_bytes_jpeg_resized_between_levels(demo_plan, artwork_png):
    data = render(demo_plan, {"Design": ArtworkInput(artwork_png)}, ExportOptions(format="jpg", image_size=150))
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (150, 150)


def test_bad_inputs_name_the_field(demo_plan, artwork_png):
    with pytest.raises(TemplateError, match="no smart object named 'Nope'"):
        render(demo_plan, {"Nope": ArtworkInput(artwork_png)})
    with pytest.raises(InvalidOption, match="image_size"):
        render(demo_plan, {"Design": ArtworkInput(artwork_png)}, ExportOptions(image_size=5))
    with pytest.raises(InvalidOption, match="format"):
        render(demo_plan, {"Design": ArtworkInput(artwork_png)}, ExportOptions(format="gif"))
    with pytest.raises(InvalidOption, match="background"):
        ExportOptions(background="white")
    with pytest.raises(InvalidOption, match="quality"):
        ExportOptions(quality=101)
    with pytest.raises(InvalidOption, match="artwork.Design"):
        render(demo_plan, {"Design": artwork_png})
    with pytest.raises(InvalidOption, match="artwork"):
        render_level(demo_plan, {"Design": np.zeros((10, 10, 3), np.float32)}, 1)
    with pytest.raises(InvalidOption, match="level"):
        render_level(demo_plan, {}, 3)


@pytest.mark.parametrize("shape", [(9, 7, 1), (9, 7, 3), (9, 7), (8, 8, 1)])
def test_downscale_keeps_the_channel_axis_and_rounds_up(shape):
    values = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = downscale(values, 4)
    assert out.shape == (-(-shape[0] // 4), -(-shape[1] // 4)) + shape[2:]
    # A full block is its mean; the last, partial one repeats the edge.
    assert np.allclose(out[0, 0], values[:4, :4].mean(axis=(0, 1)), atol=1e-6)


def test_the_plan_precomputes_each_levels_mip_level(demo_plan):
    (design,) = demo_plan.smart_objects
    for factor, arrays in design.levels.items():
        assert arrays["mip_lod"].shape == arrays["map_x"].shape
        assert arrays["mip_lod"].dtype == np.float32
    # a level pixel spans `factor` times the content a canvas pixel does
    # (away from the outline, where level maps blend in the repeated edge)
    lod1 = design.levels[1]["mip_lod"]
    for factor in demo_plan.levels[1:]:
        covered = (downscale(design.levels[1]["coverage"], factor) > 0.999).astype(np.uint8)
        inside = cv2.erode(covered, np.ones((3, 3), np.uint8)).astype(bool)
        assert inside.any()
        expected = downscale(lod1, factor)[inside] + np.log2(factor)
        np.testing.assert_allclose(design.levels[factor]["mip_lod"][inside], expected, atol=0.05)


def test_a_version_8_plan_derives_the_mip_level_on_loading(demo_plan):
    # Version 8 stored no mip_lod: it is computed from the maps when read.
    def as_version_8(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["version"] = 8
            for entry in manifest["smart_objects"]:
                entry["arrays"] = [key for key in entry["arrays"] if key != "mip_lod"]
            return name, json.dumps(manifest), zipfile.ZIP_STORED
        return name, data, zipfile.ZIP_STORED

    old = RenderPlan.from_bytes(_rewritten(demo_plan.to_bytes(), as_version_8))
    for ours, theirs in zip(old.smart_objects, demo_plan.smart_objects):
        for factor, arrays in theirs.levels.items():
            inside = arrays["coverage"] > 0.999
            np.testing.assert_allclose(ours.levels[factor]["mip_lod"][inside], arrays["mip_lod"][inside], atol=0.05)
