"""`mockfarm render` with placement and export flags, through the render path (demo template)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from compositor.cli import render_command
from compositor.fixtures import build_demo_artwork, build_demo_template


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("render-cli")
    (folder / "demo.psd").write_bytes(build_demo_template(300))
    (folder / "art.png").write_bytes(build_demo_artwork(200))
    return folder


def run(files, *args):
    return CliRunner().invoke(render_command, [str(files / "demo.psd"), *args], catch_exceptions=False)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def test_render_with_flags_writes_the_format_and_size_asked(files):
    out = files / "out.webp"
    result = run(files, "--art", f"Design={files / 'art.png'}", "-o", str(out), "--fit", "cover",
                 "--rotate", "15", "--saturation", "-40", "--image-size", "150", "--quality", "80")
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.format == "WEBP" and image.size == (150, 150)


def test_each_placement_flag_changes_the_picture(files):
    plain = files / "plain.png"
    assert run(files, "--art", f"Design={files / 'art.png'}", "-o", str(plain)).exit_code == 0
    base = pixels(plain)
    for flags in (["--flip-horizontal"], ["--flip-vertical"], ["--rotate", "90"],
                  ["--color", "#00ff00", "--blend", "multiply"], ["--size", "60x40"],
                  ["--size", "60x40", "--position", "5,5"], ["--size", "40x40", "--pattern"],
                  ["--brightness", "60"], ["--contrast", "50"], ["--saturation", "-100"], ["--vibrance", "80"],
                  ["--blur", "4"], ["--opacity", "30"]):
        out = files / "flagged.png"
        result = run(files, "--art", f"Design={files / 'art.png'}", "-o", str(out), *flags)
        assert result.exit_code == 0, (flags, result.output)
        assert np.abs(pixels(out) - base).mean() > 0.5, flags


def test_colour_alone_fills_the_smart_object(files):
    out = files / "green.png"
    assert run(files, "--color", "#00ff00", "-o", str(out)).exit_code == 0
    centre = pixels(out)[150, 130]
    assert centre[1] > centre[0] and centre[1] > centre[2]


@pytest.mark.parametrize("flags, field", [
    (["--size", "10y3"], "--size"),
    (["--position", "1;2"], "--position"),
    (["--opacity", "300"], "opacity"),
    (["--blend", "multiply"], "--blend"),
    (["--color", "#12"], "color"),
    (["--image-size", "5"], "image_size"),
    (["--quality", "0"], "quality"),
])
def test_bad_flags_name_the_field(files, flags, field):
    result = run(files, "--art", f"Design={files / 'art.png'}", "-o", str(files / "bad.jpg"), *flags)
    assert result.exit_code != 0
    assert field in result.output


def test_unknown_output_extension_asks_for_format(files):
    result = run(files, "--art", f"Design={files / 'art.png'}", "-o", str(files / "out.tif"))
    assert result.exit_code != 0 and "--format" in result.output
    result = run(files, "--art", f"Design={files / 'art.png'}", "-o", str(files / "out.tif"), "--format", "png")
    assert result.exit_code == 0
    assert Image.open(io.BytesIO((files / "out.tif").read_bytes())).format == "PNG"


def test_unreadable_design_is_named(files):
    (files / "junk.png").write_bytes(b"not a png")
    result = run(files, "--art", f"Design={files / 'junk.png'}", "-o", str(files / "x.png"))
    assert result.exit_code != 0 and "junk.png is not a readable image" in result.output
