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
# (file, layer name) -> measured MAE
KNOWN_OVER_TARGET = {
    # Photoshop's right edge lies 0.86 px, its bottom edge 0.37 px, beyond
    # the mesh's exact outline (left and top match it; the flat interior
    # matches exactly); the werps 'distort' and 'perspective' quilts grow
    # the same way by 0.26-0.27 px, other files' meshes not at all, and no
    # descriptor value, size or scale tells them apart (see the test below).
    # The content is an embedded PSB of one opaque white 358x162 layer, as
    # its merged image is blank: only the outline is compared. The growth
    # is closer to constant in the surface parameter than in canvas pixels
    # (right: 0.76-0.90 px, s reaching 1.0021-1.0025, about 0.85 content px;
    # bottom: 0.23-0.43 px, t reaching 1.0025-1.0033, about 0.5 content px).
    (AG_PSD + "read/mesh-transform/src.psd", "transform"): 1.072,
    # Inside the canvas its left side lies 0.58 px inside ours, its bottom
    # 0.35 px outside. Over the whole cached layer, most of it above and
    # right of the canvas (rendered without a canvas: MAE 1.026), its left
    # side lies 0.59 px inside ours and its right 0.71 px outside, top and
    # bottom within 0.1: displaced about 0.65 px right, not a whole pixel,
    # and not from cropping to the canvas. Its mesh is the file's only one
    # reaching left of its bounds (x from -3.04).
    (ASPOSE + "PSDNET-2395/etikett var 3d.psd", "variabel etikett —— copy 5"): 1.044,
}
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
OUTLINE_CAUSES = {
    (AG_PSD + "read/mesh-transform/src.psd", "transform"): ("right", "bottom"),
    (ASPOSE + "PSDNET-2395/etikett var 3d.psd", "variabel etikett —— copy 5"): ("left", "bottom"),
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
