"""Fidelity report: how closely our render reproduces Photoshop's own composite.

Per file:
- *document*: our full composite vs the merged image Photoshop stored in the
  file, PSNR of RGB flattened over white at 8 bits (the same measure as the
  corpus manifest's psd-tools baseline, so the two columns compare);
- *layers*: each smart object re-rendered from its own content vs the pixels
  Photoshop cached for it (mean absolute error 0-255 and PSNR in the layer box);
- the unsupported features met, and a clear error when the file cannot be read.
"""
from __future__ import annotations

import csv
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from compositor.composite import Renderer, to_pil
from compositor.model import TemplateError, load_template

REPO_ROOT = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path:
    """Where the Photoshop corpus lives: $MOCKFARM_CORPUS or ../shared/corpus beside the repo."""
    return Path(os.environ.get("MOCKFARM_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))


def flatten_rgb8(image: Image.Image) -> np.ndarray:
    """An image as 8-bit RGB flattened over white, (H, W, 3) uint8."""
    if image.mode == "P" and "transparency" in image.info or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.round(rgb).clip(0, 255).astype(np.uint8)
    return np.asarray(image.convert("RGB"))


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf when identical)."""
    if reference.shape != test.shape:
        raise ValueError(f"cannot compare images of shapes {reference.shape} and {test.shape}")
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


@dataclass
class FileReport:
    path: str
    document_psnr: float | None = None
    layers: list[dict] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    error: str | None = None
    smart_objects: int = 0
    smart_objects_mode: str = "rerender"
    psd_tools_psnr: float | None = None  # manifest baseline, when the file is in the corpus
    seconds: float = 0.0

    def as_json(self) -> dict:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        for key in ("document_psnr", "psd_tools_psnr"):
            data[key] = _json_number(data[key])
        for layer in data["layers"]:
            for key in ("mae", "psnr"):
                if key in layer:
                    layer[key] = _json_number(layer[key])
        return data


def _json_number(value):
    # JSON has no infinity: identical images are reported as the string "inf".
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return None if value is None else round(float(value), 3)


def _layer_fidelity(psd) -> tuple[list[dict], list[str]]:
    try:
        from compositor.smartobjects import layer_fidelity  # noqa: PLC0415
    except ImportError:
        return [], ["smart-object layer fidelity not available (re-rendering not built in)"]
    return list(layer_fidelity(psd)), []


def check_file(path: str | os.PathLike, smart_objects: str = "rerender",
               baseline: dict[str, float] | None = None) -> FileReport:
    """The fidelity report of one file; never raises for a bad file (see `error`)."""
    report = FileReport(path=str(path), smart_objects_mode=smart_objects)
    started = time.perf_counter()
    try:
        template = load_template(path)
        report.smart_objects = len(template.smart_objects)
        report.unsupported = list(template.unsupported)
        reference = template.psd.topil()
        if reference is None:
            raise TemplateError("the file has no merged composite saved by Photoshop "
                                "(save with 'maximize compatibility')")
        result = Renderer(template, smart_objects).render()
        report.unsupported.extend(n for n in result.unsupported if n not in report.unsupported)
        ours = to_pil(template, result)
        report.document_psnr = psnr(flatten_rgb8(reference), flatten_rgb8(ours))
        if report.smart_objects:
            report.layers, notes = _layer_fidelity(template.psd)
            report.unsupported.extend(notes)
    except TemplateError as exc:
        report.error = str(exc)
    except MemoryError:
        report.error = "the file is too large to render in memory"
    except Exception as exc:  # one bad file must not end a run over many
        report.error = f"render failed: {type(exc).__name__}: {exc}"
    report.seconds = time.perf_counter() - started
    if baseline is not None:
        report.psd_tools_psnr = baseline_for(path, baseline)
    return report


def load_baseline(corpus: Path | None = None) -> dict[str, float]:
    """psd-tools' document PSNR per corpus file (manifest.csv), keyed by resolved path."""
    corpus = corpus or corpus_dir()
    manifest = corpus / "manifest.csv"
    if not manifest.is_file():
        return {}
    figures: dict[str, float] = {}
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("psnr_rgb"):
                figures[str((corpus / row["path"]).resolve())] = float(row["psnr_rgb"])
    return figures


def baseline_for(path, baseline: dict[str, float]) -> float | None:
    return baseline.get(str(Path(path).resolve()))


def summarize(reports: list[FileReport]) -> dict:
    scored = [r for r in reports if r.document_psnr is not None]
    values = [r.document_psnr for r in scored]
    summary = {
        "files": len(reports),
        "scored": len(scored),
        "errors": sum(1 for r in reports if r.error),
        "median_psnr": _json_number(statistics.median(values)) if values else None,
        "share_ge_40": round(sum(v >= 40 for v in values) / len(values), 4) if values else None,
        "share_ge_50": round(sum(v >= 50 for v in values) / len(values), 4) if values else None,
        "smart_object_files_under_35": [r.path for r in scored if r.smart_objects and r.document_psnr < 35],
    }
    pairs = [(r.document_psnr, r.psd_tools_psnr) for r in scored if r.psd_tools_psnr is not None]
    if pairs:
        theirs = [b for _, b in pairs]
        summary["psd_tools"] = {
            "files": len(pairs),
            "median_psnr": _json_number(statistics.median(theirs)),
            "share_ge_40": round(sum(v >= 40 for v in theirs) / len(theirs), 4),
            "share_ge_50": round(sum(v >= 50 for v in theirs) / len(theirs), 4),
        }
        summary["more_than_3db_below_psd_tools"] = [
            r.path for r in scored
            if r.psd_tools_psnr is not None and r.document_psnr < r.psd_tools_psnr - 3]
    return summary
