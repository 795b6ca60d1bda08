"""The ingest's size checks on real PSD bytes, before anything large is decoded."""
from __future__ import annotations

import pytest

from compositor.fixtures.demo import build_demo_template
from shared.config import load_settings
from shared.errors import InvalidInput
from workers.ingest import build_template_assets, check_psd_header


def _header(width: int, height: int, version: int = 1) -> bytes:
    return (b"8BPS" + version.to_bytes(2, "big") + bytes(6) + (3).to_bytes(2, "big") + height.to_bytes(4, "big")
            + width.to_bytes(4, "big") + (8).to_bytes(2, "big") + (3).to_bytes(2, "big"))


def test_header_gives_the_canvas_and_refuses_what_is_too_large(monkeypatch):
    assert check_psd_header(build_demo_template(200), load_settings()) == (200, 200)
    assert check_psd_header(_header(30000, 3000, version=2), load_settings()) == (30000, 3000)
    with pytest.raises(InvalidInput, match="MOCKFARM_MAX_PSD_SIDE"):
        check_psd_header(_header(30001, 10, version=2), load_settings())
    with pytest.raises(InvalidInput, match="MOCKFARM_MAX_PSD_PIXELS"):
        check_psd_header(_header(20000, 20000, version=2), load_settings())
    monkeypatch.setenv("MOCKFARM_MAX_PSD_SIDE", "199")
    with pytest.raises(InvalidInput, match="200x200 pixels; its sides may be at most 199"):
        check_psd_header(build_demo_template(200), load_settings())
    for bad in (b"", b"8BPS", b"GIF89a" + bytes(40), _header(10, 10)[:4] + b"\x00\x03" + _header(10, 10)[6:]):
        with pytest.raises(InvalidInput, match="not a Photoshop document"):
            check_psd_header(bad, load_settings())


def test_a_layer_beyond_the_pixel_limit_is_refused_before_compiling():
    psd = build_demo_template(200)  # its background layer is 200 x 200
    with pytest.raises(InvalidInput, match="layer 'Background' is 200x200 pixels, more than 39999"):
        build_template_assets(psd, "00000000-0000-4000-8000-000000000000", max_pixels=39_999)
    assets = build_template_assets(psd, "00000000-0000-4000-8000-000000000000", max_pixels=40_000)
    assert (assets.width, assets.height) == (200, 200)
