"""Print files: placed, unwarped artwork at a requested DPI, as PNG or PDF."""

import io

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from compositor.errors import InvalidOption
from compositor.placement import AdjustmentLayers, ColorOverlay, PlacementOptions, place_artwork
from compositor.printfile import make_print_file, print_size


def stripes(height=40, width=40):
    """Opaque one-pixel columns alternating white and black."""
    art = np.zeros((height, width, 4), np.float32)
    art[..., 3] = 1
    art[:, ::2, :3] = 1
    return art


def png_pixels(data: bytes):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image, np.asarray(image)


def test_print_size_from_dpi():
    assert print_size((100, 50), 72, 300) == (417, 208)
    assert print_size((1200, 1800), 300, 150) == (600, 900)
    assert print_size((1200, 1800), 300, 300) == (1200, 1800)


def test_png_at_the_requested_dpi_is_the_placement_at_that_size():
    art = np.zeros((10, 20, 4), np.float32)
    art[..., 0] = 1
    art[..., 3] = 1
    options = PlacementOptions(fit="contain", adjustment_layers=AdjustmentLayers(brightness=30))
    data = make_print_file(art, (10, 10), options, content_dpi=100, dpi=400)
    image, pixels = png_pixels(data)
    assert image.format == "PNG" and image.size == (40, 40) and image.mode == "RGBA"
    assert image.info["dpi"] == pytest.approx((400, 400), abs=0.01)
    # contain of a 2:1 red image: the band is rows 10..29 at 4x, transparent elsewhere
    assert (pixels[:10, :, 3] == 0).all() and (pixels[30:, :, 3] == 0).all()
    assert (pixels[10:30, :, 3] == 255).all()
    expected = place_artwork(art, (40, 40), options)
    np.testing.assert_allclose(pixels / 255, expected, atol=0.5 / 255 + 1e-6)


def test_artwork_is_resampled_once_at_print_resolution():
    # 40-px stripes into a 10-px content box at 72 dpi, printed at 288 dpi: the
    # print file is 40 px, so every stripe survives (not a 10-px render blown up).
    data = make_print_file(stripes(), (10, 10), content_dpi=72, dpi=288)
    image, pixels = png_pixels(data)
    assert image.size == (40, 40) and image.mode == "RGB"
    np.testing.assert_array_equal(pixels[20, :6, 0], [255, 0, 255, 0, 255, 0])


def test_lengths_in_the_options_scale_with_the_dpi():
    art = np.ones((2, 2, 4), np.float32)
    options = PlacementOptions(size=(2, 2), position=(1, 1))
    _, pixels = png_pixels(make_print_file(art, (5, 5), options, content_dpi=100, dpi=200))
    expected = np.zeros((10, 10), np.uint8)
    expected[2:6, 2:6] = 255  # the 2 x 2 box at (1, 1) becomes 4 x 4 at (2, 2)
    np.testing.assert_array_equal(pixels[..., 3], expected)


def test_colour_overlay_is_left_out_unless_asked():
    grey = np.full((4, 4, 4), 0.5, np.float32)
    grey[..., 3] = 1
    options = PlacementOptions(color=ColorOverlay("#0000FF", "multiply"))
    _, plain = png_pixels(make_print_file(grey, (4, 4), options, content_dpi=72, dpi=72))
    np.testing.assert_array_equal(plain[1, 1], (128, 128, 128))
    _, tinted = png_pixels(make_print_file(grey, (4, 4), options, content_dpi=72, dpi=72, include_color=True))
    np.testing.assert_array_equal(tinted[1, 1], (0, 0, 128))
    # a colour-only print file is allowed only when the colour is asked for
    _, solid = png_pixels(make_print_file(None, (4, 4), options, content_dpi=72, dpi=72, include_color=True))
    np.testing.assert_array_equal(solid[0, 0], (0, 0, 255))
    with pytest.raises(InvalidOption, match="artwork"):
        make_print_file(None, (4, 4), options, content_dpi=72, dpi=72)


def test_pdf_page_is_the_print_size_and_holds_the_pixels_with_a_soft_mask():
    art = np.zeros((10, 10, 4), np.float32)  # square, in a 2:1 content: transparent at the sides
    art[..., 1] = 1
    art[..., 3] = 1
    data = make_print_file(art, (100, 50), PlacementOptions(fit="contain"), content_dpi=72,
                           dpi=144, format="pdf")
    page = PdfReader(io.BytesIO(data)).pages[0]
    # 100 x 50 content pixels at 72 dpi: 100 x 50 points, whatever the print dpi
    assert [float(v) for v in page.mediabox] == [0, 0, 100, 50]
    (image,) = page.images
    pixels = np.asarray(image.image)
    assert pixels.shape == (100, 200, 4)  # 144 dpi: twice the content's pixels
    assert (pixels[:, :50, 3] == 0).all() and (pixels[:, 150:, 3] == 0).all()  # transparent sides
    np.testing.assert_array_equal(pixels[:, 50:150], np.broadcast_to((0, 255, 0, 255), (100, 100, 4)))


def test_opaque_pdf_has_no_mask_and_is_lossless():
    art = stripes(8, 8)
    data = make_print_file(art, (8, 8), content_dpi=300, dpi=300, format="pdf")
    assert b"/SMask" not in data and b"/FlateDecode" in data and b"/ICCBased" in data
    page = PdfReader(io.BytesIO(data)).pages[0]
    assert [float(v) for v in page.mediabox] == pytest.approx([0, 0, 8 * 72 / 300, 8 * 72 / 300])
    pixels = np.asarray(page.images[0].image)
    np.testing.assert_array_equal(pixels[..., 0], np.round(art[..., 0] * 255))  # every stripe exact


@pytest.mark.parametrize("kwargs, field", [
    ({"dpi": 0}, "dpi"),
    ({"dpi": 5000}, "dpi"),
    ({"dpi": "300"}, "dpi"),
    ({"content_dpi": 0}, "content_dpi"),
    ({"format": "jpg"}, "format"),
    ({"include_color": "yes"}, "include_color"),
])
def test_bad_values_name_the_field(kwargs, field):
    arguments = {"content_dpi": 72, "dpi": 300, **kwargs}
    with pytest.raises(InvalidOption) as error:
        make_print_file(stripes(4, 4), (4, 4), **arguments)
    assert error.value.field == field


def test_a_print_file_too_large_is_refused():
    with pytest.raises(InvalidOption, match="dpi.*over the limit"):
        make_print_file(stripes(4, 4), (4000, 4000), content_dpi=72, dpi=2400)
