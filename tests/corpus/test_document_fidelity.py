"""Our composite of every corpus file against Photoshop's own, once per session.

Smart objects are re-rendered from their content where the build can do so;
otherwise the report names the fallback. The thresholds are what the renderer
reaches today (a ratchet: raise them as it improves, never lower them to pass).
"""
from __future__ import annotations

import shutil
import statistics

import pytest

from compositor.fidelity import check_file, load_baseline

# The whole corpus is rendered once, in the first test that asks for it.
pytestmark = [pytest.mark.corpus, pytest.mark.timeout(3600)]

# What the renderer holds today over the whole corpus, smart objects re-rendered
# from their content (issue targets: median >= 50 dB, >= 85 % of files at
# 40 dB, every smart-object file >= 35 dB unless its report names the cause,
# none more than 3 dB below psd-tools unless the README explains it).
MIN_MEDIAN_PSNR = 83.4
MIN_SHARE_AT_40_DB = 0.901
MIN_SHARE_AT_50_DB = 0.794
# Files more than 3 dB below psd-tools' figure (psd-tools draws smart objects
# from Photoshop's cached pixels; we re-render them): see the README.
MAX_FILES_BELOW_PSD_TOOLS = 37
# Smart-object files under 35 dB whose report names no unsupported feature:
# none, as the issue requires (each such report says what costs it).
MAX_SILENT_SMART_OBJECT_FILES_UNDER_35_DB = 0


@pytest.fixture(scope="session")
def corpus_reports(corpus, corpus_manifest):
    baseline = load_baseline(corpus)
    reports = {}
    for row in corpus_manifest:
        reports[row["path"]] = (row, check_file(corpus / row["path"], baseline=baseline))
    return reports


def _scores(corpus_reports):
    return [report.document_psnr for _, report in corpus_reports.values()
            if report.document_psnr is not None]


def test_every_corpus_file_renders_without_error(corpus_reports):
    errors = {path: report.error for path, (_, report) in corpus_reports.items() if report.error}
    assert errors == {}


def test_median_psnr(corpus_reports):
    assert statistics.median(_scores(corpus_reports)) >= MIN_MEDIAN_PSNR


def test_share_of_files_at_40_and_50_db(corpus_reports):
    scores = _scores(corpus_reports)
    assert sum(s >= 40 for s in scores) / len(scores) >= MIN_SHARE_AT_40_DB
    assert sum(s >= 50 for s in scores) / len(scores) >= MIN_SHARE_AT_50_DB


def test_files_with_smart_objects_reach_35_db_or_name_what_costs_it(corpus_reports):
    silent = [path for path, (row, report) in corpus_reports.items()
              if int(row["n_smartobject"] or 0) > 0 and report.document_psnr is not None
              and report.document_psnr < 35 and not report.unsupported]
    assert len(silent) <= MAX_SILENT_SMART_OBJECT_FILES_UNDER_35_DB, silent


def test_few_files_fall_more_than_3_db_below_psd_tools(corpus_reports):
    below = [f"{path}: ours {report.document_psnr:.1f} dB, psd-tools {report.psd_tools_psnr:.1f} dB"
             for path, (_, report) in corpus_reports.items()
             if report.document_psnr is not None and report.psd_tools_psnr is not None
             and report.document_psnr < report.psd_tools_psnr - 3]
    # Every file named in full (a list would be cut short), to compare with the README's explanations.
    assert len(below) <= MAX_FILES_BELOW_PSD_TOOLS, "\n".join(below)


@pytest.mark.parametrize("column", ["n_artboard", "n_clipping", "n_layer_masks", "n_vector_masks"])
def test_feature_classes_match_photoshop(corpus_reports, column):
    """RGB files using artboards, clipping or masks -- and nothing drawn by other
    parts (text, shapes, fills, adjustments, effects, smart objects) -- reproduce
    Photoshop's composite: at most two per class under 40 dB."""
    others = ("n_text", "n_shape", "n_fill_layers", "n_adjustment", "n_effects_layers", "n_smartobject")
    weak = []
    for path, (row, report) in corpus_reports.items():
        if int(row[column] or 0) == 0 or row["color_mode"] != "RGB" or report.document_psnr is None:
            continue
        if any(int(row[other] or 0) for other in others):
            continue
        if report.document_psnr < 40:
            weak.append((path, round(report.document_psnr, 1)))
    assert len(weak) <= 2, weak


def test_truncated_file_gives_a_clear_error(corpus, corpus_manifest, tmp_path):
    row = next(r for r in corpus_manifest if int(r["n_layers"] or 0) > 1 and int(r["bytes"]) > 50_000)
    data = (corpus / row["path"]).read_bytes()
    truncated = tmp_path / "truncated.psd"
    truncated.write_bytes(data[: len(data) // 3])
    report = check_file(truncated)
    assert report.document_psnr is None
    assert report.error and "truncated.psd" in report.error or "render failed" in report.error


def test_unreadable_copy_does_not_stop_the_others(corpus, corpus_manifest, tmp_path):
    good = corpus / next(r["path"] for r in corpus_manifest if r["psnr_rgb"] == "inf")
    bad = tmp_path / "bad.psd"
    bad.write_bytes(b"8BPS\x00\x01" + b"\xff" * 64)
    copy = tmp_path / "good.psd"
    shutil.copyfile(good, copy)
    reports = [check_file(bad), check_file(copy)]
    assert reports[0].error and reports[1].error is None and reports[1].document_psnr is not None
