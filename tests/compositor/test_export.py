"""Encoding renders: formats, transparency, flattening, resizing, quality, validation."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from compositor.errors import InvalidOption
from compositor.export import export_image, output_size


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def levels(height=4, width=6):
    """Every pixel a distinct exact 8-bit colour and alpha."""
    values = np.arange(height * width * 4, dtype=np.float32).reshape(height, width, 4) * 2 % 256
    return values / 255


def test_png_keeps_colour_and_transparency_exactly():
    rgba = levels()
    image = decode(export_image(rgba, format="png"))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (6, 4)
    np.testing.assert_array_equal(np.asarray(image), np.round(rgba * 255).astype(np.uint8))


def test_opaque_png_has_no_alpha_channel():
    rgba = levels()
    rgba[..., 3] = 1
    image = decode(export_image(rgba, format="png"))
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), np.round(rgba[..., :3] * 255).astype(np.uint8))


def test_jpeg_flattens_over_white():
    rgba = np.zeros((16, 32, 4), np.float32)
    rgba[:, :16] = (0, 0, 0, 0.5)  # half-covered black
    # right half: fully transparent (its colour must not show)
    rgba[:, 16:, :3] = (1, 0, 0)
    image = decode(export_image(rgba, format="jpg", quality=100))
    assert image.format == "JPEG" and image.mode == "RGB"
    pixels = np.asarray(image).astype(int)
    np.testing.assert_allclose(pixels[4:12, 2:12], 128, atol=2)  # black at 50 % over white
    np.testing.assert_allclose(pixels[4:12, 20:30], 255, atol=2)


def test_jpeg_over_another_background():
    rgba = np.zeros((16, 16, 4), np.float32)
    image = decode(export_image(rgba, format="jpeg", quality=100, background="#204080"))
    np.testing.assert_allclose(np.asarray(image)[8, 8], (0x20, 0x40, 0x80), atol=2)


def test_webp_keeps_alpha():
    rgba = np.zeros((16, 16, 4), np.float32)
    rgba[:, :8] = (0, 0.5, 1, 1)
    image = decode(export_image(rgba, format="webp", quality=100))
    assert image.format == "WEBP" and image.mode == "RGBA"
    pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels[:, :8, 3], 255)
    np.testing.assert_array_equal(pixels[:, 8:, 3], 0)
    np.testing.assert_allclose(pixels[4:12, 2:6, :3], np.broadcast_to((0, 128, 255), (8, 4, 3)), atol=4)


def test_image_size_sets_the_width_and_keeps_the_aspect():
    rgba = np.zeros((100, 400, 4), np.float32)
    rgba[..., 3] = 1
    rgba[:, ::2, :3] = 1  # one-pixel white/black columns average to mid grey
    image = decode(export_image(rgba, format="png", image_size=200))
    assert image.size == (200, 50)
    np.testing.assert_allclose(np.asarray(image), 128, atol=1)
    assert output_size((400, 100), 101) == (101, 25)
    assert output_size((3, 1000), 100) == (100, 33333)


def test_enlarging_keeps_transparent_edges_clean():
    rgba = np.zeros((10, 20, 4), np.float32)
    rgba[:, :10] = (1, 0, 0, 1)
    rgba[:, 10:, :3] = (0, 1, 0)  # transparent green: must never bleed into the red
    pixels = np.asarray(decode(export_image(rgba, format="png", image_size=200)))
    assert pixels.shape == (100, 200, 4)
    visible = pixels[..., 3] > 0
    assert pixels[visible][:, 1].max() == 0 and pixels[visible][:, 0].min() == 255


def test_lower_quality_makes_smaller_jpegs():
    rgba = np.random.default_rng(0).random((64, 64, 4)).astype(np.float32)
    small = export_image(rgba, format="jpg", quality=10)
    large = export_image(rgba, format="jpg", quality=95)
    assert len(small) < len(large) / 2


@pytest.mark.parametrize("image_size", [100, 10000])
def test_image_size_range_ends_give_that_width(image_size):
    # A wide strip, so the 10000-px end stays small: left half red, right half blue.
    rgba = np.zeros((1, 40, 4), np.float32)
    rgba[:, :20] = (1, 0, 0, 1)
    rgba[:, 20:] = (0, 0, 1, 1)
    pixels = np.asarray(decode(export_image(rgba, format="png", image_size=image_size)))
    assert pixels.shape[1] == image_size and pixels.shape[0] == max(1, round(image_size / 40))
    row = pixels[pixels.shape[0] // 2]
    np.testing.assert_array_equal(row[image_size // 10], (255, 0, 0))
    np.testing.assert_array_equal(row[-image_size // 10], (0, 0, 255))


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_quality_range_ends_both_encode_the_picture(fmt):
    rgba = np.zeros((32, 32, 4), np.float32)
    rgba[..., 3] = 1
    rgba[:, :16, :3] = (0.9, 0.2, 0.1)
    rgba[:, 16:, :3] = (0.1, 0.3, 0.8)
    sizes = {}
    for quality in (1, 100):
        data = export_image(rgba, format=fmt, quality=quality)
        sizes[quality] = len(data)
        pixels = np.asarray(decode(data).convert("RGB")).astype(int)
        tolerance = 40 if quality == 1 else 4
        np.testing.assert_allclose(pixels[8:24, 2:12].mean(axis=(0, 1)), (230, 51, 26), atol=tolerance)
        np.testing.assert_allclose(pixels[8:24, 20:30].mean(axis=(0, 1)), (26, 77, 204), atol=tolerance)
    assert sizes[1] < sizes[100]


def test_files_are_tagged_srgb():
    for fmt in ("png", "jpg", "webp"):
        image = decode(export_image(np.ones((4, 4, 4), np.float32), format=fmt))
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile), fmt


@pytest.mark.parametrize("options, field", [
    ({"format": "gif"}, "format"),
    ({"format": None}, "format"),
    ({"quality": 0}, "quality"),
    ({"quality": 101}, "quality"),
    ({"quality": 9.5}, "quality"),
    ({"image_size": 99}, "image_size"),
    ({"image_size": 10001}, "image_size"),
    ({"image_size": "400"}, "image_size"),
    ({"background": "white"}, "background"),
    ({"dpi": -3}, "dpi"),
])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(InvalidOption) as error:
        export_image(np.ones((4, 4, 4), np.float32), **options)
    assert error.value.field == field


def test_bad_pixels_are_refused():
    with pytest.raises(InvalidOption, match="rgba"):
        export_image(np.ones((4, 4, 3), np.float32))
