"""The fidelity measure and report: PSNR, flattening, per-file errors, the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from compositor.cli import fidelity_command, render_command
from compositor.fidelity import FileReport, check_file, flatten_rgb8, psnr, summarize


def test_psnr_of_identical_images_is_infinite():
    image = np.full((4, 4, 3), 7, np.uint8)
    assert psnr(image, image) == math.inf


def test_psnr_of_an_error_of_one_level_everywhere():
    # MSE = 1 -> 10·log10(255²) = 48.13 dB
    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr(a, a + 1) == pytest.approx(48.1308, abs=1e-3)


def test_psnr_refuses_different_shapes():
    with pytest.raises(ValueError, match="shapes"):
        psnr(np.zeros((2, 2, 3)), np.zeros((3, 2, 3)))


def test_flatten_over_white():
    rgba = Image.new("RGBA", (1, 1), (0, 0, 0, 128))
    assert flatten_rgb8(rgba)[0, 0].tolist() == [127, 127, 127]  # 255 · (1 − 128/255) = 127.0
    gray_alpha = Image.new("LA", (1, 1), (100, 0))
    assert flatten_rgb8(gray_alpha)[0, 0].tolist() == [255, 255, 255]
    cmyk = Image.new("CMYK", (1, 1), (0, 0, 0, 0))
    assert flatten_rgb8(cmyk)[0, 0].tolist() == [255, 255, 255]


def test_a_file_that_is_not_a_psd_is_a_per_file_error(tmp_path):
    path = tmp_path / "not-a-template.psd"
    path.write_bytes(b"this is not a photoshop file")
    report = check_file(path)
    assert report.document_psnr is None
    assert "not a readable Photoshop file" in report.error


def test_a_missing_file_is_a_per_file_error(tmp_path):
    report = check_file(tmp_path / "missing.psd")
    assert report.error.endswith("file not found")


def test_summary_counts_and_shares():
    reports = [FileReport(path="a", document_psnr=60.0), FileReport(path="b", document_psnr=45.0),
               FileReport(path="c", document_psnr=30.0, smart_objects=1),
               FileReport(path="d", error="broken")]
    summary = summarize(reports)
    assert summary["files"] == 4 and summary["scored"] == 3 and summary["errors"] == 1
    assert summary["median_psnr"] == 45.0
    assert summary["share_ge_40"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["share_ge_50"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["smart_object_files_under_35"] == ["c"]


def test_fidelity_command_reports_bad_files_in_json_without_failing(tmp_path):
    bad = tmp_path / "broken.psd"
    bad.write_bytes(b"8BPS" + b"\0" * 10)  # a PSD signature, then nothing
    result = CliRunner().invoke(fidelity_command, [str(bad), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"][0]["path"] == str(bad)
    assert report["files"][0]["error"]
    assert report["summary"]["errors"] == 1


def test_render_command_rejects_a_malformed_art_option(tmp_path):
    bad = tmp_path / "broken.psd"
    bad.write_bytes(b"nothing")
    result = CliRunner().invoke(render_command, [str(bad), "--art", "no-equals-sign", "-o",
                                                 str(tmp_path / "out.png")])
    assert result.exit_code != 0
    assert "not a readable Photoshop file" in result.output  # the template is checked first
