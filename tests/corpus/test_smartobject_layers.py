"""Every smart object re-rendered from its own content vs Photoshop's cached layer.

For each smart-object layer we warp its embedded content with our geometry
and compare with the layer pixels Photoshop cached in the file (mean
absolute error of premultiplied RGBA, 0..255, inside the layer's box). The
targets hold per file class, not per file, so they apply to unseen files of
the same kind.

The corpus is located through MOCKFARM_CORPUS (default: ../shared/corpus next
to the repository); every test here is skipped when it is absent.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

psd_tools = pytest.importorskip("psd_tools")

from compositor.smartobjects import layer_fidelity  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MOCKFARM_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}"),
]

ASPOSE = "aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/"
AG_PSD = "Agamnentzar+ag-psd/test/"

# The target: MAE <= 1.0 for every smart object of these classes.
TARGET_MAE = 1.0
# Classes already held to less (a ratchet: what they measure now, plus noise).
CLASS_TARGET_MAE = {
    # inflate 0.35, squeeze 0.84, squeeze vertical 0.46, twist 0.92, cylinder 0.48
    "preset warps (formula, or a mesh fitted at ingest)": 0.95,
    # 0.01-0.70
    "phone-case mockups": 0.75,
}
FILE_CLASSES = {
    "perspective, mesh and quilt warps": [
        "EmilDohne+PhotoshopAPI/PhotoshopTest/documents/SmartObjects/smart_objects_transformed.psd",
        AG_PSD + "read-write/werps/src.psd",
        AG_PSD + "read/mesh-transform/src.psd",
        AG_PSD + "read/placed-transform/src.psd",
        ASPOSE + "PSDNET-2395/etikett var 3d.psd",
    ],
    "preset warps (formula, or a mesh fitted at ingest)": [
        AG_PSD + "read/cyllinder-warp/src.psd",
        ASPOSE + "PSDNET-1831/Inflate.psd",
        ASPOSE + "PSDNET-1831/Squeeze.psd",
        ASPOSE + "PSDNET-1831/Squeeze_vert.psd",
        ASPOSE + "PSDNET-1831/Twist.psd",
    ],
    "phone-case mockups": [
        ASPOSE + "PSDNET-2565/iphone15snapcase(1).psd",
        ASPOSE + "PSDNET-777/iphone15snapcase.psd",
        ASPOSE + "PSDNET-777/iphone15snapcase - Copy (2).psd",
        ASPOSE + "PSDNET-2184/snapcase.psd",
    ],
}

# Layers still above the target, with the error measured when this was
# written: they must not get worse, and the list shrinks as they are fixed.
# (file, layer name) -> measured MAE. Empty since the edge offsets are
# measured at ingest (see EDGES_MEASURED below): `mesh-transform` was 1.072,
# `etikett` 'copy 5' 1.044.
KNOWN_OVER_TARGET: dict[tuple[str, str], float] = {}
REGRESSION_SLACK = 0.1

# Every other smart object in the corpus: rendered ones stay within this
# (text and logos shrunk 5-50x, photos enlarged...), or are skipped with a
# reason that names what is unsupported. A ratchet: the worst measured is
# 1.86 (type in an embedded PSB shrunk 5x), then 1.32 (a warp shrinking an
# embedded PSB 2x) and 1.18 (a JPEG shrunk 5.7x).
# Grey documents are compared in grey, CMYK ones on alpha only (see
# compositor.smartobjects.fidelity).
OTHER_MAX_MAE = 1.95


def corpus_file(relative: str) -> Path:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"{relative} not in the corpus")
    return path


def fidelity_rows(relative: str) -> list[dict]:
    return layer_fidelity(psd_tools.PSDImage.open(corpus_file(relative)))


def _class_cases():
    for class_name, files in FILE_CLASSES.items():
        for relative in files:
            yield pytest.param(relative, CLASS_TARGET_MAE.get(class_name, TARGET_MAE),
                               id=f"{class_name}: {relative.split('/')[-2]}/{relative.split('/')[-1]}")


@pytest.mark.parametrize("relative, target", list(_class_cases()))
def test_smart_objects_reproduce_photoshop_layers(relative, target):
    rows = fidelity_rows(relative)
    assert rows, "no smart objects found"
    failures = []
    for row in rows:
        assert row["skipped"] is None, f"{row['name']}: {row['skipped']}"
        limit = KNOWN_OVER_TARGET.get((relative, row["name"]))
        limit = target if limit is None else limit + REGRESSION_SLACK
        if row["mae"] > limit:
            failures.append(f"{row['name']}: MAE {row['mae']:.3f} > {limit}")
    assert not failures, "; ".join(failures)


def _other_smart_object_files():
    manifest = CORPUS / "manifest.csv"
    if not manifest.is_file():
        return []
    named = {f for files in FILE_CLASSES.values() for f in files}
    with manifest.open(newline="", encoding="utf-8") as handle:
        return [
            row["path"]
            for row in csv.DictReader(handle)
            if row.get("n_smartobject") not in (None, "", "0") and row["path"] not in named
        ]


@pytest.mark.parametrize("relative", _other_smart_object_files() or [pytest.param(None, marks=pytest.mark.skip("no manifest"))])
def test_other_smart_objects_render_or_say_why_not(relative):
    rows = fidelity_rows(relative)
    assert rows, "no smart objects found"
    for row in rows:
        if row["skipped"] is not None:
            # not compared: the reason must name what is unsupported
            assert row["unsupported"] or "cached no pixels" in row["skipped"], row
            continue
        assert row["mae"] <= OTHER_MAX_MAE, f"{row['name']}: MAE {row['mae']:.3f} > {OTHER_MAX_MAE}"


# Layers whose error the fidelity report must explain by their outline,
# measured from Photoshop's own cached pixels: (file, layer) -> sides off.
# (Warped layers have their outline measured at ingest and drawn where
# Photoshop draws it, see EDGES_MEASURED; this plain placement is not warped.)
OUTLINE_CAUSES = {
    (ASPOSE + "PSDNET-2395/etikett var 3d.psd", "variabel etikett —— copy"): ("left", "right"),
}


@pytest.mark.parametrize("relative", sorted({f for f, _ in OUTLINE_CAUSES}))
def test_report_names_the_outline_as_the_cause(relative):
    rows = {row["name"]: row for row in fidelity_rows(relative)}
    for (file, name), sides in OUTLINE_CAUSES.items():
        if file != relative:
            continue
        cause = rows[name]["cause"]
        assert cause is not None, f"{name}: no cause named (outline {rows[name]['outline']})"
        listed = cause.split(": ", 1)[1].split(";")[0]  # "right +0.86 px, bottom +0.37 px"
        named = {item.split()[0] for item in listed.split(", ")}
        assert set(sides) <= named, f"{name}: {cause}"


# Warped layers whose edges Photoshop draws off the exact warp, with how far
# (content pixels) measured when this was written and whether the content
# moved with them: the werps quilts draw their edge pixels out by about one
# content pixel on the right and bottom; `mesh-transform`'s right and bottom
# lie out by 0.85 and 0.5; an `etikett` label sits 0.64 content pixels right.
# (file, layer) -> (offsets left, top, right, bottom; content moves)
EDGES_MEASURED = {
    (AG_PSD + "read-write/werps/src.psd", "distort"): ((0.0, -0.225, 1.0, 1.003), False),
    (AG_PSD + "read/mesh-transform/src.psd", "transform"): ((0.0, 0.0, 0.853, 0.504), True),
    (ASPOSE + "PSDNET-2395/etikett var 3d.psd", "variabel etikett —— copy 5"): ((-0.64, 0.103, 0.643, 0.0), True),
}
# The measured offsets bring each layer this much closer to Photoshop's pixels
# (the error with them over the error of the exact warp), at most.
EDGES_GAIN = 0.8


@pytest.mark.parametrize("relative", sorted({f for f, _ in EDGES_MEASURED}))
def test_edges_measured_on_photoshops_pixels_bring_the_layer_closer(relative):
    import dataclasses

    from compositor.smartobjects import read_smart_object
    from compositor.smartobjects.fidelity import cached_layer_rgba, rendered_error

    psd = psd_tools.PSDImage.open(corpus_file(relative))
    layers = {layer.name: layer for layer in psd.descendants() if layer.kind == "smartobject"}
    for (file, name), (offsets, moves) in EDGES_MEASURED.items():
        if file != relative:
            continue
        layer = layers[name]
        so = read_smart_object(layer, psd)
        assert so.edge_offsets is not None, f"{name}: no edge offsets measured"
        np.testing.assert_allclose(so.edge_offsets, offsets, atol=0.1, err_msg=name)
        assert so.edges_move_content is moves, name
        cached, box = cached_layer_rgba(layer), tuple(layer.bbox)
        measured = rendered_error(so, cached, box)
        exact = rendered_error(dataclasses.replace(so, edge_offsets=None), cached, box)
        assert measured < EDGES_GAIN * exact, f"{name}: {measured:.3f} with the offsets, {exact:.3f} without"


def test_edges_that_move_the_content_bring_its_inside_closer_too():
    # The offsets are measured on the outline alone: the content's inside,
    # which the measurement never sees, must come closer to Photoshop's as
    # well when the content is moved with them (0.292 -> 0.013 and 1.012 ->
    # 0.238 on these labels' opaque insides when this was written).
    import cv2

    from compositor.smartobjects import build_warp_map, read_smart_object, warp_content
    from compositor.smartobjects.content import is_raster_file
    from compositor.smartobjects.fidelity import cached_layer_rgba

    relative = ASPOSE + "PSDNET-2395/etikett var 3d.psd"
    psd = psd_tools.PSDImage.open(corpus_file(relative))
    for layer in psd.descendants():
        if layer.kind != "smartobject" or layer.name not in ("variabel etikett —— copy 3", "variabel etikett —— copy 5"):
            continue
        so = read_smart_object(layer, psd)
        assert so.edge_offsets is not None and so.edges_move_content, layer.name
        cached, (left, top, right, bottom) = cached_layer_rgba(layer), layer.bbox
        inside = cv2.erode((cached[..., 3] > 0.999).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0

        def inside_error(candidate):
            warp_map = build_warp_map(candidate, None)
            ours = warp_content(warp_map, candidate.content, is_raster_file(candidate.filetype))
            x0, y0 = left - warp_map.box[0], top - warp_map.box[1]
            assert x0 >= 0 and y0 >= 0, "our box holds Photoshop's"
            crop = ours[y0 : y0 + bottom - top, x0 : x0 + right - left]
            return float(np.abs(crop[inside][:, :3] - cached[inside][:, :3]).mean() * 255)

        import dataclasses

        with_offsets, exact = inside_error(so), inside_error(dataclasses.replace(so, edge_offsets=None))
        assert with_offsets < 0.5 * exact, f"{layer.name}: inside {with_offsets:.3f} with, {exact:.3f} without"
